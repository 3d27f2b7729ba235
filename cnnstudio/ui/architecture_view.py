"""The architecture view: the core's per-layer shape table, refreshed as options change."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTableWidgetItem, QVBoxLayout, QWidget

from cnnstudio.core.network.shape_table import ShapeTable
from cnnstudio.ui.widgets import read_only_table

PROBLEM_STYLE = ("QLabel { color: #b00020; font-weight: bold; padding: 6px; "
                 "background: #fdecea; border: 1px solid #f5c2c0; border-radius: 4px; }")
PENDING_STYLE = ("QLabel { color: #333333; padding: 6px; background: #eef3fb; border: 1px solid #c6d4ea; "
                 "border-radius: 4px; }")
COLUMNS = ("Layer", "Kind", "Output shape", "Parameters", "MACs", "Detail")


def _shape(shape: tuple[int, ...]) -> str:
    return " × ".join(str(n) for n in shape)


class ArchitectureView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.table = read_only_table(COLUMNS)
        self.table.setAlternatingRowColors(True)
        self.totals = QLabel()
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.hide()
        layout = QVBoxLayout(self)
        for widget in (self.title, self.problem, self.table, self.totals):
            layout.addWidget(widget)

    def show_table(self, title: str, table: ShapeTable) -> None:
        self.problem.hide()
        self.title.setText(title)
        rows = [("input", "Input", table.input_shape, 0, 0, "raw pixels 0..255")]
        rows += [(r.name, r.kind, r.output_shape, r.params, r.macs, r.detail) for r in table.rows]
        self.table.setRowCount(len(rows))
        for i, (name, kind, shape, params, macs, detail) in enumerate(rows):
            cells = (name, kind, _shape(shape), f"{params:,}" if params else "–", f"{macs:,}" if macs else "–", detail)
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j in (3, 4):
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(i, j, item)
        self.totals.setText(f"<b>{table.params:,}</b> parameters · <b>{table.macs:,}</b> multiply-accumulates per image "
                            f"({2 * table.macs / 1e6:,.1f} MFLOPs)")
        self.table.setEnabled(True)

    def show_problem(self, title: str, message: str, prefix: str = "This network cannot be built: ") -> None:
        """An impossible configuration: say which layer and which sizes, in place of the table."""
        self._show_notice(title, f"{prefix}{message}", PROBLEM_STYLE)

    def show_pending(self, title: str, message: str) -> None:
        """A neutral wait (e.g. reading the dataset): not an error, so not red."""
        self._show_notice(title, message, PENDING_STYLE)

    def _show_notice(self, title: str, message: str, style: str) -> None:
        self.title.setText(title)
        self.problem.setStyleSheet(style)
        self.problem.setText(message)
        self.problem.show()
        self.table.setRowCount(0)  # a stale table of another configuration would mislead
        self.table.setEnabled(False)
        self.totals.setText("")

    def shapes(self) -> dict[str, str]:
        """Layer name → output shape text, as shown."""
        return {self.table.item(i, 0).text(): self.table.item(i, 2).text() for i in range(self.table.rowCount())}

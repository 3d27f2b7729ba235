"""The architecture view: a picture of the network above the core's per-layer shape table, refreshed as options change."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QTextDocumentFragment
from PySide6.QtWidgets import QLabel, QSplitter, QTableWidgetItem, QVBoxLayout, QWidget

from cnnstudio.core.network.layer_specs import LayerSpec
from cnnstudio.core.network.shape_table import ShapeTable
from cnnstudio.ui.network_diagram_view import NetworkDiagramView
from cnnstudio.ui.widgets import read_only_table

PROBLEM_STYLE = ("QLabel { color: #b00020; font-weight: bold; padding: 6px; "
                 "background: #fdecea; border: 1px solid #f5c2c0; border-radius: 4px; }")
PENDING_STYLE = ("QLabel { color: #333333; padding: 6px; background: #eef3fb; border: 1px solid #c6d4ea; "
                 "border-radius: 4px; }")
COLUMNS = ("Layer", "Kind", "Output shape", "Parameters", "MACs", "Detail")


def _shape(shape: tuple[int, ...]) -> str:
    return " × ".join(str(n) for n in shape)


class ArchitectureView(QWidget):
    export_requested = Signal()  # the picture of the network, as PNG or SVG

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.diagram = NetworkDiagramView()
        self.diagram.export_requested.connect(self.export_requested)
        self.table = read_only_table(COLUMNS)
        self.table.setAlternatingRowColors(True)
        self.totals = QLabel()
        self.totals.setWordWrap(True)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.hide()
        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.addWidget(self.diagram)
        self.splitter.addWidget(self.table)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([260, 300])
        layout = QVBoxLayout(self)
        for widget in (self.title, self.problem):
            layout.addWidget(widget)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.totals)
        self.shown: ShapeTable | None = None

    def shown_network(self) -> tuple[ShapeTable, str] | None:
        """The network shown (its table and plain title) for a diagram export, or None while none is."""
        return None if self.shown is None else (self.shown, self.plain_title())

    def plain_title(self) -> str:
        """The title without its markup (for exported pictures)."""
        return QTextDocumentFragment.fromHtml(self.title.text()).toPlainText()

    def show_table(self, title: str, table: ShapeTable) -> None:
        self.problem.hide()
        self.title.setText(title)
        self.shown = table
        self.diagram.show_table(table)
        self._fill_rows(table)
        self.totals.setText(f"<b>{table.params:,}</b> parameters · <b>{table.macs:,}</b> multiply-accumulates per image "
                            f"({2 * table.macs / 1e6:,.1f} MFLOPs)")
        self.table.setEnabled(True)

    def _fill_rows(self, table: ShapeTable, failing: LayerSpec | None = None) -> None:
        """The input, then one row per layer; ``failing``: a last row, in red, for the layer that does not fit."""
        rows = [("input", "Input", _shape(table.input_shape), 0, 0, "raw pixels 0..255")]
        rows += [(r.name, r.kind, _shape(r.output_shape), r.params, r.macs, r.detail) for r in table.rows]
        if failing is not None:
            rows.append((failing.name, failing.kind, "impossible", 0, 0, failing.describe()))
        self.table.setRowCount(len(rows))
        for i, (name, kind, shape, params, macs, detail) in enumerate(rows):
            cells = (name, kind, shape, f"{params:,}" if params else "–", f"{macs:,}" if macs else "–", detail)
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j in (3, 4):
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if failing is not None and i == len(rows) - 1:
                    item.setForeground(QColor("#b00020"))
                self.table.setItem(i, j, item)

    def show_cost(self, text: str, warning: str = "") -> None:
        """The totals line: parameters, MACs, activation memory and the estimated time per epoch; a warning
        (over 10 minutes per epoch) on a line of its own."""
        self.totals.setText(text + (f"<br><span style='color:#b00020'>Warning: {html.escape(warning)}</span>"
                                    if warning else ""))

    def show_problem(self, title: str, message: str, prefix: str = "This network cannot be built: ",
                     partial: tuple[ShapeTable, LayerSpec | None] | None = None) -> None:
        """An impossible configuration: say which layer and which sizes; with ``partial`` (the layers that fit
        and the one that does not) the table keeps those rows, so the shrinking maps stay in sight."""
        self._show_notice(title, f"{prefix}{message}", PROBLEM_STYLE)
        if partial is not None and partial[1] is not None:
            self._fill_rows(*partial)
            self.table.setEnabled(True)
            self.table.scrollToBottom()  # the layer that does not fit

    def show_pending(self, title: str, message: str) -> None:
        """A neutral wait (e.g. reading the dataset): not an error, so not red."""
        self._show_notice(title, message, PENDING_STYLE)

    def _show_notice(self, title: str, message: str, style: str) -> None:
        self.title.setText(title)
        self.problem.setStyleSheet(style)
        self.problem.setText(message)
        self.problem.show()
        self.shown = None
        self.diagram.clear()
        self.table.setRowCount(0)  # a stale table of another configuration would mislead
        self.table.setEnabled(False)
        self.totals.setText("")

    def shapes(self) -> dict[str, str]:
        """Layer name → output shape text, as shown."""
        return {self.table.item(i, 0).text(): self.table.item(i, 2).text() for i in range(self.table.rowCount())}

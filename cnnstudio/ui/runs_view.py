"""The Runs view: every recorded run, sortable and filterable, with overlaid curves of the selection."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.experiments.run_history import RunEntry, RunHistory
from cnnstudio.ui.curves_plot import CurvesPlot
from cnnstudio.ui.widgets import read_only_table

COLUMNS = ("When", "Architecture", "Pooling", "Padding", "Activation", "Dataset", "Epochs", "Test accuracy",
           "Test loss", "Parameters", "MACs", "s / epoch", "Study")


class _Number(QTableWidgetItem):
    """Sorts by its number, not its text."""

    def __init__(self, value: float | None, text: str):
        super().__init__(text)
        self.value = -1e300 if value is None else value
        self.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return self.value < getattr(other, "value", 0)


def row_cells(entry: RunEntry) -> list[QTableWidgetItem]:
    m = entry.experiment["model"]
    seconds = entry.seconds_per_epoch
    mean = sum(seconds) / len(seconds) if seconds else None
    acc, loss = entry.test_accuracy, entry.test_loss
    return [QTableWidgetItem(entry.created), QTableWidgetItem(m["arch"]), QTableWidgetItem(m["pooling"]),
            QTableWidgetItem(str(m["padding"])), QTableWidgetItem(m["activation"]),
            QTableWidgetItem(str(entry.experiment["dataset"])), _Number(len(seconds), str(len(seconds))),
            _Number(acc, "–" if acc is None else f"{acc:.4f}"), _Number(loss, "–" if loss is None else f"{loss:.4f}"),
            _Number(entry.params, f"{entry.params:,}"), _Number(entry.macs, f"{entry.macs:,}"),
            _Number(mean, "–" if mean is None else f"{mean:.2f}"), QTableWidgetItem(entry.study or "")]


class RunsView(QWidget):
    open_requested = Signal(object)  # RunEntry
    export_requested = Signal(object)  # RunEntry

    def __init__(self, history: RunHistory | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.history = history or RunHistory()
        self.entries: list[RunEntry] = []
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter runs (e.g. min, same, mnist)…")
        self.filter.setClearButtonEnabled(True)
        self.refresh_button = QPushButton("Refresh")
        self.open_button = QPushButton("Open Model")
        self.open_button.setToolTip("Reopen the selected run's model, settings and curves")
        self.export_button = QPushButton("Export Record && Script…")
        self.export_button.setToolTip("Write the run record (JSON) and a standalone Keras script that rebuilds it")
        self.delete_button = QPushButton("Delete")
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        for button in (self.refresh_button, self.open_button, self.export_button, self.delete_button):
            top.addWidget(button)
        self.table = read_only_table(COLUMNS, stretch_last=False)
        self.table.setSortingEnabled(True)
        self.warnings = QLabel()
        self.warnings.setStyleSheet("color: #8a5a00;")
        self.warnings.setWordWrap(True)
        self.plot = CurvesPlot()
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.plot)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.warnings)
        layout.addWidget(splitter, 1)

        self.filter.textChanged.connect(self.apply_filter)
        self.refresh_button.clicked.connect(self.refresh)
        self.delete_button.clicked.connect(self.delete_selected)
        self.open_button.clicked.connect(lambda: self._emit_single(self.open_requested))
        self.export_button.clicked.connect(lambda: self._emit_single(self.export_requested))
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.loaded = False  # the history is read when the view is first shown, not at start-up

    def showEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt's name
        if not self.loaded:
            self.refresh()
        super().showEvent(event)

    def refresh(self) -> None:
        self.loaded = True
        self.entries, warnings = self.history.entries()
        self.warnings.setText("\n".join(warnings))
        self.warnings.setVisible(bool(warnings))
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(self.entries))
        for i, entry in enumerate(self.entries):
            for j, item in enumerate(row_cells(entry)):
                item.setData(Qt.UserRole, entry.id)
                self.table.setItem(i, j, item)
        self.table.setSortingEnabled(True)
        self.apply_filter()
        self._selection_changed()

    def apply_filter(self) -> None:
        words = self.filter.text().lower().split()
        for i in range(self.table.rowCount()):
            text = " ".join(self.table.item(i, j).text().lower() for j in range(self.table.columnCount()))
            self.table.setRowHidden(i, not all(word in text for word in words))

    def selected(self) -> list[RunEntry]:
        ids = {self.table.item(index.row(), 0).data(Qt.UserRole) for index in self.table.selectionModel().selectedRows()}
        return [e for e in self.entries if e.id in ids]

    def _selection_changed(self) -> None:
        chosen = self.selected()
        self.plot.show_runs(chosen)
        self.delete_button.setEnabled(bool(chosen))
        self.open_button.setEnabled(len(chosen) == 1 and bool(chosen[0].model_path))
        self.export_button.setEnabled(len(chosen) == 1)

    def _emit_single(self, signal) -> None:
        chosen = self.selected()
        if len(chosen) == 1:
            signal.emit(chosen[0])

    def delete_selected(self) -> None:
        for entry in self.selected():
            self.history.delete(entry.id)
        self.refresh()

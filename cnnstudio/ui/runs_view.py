"""The Runs view: every recorded run, sortable and filterable, with overlaid curves of the selection."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QRegularExpression, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.experiments.run_history import RunEntry, RunHistory
from cnnstudio.core.experiments.study import STEADY_SECONDS_NOTE, cell_text, study_rows
from cnnstudio.ui.curves_plot import CurvesPlot
from cnnstudio.ui.widgets import read_only_view

# (header, row key, full name): short headers, so every column fits the tab at the default window size;
# the full name is the header's tooltip (unless TOOLTIPS explains more) and names it in the header's menu
RUN_COLUMNS = (("When", "created", "When recorded"), ("Arch.", "arch", "Architecture"),
               ("Pool", "pooling", "Pooling"), ("Pad", "padding", "Padding"),
               ("Act.", "activation", "Activation"), ("Data", "dataset", "Dataset"), ("Ep.", "epochs", "Epochs"),
               ("Acc.", "test_accuracy", "Test accuracy"), ("Loss", "test_loss", "Test loss"),
               ("Params", "params", "Parameters"), ("MACs", "macs", "Multiply-accumulates per image"),
               ("s/ep.", "steady_seconds_per_epoch", "Seconds per epoch"), ("Study", "study", "Study"))
TOOLTIPS = {"epochs": "Epochs trained (hover over a stopped run's number for the reason)",
            "steady_seconds_per_epoch": STEADY_SECONDS_NOTE}
COLUMNS = tuple(title for title, _key, _name in RUN_COLUMNS)
KEYS = tuple(key for _title, key, _name in RUN_COLUMNS)
HIDDEN_AT_FIRST = ("macs",)  # shown from the header's context menu
NUMERIC = {"epochs", "test_accuracy", "test_loss", "params", "macs", "steady_seconds_per_epoch"}
SORT_ROLE = Qt.UserRole  # the value a column sorts by: numbers as numbers, a missing number first
SEARCH_ROLE = Qt.UserRole + 1  # the whole row's text, which the filter words are looked for in


class RunsModel(QAbstractTableModel):
    """The recorded runs as a table: one row per run, the columns of ``RUN_COLUMNS``."""

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.entries: list[RunEntry] = []
        self._rows: list[dict[str, Any]] = []

    def set_entries(self, entries: Sequence[RunEntry]) -> None:
        self.beginResetModel()
        self.entries = list(entries)
        self._rows = [{**row, "created": entry.created, "dataset": str(entry.experiment["dataset"]),
                       "padding": str(row["padding"]), "study": entry.study or ""}
                      for entry, row in zip(self.entries, study_rows(self.entries))]
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else len(RUN_COLUMNS)

    def text(self, row: int, key: str) -> str:
        value = self._rows[row][key]
        if key == "created":
            return str(value)[:16]  # to the minute: the seconds only widen the column
        if key == "study":
            return str(value).removeprefix("study ")  # the column says so; the full name is in the tooltip
        if key == "dataset":
            return Path(str(value)).name or str(value)  # a folder's name; the full path is in the tooltip
        return cell_text(key, value) if key in NUMERIC else str(value)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, key = index.row(), RUN_COLUMNS[index.column()][1]
        if role == Qt.DisplayRole:
            return self.text(row, key)
        if role == SORT_ROLE:
            value = self._rows[row][key]
            return (float("-inf") if value is None else float(value)) if key in NUMERIC else str(value).lower()
        if role == SEARCH_ROLE:
            return " ".join(self.text(row, k) for k in KEYS)
        if role == Qt.TextAlignmentRole and key in NUMERIC:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.ToolTipRole and key == "epochs":
            return self._rows[row]["stop_reason"]
        if role == Qt.ToolTipRole and key in ("study", "dataset"):
            return self._rows[row][key] or None
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Horizontal and role in (Qt.DisplayRole, Qt.ToolTipRole):
            title, key, name = RUN_COLUMNS[section]
            return title if role == Qt.DisplayRole else TOOLTIPS.get(key, name)
        return None


def filter_expression(text: str) -> QRegularExpression:
    """Rows holding every word of ``text`` (in any column, any case, in any order)."""
    pattern = "".join(f"(?=.*{QRegularExpression.escape(word)})" for word in text.split())
    return QRegularExpression(f"^{pattern}", QRegularExpression.CaseInsensitiveOption)


class RunsView(QWidget):
    open_requested = Signal(object)  # RunEntry
    export_requested = Signal(object)  # RunEntry

    def __init__(self, history: RunHistory | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.history = history or RunHistory()
        self.entries: list[RunEntry] = []
        self.runs_model = RunsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.runs_model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterRole(SEARCH_ROLE)
        self.proxy.setFilterKeyColumn(0)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter runs (e.g. min, same, mnist)…")
        self.filter.setClearButtonEnabled(True)
        self.refresh_button = QPushButton("Refresh")
        self.open_button = QPushButton("Open Model")
        self.open_button.setToolTip("Reopen the selected run's model, settings and curves")
        self.export_button = QPushButton("Export Record && Script…")
        self.export_button.setToolTip("Write the run record (JSON) and a standalone Keras script that rebuilds it")
        self.delete_button = QPushButton("Delete")
        self.count = QLabel()
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.count)
        for button in (self.refresh_button, self.open_button, self.export_button, self.delete_button):
            top.addWidget(button)
        self.table = read_only_view(self.proxy, stretch_last=False, compact=True)
        self.table.sortByColumn(0, Qt.DescendingOrder)  # newest first
        header = self.table.horizontalHeader()
        header.setMinimumSectionSize(24)
        header.setSectionResizeMode(KEYS.index("study"), QHeaderView.Stretch)  # takes what is left, elided
        header.setContextMenuPolicy(Qt.CustomContextMenu)
        header.customContextMenuRequested.connect(self._column_menu)
        header.setToolTip("Right-click to show or hide columns")
        for key in HIDDEN_AT_FIRST:
            self.set_column_shown(key, False)
        self.warnings = QLabel()
        self.warnings.setStyleSheet("color: #8a5a00;")
        self.warnings.setWordWrap(True)
        self.plot = CurvesPlot()
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.plot)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([11, 9])  # relative: the table gets a little more of the height than the curves
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.warnings)
        layout.addWidget(splitter, 1)

        self.filter.textChanged.connect(self.apply_filter)
        self.refresh_button.clicked.connect(self.refresh)
        self.delete_button.clicked.connect(self.delete_selected)
        self.open_button.clicked.connect(lambda: self._emit_single(self.open_requested))
        self.export_button.clicked.connect(lambda: self._emit_single(self.export_requested))
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.loaded = False  # the history is read when the view is first shown, not at start-up
        self.apply_filter()

    def set_column_shown(self, key: str, shown: bool) -> None:
        self.table.setColumnHidden(KEYS.index(key), not shown)

    def shown_columns(self) -> list[str]:
        return [key for i, key in enumerate(KEYS) if not self.table.isColumnHidden(i)]

    def _column_menu(self, position) -> None:  # noqa: ANN001 - a QPoint in the header
        menu = QMenu(self)
        for i, (_title, key, name) in enumerate(RUN_COLUMNS):
            action = menu.addAction(name)
            action.setCheckable(True)
            action.setChecked(not self.table.isColumnHidden(i))
            action.toggled.connect(lambda shown, key=key: self.set_column_shown(key, shown))
        menu.exec(self.table.horizontalHeader().mapToGlobal(position))

    def showEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt's name
        if not self.loaded:
            self.refresh()
        super().showEvent(event)

    def refresh(self) -> None:
        self.loaded = True
        self.entries, warnings = self.history.entries()
        self.warnings.setText("\n".join(warnings))
        self.warnings.setVisible(bool(warnings))
        self.runs_model.set_entries(self.entries)
        self.apply_filter()

    def apply_filter(self, *_args: object) -> None:
        """Show only the runs holding every word of the filter box (the proxy does the work)."""
        self.proxy.setFilterRegularExpression(filter_expression(self.filter.text()))
        shown, total = self.proxy.rowCount(), self.runs_model.rowCount()
        self.count.setText(f"{total} runs" if shown == total else f"{shown} of {total} runs")
        self._selection_changed()

    def shown(self) -> list[RunEntry]:
        """The runs the table shows, top to bottom (after filtering and sorting)."""
        return [self.runs_model.entries[self.proxy.mapToSource(self.proxy.index(i, 0)).row()]
                for i in range(self.proxy.rowCount())]

    def selected(self) -> list[RunEntry]:
        """The selected runs, oldest first."""
        rows = {self.proxy.mapToSource(index).row() for index in self.table.selectionModel().selectedRows()}
        return [entry for i, entry in enumerate(self.runs_model.entries) if i in rows]

    def _selection_changed(self, *_args: object) -> None:
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

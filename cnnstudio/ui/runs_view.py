"""The Runs view: every recorded run, sortable and filterable, with overlaid curves of the selection.

The run history is read on a worker thread (:func:`start_task`), never on the GUI thread: a big or
slow folder leaves the window responsive, and the table is filled when the listing is ready.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QRegularExpression, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.data.datasets import dataset_label
from cnnstudio.core.errors import one_line, plural
from cnnstudio.core.experiments.run_history import RunEntry, RunHistory
from cnnstudio.core.experiments.study import STEADY_SECONDS_NOTE, cell_text, study_rows
from cnnstudio.core.logs import log
from cnnstudio.ui.background import start_task
from cnnstudio.ui.curves_plot import CurvesPlot
from cnnstudio.ui.widgets import fit_table_rows, read_only_view

TABLE_SHARE = 0.55  # the most of the tab's height the runs table takes from the curves
TABLE_ROWS = 6  # the rows the table has room for, however few runs: new runs show without dragging the splitter
FILTER_HINT = "Filter (e.g. min same)"  # short: whole beside the buttons at 1024×700; words, not commas
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
        """Show ``entries``; the rows are made before the reset, so a failure leaves the table as it was."""
        entries = list(entries)
        rows = [{**row, "created": entry.created, "dataset": str(entry.experiment["dataset"]),
                 "padding": str(row["padding"]), "study": entry.study or ""}
                for entry, row in zip(entries, study_rows(entries))]
        self.beginResetModel()
        self.entries, self._rows = entries, rows
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
            return dataset_label(str(value))  # not "mnist", the built-in dataset's name; the full path is in the tooltip
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


def delete_question(entries: Sequence[RunEntry], history: RunHistory) -> str:
    """What deleting ``entries`` removes, asked before it happens: records, and model copies kept only there."""
    copies = sum(1 for entry in entries if history.holds_model(entry))
    runs = plural(len(entries), "run")
    kept = (f" and {'its' if len(entries) == 1 else str(copies)} model cop{'y' if copies == 1 else 'ies'} kept only in "
            "the run history (never saved elsewhere)" if copies else "")
    return (f"Delete {runs}{kept}? This cannot be undone. Models you saved with File → Save stay where they are."
            if copies else f"Delete {runs} from the run history? This cannot be undone; models saved elsewhere stay.")


def filter_expression(text: str) -> QRegularExpression:
    """Rows holding every word of ``text`` (in any column, any case, in any order)."""
    pattern = "".join(f"(?=.*{QRegularExpression.escape(word)})" for word in text.split())
    return QRegularExpression(f"^{pattern}", QRegularExpression.CaseInsensitiveOption)


class RunsView(QWidget):
    open_requested = Signal(object)  # RunEntry
    export_requested = Signal(object)  # RunEntry
    refreshed = Signal()  # a listing asked for with refresh() is shown (or its failure is)
    deleted = Signal(list)  # the ids of the runs just deleted

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
        self.filter.setPlaceholderText(FILTER_HINT)
        self.filter.setToolTip("Show only the runs holding every word typed, in any column (e.g. min same mnist)")
        self.filter.setClearButtonEnabled(True)
        self.refresh_button = QPushButton("Refresh")
        self.open_button = QPushButton("Open Model")
        self.open_button.setToolTip("Reopen the selected run's model, settings and curves (select one run)")
        self.export_button = QPushButton("Export Record && Script…")
        self.export_button.setToolTip("Write the run record (JSON) and a standalone Keras script that rebuilds it "
                                      "(select one run)")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Remove the selected runs from the run history, with the model copies kept "
                                      "only there (it asks first)")
        self.count = QLabel()
        top = QHBoxLayout()
        self.filter.setMaximumWidth(self.filter.fontMetrics().horizontalAdvance("m" * 30))  # not 1,000 px at 1920
        top.addWidget(self.filter, 10)  # the filter takes the room first (its hint whole at 1024 px) …
        top.addWidget(self.count)
        top.addStretch(1)  # … and beyond its width the buttons keep to the right
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
        self.splitter = splitter = QSplitter(Qt.Vertical)
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
        self.delete_button.clicked.connect(self.ask_then_delete)
        self.open_button.clicked.connect(lambda: self._emit_single(self.open_requested))
        self.export_button.clicked.connect(lambda: self._emit_single(self.export_requested))
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.loaded = False  # the history is read when the view is first shown, not at start-up
        self.refreshing = False  # a listing is being read on a worker thread
        self._again = False  # another refresh was asked for while one was being read
        self._when_listed: list[Callable[[], None]] = []
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
        self._fit_table()

    def _fit_table(self) -> None:
        """The table gets the height of the runs shown, at least ``TABLE_ROWS`` (at most 55%), the curves the rest."""
        fit_table_rows(self.splitter, self.table, max(self.proxy.rowCount(), TABLE_ROWS), TABLE_SHARE)

    def refresh(self) -> None:
        """Read the run history again on a worker thread; the table follows when it is read (``refreshed``).

        A refresh asked for while one is being read runs once that one is done, so the newest
        runs are never missed. Never raises: the end-of-run handlers call it before finishing their work.
        """
        self.loaded = True
        if self.refreshing:
            self._again = True
            return
        self.refreshing, self._again = True, False
        history = self.history
        try:
            self.count.setText(f"{plural(self.runs_model.rowCount(), 'run')} · reading…")
            start_task(lambda _task: history.entries(), succeeded=self._show_listing, failed=self._listing_failed,
                       name="runs-listing")
        except Exception as exc:  # noqa: BLE001 - e.g. no thread could be started: said in the view, not raised
            log.exception("could not start reading the run history")
            self._listing_failed(one_line(exc), "")

    def when_listed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the listing being read is shown (now, when none is being read)."""
        if self.refreshing:
            self._when_listed.append(callback)
        else:
            callback()

    def _show_listing(self, listing: tuple[list[RunEntry], list[str]]) -> None:
        try:
            entries, warnings = listing
            self.runs_model.set_entries(entries)  # study_rows reads every entry: checked ones, but guarded all the same
            self.entries = list(entries)
        except Exception as exc:  # noqa: BLE001 - a listing that cannot be shown must never break the window
            log.exception("could not show the run history")
            warnings = [f"could not show the run history: {one_line(exc)}"]
        self._listed(warnings)

    def _listing_failed(self, reason: str, _details: str) -> None:
        self._listed([f"could not read the run history: {reason}"])

    def _listed(self, warnings: list[str]) -> None:
        self.warnings.setText("\n".join(warnings))
        self.warnings.setVisible(bool(warnings))
        self.apply_filter()
        self._fit_table()
        self.refreshing = False
        if self._again:
            self.refresh()
            return
        callbacks, self._when_listed = self._when_listed, []
        self.refreshed.emit()
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - one failing follower must not keep the others from running
                log.exception("a step after the run history listing failed")

    def apply_filter(self, *_args: object) -> None:
        """Show only the runs holding every word of the filter box (the proxy does the work)."""
        self.proxy.setFilterRegularExpression(filter_expression(self.filter.text()))
        shown, total = self.proxy.rowCount(), self.runs_model.rowCount()
        self.count.setText(plural(total, "run") if shown == total else f"{shown} of {plural(total, 'run')}")
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

    def ask_then_delete(self) -> None:
        """Delete the selected runs once the user agrees (the history's own model copies go with them)."""
        chosen = self.selected()
        if chosen and self.confirm(delete_question(chosen, self.history)):
            self.delete_selected()

    def confirm(self, question: str) -> bool:
        """Whether the user agrees; a dialog here, replaced in tests."""
        box = QMessageBox(QMessageBox.Question, "Delete runs" if len(self.selected()) > 1 else "Delete run", question,
                          QMessageBox.Cancel, self)
        delete = box.addButton("Delete", QMessageBox.DestructiveRole)
        box.setDefaultButton(QMessageBox.Cancel)
        box.exec()
        return box.clickedButton() is delete

    def delete_selected(self) -> None:
        problems, deleted = [], []
        for entry in self.selected():
            try:
                self.history.delete(entry.id)
            except (OSError, ValueError) as exc:
                problems.append(f"could not delete run {entry.id}: {one_line(exc)}")
            else:
                deleted.append(entry.id)
        self.refresh()
        if deleted:
            self.deleted.emit(deleted)
        if problems:
            self.when_listed(lambda: self.warnings.setText("\n".join([*problems, self.warnings.text()]).strip())
                             or self.warnings.setVisible(True))

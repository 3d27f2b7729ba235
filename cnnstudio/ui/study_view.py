"""The Study view: pick a grid of pooling × padding (× activation), run it here or on Ray, compare the results."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QSplitter,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.config import (
    ACTIVATION_LABELS,
    MAX_EXPLICIT_PADDING,
    PADDING_MODES,
    POOLING_LABELS,
    Experiment,
)
from cnnstudio.core.errors import ConfigError
from cnnstudio.core.experiments.ray_study import RAY_FORMS, ray_address_problem
from cnnstudio.core.experiments.run_history import RunEntry
from cnnstudio.core.experiments.study import (
    RESULT_COLUMNS,
    STEADY_SECONDS_NOTE,
    best_values,
    cell_text,
    is_best,
    study_grid,
    study_rows,
)
from cnnstudio.ui.curves_plot import CurvesPlot
from cnnstudio.ui.widgets import fit_table_rows, read_only_table

TABLE_SHARE = 0.45  # the most of the results' height the table takes from the curves
TABLE_ROWS = 6  # the rows the table has room for before a study: not a sliver above two empty plots
ADDRESS_CHARS = "ray://cluster-head.example.org:10001"  # the Ray address field is about this wide, at most


class StudyView(QWidget):
    run_requested = Signal(list)  # list[Experiment]
    stop_requested = Signal()
    report_requested = Signal(list)  # list[RunEntry]
    run_on_changed = Signal(bool, str)  # on Ray, the address typed

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.pooling = {name: QCheckBox(label) for name, label in POOLING_LABELS.items()}
        self.padding = {name: QCheckBox(name) for name in PADDING_MODES}
        self.padding["explicit"] = QCheckBox("zero border of")
        self.padding_px = QSpinBox()
        self.padding_px.setRange(1, MAX_EXPLICIT_PADDING)
        self.padding_px.setValue(2)
        self.padding_px.setSuffix(" px")
        self.activation = {name: QCheckBox(label) for name, label in ACTIVATION_LABELS.items()}  # as the panel says
        for box in (*self.pooling.values(), *(self.padding[name] for name in PADDING_MODES)):
            box.setChecked(True)
        explicit = QHBoxLayout()  # the border's width right beside its box, not in a column of its own
        explicit.setContentsMargins(0, 0, 0, 0)
        explicit.addWidget(self.padding["explicit"])
        explicit.addWidget(self.padding_px)
        explicit.addStretch(1)
        grid = QGridLayout()
        columns = 0
        for row, (title, boxes) in enumerate((("Pooling", self.pooling), ("Padding", self.padding),
                                              ("Activation (optional)", self.activation))):
            grid.addWidget(QLabel(f"<b>{title}</b>"), row, 0)
            for col, box in enumerate(boxes.values(), start=1):
                if box is self.padding["explicit"]:
                    grid.addLayout(explicit, row, col)
                else:
                    grid.addWidget(box, row, col)
                columns = max(columns, col)
        self.activation_hint = QLabel("no activation ticked: the panel's activation is used for every run")
        self.activation_hint.setStyleSheet("color: gray;")
        grid.addWidget(self.activation_hint, 3, 1, 1, columns + 1)
        grid.setColumnStretch(columns + 1, 1)  # a wide window widens this empty column, not the gaps between boxes
        choices = QGroupBox("Compare")
        choices.setLayout(grid)
        explanation = QLabel("Architecture, dataset and training options come from the experiment panel. Every run uses "
                             "the same images, validation split, seed and epochs; only the ticked options change.")
        explanation.setWordWrap(True)

        self.here = QRadioButton("This computer")
        self.here.setToolTip("One run after another, on the device chosen under Runs on.")
        self.on_ray = QRadioButton("Ray cluster at")
        self.on_ray.setToolTip("Every run a Ray task, side by side; each worker loads the dataset by name (a path "
                               "must exist on every node). Runs sharing a node share its cores, so their seconds "
                               "per epoch are not comparable.")
        self.here.setChecked(True)
        self.address = QLineEdit("local")
        self.address.setToolTip(f"local: start Ray on this computer; auto: the cluster this computer belongs to; "
                                f"or host:port, ray://host:port. Accepted: {RAY_FORMS}.")
        self.address.setMinimumWidth(self.address.fontMetrics().horizontalAdvance("ray://10.0.0.5:10001") + 16)
        self.address.setMaximumWidth(self.address.fontMetrics().horizontalAdvance(ADDRESS_CHARS) + 16)

        self.run_button = QPushButton("Run Study")
        self.stop_button = QPushButton("Stop")
        self.report_button = QPushButton("Export Report…")
        self.report_button.setToolTip("The results table and curves as Markdown + PNG")
        self.count = QLabel()
        self.count.setWordWrap(True)  # an address problem is shown here too, on two lines where needed
        run_on = QHBoxLayout()  # where, then the buttons below it: two rows fit a tab area 600 pixels wide
        for widget in (QLabel("Run the study on"), self.here, self.on_ray):  # not "Runs on", the panel's device group
            run_on.addWidget(widget)
        run_on.addWidget(self.address, 1)
        run_on.addStretch(1)  # what the address field does not take stays empty at the end of the row
        buttons = QHBoxLayout()
        for widget in (self.run_button, self.stop_button, self.report_button):
            buttons.addWidget(widget)
        buttons.addWidget(self.count, 1)
        self.progress = QProgressBar()
        self.progress.setFormat("no study yet")
        self.status = QLabel()

        self.table = read_only_table([title for _key, title in RESULT_COLUMNS], stretch_last=False, compact=True)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)  # the run's label takes the room
        seconds = [key for key, _title in RESULT_COLUMNS].index("steady_seconds_per_epoch")
        self.table.horizontalHeaderItem(seconds).setToolTip(STEADY_SECONDS_NOTE)
        self.plot = CurvesPlot(empty_text="Run a study to see its runs' curves here")
        self.splitter = splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.plot)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([1, 2])  # relative: a study has a few rows, its curves want the height
        splitter.setStretchFactor(0, 0)  # a taller window gives its height to the curves, not to empty rows
        splitter.setStretchFactor(1, 1)

        layout = QVBoxLayout(self)
        layout.addWidget(explanation)
        layout.addWidget(choices)
        layout.addLayout(run_on)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)

        self.entries: list[RunEntry] = []
        self.base: Experiment | None = None
        self.running = False
        self._rows_planned = TABLE_ROWS  # the rows the table makes room for: a study's runs once one starts
        for box in (*self.pooling.values(), *self.padding.values(), *self.activation.values()):
            box.toggled.connect(self._update)
        self.padding_px.valueChanged.connect(self._update)
        self.on_ray.toggled.connect(self._run_on_edited)
        self.address.textEdited.connect(self._run_on_edited)
        self.run_button.clicked.connect(self._run)
        self.stop_button.clicked.connect(self.stop_requested)
        self.report_button.clicked.connect(lambda: self.report_requested.emit(list(self.entries)))
        self._update()

    def set_base(self, experiment: Experiment | None, can_run: bool) -> None:
        """The panel's experiment (None when it is invalid) and whether training may start now."""
        self.base = experiment
        self._can_run = can_run
        self._update()

    def set_run_on(self, on_ray: bool, address: str) -> None:
        """Show a remembered choice (no ``run_on_changed``)."""
        with QSignalBlocker(self.here), QSignalBlocker(self.on_ray):
            self.address.setText(address)
            (self.on_ray if on_ray else self.here).setChecked(True)
        self._update()

    def ray_address(self) -> str | None:
        """The Ray address to run on, or None for this computer."""
        return self.address.text().strip() if self.on_ray.isChecked() else None

    def _run_on_edited(self, *_args: object) -> None:
        self._update()
        self.run_on_changed.emit(self.on_ray.isChecked(), self.address.text().strip())

    def experiments(self) -> list[Experiment]:
        if self.base is None:
            return []
        poolings = [name for name, box in self.pooling.items() if box.isChecked()]
        paddings = [str(self.padding_px.value()) if name == "explicit" else name
                    for name, box in self.padding.items() if box.isChecked()]
        activations = [name for name, box in self.activation.items() if box.isChecked()] or None
        try:
            return study_grid(self.base, poolings, paddings, activations)
        except ConfigError:
            return []

    def _update(self, *_args: object) -> None:
        runs = len(self.experiments())
        epochs = self.base.train.epochs if self.base else 0
        problem = ray_address_problem(self.address.text()) if self.on_ray.isChecked() else None
        self.count.setText(problem or (f"{runs} run{'s' * (runs != 1)} × {epochs} epoch{'s' * (epochs != 1)}"
                                       if self.base and runs else "nothing to run"))
        self.count.setStyleSheet("color: #b00020;" if problem else "")
        for widget in (self.here, self.on_ray):
            widget.setEnabled(not self.running)
        self.address.setEnabled(self.on_ray.isChecked() and not self.running)
        self.run_button.setEnabled(bool(runs) and getattr(self, "_can_run", False) and not self.running
                                   and problem is None)
        self.stop_button.setEnabled(self.running)
        self.report_button.setEnabled(bool(self.entries) and not self.running)

    def _run(self) -> None:
        experiments = self.experiments()
        if experiments:
            self.run_requested.emit(experiments)

    # progress from the main window ------------------------------------------------------------
    def study_started(self, total: int, where: str = "") -> None:
        """A study of ``total`` runs begins (``where``: e.g. " on Ray (auto)"); the last study's results go."""
        self.running = True
        self.entries = []
        self._rows_planned = total
        self.show_results()
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        self.progress.setFormat(f"0 of {total} runs done")
        self.status.setText(f"Running {total} runs{where}…")
        self._update()

    def run_started(self, index: int, total: int, experiment: Experiment) -> None:
        m = experiment.model
        activation = ACTIVATION_LABELS.get(m.activation, m.activation)
        self.status.setText(f"run {index + 1} of {total}: {m.pooling} pooling, padding {m.padding}, {activation}…")

    def run_finished(self, entry: RunEntry, total: int) -> None:
        self.entries.append(entry)
        self.progress.setValue(len(self.entries))
        self.progress.setFormat(f"{len(self.entries)} of {total} runs done")
        self.show_results()

    def study_finished(self, message: str) -> None:
        self.running = False
        self._rows_planned = 0  # the rows recorded, no room kept for runs that never came
        self.status.setText(message)
        self._fit_table()
        self._update()

    def show_results(self) -> None:
        rows = study_rows(self.entries)
        self.table.setRowCount(len(rows))
        best = best_values(rows)
        bold = QFont()
        bold.setBold(True)
        for i, row in enumerate(rows):
            for j, (key, _title) in enumerate(RESULT_COLUMNS):
                value = row[key]
                item = QTableWidgetItem(cell_text(key, value) + (" (stopped)" if key == "label" and row["stopped"]
                                                                else ""))
                if key == "label" and row["stopped"]:
                    item.setToolTip(f"{row['stop_reason']}: not compared for the best values")
                if key != "label":
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if is_best(row, key, best):
                    item.setFont(bold)
                    item.setBackground(QBrush(QColor("#d9f2d9")))
                    item.setToolTip("best in this column")
                self.table.setItem(i, j, item)
        self.plot.show_runs(self.entries)
        self._fit_table()
        self._update()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        """Once laid out, the table gets the height of its rows and the curves the rest (not 1 : 2 of a small tab)."""
        super().showEvent(event)
        self._fit_table()

    def _fit_table(self) -> None:
        """Give the table the height of its rows, or of the rows planned (at most 45%), the curves the rest."""
        fit_table_rows(self.splitter, self.table, max(self.table.rowCount(), self._rows_planned), TABLE_SHARE)

    def best_cells(self) -> dict[str, str]:
        """Column title → label of the run highlighted as best there."""
        found = {}
        for j, (_key, title) in enumerate(RESULT_COLUMNS[1:], start=1):
            for i in range(self.table.rowCount()):
                if self.table.item(i, j).font().bold():
                    found[title] = self.table.item(i, 0).text()
        return found

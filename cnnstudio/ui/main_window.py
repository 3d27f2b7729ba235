"""The main window: experiment panel, architecture and training views, menus, status bar.

Long work (TensorFlow start-up, datasets, training, saving, loading, exports) runs on worker
threads through :func:`start_task`; this class only reacts to their queued signals.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnstudio import __version__
from cnnstudio.core.config import Experiment
from cnnstudio.core.data.datasets import KNOWN_SHAPES, Dataset, keras_cache_dir, load_dataset
from cnnstudio.core.errors import CnnStudioError, ConfigError
from cnnstudio.core.experiments.run_history import RunHistory
from cnnstudio.core.files.model_record import ModelRecord
from cnnstudio.core.network.architectures import architecture
from cnnstudio.core.network.shape_table import shape_table
from cnnstudio.core.training.progress import BatchProgress, EpochResult, StopFlag
from cnnstudio.core.training.stop_reason import StopReason
from cnnstudio.ui.architecture_view import ArchitectureView
from cnnstudio.ui.background import Task, running_threads, start_task, wait_for_threads
from cnnstudio.ui.config_panel import ConfigPanel
from cnnstudio.ui.evaluation_view import EvaluationView
from cnnstudio.ui.feature_maps_view import FeatureMapsView
from cnnstudio.ui.runs_view import RunsView
from cnnstudio.ui.settings import Settings
from cnnstudio.ui.sketch_pad import SketchPadView
from cnnstudio.ui.study_view import StudyView
from cnnstudio.ui.training_view import TrainingView

APP_TITLE = "CNN Studio"
MODEL_FILTER = "Keras models (*.keras)"


def default_dataset() -> str:
    """MNIST when Keras already has it; otherwise the built-in offline digits."""
    return "mnist" if (keras_cache_dir() / "mnist.npz").is_file() else "digits"


def load_backend(_task: Task) -> Any:
    """Import TensorFlow and the training code (seconds), then describe the device."""
    import cnnstudio.core.experiments.runner  # noqa: F401 - the import is the point
    from cnnstudio.core.training.runtime import runtime_info

    return runtime_info()


class _ProgressRelay:
    """A core TrainingListener that forwards progress to the GUI thread as a queued signal."""

    def __init__(self, task: Task):
        self.task = task

    def on_batch(self, progress: BatchProgress) -> None:
        self.task.progress.emit(progress)

    def on_epoch(self, result: EpochResult) -> None:
        self.task.progress.emit(result)


class MainWindow(QMainWindow):
    backend_ready = Signal()
    busy_changed = Signal(bool)
    training_finished = Signal()
    model_opened = Signal()

    def __init__(self, settings: Settings | None = None, *, load_tensorflow: bool = True,
                 history: RunHistory | None = None):
        super().__init__()
        self.settings = settings or Settings()
        self.history = history or RunHistory()
        self.runtime = None  # RuntimeInfo once TensorFlow is loaded
        self.model: Any = None
        self.record: ModelRecord | None = None
        self.model_path: str | None = None
        self.unsaved = False
        self.training = False
        self.busy = False  # a save, load or export is running
        self.stop_flag: StopFlag | None = None
        self.config_ok = False
        self.last_message: QMessageBox | None = None
        self._close_when_idle = False
        self._after_save: Callable[[], None] | None = None
        self._datasets: dict[str, Dataset] = {}
        self._datasets_lock = threading.Lock()
        self._shapes: dict[str, tuple[tuple[int, int, int], int]] = {
            name: (shape, 10) for name, shape in KNOWN_SHAPES.items()}
        self._pending_shapes: set[str] = set()

        self.panel = ConfigPanel()
        self.train_button = QPushButton("Train")
        self.stop_button = QPushButton("Stop")
        self.continue_button = QPushButton("Continue")
        self.train_button.setToolTip("Build a new network from these options and train it (on a worker thread).")
        self.stop_button.setToolTip("End the run after the batch in progress; the model is kept.")
        self.continue_button.setToolTip("Train the current model for more epochs, keeping its optimizer state "
                                        "(uses the training options; the network stays as it is).")
        self.train_button.setDefault(True)
        buttons = QHBoxLayout()
        for button in (self.train_button, self.stop_button, self.continue_button):
            buttons.addWidget(button)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.panel.sizeHint().width() + 24)
        side_layout.addWidget(scroll, 1)
        side_layout.addLayout(buttons)
        side.setMinimumWidth(self.panel.sizeHint().width() + 40)

        self.architecture_view = ArchitectureView()
        self.training_view = TrainingView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.architecture_view, "Architecture")
        self.tabs.addTab(self.training_view, "Training")
        self.study_view = StudyView()
        self.runs_view = RunsView(self.history)
        self.feature_view = FeatureMapsView()
        self.sketch_view = SketchPadView()
        self.evaluation_view = EvaluationView()
        self.tabs.addTab(self.feature_view, "Feature Maps")
        self.tabs.addTab(self.sketch_view, "Sketch Pad")
        self.tabs.addTab(self.evaluation_view, "Evaluation")
        self.tabs.addTab(self.study_view, "Study")
        self.tabs.addTab(self.runs_view, "Runs")
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(side)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([self.panel.sizeHint().width() + 40, 840])
        self.setCentralWidget(splitter)

        self.device_label = QLabel("Loading TensorFlow…")
        self.statusBar().addPermanentWidget(self.device_label)
        self._build_menus()

        self.panel.changed.connect(self.refresh_architecture)
        dataset_menu = QMenu(self)
        dataset_menu.addAction("Folder (IDX files or class sub-folders)…", self.choose_dataset_folder)
        dataset_menu.addAction("NumPy file (.npz)…", self.choose_dataset_file)
        self.panel.open_dataset.setMenu(dataset_menu)
        self.train_button.clicked.connect(self.train)
        self.stop_button.clicked.connect(self.stop)
        self.continue_button.clicked.connect(self.continue_training)
        self.study_view.run_requested.connect(self.start_study)
        self.study_view.stop_requested.connect(self.stop)
        self.study_view.report_requested.connect(self.export_report)
        self.runs_view.open_requested.connect(self.open_run)
        self.runs_view.export_requested.connect(self.export_run)
        self._study_total = 0
        self._evaluations: dict[tuple, Any] = {}
        self.evaluation_view.evaluate_requested.connect(self.evaluate)
        self.evaluation_view.image_chosen.connect(self.show_feature_maps_of)
        self.sketch_view.send_to_feature_maps.connect(self.show_feature_maps_of)
        self.feature_view.sketch_button.clicked.connect(self._feature_maps_of_sketch)
        self.feature_view.compare_button.clicked.connect(self.choose_compare_model)

        remembered = self.settings.experiment()
        self.panel.set_experiment(remembered or Experiment(dataset=default_dataset()))
        geometry = self.settings.geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1220, 780)
        self._update_title()
        self.update_actions()
        if load_tensorflow:
            start_task(load_backend, succeeded=self._backend_loaded, failed=self._backend_failed, name="load-tensorflow")

    # menus -----------------------------------------------------------------------------
    def _action(self, menu, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.new_action = self._action(file_menu, "&New Experiment", self.new_experiment, QKeySequence.New,
                                       "Start over with default options")
        self.open_action = self._action(file_menu, "&Open Model…", self.open_model, QKeySequence.Open,
                                        "Open a .keras model with its settings and history")
        self.recent_menu = file_menu.addMenu("Recent &Models")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        self.save_action = self._action(file_menu, "&Save Model", self.save_model, QKeySequence.Save)
        self.save_as_action = self._action(file_menu, "Save Model &As…", self.save_model_as, QKeySequence("Ctrl+Shift+S"))
        export = file_menu.addMenu("&Export")
        self.export_history_action = self._action(export, "Training History as CSV…", self.export_history)
        self.export_plots_action = self._action(export, "Plots as PNG or SVG…", self.export_plots)
        self.export_saved_model_action = self._action(export, "Model as TensorFlow SavedModel…", self.export_saved_model)
        self.export_tflite_action = self._action(export, "Model as TFLite…", self.export_tflite)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence("Ctrl+Q"))
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&About CNN Studio", self.show_about)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_models()
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_model_path(p, ask_first=True))

    # state -----------------------------------------------------------------------------
    def update_actions(self) -> None:
        idle = not self.training and not self.busy
        ready = self.runtime is not None
        has_model = self.model is not None
        self.train_button.setEnabled(idle and ready and self.config_ok)
        self.stop_button.setEnabled(self.training)
        self.continue_button.setEnabled(idle and ready and has_model)
        self.panel.setEnabled(not self.training)
        for action in (self.save_action, self.save_as_action, self.export_saved_model_action, self.export_tflite_action):
            action.setEnabled(idle and has_model)
        self.export_history_action.setEnabled(idle and self.record is not None)
        for action in (self.new_action, self.open_action):
            action.setEnabled(idle and ready)
        self.recent_menu.setEnabled(idle and ready)
        try:
            base = self.panel.experiment() if self.config_ok else None
        except ConfigError:
            base = None
        self.study_view.set_base(base, idle and ready and self.config_ok)
        self.runs_view.setEnabled(not self.training)
        blocked = "A training run is using the model; this view updates when it ends." if self.training else None
        if blocked != getattr(self, "_inspection_blocked", None):
            self._inspection_blocked = blocked
            self.feature_view.set_blocked(blocked)
            self.sketch_view.set_blocked(blocked)
        self.evaluation_view.set_enabled_reason(
            blocked or (None if self.model is not None and not self.busy else
                        "Train or open a model, then evaluate it." if self.model is None else "Busy…"))

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.update_actions()
        self.busy_changed.emit(busy)

    def _update_title(self) -> None:
        name = Path(self.model_path).name if self.model_path else ("untitled model" if self.model else "new experiment")
        self.setWindowTitle(f"{name}{' *' if self.unsaved else ''} — {APP_TITLE} {__version__}")

    def show_error(self, title: str, reason: str, details: str = "") -> None:
        """A dialog with the one-line reason; the details (traceback) are one click away."""
        box = QMessageBox(QMessageBox.Critical, title, reason, QMessageBox.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setWindowModality(Qt.WindowModal)
        self.last_message = box
        box.open()

    # TensorFlow ------------------------------------------------------------------------
    def _backend_loaded(self, info: Any) -> None:
        self.runtime = info
        self.device_label.setText(f"{info.device} · TensorFlow {info.tensorflow} · Keras {info.keras}")
        self.statusBar().showMessage("Ready.", 4000)
        self.update_actions()
        self.backend_ready.emit()

    def _backend_failed(self, reason: str, details: str) -> None:
        self.device_label.setText("TensorFlow unavailable")
        self.show_error("TensorFlow could not be loaded",
                        f"TensorFlow could not be imported, so networks cannot be built or trained: {reason}. "
                        "Try reinstalling it in this environment (pip install --force-reinstall 'tensorflow>=2.21'); "
                        "on Windows also install the Microsoft Visual C++ Redistributable.", details)

    # datasets and the architecture view ------------------------------------------------------
    def dataset(self, name: str) -> Dataset:
        """Load (once) a dataset; called on worker threads."""
        with self._datasets_lock:
            if name not in self._datasets:
                if len(self._datasets) >= 2:
                    self._datasets.pop(next(iter(self._datasets)))
                self._datasets[name] = load_dataset(name)
            return self._datasets[name]

    def choose_dataset_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Dataset folder: MNIST-format IDX files, or one sub-folder of images per class")
        if path:
            self.use_dataset(path)

    def choose_dataset_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Dataset file with x_train, y_train, x_test, y_test", "",
                                              "NumPy archives (*.npz)")
        if path:
            self.use_dataset(path)

    def use_dataset(self, path: str) -> None:
        self.panel.add_dataset_path(path)

    def refresh_architecture(self) -> None:
        try:
            experiment = self.panel.experiment()
        except ConfigError as exc:
            self.config_ok = False
            self.architecture_view.show_problem("Options", str(exc))
            self.update_actions()
            return
        name = experiment.dataset
        title = f"<b>{architecture(experiment.model.arch).title}</b> on <i>{name}</i>"
        shape = self._shapes.get(name)
        if shape is None:
            self.config_ok = False
            self.architecture_view.show_problem(title, f"Reading dataset {name}…", prefix="")
            if name not in self._pending_shapes:
                self._pending_shapes.add(name)
                start_task(lambda _t: (name, self.dataset(name)), succeeded=self._dataset_read,
                           failed=self._dataset_failed, name="read-dataset")
        else:
            try:
                table = shape_table(experiment.model, *shape)
            except ConfigError as exc:
                self.config_ok = False
                self.architecture_view.show_problem(title, str(exc))
            else:
                self.config_ok = True
                self.architecture_view.show_table(title, table)
        self.update_actions()

    def _dataset_read(self, result: tuple[str, Dataset]) -> None:
        name, dataset = result
        self._pending_shapes.discard(name)
        self._shapes[name] = (dataset.input_shape, dataset.num_classes)
        self.statusBar().showMessage(dataset.describe(), 8000)
        self.refresh_architecture()

    def _dataset_failed(self, reason: str, details: str) -> None:
        self._pending_shapes.clear()
        self.config_ok = False
        self.architecture_view.show_problem("Dataset", reason)
        self.update_actions()
        self.show_error("Dataset problem", reason, details)

    # training --------------------------------------------------------------------------
    def train(self) -> None:
        if not self.maybe_keep_model(self.train):
            return
        self._start_run(self.panel.experiment(), None, None)

    def continue_training(self) -> None:
        if self.model is None:
            return
        options = self.panel.experiment()
        if self.record is not None:
            experiment = Experiment(self.record.experiment.model, options.train, self.record.experiment.dataset)
        else:
            experiment = options
        self._start_run(experiment, self.model, self.record)

    def _start_run(self, experiment: Experiment, model: Any, record: ModelRecord | None) -> None:
        self.training = True
        self.stop_flag = stop = StopFlag()
        self.training_view.clear(record.history if record else None)
        self.tabs.setCurrentWidget(self.training_view)
        self.statusBar().showMessage("Training…")
        self.settings.set_experiment(self.panel.experiment())
        self.update_actions()

        def work(task: Task) -> Any:
            from cnnstudio.core.experiments.runner import run_experiment

            dataset = self.dataset(experiment.dataset)
            return run_experiment(experiment, dataset, listener=_ProgressRelay(task), stop=stop, model=model, record=record,
                                  history=self.history)

        start_task(work, succeeded=self._run_succeeded, failed=self._run_failed, progress=self._run_progress,
                   name="training")

    def stop(self) -> None:
        if self.stop_flag is not None:
            self.stop_flag.request()
            self.statusBar().showMessage("Stopping after this batch…")

    def _run_progress(self, item: Any) -> None:
        if isinstance(item, BatchProgress):
            self.training_view.on_batch(item)
        elif isinstance(item, EpochResult):
            self.training_view.on_epoch(item)
        elif item[0] == "run_started":
            self.training_view.clear()
            self.study_view.run_started(item[1], self._study_total, item[2])
        elif item[0] == "run_done":
            self.study_view.run_finished(item[2], self._study_total)
            self.runs_view.refresh()

    # inspection ------------------------------------------------------------------------
    def _inspected_dataset(self) -> str:
        return self.record.experiment.dataset if self.record is not None else self.panel.dataset_name()

    def _model_changed(self) -> None:
        """Point the inspection views at the current model (and its test images)."""
        name = Path(self.model_path).name if self.model_path else "current model"
        classes = self.record.class_names if self.record else None
        self.feature_view.set_model(self.model, name, self.record.digit_like if self.record else True)
        self.sketch_view.set_model(self.model, classes)
        self.evaluation_view.clear()
        if self.model is not None:
            dataset = self._inspected_dataset()
            start_task(lambda _t: self.dataset(dataset), succeeded=self._test_images_loaded,
                       failed=self._test_images_failed, name="test-images")
        self.update_actions()

    def _test_images_loaded(self, dataset: Dataset) -> None:
        if self.model is not None and tuple(self.model.input_shape[1:]) == dataset.input_shape:
            self.feature_view.set_test_images(dataset.x_test, dataset.y_test, dataset.class_names)

    def _test_images_failed(self, _reason: str = "", _details: str = "") -> None:
        self.feature_view.message.setText("The test images could not be read; use the sketch pad instead.")

    def show_feature_maps_of(self, pixels: Any, label: str) -> None:
        self.feature_view.show_image(pixels, label)
        self.tabs.setCurrentWidget(self.feature_view)

    def _feature_maps_of_sketch(self) -> None:
        if self.sketch_view.processed is not None:
            self.show_feature_maps_of(self.sketch_view.processed, "your sketch")
        else:
            self.tabs.setCurrentWidget(self.sketch_view)

    def choose_compare_model(self) -> None:
        path = self.ask_open_path()
        if path:
            from cnnstudio.core.files.persistence import load_model

            self._set_busy(True)
            start_task(lambda _t: (path, *load_model(path)), succeeded=self._compare_model_loaded,
                       failed=self._file_failed, name="open-compare-model")

    def _compare_model_loaded(self, result: tuple[str, Any, Any]) -> None:
        path, model, _record = result
        self._set_busy(False)
        self.feature_view.set_compare_model(model, Path(path).name)

    def evaluate(self) -> None:
        """Evaluate the current model on its test set off the GUI thread (cached per model and data)."""
        if self.model is None or self.training:
            return
        dataset_name = self._inspected_dataset()
        key = (id(self.model), dataset_name, self.record.epochs_trained if self.record else 0)
        cached = self._evaluations.get(key)
        if cached is not None and cached[0] is self.model:  # the same object, not a new one at a reused id
            self._evaluation_done(cached[1])
            return
        model = self.model
        self._set_busy(True)

        def work(task: Task) -> Any:
            from cnnstudio.core.inspection import evaluate_details

            dataset = self.dataset(dataset_name)
            if tuple(model.input_shape[1:]) != dataset.input_shape:
                raise CnnStudioError(f"the model takes {tuple(model.input_shape[1:])} images but {dataset_name} "
                                     f"has {dataset.input_shape}")
            evaluation = evaluate_details(model, dataset.x_test, dataset.y_test,
                                          progress=lambda done, total: task.progress.emit((done, total)))
            return key, evaluation, dataset.x_test, dataset.class_names

        start_task(work, succeeded=self._evaluation_done, failed=self._evaluation_failed,
                   progress=self._evaluation_progress, name="evaluate")

    def _evaluation_progress(self, item: tuple[int, int]) -> None:
        self.evaluation_view.on_progress(*item)

    def _evaluation_failed(self, reason: str, details: str) -> None:
        self._set_busy(False)
        self.evaluation_view.progress.setFormat("failed")
        self.show_error("Evaluation failed", reason, details)

    def _evaluation_done(self, result: tuple) -> None:
        key, evaluation, images, class_names = result
        if self.model is not None and key[0] == id(self.model):
            self._evaluations = {key: (self.model, result)}  # the latest only: old models' results are useless
        self._set_busy(False)
        self.evaluation_view.show_evaluation(evaluation, images, class_names)

    # studies ---------------------------------------------------------------------------
    def start_study(self, experiments: list) -> None:
        """Run the grid one run after another on the worker; Stop ends the current run and skips the rest."""
        self.training = True
        self.stop_flag = stop = StopFlag()
        self._study_total = len(experiments)
        self.study_view.study_started(len(experiments))
        self.statusBar().showMessage(f"Study: {len(experiments)} runs…")
        self.update_actions()
        history = self.history

        def work(task: Task) -> Any:
            from cnnstudio.core.experiments.study import run_study

            dataset = self.dataset(experiments[0].dataset)
            outcomes = run_study(
                experiments, dataset, history=history, stop=stop, listener=_ProgressRelay(task),
                on_run_start=lambda i, e: task.progress.emit(("run_started", i, e)),
                on_run_done=lambda i, o: task.progress.emit(("run_done", i, o.entry)))
            return len(outcomes), bool(outcomes and outcomes[-1].result.end.reason is StopReason.REQUESTED)

        start_task(work, succeeded=self._study_succeeded, failed=self._study_failed, progress=self._run_progress,
                   name="study")

    def _study_succeeded(self, result: tuple[int, bool]) -> None:
        finished, stopped = result
        self.training = False
        message = (f"Study stopped: {finished} of {self._study_total} runs recorded" if stopped
                   else f"Study finished: {finished} runs")
        self.study_view.study_finished(message)
        self.statusBar().showMessage(message, 10000)
        self.runs_view.refresh()
        self.update_actions()
        self.training_finished.emit()
        self._close_if_asked()

    def _study_failed(self, reason: str, details: str) -> None:
        self.study_view.study_finished(f"Study failed: {reason}")
        self.runs_view.refresh()
        self._run_failed(reason, details)

    def export_report(self, entries: list) -> None:
        from cnnstudio.core.experiments.report import write_report

        path = self._ask_export_path("Export study report", "-study.md", "Markdown (*.md)")
        if path and entries:
            try:
                write_report(entries, path)
            except CnnStudioError as exc:
                self.show_error("Export failed", str(exc))
            else:
                self.statusBar().showMessage(f"Wrote {path} and its curves PNG", 8000)

    def open_run(self, entry: Any) -> None:
        if entry.model_path and Path(entry.model_path).is_file():
            self.open_model_path(entry.model_path, ask_first=True)
        else:
            self.show_error("Cannot open run", f"the model of this run is no longer at {entry.model_path}")

    def export_run(self, entry: Any) -> None:
        from cnnstudio.core.experiments.script_export import export_run
        from cnnstudio.core.files.persistence import read_record

        folder = QFileDialog.getExistingDirectory(self, "Folder for the run record and script")
        if not folder:
            return
        try:
            record = read_record(entry.model_path) if entry.model_path and Path(entry.model_path).is_file() else None
            shape = (record.input_shape, len(record.class_names)) if record else self._shapes.get(entry.experiment["dataset"])
            if shape is None:
                raise CnnStudioError(f"the image shape of dataset {entry.experiment['dataset']} is unknown; open it first")
            json_path, script_path = export_run(entry, shape[0], shape[1], folder)
        except CnnStudioError as exc:
            self.show_error("Export failed", str(exc))
        else:
            self.statusBar().showMessage(f"Wrote {json_path.name} and {script_path.name} in {folder}", 8000)

    def _run_succeeded(self, outcome: Any) -> None:
        self.training = False
        self.model, self.record = outcome.model, outcome.record
        self.unsaved = True
        result = outcome.result
        self.training_view.epoch_history = {k: list(v) for k, v in outcome.record.history.items()}
        self.training_view.progress.setFormat("stopped" if result.end.reason.early else "finished")
        line = f"test accuracy {result.test_accuracy:.4f} · test loss {result.test_loss:.4f}"
        if result.end.reason.early:
            line = f"{result.end.message}; {line}"
        self.training_view.status.setText(line)
        self.training_view.log.appendPlainText(line)
        self.training_view.redraw()
        self._model_changed()
        self.statusBar().showMessage(line, 10000)
        self.runs_view.refresh()
        self._update_title()
        self.update_actions()
        if result.end.reason is StopReason.NON_FINITE:
            self.show_error("Training diverged", result.end.message)
        self.training_finished.emit()
        self._close_if_asked()

    def _run_failed(self, reason: str, details: str) -> None:
        self.training = False
        self.statusBar().showMessage("Training failed.", 10000)
        self.training_view.progress.setFormat("failed")
        self.training_view.status.setText(f"Training failed: {reason}")
        self.update_actions()
        self.show_error("Training failed", reason, details)
        self.training_finished.emit()
        self._close_if_asked()

    def _close_if_asked(self) -> None:
        if self._close_when_idle:
            self._close_when_idle = False
            self.close()

    # asking the user (tests replace these) ------------------------------------------------------
    def ask_save_changes(self) -> str:
        """'save', 'discard' or 'cancel' for an unsaved trained model."""
        answer = QMessageBox.question(
            self, "Unsaved model", "The trained model has not been saved. Save it first?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        return {QMessageBox.Save: "save", QMessageBox.Discard: "discard"}.get(answer, "cancel")

    def confirm_stop_training(self) -> bool:
        answer = QMessageBox.question(self, "Training is running", "Stop training and quit?",
                                      QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def ask_save_path(self) -> str:
        start = self.model_path or str(Path.home() / f"{self.panel.experiment().model.arch}.keras")
        path, _ = QFileDialog.getSaveFileName(self, "Save model", start, MODEL_FILTER)
        if path and not path.endswith(".keras"):
            path += ".keras"
        return path

    def ask_open_path(self) -> str:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", str(Path.home()), f"{MODEL_FILTER};;All files (*)")
        return path

    def maybe_keep_model(self, then: Callable[[], None]) -> bool:
        """True when it is fine to replace the current model now; with 'save', saves and calls ``then`` later."""
        if not self.unsaved or self.model is None:
            return True
        answer = self.ask_save_changes()
        if answer == "discard":
            self.unsaved = False
            return True
        if answer == "save":
            path = self.model_path or self.ask_save_path()
            if path:
                self.save_to(path, then=then)
        return False

    # files -----------------------------------------------------------------------------
    def new_experiment(self) -> None:
        if not self.maybe_keep_model(self.new_experiment):
            return
        self.model = self.record = self.model_path = None
        self.unsaved = False
        self.training_view.clear()
        self._model_changed()
        self.panel.set_experiment(Experiment(dataset=default_dataset()))
        self.tabs.setCurrentWidget(self.architecture_view)
        self._update_title()
        self.update_actions()

    def save_model(self) -> None:
        if self.model_path:
            self.save_to(self.model_path)
        else:
            self.save_model_as()

    def save_model_as(self) -> None:
        path = self.ask_save_path()
        if path:
            self.save_to(path)

    def save_to(self, path: str, then: Callable[[], None] | None = None) -> None:
        """Save on a worker thread (atomic); ``then`` runs after a successful save."""
        from cnnstudio.core.files.persistence import save_model

        model, record = self.model, self.record
        self._after_save = then
        self._set_busy(True)
        self.statusBar().showMessage(f"Saving {path}…")
        start_task(lambda _t: (path, save_model(model, path, record)), succeeded=self._saved,
                   failed=self._file_failed, name="save-model")

    def _saved(self, result: tuple[str, Path]) -> None:
        path = result[0]
        self.model_path, self.unsaved = path, False
        self.settings.add_recent_model(path)
        self._set_busy(False)
        self._update_title()
        self.statusBar().showMessage(f"Saved {path}", 6000)
        then, self._after_save = self._after_save, None
        if then is not None:
            then()

    def _file_failed(self, reason: str, details: str) -> None:
        self._after_save = None
        self._close_when_idle = False
        self._set_busy(False)
        self.statusBar().clearMessage()
        self.show_error("File problem", reason, details)

    def open_model(self) -> None:
        if not self.maybe_keep_model(self.open_model):
            return
        path = self.ask_open_path()
        if path:
            self.open_model_path(path)

    def open_model_path(self, path: str, ask_first: bool = False) -> None:
        """Load a model on a worker thread (Keras safe mode) and show its experiment."""
        if ask_first and not self.maybe_keep_model(lambda: self.open_model_path(path)):
            return
        from cnnstudio.core.files.persistence import load_model

        self._set_busy(True)
        self.statusBar().showMessage(f"Opening {path}…")
        start_task(lambda _t: (path, *load_model(path)), succeeded=self._model_loaded, failed=self._file_failed,
                   name="open-model")

    def _model_loaded(self, result: tuple[str, Any, ModelRecord | None]) -> None:
        path, model, record = result
        self.model, self.record, self.model_path, self.unsaved = model, record, path, False
        self.settings.add_recent_model(path)
        if record is not None:
            self._shapes.setdefault(record.experiment.dataset, (record.input_shape, len(record.class_names)))
            self.panel.set_experiment(record.experiment)
            self.training_view.clear(record.history)
            if record.test_accuracy is not None:
                self.training_view.status.setText(
                    f"Opened: {record.epochs_trained} epochs, test accuracy {record.test_accuracy:.4f}")
        else:
            self.training_view.clear()
            self.architecture_view.show_problem(
                Path(path).name, "this Keras file has no CNN Studio experiment inside; it can be continued, "
                "evaluated and exported, but its options are unknown")
        self._model_changed()
        self._set_busy(False)
        self._update_title()
        self.statusBar().showMessage(f"Opened {path}", 6000)
        self.model_opened.emit()

    # exports ---------------------------------------------------------------------------
    def _ask_export_path(self, title: str, suggestion: str, filters: str) -> str:
        base = Path(self.model_path).with_suffix("") if self.model_path else Path.home() / "cnnstudio"
        path, _ = QFileDialog.getSaveFileName(self, title, f"{base}{suggestion}", filters)
        return path

    def export_history(self) -> None:
        from cnnstudio.core.files.export import history_csv

        path = self._ask_export_path("Export training history", "-history.csv", "CSV files (*.csv)")
        if path and self.record is not None:
            try:
                history_csv(self.record, path)
            except CnnStudioError as exc:
                self.show_error("Export failed", str(exc))
            else:
                self.statusBar().showMessage(f"Wrote {path}", 6000)

    def export_plots(self) -> None:
        path = self._ask_export_path("Export plots", "-curves.png", "PNG image (*.png);;SVG drawing (*.svg)")
        if path:
            try:
                self.training_view.figure.savefig(path, dpi=150)
            except (OSError, ValueError) as exc:
                self.show_error("Export failed", f"could not write {Path(path).name}: {exc}")
            else:
                self.statusBar().showMessage(f"Wrote {path}", 6000)

    def export_saved_model(self) -> None:
        from cnnstudio.core.files.export import saved_model

        folder = QFileDialog.getExistingDirectory(self, "Folder to hold the SavedModel")
        if folder:
            model = self.model
            target = str(Path(folder) / "saved_model")
            self._run_export(lambda _t: (target, saved_model(model, target)))

    def export_tflite(self) -> None:
        from cnnstudio.core.files.export import tflite

        path = self._ask_export_path("Export TFLite model", ".tflite", "TFLite models (*.tflite)")
        if path:
            model = self.model
            self._run_export(lambda _t: (path, tflite(model, path)))

    def _run_export(self, work: Callable[[Task], Any]) -> None:
        self._set_busy(True)
        self.statusBar().showMessage("Exporting…")
        start_task(work, succeeded=self._exported, failed=self._file_failed, name="export")

    def _exported(self, result: tuple[str, Any]) -> None:
        self._set_busy(False)
        self.statusBar().showMessage(f"Exported {result[0]}", 8000)

    def show_about(self) -> None:
        runtime = self.runtime
        versions = (f"TensorFlow {runtime.tensorflow}, Keras {runtime.keras}<br>Device: {runtime.device}"
                    if runtime else "TensorFlow is still loading.")
        QMessageBox.about(self, "About CNN Studio",
                          f"<h3>CNN Studio {__version__}</h3><p>Learn and experiment with convolutional networks.</p>"
                          f"<p>{versions}</p><p>Dataset cache: {keras_cache_dir()}<br>"
                          f"Settings: {self.settings.store.fileName()}</p>")

    # closing ---------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if self.training:
            event.ignore()
            if self.confirm_stop_training():
                self._close_when_idle = True
                self.stop()
            return
        if self.busy:
            event.ignore()
            return
        if not self.maybe_keep_model(self.close):
            event.ignore()
            return
        self.settings.set_geometry(self.saveGeometry())
        self.settings.set_experiment(self.panel.experiment())
        self.settings.sync()
        if running_threads():
            self.statusBar().showMessage("Finishing background work…")
            wait_for_threads(int(os.environ.get("CNNSTUDIO_CLOSE_WAIT_MS", "60000")))
        event.accept()

"""The main window: layout, wiring, state application and close handling — nothing else.

State lives in the Qt-free :class:`Workspace`; runs are started, stopped and reported by
:class:`RunActions` (over the :class:`TrainingController`), TensorFlow's loading and the devices by
the :class:`DeviceController`, files by :class:`FileActions`, inspection by the
:class:`InspectionController`, and the shape table by :class:`ShapePreview`. Every action's enabled
state derives from one :class:`AppState` in :meth:`MainWindow.apply_state`.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnstudio import __version__
from cnnstudio.core.config import Experiment
from cnnstudio.core.errors import ConfigError, plural
from cnnstudio.core.experiments.run_history import RunHistory
from cnnstudio.core.workspace import FileState, Recovery, Workspace, default_dataset
from cnnstudio.ui.about import show_about
from cnnstudio.ui.app_state import Activity, AppState
from cnnstudio.ui.architecture_view import ArchitectureView
from cnnstudio.ui.background import running_threads, start_task, wait_for_threads
from cnnstudio.ui.config_panel import ConfigPanel
from cnnstudio.ui.design_controller import DesignController
from cnnstudio.ui.design_view import DesignView
from cnnstudio.ui.device_controller import DeviceController, load_backend
from cnnstudio.ui.evaluation_view import EvaluationView
from cnnstudio.ui.feature_maps_view import FeatureMapsView
from cnnstudio.ui.file_actions import FileActions, show_message
from cnnstudio.ui.inspection_controller import InspectionController
from cnnstudio.ui.run_actions import RunActions
from cnnstudio.ui.run_controls import RunControls
from cnnstudio.ui.runs_view import RunsView
from cnnstudio.ui.settings import Settings
from cnnstudio.ui.shape_preview import ShapePreview
from cnnstudio.ui.sketch_pad import SketchPadView
from cnnstudio.ui.study_view import StudyView
from cnnstudio.ui.training_controller import TrainingController
from cnnstudio.ui.training_view import TrainingView
from cnnstudio.ui.window_geometry import restore_geometry

APP_TITLE = "CNN Studio"


class MainWindow(QMainWindow):
    backend_ready = Signal()
    busy_changed = Signal(bool)
    training_finished = Signal()
    model_opened = Signal()
    error_shown = Signal(str, str)  # title, reason: an error dialog has opened

    def __init__(self, settings: Settings | None = None, *, load_tensorflow: bool = True,
                 history: RunHistory | None = None, workspace: Workspace | None = None,
                 recovery: Recovery | None = None):
        super().__init__()
        self.settings = settings or Settings()
        self.history = history or RunHistory()
        self.workspace = workspace or Workspace()
        self.recovery = recovery or Recovery()
        self.state = AppState()
        self.last_message: QMessageBox | None = None
        self._close_when_idle = False
        self._inspection_blocked: str | None = None
        self._build_layout()
        self.devices = DeviceController(self.panel.device_choice, self.settings, self.panel.batch_size.value,
                                        self.device_label, self)
        self.trainer = TrainingController(self.workspace, self.history, self, recovery=self.recovery)
        self.files = FileActions(self, self.workspace, self.settings,
                                 lambda: self.workspace.file_stem(self.panel.experiment().model),
                                 lambda: self.training_view.figure)
        self.files.build_menu(self.menuBar(), self.close)
        self.designs = DesignController(self.design_view, self.panel, self.workspace, self.tabs, self)
        self.designs.build_edit_menu(self.menuBar())
        self.undo_action, self.redo_action = self.designs.undo_action, self.designs.redo_action
        self.controls.build_menu(self.menuBar())
        self.run_actions_menu = self.controls.actions
        self.start_design_from = self.designs.start_from
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About CNN Studio", self)
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)
        self.inspection = InspectionController(self.workspace, self.feature_view, self.sketch_view,
                                               self.evaluation_view, self.panel.dataset_name, self.files.ask_open_path, self,
                                               ask_read_dataset=self.files.ask_read_dataset)
        self.preview = ShapePreview(self.panel, self.architecture_view, self.workspace, self, design_view=self.design_view)
        self.run_actions = RunActions(
            self.trainer, self.workspace, self.settings, self.panel, self.devices, state=lambda: self.state,
            may_replace_model=self.files.maybe_keep_model, may_read=self.inspection.may_read, tabs=self.tabs,
            training_view=self.training_view, study_view=self.study_view, runs_view=self.runs_view, parent=self)
        self._wire()

        self.designs.show_experiment(self.settings.experiment() or Experiment(dataset=default_dataset()))
        restore_geometry(self, self.settings.geometry())
        self._show_file_state(self.workspace.file_state)
        self.apply_state()
        if load_tensorflow:
            start_task(load_backend, succeeded=self.devices.loaded, failed=self.devices.load_failed,
                       name="load-tensorflow")

    # layout ----------------------------------------------------------------------------
    def _build_layout(self) -> None:
        self.panel = ConfigPanel()
        self.controls = RunControls()
        self.train_button, self.stop_button = self.controls.train_button, self.controls.stop_button
        self.continue_button = self.controls.continue_button
        scroll = QScrollArea()
        scroll.setFocusPolicy(Qt.NoFocus)  # Tab goes from the options to the buttons, not through the frame
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        # as narrow as the panel allows, with room for its vertical scroll bar: a 1024-pixel-wide window keeps
        # the rest for the tabs
        scroll.setMinimumWidth(self.panel.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width())
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(scroll, 1)
        side_layout.addWidget(self.controls)

        self.architecture_view, self.training_view = ArchitectureView(), TrainingView()
        self.design_view = DesignView()
        self.feature_view, self.sketch_view, self.evaluation_view = FeatureMapsView(), SketchPadView(), EvaluationView()
        self.study_view, self.runs_view = StudyView(), RunsView(self.history)
        self.tabs = QTabWidget()
        for view, title in ((self.architecture_view, "Architecture"), (self.design_view, "Design"),
                            (self.training_view, "Training"),
                            (self.feature_view, "Feature Maps"), (self.sketch_view, "Sketch Pad"),
                            (self.evaluation_view, "Evaluation"), (self.study_view, "Study"), (self.runs_view, "Runs")):
            self.tabs.addTab(view, title)
        # on a small screen the views scroll instead of widening the window (from 1024 pixels wide they fit)
        self.tabs_area = tabs_area = QScrollArea()
        tabs_area.setFocusPolicy(Qt.NoFocus)
        tabs_area.setWidget(self.tabs)
        tabs_area.setWidgetResizable(True)
        tabs_area.setFrameShape(QScrollArea.NoFrame)
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(side)
        splitter.addWidget(tabs_area)
        splitter.setChildrenCollapsible(False)  # dragging the handle never hides the options or the views
        side.setMinimumWidth(200)
        tabs_area.setMinimumWidth(320)
        splitter.setStretchFactor(1, 1)  # a wider window widens the tabs; the panel keeps its width
        splitter.setSizes([side.minimumSizeHint().width(), 840])
        self.setCentralWidget(splitter)
        self.device_label = QLabel("Loading TensorFlow…")
        self.statusBar().addPermanentWidget(self.device_label)

    def _wire(self) -> None:
        files, runs = self.files, self.run_actions
        self.train_button.clicked.connect(runs.train)
        self.stop_button.clicked.connect(runs.stop)
        self.continue_button.clicked.connect(runs.continue_training)
        self.study_view.run_requested.connect(runs.start_study)
        self.study_view.stop_requested.connect(runs.stop)
        self.study_view.report_requested.connect(files.export_report)
        self.study_view.set_run_on(self.settings.ray_address() is not None, self.settings.last_ray_address())
        self.study_view.run_on_changed.connect(self.settings.set_study_run_on)
        self.devices.message.connect(self._status_message)
        self.devices.ready.connect(self._backend_ready)
        self.devices.unavailable.connect(self._backend_unavailable)
        self.panel.changed.connect(self.devices.update_label)
        self.runs_view.open_requested.connect(files.open_run)
        files.history_holds = self.history.holds_model
        self.runs_view.deleted.connect(self.workspace.forget_runs)
        self.designs.message.connect(self._status_message)
        self.runs_view.deleted.connect(
            lambda ids: self._status_message(f"Deleted {plural(len(ids), 'run')} from the run history", 8000))
        self.runs_view.export_requested.connect(files.export_run)
        self.architecture_view.export_requested.connect(files.export_diagram)
        files.set_diagram(self.architecture_view.shown_network)
        self.design_view.open_requested.connect(files.open_design)
        self.design_view.save_requested.connect(files.save_design_as)
        files.set_design_access(self.designs.edited_design, self.designs.open_design)

        runs.activity_changed.connect(lambda activity: self._set_state(activity=activity))
        runs.message.connect(self._status_message)
        runs.error.connect(self.show_error)
        runs.notice.connect(self._show_notice)
        runs.listed.connect(self.training_finished)
        runs.ended.connect(self._run_ended)

        files.busy_changed.connect(self._set_busy)
        files.failed.connect(self._file_failed)
        files.message.connect(self._status_message)
        files.new_requested.connect(self._reset_experiment)
        files.model_opened.connect(self.model_opened)
        self.inspection.busy_changed.connect(self._set_busy)
        self.inspection.failed.connect(self.show_error)
        self.inspection.show_view.connect(self.tabs.setCurrentWidget)
        self.preview.config_ok_changed.connect(self._options_checked)
        self.preview.dataset_read.connect(lambda text: self._status_message(text, 8000))
        self.preview.dataset_failed.connect(lambda reason, details: self.show_error("Dataset problem", reason, details))
        self.workspace.model_changed.connect(self._model_changed)
        self.workspace.file_changed.connect(self._show_file_state)

    # state -----------------------------------------------------------------------------
    def _set_state(self, **changes: Any) -> None:
        self.state = self.state.with_(**changes)
        self.apply_state()

    def _options_checked(self, ok: bool) -> None:
        """Options that no longer make a trainable network: said in the status bar too, where the user is."""
        was = self.state.config_ok
        self._set_state(config_ok=ok, config_problem=self.preview.problem)
        if was and not ok and self.state.busy_reason is None:
            self._status_message(f"Train is unavailable: {self.preview.problem}.", 10000)

    def apply_state(self) -> None:
        """The one place where what the user may do is decided."""
        enabled = self.state.enabled
        self.controls.apply(enabled)
        self.panel.setEnabled(enabled.panel)
        self.files.set_enabled(open_=enabled.open, save=enabled.save, export_history=enabled.export_history)
        try:
            base = self.panel.experiment() if self.state.config_ok else None
        except Exception:  # noqa: BLE001 - an unreadable panel simply offers no study
            base = None
        self.study_view.set_base(base, enabled.study)
        self.runs_view.setEnabled(enabled.runs)
        if enabled.inspection_blocked != self._inspection_blocked:  # unblocking re-renders: only on a change
            self._inspection_blocked = enabled.inspection_blocked
            self.feature_view.set_blocked(enabled.inspection_blocked)
            self.sketch_view.set_blocked(enabled.inspection_blocked)
        self.evaluation_view.set_enabled_reason(enabled.evaluation_blocked)

    @property
    def runtime(self) -> Any:
        """TensorFlow's RuntimeInfo once it has loaded, else None."""
        return self.devices.runtime

    @property
    def training(self) -> bool:
        return self.state.activity is Activity.TRAINING

    @property
    def busy(self) -> bool:
        return self.state.activity is Activity.BUSY

    def _set_busy(self, busy: bool) -> None:
        self._set_state(activity=Activity.BUSY if busy else Activity.IDLE)
        self.busy_changed.emit(busy)
        if not busy and self._close_when_idle:  # after the failure message, if any, has cleared the wish
            QTimer.singleShot(0, self._close_if_still_wanted)

    def _close_if_still_wanted(self) -> None:
        if self._close_when_idle and not self.busy and not self.training:
            self._close_when_idle = False
            self.close()

    def _show_file_state(self, state: FileState) -> None:
        self.setWindowTitle(f"{state.display_name}{' *' if state.unsaved else ''} — {APP_TITLE} {__version__}")

    def _model_changed(self, workspace: Workspace) -> None:
        if not self.training:  # a finished run shows its own outcome
            self.training_view.show_record(workspace.record)
        if workspace.model is not None and workspace.record is None:
            self.architecture_view.show_problem(
                workspace.file_state.display_name, "this Keras file has no CNN Studio experiment inside; it can be "
                "continued, evaluated and exported, but its options are unknown")
        elif workspace.record is not None and not self.training:
            self.designs.show_experiment(workspace.record.experiment)
        self._set_state(has_model=workspace.model is not None, has_record=workspace.record is not None)

    def _status_message(self, text: str, milliseconds: int) -> None:
        self.statusBar().showMessage(text, milliseconds)

    def show_error(self, title: str, reason: str, details: str = "") -> None:
        """A dialog with the one-line reason; the details (traceback) are one click away (``error_shown`` follows)."""
        self.last_message = show_message(self, title, reason, details)
        self.error_shown.emit(title, reason)

    def _show_notice(self, title: str, text: str, details: str) -> None:
        self.last_message = show_message(self, title, text, details, icon=QMessageBox.Information, log_hint=False)

    # TensorFlow ------------------------------------------------------------------------
    def _backend_ready(self) -> None:
        self._set_state(activity=Activity.IDLE)
        self.backend_ready.emit()
        self.files.offer_recovery(self.recovery)  # a run cut off last time: offer its last epoch

    def _backend_unavailable(self, title: str, reason: str, details: str) -> None:
        self._set_state(activity=Activity.BACKEND_FAILED)
        self.show_error(title, reason, details)

    # datasets and new experiments ----------------------------------------------------
    def _reset_experiment(self) -> None:
        self.panel.set_experiment(Experiment(dataset=default_dataset()))
        self.tabs.setCurrentWidget(self.architecture_view)

    # runs (started, stopped and reported by RunActions) ----------------------------------
    def stop(self) -> None:
        """Stop the run or study in progress (a second press skips its test-set evaluation)."""
        self.run_actions.stop()

    def _run_ended(self) -> None:
        if self._close_when_idle:  # Quit was confirmed during the run
            self._close_when_idle = False
            self.close()

    def _file_failed(self, title: str, reason: str, details: str) -> None:
        self._close_when_idle = False
        self.show_error(title, reason, details)

    # help and closing --------------------------------------------------------------------
    def show_about(self) -> None:
        show_about(self, self.runtime, self.history.folder, self.settings.store.fileName(), self.devices.execution(),
                   self.devices.notices())

    def confirm_stop_training(self) -> bool:
        answer = QMessageBox.question(self, "Training is running", "Stop training and quit?",
                                      QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if self.training:
            event.ignore()
            if self.confirm_stop_training():
                if self.training:
                    self._close_when_idle = True
                    self.run_actions.stop_to_quit()
                else:  # the run ended while the question was open: close now, as asked
                    QTimer.singleShot(0, self.close)
            return
        if self.busy:  # a save, open or evaluation in progress: close once it has ended well
            event.ignore()
            self._close_when_idle = True
            self._status_message("Closing when the file work in progress has ended…", 0)
            return
        if not self.files.maybe_keep_model(self.close):
            event.ignore()
            return
        self.settings.set_geometry(self.saveGeometry())
        try:
            self.settings.set_experiment(self.workspace.experiment_to_remember(self.panel.experiment()))
        except ConfigError:  # options that make no experiment are not remembered; closing goes on
            pass
        self.settings.sync()
        if running_threads():
            self._status_message("Finishing background work…", 0)
            wait_for_threads(int(os.environ.get("CNNSTUDIO_CLOSE_WAIT_MS", "60000")))
        event.accept()

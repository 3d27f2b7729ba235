"""Starting, stopping and reporting training runs and studies: Train, Continue, Study and Stop.

The window's buttons and the Study tab call in; what the :class:`TrainingController` reports is
shown in the Training, Study and Runs tabs. What only the window can do — change its activity,
show a status-bar message, an error or a notice, close when a run has ended — goes back through
typed signals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QTabWidget

from cnnstudio.core.config import Experiment
from cnnstudio.core.experiments.run_history import RunEntry
from cnnstudio.core.files.model_record import ModelRecord
from cnnstudio.core.training.stop_reason import StopReason
from cnnstudio.core.workspace import Workspace
from cnnstudio.ui.app_state import Activity, AppState
from cnnstudio.ui.config_panel import ConfigPanel
from cnnstudio.ui.device_controller import DeviceController
from cnnstudio.ui.runs_view import RunsView
from cnnstudio.ui.settings import Settings
from cnnstudio.ui.study_view import StudyView
from cnnstudio.ui.training_controller import TrainingController
from cnnstudio.ui.training_view import TrainingView


class RunActions(QObject):
    """Starts Train, Continue and Study runs when the state allows, stops them, and reports how they went."""

    activity_changed = Signal(Activity)  # TRAINING when a run or study starts, IDLE when it has ended
    message = Signal(str, int)  # status-bar text, milliseconds (0: until replaced)
    error = Signal(str, str, str)  # title, one-line reason, details (traceback)
    notice = Signal(str, str, str)  # an information dialog: title, text, and details one click away (or "")
    ended = Signal()  # a run or study has ended, however (after activity_changed(IDLE))
    listed = Signal()  # … and the Runs tab lists it too

    def __init__(self, trainer: TrainingController, workspace: Workspace, settings: Settings, panel: ConfigPanel,
                 devices: DeviceController, *, state: Callable[[], AppState],
                 may_replace_model: Callable[[Callable[[], None]], bool], may_read: Callable[[str], bool],
                 tabs: QTabWidget, training_view: TrainingView, study_view: StudyView, runs_view: RunsView,
                 parent: QObject | None = None) -> None:
        """``state``: the window's state now; ``may_replace_model(then)``: whether the current model may be
        replaced (after asking to save it; ``then`` is called after a save); ``may_read(dataset)``: whether
        ``dataset`` may be read (after asking, when only a model file named it)."""
        super().__init__(parent)
        self.trainer, self.workspace, self.settings = trainer, workspace, settings
        self.panel, self.devices = panel, devices
        self._state, self._may_replace_model, self._may_read = state, may_replace_model, may_read
        self.tabs, self.training_view, self.study_view, self.runs_view = tabs, training_view, study_view, runs_view
        self._work = "Training"  # or "Study": what a failure's title names
        trainer.downloading.connect(training_view.on_downloading)
        trainer.fell_back.connect(self._fell_back)
        trainer.batch.connect(training_view.on_batch)
        trainer.epoch.connect(training_view.on_epoch)
        trainer.evaluating.connect(training_view.on_evaluating)
        trainer.evaluating.connect(self._evaluating)
        trainer.run_started.connect(self._run_started)
        trainer.run_finished.connect(self._run_finished)
        trainer.study_run_finished.connect(self._study_run_finished)
        trainer.study_finished.connect(self._study_finished)
        trainer.failed.connect(self._training_failed)
        trainer.runs_failed.connect(self._runs_failed)
        trainer.study_notes.connect(lambda text: self.notice.emit("Notes from the study's runs", text, ""))
        trainer.finished.connect(self._training_ended)

    # starting and stopping ---------------------------------------------------------------
    def train(self) -> None:
        """Build a new network from the panel's options and train it (once the current model may be replaced)."""
        if not self._state().enabled.train or self.trainer.running:  # one run at a time, however it is asked for
            return
        if self._may_replace_model(self.train):
            experiment = self.panel.experiment()
            if self._may_read(experiment.dataset):
                self._start_training(experiment, None, None)

    def continue_training(self) -> None:
        """Train the current model for more epochs with the panel's training options."""
        if not self._state().enabled.continue_ or self.trainer.running or self.workspace.model is None:
            return
        workspace = self.workspace
        experiment = workspace.continued_experiment(self.panel.experiment())
        if self._may_read(experiment.dataset):
            self._start_training(experiment, workspace.model, workspace.record)

    def _start_training(self, experiment: Experiment, model: Any, record: ModelRecord | None) -> None:
        self.workspace.confirm_dataset(experiment.dataset)  # chosen (or agreed to) for this run
        self.training_view.start_run(record)
        self.tabs.setCurrentWidget(self.training_view)
        self.settings.set_experiment(self.workspace.experiment_to_remember(self.panel.experiment()))
        self.activity_changed.emit(Activity.TRAINING)
        self._work = "Training"
        self.trainer.train(experiment, model, record, execution=self.devices.run_starting("Training…"))

    def start_study(self, experiments: list[Experiment]) -> None:
        """Train each of ``experiments`` in turn, here or on the Study tab's Ray cluster."""
        if not self._state().enabled.study or self.trainer.running or not experiments:
            return
        if not self._may_read(experiments[0].dataset):
            return
        self.activity_changed.emit(Activity.TRAINING)
        self._work = "Study"
        address = self.study_view.ray_address()
        where = f" on Ray ({address})" if address else ""
        self.study_view.study_started(len(experiments), where)
        self.training_view.show_note(f"Study: {len(experiments)} runs{where}…", "Its progress is in the Study tab.", done=False)
        execution = self.devices.run_starting(f"Study: {len(experiments)} runs{where}…", notices=address is None)
        self.trainer.study(experiments, execution, address)

    def stop(self) -> None:
        """First press: end after the batch in progress. Second press, or one during the test: skip the test-set evaluation."""
        if self.trainer.running:
            skips = self.trainer.stop_skips_evaluation
            self.trainer.stop()
            self.message.emit("Skipping the test evaluation…" if skips else "Stopping after this batch…", 0)

    def stop_to_quit(self) -> None:
        """The window is closing: end after the batch in progress and skip the test-set evaluation."""
        if self.trainer.running:
            self.trainer.stop()
            self.trainer.stop()  # two requests: the evaluation is skipped too
            self.message.emit("Stopping the run to quit (its test is skipped)…", 0)

    # reporting ---------------------------------------------------------------------------
    def _evaluating(self, done: int, _total: int) -> None:
        if done == 0:  # replaces "Stopping after this batch…": the stop has happened
            self.message.emit("Evaluating on the test set… (Stop skips it)", 0)

    def _fell_back(self, dataset: str, reason: str) -> None:
        """The default MNIST could not be downloaded: the run uses ``dataset`` (built in) and says why."""
        self.panel.set_experiment(replace(self.panel.experiment(), dataset=dataset))
        self.notice.emit(
            "MNIST could not be downloaded",
            f"Training on the built-in '{dataset}' set instead (1,797 small digits; sketches will be read less well).\n\n"
            "To use MNIST offline, copy its four IDX files (train-images-idx3-ubyte.gz …) into a folder and "
            "choose it with Dataset → Open… → Folder.", f"Why: {reason}.")

    def _run_started(self, index: int, total: int, experiment: Experiment) -> None:
        if total > 1 or index > 0:  # a study run: each starts with empty curves
            self.training_view.start_run(None)
            self.study_view.run_started(index, total, experiment)

    def _study_run_finished(self, index: int, total: int, entry: RunEntry) -> None:
        self.study_view.run_finished(entry, total)
        self.runs_view.refresh()

    def _run_finished(self, outcome: Any) -> None:  # a RunOutcome
        entry = outcome.entry  # a copy in the run history keeps the model: no need to ask to save it
        kept = entry is not None and self.trainer.history.holds_model(entry) and Path(entry.model_path).is_file()
        self.workspace.set_model(outcome.model, outcome.record, unsaved=not kept, run_id=entry.id if kept else None)
        self.message.emit(self.training_view.show_outcome(outcome), 10000)
        self.runs_view.refresh()
        if outcome.result.end.reason is StopReason.NON_FINITE:
            self.error.emit("Training diverged", outcome.result.end.message, "")

    def _study_finished(self, finished: int, total: int, stopped: bool) -> None:
        message = f"Study stopped: {finished} of {total} runs recorded" if stopped else f"Study finished: {finished} runs"
        self.study_view.study_finished(message)
        self.training_view.show_note(message, "Results are in the Study tab; every run is in the Runs tab.")
        self.message.emit(message, 10000)
        self.runs_view.refresh()

    def _runs_failed(self, message: str, details: str) -> None:
        self.error.emit("Some study runs failed", message, details)

    def _training_failed(self, reason: str, details: str) -> None:
        self.training_view.show_failure(reason)
        self.study_view.study_finished(f"Failed: {reason}")
        self.message.emit(f"{self._work} failed.", 10000)
        self.runs_view.refresh()
        self.error.emit(f"{self._work} failed", reason, details)

    def _training_ended(self) -> None:
        self.activity_changed.emit(Activity.IDLE)
        self.runs_view.when_listed(self.listed.emit)  # once the Runs tab shows the run too
        self.ended.emit()

"""Train, Continue and Study (here or on a Ray cluster) on a worker thread, reported through typed signals.

The controller owns the stop flag. Progress from the training thread is re-emitted on the GUI
thread (queued connections), so views connected to these signals never run on the worker.

With a :class:`Recovery`, a Train or Continue run is checkpointed after every epoch and marked as
running, so that a killed process can offer its last epoch at the next start; however the run
ends here (finished, stopped, failed), the checkpoint becomes the run history's copy of the model
or is removed, and so is the marker.
"""

from __future__ import annotations

import gc
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from PySide6.QtCore import QObject, Qt, Signal

from cnnstudio.core.config import Experiment
from cnnstudio.core.data.dataset_cache import DatasetCache
from cnnstudio.core.data.downloads import DownloadError
from cnnstudio.core.errors import CnnStudioError, ModelFileError
from cnnstudio.core.experiments.run_history import RunEntry, RunHistory
from cnnstudio.core.files.model_record import ModelRecord
from cnnstudio.core.training.execution import Execution
from cnnstudio.core.training.progress import BatchProgress, EpochResult, StopFlag
from cnnstudio.core.workspace import DEFAULT_DATASET, Recovery, Workspace
from cnnstudio.ui.background import Task, start_task

FALLBACK_DATASET = "digits"  # built in: used when the default MNIST cannot be downloaded
DOWNLOAD_REPORT_S = 0.1  # download progress reaches the window at most this often
MAX_FAILURES_SHOWN = 8  # failed Ray runs listed in the message; all of them in its details

log = logging.getLogger("cnnstudio.training")


class StudyEnd(NamedTuple):
    """How a study ended, from the worker thread to the GUI thread."""

    recorded: int  # runs recorded
    stopped: bool  # ended by a stop request
    errors: list[str]  # one line per failed run (Ray)
    warnings: list[str]  # the runs' warnings, in order (repeats included)


class _Relay(QObject):
    """A TrainingListener for the worker: each call becomes a queued signal to the GUI thread."""

    downloading = Signal(str, int, int)  # dataset, bytes so far, total bytes (-1: unknown)
    fell_back = Signal(str, str)  # dataset used instead, why
    batch = Signal(object)
    epoch = Signal(object)
    evaluating = Signal(int, int)
    run_started = Signal(int, object)
    run_done = Signal(int, object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.after_checkpoint: Callable[[EpochResult], None] | None = None  # set while a run checkpoints

    def on_batch(self, progress: BatchProgress) -> None:
        self.batch.emit(progress)

    def on_epoch(self, result: EpochResult) -> None:
        if self.after_checkpoint is not None:  # the runner saved this epoch just before
            self.after_checkpoint(result)
        self.epoch.emit(result)

    def on_evaluate(self, done: int, total: int) -> None:
        self.evaluating.emit(done, total)

    def download_progress(self, name: str) -> Callable[[int, int | None], None]:
        """A download callback for ``name``, throttled to a few signals a second (the last one always)."""
        last = [0.0]

        def report(done: int, total: int | None) -> None:
            now = time.monotonic()
            if now - last[0] >= DOWNLOAD_REPORT_S or (total is not None and done >= total):
                last[0] = now
                self.downloading.emit(name, done, -1 if total is None else total)

        return report

    def load(self, datasets: DatasetCache, experiments: list[Experiment], fallback: bool) -> tuple[list[Experiment], Any]:
        """The experiments' dataset (all share one); when the default MNIST cannot be downloaded and
        ``fallback`` allows it, the built-in digits instead — the experiments then say so too."""
        name = experiments[0].dataset
        try:
            return experiments, datasets.get(name, self.download_progress(name))
        except DownloadError as exc:
            if not fallback or name != DEFAULT_DATASET:
                raise
            self.fell_back.emit(FALLBACK_DATASET, str(exc))
            return [replace(e, dataset=FALLBACK_DATASET) for e in experiments], datasets.get(FALLBACK_DATASET)


class TrainingController(QObject):
    """Runs training work one at a time; :attr:`running` is True from start until ``finished``."""

    downloading = Signal(str, int, int)  # dataset, bytes so far, total bytes (-1: unknown)
    fell_back = Signal(str, str)  # the dataset used instead of the default, and why
    run_started = Signal(int, int, Experiment)  # index, total runs, experiment (index 0 of 1 for Train/Continue)
    batch = Signal(BatchProgress)
    epoch = Signal(EpochResult)
    evaluating = Signal(int, int)  # test images done, total
    run_finished = Signal(object)  # RunOutcome of a Train or Continue
    study_run_finished = Signal(int, int, RunEntry)  # index, total runs, its run record
    study_finished = Signal(int, int, bool)  # runs recorded, runs planned, stopped by request
    runs_failed = Signal(str, str)  # study runs that failed on Ray, listed (before study_finished); all of them
    study_notes = Signal(str)  # the study's runs' warnings, one per line, each once (before study_finished)
    failed = Signal(str, str)  # one-line reason, details (traceback)
    finished = Signal()  # after every run or study, however it ended

    def __init__(self, workspace: Workspace, history: RunHistory, parent: QObject | None = None,
                 recovery: Recovery | None = None):
        super().__init__(parent)
        self.workspace, self.history, self.recovery = workspace, history, recovery
        self.stop_flag: StopFlag | None = None
        self._total = 0
        self._relay = _Relay(self)
        queued = Qt.QueuedConnection
        self._relay.downloading.connect(self.downloading, queued)
        self._relay.fell_back.connect(self.fell_back, queued)
        self._relay.batch.connect(self.batch, queued)
        self._relay.epoch.connect(self.epoch, queued)
        self._relay.evaluating.connect(self.evaluating, queued)
        self._relay.run_started.connect(self._run_started, queued)
        self._relay.run_done.connect(self._study_run_done, queued)

    @property
    def running(self) -> bool:
        return self.stop_flag is not None

    def _begin(self, total: int) -> StopFlag:
        if self.running:
            raise RuntimeError("a training run is already in progress")
        self.stop_flag, self._total = StopFlag(), total
        return self.stop_flag

    def train(self, experiment: Experiment, model: Any = None, record: ModelRecord | None = None,
              execution: Execution | None = None) -> None:
        """Train a new network (``model`` None) or continue ``model`` with ``experiment``'s training options.

        ``execution`` (an :class:`~cnnstudio.core.training.execution.Execution`) places a new network.
        """
        stop, relay, datasets, history = self._begin(1), self._relay, self.workspace.datasets, self.history
        recovery = self.recovery

        def work(_task: Task) -> Any:
            from cnnstudio.core.experiments.runner import run_experiment

            gc.collect()  # earlier runs are reference cycles holding memory and threads until collected
            [chosen], dataset = relay.load(datasets, [experiment], fallback=model is None)
            relay.run_started.emit(0, chosen)
            checkpoint = _begin_recovery(recovery, chosen)
            if checkpoint is None:
                return run_experiment(chosen, dataset, listener=relay, stop=stop, model=model, record=record,
                                      history=history, execution=execution)
            relay.after_checkpoint = lambda result: _note_epoch(recovery, checkpoint, result)
            try:
                outcome = run_experiment(chosen, dataset, listener=relay, stop=stop, model=model, record=record,
                                         checkpoint=checkpoint, execution=execution)
                _keep_in_history(outcome, dataset, checkpoint, history)
                return outcome
            except ModelFileError as exc:  # only the checkpoint is saved in the run
                raise CnnStudioError(f"training stopped: its recovery checkpoint could not be saved in "
                                     f"{checkpoint.parent} ({exc})") from exc
            finally:
                relay.after_checkpoint = None
                recovery.end(checkpoint)

        start_task(work, succeeded=self._run_succeeded, failed=self._failed, name="training")

    def study(self, experiments: Sequence[Experiment], execution: Execution | None = None,
              ray_address: str | None = None) -> None:
        """Run the grid one run after another with ``execution``, or side by side on the Ray cluster at
        ``ray_address`` (each worker loads the dataset by name); Stop ends the current runs and skips the rest."""
        experiments = list(experiments)
        stop, relay, datasets, history = self._begin(len(experiments)), self._relay, self.workspace.datasets, self.history

        def work(_task: Task) -> Any:
            if ray_address is not None:
                return _study_on_ray(experiments, ray_address, history, stop, relay)
            from cnnstudio.core.experiments.study import run_study

            chosen, dataset = relay.load(datasets, experiments, fallback=True)
            outcomes = run_study(chosen, dataset, history=history, stop=stop, listener=relay,
                                 on_run_start=relay.run_started.emit, execution=execution,
                                 on_run_done=lambda i, outcome: relay.run_done.emit(i, outcome.entry))
            return StudyEnd(len(outcomes), stop.requested, [], [w for outcome in outcomes for w in outcome.warnings])

        start_task(work, succeeded=self._study_succeeded, failed=self._failed, name="study")

    @property
    def stop_requested(self) -> bool:
        return self.stop_flag is not None and self.stop_flag.requested

    @property
    def stop_skips_evaluation(self) -> bool:
        """Whether Stop, pressed now, skips the test-set evaluation (a second press, or one during it)."""
        return self.stop_flag is not None and (self.stop_flag.requested or self.stop_flag.in_evaluation)

    def stop(self) -> None:
        """Ask the run to end after the batch in progress (thread-safe, harmless when idle)."""
        if self.stop_flag is not None:
            self.stop_flag.request()

    def _end(self) -> None:
        self.stop_flag = None

    def _run_started(self, index: int, experiment: Experiment) -> None:
        self.run_started.emit(index, self._total, experiment)

    def _study_run_done(self, index: int, entry: RunEntry | None) -> None:
        if entry is not None:
            self.study_run_finished.emit(index, self._total, entry)

    def _run_succeeded(self, outcome: Any) -> None:
        self._end()
        self.run_finished.emit(outcome)
        self.finished.emit()

    def _study_succeeded(self, result: StudyEnd) -> None:
        self._end()
        if result.errors:
            self.runs_failed.emit(*failures_text(result.errors))
        if result.warnings:
            self.study_notes.emit("\n".join(dict.fromkeys(result.warnings)))
        self.study_finished.emit(result.recorded, self._total, result.stopped)
        self.finished.emit()

    def _failed(self, reason: str, details: str) -> None:
        self._end()
        self.failed.emit(reason, details)
        self.finished.emit()


def _study_on_ray(experiments: list[Experiment], address: str, history: RunHistory, stop: StopFlag,
                  relay: _Relay) -> StudyEnd:
    """A study as Ray tasks (on the worker thread): runs recorded, stopped, one line per failed run, the warnings."""
    from cnnstudio.core.experiments.ray_study import run_study_on_ray

    results = run_study_on_ray(experiments, experiments[0].dataset, address=address, history=history, stop=stop,
                               listener=relay, on_run_start=relay.run_started.emit,
                               on_run_done=lambda i, result: relay.run_done.emit(i, result.entry))
    return StudyEnd(sum(r.error is None for r in results), stop.requested, [r.error for r in results if r.error],
                    [w for r in results for w in r.warnings])


def failures_text(errors: Sequence[str], shown: int = MAX_FAILURES_SHOWN) -> tuple[str, str]:
    """One message listing the failed runs (the first ``shown``), and the whole list for its details."""
    lines = list(errors[:shown]) + ([f"… and {len(errors) - shown} more"] if len(errors) > shown else [])
    message = f"{len(errors)} run{'s' * (len(errors) != 1)} failed on Ray:\n" + "\n".join(lines)
    return message, "\n".join(errors) if len(errors) > shown else ""


# recovery checkpoints (on the worker thread) ------------------------------------------------
def _begin_recovery(recovery: Recovery | None, experiment: Experiment) -> Any:
    """The checkpoint path of a run about to start, or None (no recovery, or its folder is unwritable)."""
    if recovery is None:
        return None
    try:
        return recovery.begin(experiment)
    except OSError as exc:  # the run goes on without a recovery checkpoint
        log.warning("no recovery checkpoint for this run: %s", exc)
        return None


def _note_epoch(recovery: Recovery, checkpoint: Any, result: EpochResult) -> None:
    try:
        recovery.epoch_saved(checkpoint, result.epoch_end)
    except OSError as exc:
        log.warning("could not update the recovery marker: %s", exc)


def _keep_in_history(outcome: Any, dataset: Any, checkpoint: Any, history: RunHistory | None) -> None:
    """Record the run; its final checkpoint (saved after the test) becomes the history's copy of the model."""
    from cnnstudio.core.experiments.runner import history_entry

    if history is None:
        return
    outcome.entry = entry = history_entry(outcome, dataset, None, None)
    target = history.model_path(entry)
    shutil.move(str(checkpoint), str(target))
    entry.model_path = str(target)
    history.add(entry)

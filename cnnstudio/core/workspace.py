"""The workspace: the current model, its record and file, unsaved state and the caches (no Qt).

The GUI's views show it and its events tell them when to refresh (napari's ``ViewerModel`` is the
pattern); the window itself holds no model state. Everything here is cheap: nothing loads
TensorFlow, and datasets are only read through :class:`DatasetCache` on worker threads.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import weakref
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnstudio.core.config import Experiment, ModelOptions
from cnnstudio.core.data.dataset_cache import DatasetCache
from cnnstudio.core.errors import shown_epochs
from cnnstudio.core.events import Event
from cnnstudio.core.files.model_record import ModelRecord, is_dataset_path
from cnnstudio.core.json_input import parse_json
from cnnstudio.core.paths import data_dir

log = logging.getLogger("cnnstudio.workspace")

DEFAULT_DATASET = "mnist"  # downloaded on first use; the GUI falls back to the built-in digits when it cannot


def default_dataset() -> str:
    """The dataset a new experiment starts with: MNIST, whose models read hand-drawn digits well."""
    return DEFAULT_DATASET


def _recorded_when(run_id: str) -> str:
    """A run id (``20261127-053113-9bfff8``) as the time it was recorded (``2026-11-27 05:31:13``), else as it is."""
    day, _, rest = run_id.partition("-")
    clock = rest.partition("-")[0]
    if len(day) == 8 and len(clock) == 6 and (day + clock).isdigit():
        return f"{day[:4]}-{day[4:6]}-{day[6:]} {clock[:2]}:{clock[2:4]}:{clock[4:]}"
    return run_id


@dataclass(frozen=True)
class FileState:
    """What the title bar and the save actions need to know."""

    path: str | None
    unsaved: bool
    has_model: bool
    name: str | None = None  # shown when there is no path (a model kept in the run history)

    @property
    def display_name(self) -> str:
        if self.path:
            return Path(self.path).name
        return self.name or ("untitled model" if self.has_model else "new experiment")


class Workspace:
    """The model being worked on and everything derived from it."""

    def __init__(self, datasets: DatasetCache | None = None):
        self.datasets = datasets or DatasetCache()
        self.model: Any = None
        self.record: ModelRecord | None = None
        self.path: str | None = None
        self.unsaved = False
        self.run_id: str | None = None  # the run whose copy in the run history this model is (no file of its own)
        self.version = 0  # bumped whenever the model or its weights change (cache keys use it)
        self.model_changed: Event[Workspace] = Event()  # a new model, another record, or none
        self.file_changed: Event[FileState] = Event()  # saved, renamed, or unsaved changes
        self._evaluations: weakref.WeakKeyDictionary[Any, dict[tuple[str, int], Any]] = weakref.WeakKeyDictionary()
        self._unconfirmed: set[str] = set()  # dataset paths named by opened records, not yet agreed to
        self._confirmed: set[str] = set()  # dataset paths the user chose or agreed to read

    # the model -------------------------------------------------------------------------
    def set_model(self, model: Any, record: ModelRecord | None, *, path: str | None = None,
                  unsaved: bool = False, run_id: str | None = None) -> None:
        """Make ``model`` (trained, continued or opened) the current one.

        ``run_id``: the model is that run's copy in the run history. It has no file of its own (Save asks
        where), but nothing is lost while that copy exists, so it is not ``unsaved``.
        """
        self.model, self.record, self.path, self.unsaved = model, record, path, unsaved
        self.run_id = run_id
        self.version += 1
        if record is not None:
            name = record.experiment.dataset
            if record.dataset_is_path and name not in self._confirmed:
                self._unconfirmed.add(name)  # a file named it: read it only once the user agrees
            self.datasets.remember_shape(name, (record.input_shape, len(record.class_names)))
        self.model_changed.emit(self)
        self.file_changed.emit(self.file_state)

    def clear(self) -> None:
        self.set_model(None, None)

    def mark_saved(self, path: str) -> None:
        self.path, self.unsaved, self.run_id = path, False, None
        self.file_changed.emit(self.file_state)

    def forget_runs(self, run_ids: Collection[str]) -> None:
        """Those runs were deleted: a model that was only their run-history copy now exists only here."""
        if self.run_id is not None and self.run_id in run_ids:
            self.run_id = None
            self.unsaved = self.model is not None and self.path is None
            self.file_changed.emit(self.file_state)

    def discard_changes(self) -> None:
        """The user chose not to keep the unsaved model."""
        self.unsaved = False
        self.file_changed.emit(self.file_state)

    @property
    def file_state(self) -> FileState:
        name = f"run {_recorded_when(self.run_id)} (Runs tab)" if self.run_id and not self.path else None
        return FileState(self.path, self.unsaved, self.model is not None, name)

    @property
    def needs_saving(self) -> bool:
        return self.unsaved and self.model is not None

    # datasets named by files ---------------------------------------------------------
    def needs_consent(self, dataset: str) -> bool:
        """Whether reading ``dataset`` needs the user's yes first: a path that only a model file named."""
        return dataset in self._unconfirmed

    def file_stem(self, options: ModelOptions) -> str:
        """A file name for saving: the current model's network, pooling and padding (else ``options``')."""
        return (self.record.experiment.model if self.record is not None else options).file_stem

    def experiment_to_remember(self, experiment: Experiment) -> Experiment:
        """``experiment`` for the next start; a dataset path that only a model file named (and the user
        never agreed to read) is not remembered: the next start would read it unasked."""
        if self.needs_consent(experiment.dataset):
            return dataclasses.replace(experiment, dataset=default_dataset())
        return experiment

    def confirm_dataset(self, dataset: str) -> None:
        """The user chose ``dataset`` or agreed to read it: no more questions about it."""
        self._unconfirmed.discard(dataset)
        if is_dataset_path(dataset):
            self._confirmed.add(dataset)

    # rules -----------------------------------------------------------------------------
    def inspected_dataset(self, chosen: str) -> str:
        """The dataset whose test images go with the model: its record's, else the one chosen in the panel."""
        return self.record.experiment.dataset if self.record is not None else chosen

    def continued_experiment(self, options: Experiment) -> Experiment:
        """What Continue trains: the model's own network and dataset with the panel's training options."""
        if self.record is None:
            return options
        return Experiment(self.record.experiment.model, options.train, self.record.experiment.dataset)

    # caches ------------------------------------------------------------------------------
    def evaluation(self, dataset: str) -> Any:
        """The cached evaluation of the current model (at its current version) on ``dataset``, or None."""
        if self.model is None:
            return None
        return self._evaluations.get(self.model, {}).get((dataset, self.version))

    def store_evaluation(self, model: Any, version: int, dataset: str, result: Any) -> None:
        """Keep a result computed for ``model`` at ``version``; results of older versions are dropped."""
        if model is self.model and version == self.version:
            self._evaluations[model] = {(dataset, version): result}


# crash recovery --------------------------------------------------------------------------
RECOVERY_FOLDER = "recovery"
MARKER_LIMIT = 64 * 1024  # a marker is a few hundred bytes; a bigger file is not one of ours


@dataclass(frozen=True)
class InterruptedRun:
    """A training run whose process ended without finishing it, and its last checkpoint."""

    marker: Path
    checkpoint: Path
    epochs: float | None  # epochs trained at the checkpoint, when the marker says

    @property
    def epochs_text(self) -> str:
        if self.epochs is None:
            return "its last finished epoch"
        return f"its last finished epoch (epoch {shown_epochs(self.epochs)})"


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (this one counts); unknown on non-POSIX systems: no."""
    if pid == os.getpid():
        return True
    if os.name != "posix" or pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


class Recovery:
    """Checkpoints of running training so that a killed process can be recovered at the next start.

    Each run gets ``run-<pid>-<n>.keras`` (the model after its last epoch, saved atomically) and a
    marker ``run-<pid>-<n>.json`` saying which process ran it and how many epochs the checkpoint
    holds. A run that ends in any handled way removes both (:meth:`end`); what is left, from a
    process that no longer runs, is an :class:`InterruptedRun`.
    """

    def __init__(self, folder: str | Path | None = None):
        self.folder = Path(folder) if folder is not None else data_dir() / RECOVERY_FOLDER

    def begin(self, experiment: Experiment) -> Path:
        """Write the marker of a run about to start; returns the checkpoint path for its epochs."""
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = f"run-{os.getpid()}-{time.time_ns()}"
        checkpoint = self.folder / f"{stem}.keras"
        self._write_marker(checkpoint, {"pid": os.getpid(), "started": time.time(), "epochs": None,
                                        "dataset": experiment.dataset})
        return checkpoint

    def epoch_saved(self, checkpoint: Path, epochs: float) -> None:
        """The checkpoint now holds ``epochs`` epochs (called after each save)."""
        marker = checkpoint.with_suffix(".json")
        data = self._read_marker(marker) or {"pid": os.getpid()}
        data["epochs"] = float(epochs)
        self._write_marker(checkpoint, data)

    def end(self, checkpoint: Path) -> None:
        """The run ended in a handled way: nothing to recover (also removes a half-written save)."""
        checkpoint.with_suffix(".json").unlink(missing_ok=True)
        checkpoint.unlink(missing_ok=True)
        for partial in self.folder.glob(f".{checkpoint.stem}.*"):
            partial.unlink(missing_ok=True)

    def interrupted(self) -> InterruptedRun | None:
        """The newest run left by a process that no longer runs, with a checkpoint to offer; markers
        without a checkpoint (killed before its first epoch) or unreadable ones are removed."""
        if not self.folder.is_dir():
            return None
        found: list[tuple[float, InterruptedRun]] = []
        for marker in self.folder.glob("run-*.json"):
            data = self._read_marker(marker)
            pid = data.get("pid") if data else None
            if isinstance(pid, int) and not isinstance(pid, bool) and _process_alive(pid):
                continue  # a run in progress (in this or another window)
            checkpoint = marker.with_suffix(".keras")
            if data is None or not checkpoint.is_file():
                log.warning("removing the recovery marker %s: %s", marker.name,
                            "unreadable" if data is None else "no checkpoint was written")
                self.end(checkpoint)
                continue
            epochs = data.get("epochs")
            epochs = float(epochs) if isinstance(epochs, (int, float)) and not isinstance(epochs, bool) else None
            started = data.get("started")
            order = float(started) if isinstance(started, (int, float)) else 0.0
            found.append((order, InterruptedRun(marker, checkpoint, epochs)))
        return max(found, key=lambda item: item[0])[1] if found else None

    def discard(self, run: InterruptedRun) -> None:
        self.end(run.checkpoint)

    def _write_marker(self, checkpoint: Path, data: dict[str, Any]) -> None:
        marker = checkpoint.with_suffix(".json")
        temp = marker.with_name(f".{marker.name}.tmp")
        temp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temp, marker)

    @staticmethod
    def _read_marker(marker: Path) -> dict[str, Any] | None:
        try:
            if marker.stat().st_size > MARKER_LIMIT:
                return None
            data = parse_json(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

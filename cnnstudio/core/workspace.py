"""The workspace: the current model, its record and file, unsaved state and the caches (no Qt).

The GUI's views show it and its events tell them when to refresh (napari's ``ViewerModel`` is the
pattern); the window itself holds no model state. Everything here is cheap: nothing loads
TensorFlow, and datasets are only read through :class:`DatasetCache` on worker threads.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnstudio.core.config import Experiment
from cnnstudio.core.data.dataset_cache import DatasetCache
from cnnstudio.core.events import Event
from cnnstudio.core.files.model_record import ModelRecord

DEFAULT_DATASET = "mnist"  # downloaded on first use; the GUI falls back to the built-in digits when it cannot


def default_dataset() -> str:
    """The dataset a new experiment starts with: MNIST, whose models read hand-drawn digits well."""
    return DEFAULT_DATASET


@dataclass(frozen=True)
class FileState:
    """What the title bar and the save actions need to know."""

    path: str | None
    unsaved: bool
    has_model: bool

    @property
    def display_name(self) -> str:
        if self.path:
            return Path(self.path).name
        return "untitled model" if self.has_model else "new experiment"


class Workspace:
    """The model being worked on and everything derived from it."""

    def __init__(self, datasets: DatasetCache | None = None):
        self.datasets = datasets or DatasetCache()
        self.model: Any = None
        self.record: ModelRecord | None = None
        self.path: str | None = None
        self.unsaved = False
        self.version = 0  # bumped whenever the model or its weights change (cache keys use it)
        self.model_changed: Event[Workspace] = Event()  # a new model, another record, or none
        self.file_changed: Event[FileState] = Event()  # saved, renamed, or unsaved changes
        self._evaluations: weakref.WeakKeyDictionary[Any, dict[tuple[str, int], Any]] = weakref.WeakKeyDictionary()

    # the model -------------------------------------------------------------------------
    def set_model(self, model: Any, record: ModelRecord | None, *, path: str | None = None,
                  unsaved: bool = False) -> None:
        """Make ``model`` (trained, continued or opened) the current one."""
        self.model, self.record, self.path, self.unsaved = model, record, path, unsaved
        self.version += 1
        if record is not None:
            self.datasets.remember_shape(record.experiment.dataset, (record.input_shape, len(record.class_names)))
        self.model_changed.emit(self)
        self.file_changed.emit(self.file_state)

    def clear(self) -> None:
        self.set_model(None, None)

    def mark_saved(self, path: str) -> None:
        self.path, self.unsaved = path, False
        self.file_changed.emit(self.file_state)

    def discard_changes(self) -> None:
        """The user chose not to keep the unsaved model."""
        self.unsaved = False
        self.file_changed.emit(self.file_state)

    @property
    def file_state(self) -> FileState:
        return FileState(self.path, self.unsaved, self.model is not None)

    @property
    def needs_saving(self) -> bool:
        return self.unsaved and self.model is not None

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

"""Training progress as plain data, a stop flag and the listener protocol (no TensorFlow import).

The GUI imports these while TensorFlow is still loading behind the window.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from cnnstudio.core.training.stop_reason import RunEnd


@dataclass(frozen=True)
class BatchProgress:
    epoch: int  # 0-based index of this epoch in the model's history
    epochs: int
    step: int  # batches done in this epoch (never more than ``steps``)
    steps: int
    logs: dict[str, float]
    seconds: float  # since the epoch began
    epoch_start: float = 0.0  # where this epoch starts on the "epochs trained" axis (fractional after a stop)

    @property
    def eta_seconds(self) -> float:
        """Time left in this epoch, from the pace so far."""
        return self.seconds / self.step * (self.steps - self.step) if self.step else math.nan


@dataclass(frozen=True)
class EpochResult:
    """One epoch's metrics; a stopped run's last epoch may be partial (``steps_done < steps``)."""

    epoch: int  # 0-based index of this epoch in the model's history
    epochs: int
    metrics: dict[str, float]
    seconds: float
    steps_done: int = 0  # batches trained in this epoch
    steps: int = 0  # batches in a whole epoch
    epoch_start: float = 0.0  # where this epoch starts on the "epochs trained" axis

    @property
    def partial(self) -> bool:
        """True when the run stopped inside this epoch ("stopped after 120 of 355 batches")."""
        return 0 < self.steps and self.steps_done < self.steps

    @property
    def epoch_end(self) -> float:
        """Epochs trained after this one, e.g. 1.34 for a second epoch stopped after 120 of 355 batches."""
        return self.epoch_start + (self.steps_done / self.steps if self.steps else 1.0)


class TrainingListener(Protocol):
    """Receives progress on the training thread; GUIs forward it to their own thread.

    A listener may also have ``on_evaluate(done: int, total: int)``: test images evaluated so
    far after training (optional; callers look it up with ``getattr``).
    """

    def on_batch(self, progress: BatchProgress) -> None: ...

    def on_epoch(self, result: EpochResult) -> None: ...


class StopFlag:
    """Thread-safe stop requests, made from anywhere.

    The first request stops training after the current batch; a second one also skips (the rest
    of) the test-set evaluation that follows, so the run ends without test figures. A request
    made while the test set is being evaluated (inside :meth:`evaluating`) skips it at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._count_at_evaluation: int | None = None  # the requests made before the evaluation began

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        """Mark the test-set evaluation: a request from now on skips it."""
        with self._lock:
            self._count_at_evaluation = self._count
        try:
            yield
        finally:
            with self._lock:
                self._count_at_evaluation = None

    @property
    def in_evaluation(self) -> bool:
        with self._lock:
            return self._count_at_evaluation is not None

    def request(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    @property
    def requested(self) -> bool:
        return self.count >= 1

    @property
    def skip_evaluation(self) -> bool:
        with self._lock:
            asked_during = self._count_at_evaluation is not None and self._count > self._count_at_evaluation
            return self._count >= 2 or asked_during


@dataclass
class RunState:
    """What the callbacks learned about a run: why it stopped early and how long each epoch took."""

    end: RunEnd | None = None  # set when the run stops before its planned epochs
    seconds_per_epoch: list[float] = field(default_factory=list)
    history: dict[str, list[float]] = field(default_factory=dict)
    epoch_ends: list[float] = field(default_factory=list)  # epochs trained after each epoch (fractional when stopped)
    kept_epoch: float | None = None  # after divergence: the epochs trained by the finite weights that were put back

"""Training progress as plain data, a stop flag and the listener protocol (no TensorFlow import).

The GUI imports these while TensorFlow is still loading behind the window.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Protocol

from cnnstudio.core.training.stop_reason import RunEnd


@dataclass(frozen=True)
class BatchProgress:
    epoch: int  # 0-based
    epochs: int
    step: int  # batches done in this epoch
    steps: int
    logs: dict[str, float]
    seconds: float  # since the epoch began

    @property
    def eta_seconds(self) -> float:
        """Time left in this epoch, from the pace so far."""
        return self.seconds / self.step * (self.steps - self.step) if self.step else math.nan


@dataclass(frozen=True)
class EpochResult:
    epoch: int  # 0-based
    epochs: int
    metrics: dict[str, float]
    seconds: float


class TrainingListener(Protocol):
    """Receives progress on the training thread; GUIs forward it to their own thread."""

    def on_batch(self, progress: BatchProgress) -> None: ...

    def on_epoch(self, result: EpochResult) -> None: ...


class StopFlag:
    """A thread-safe stop request, set from anywhere and honoured after the current batch."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def request(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()


@dataclass
class RunState:
    """What the callbacks learned about a run: why it stopped early and how long each epoch took."""

    end: RunEnd | None = None  # set when the run stops before its planned epochs
    seconds_per_epoch: list[float] = field(default_factory=list)
    history: dict[str, list[float]] = field(default_factory=dict)

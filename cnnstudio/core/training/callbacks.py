"""The Keras callback that connects a training run to the outside world without any GUI code."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import keras

from cnnstudio.core.training.progress import BatchProgress, EpochResult, RunState, StopFlag, TrainingListener
from cnnstudio.core.training.stop_reason import RunEnd, StopReason


class StudioCallback(keras.callbacks.Callback):
    """Throttled progress, epoch results, stop requests and NaN detection in one callback.

    A stop request or a NaN loss sets ``model.stop_training``, which Keras checks after every
    step call, so the run ends after the batch in progress. An epoch cut short that way counts
    as the share of its batches that ran: ``state.epoch_ends`` holds the epochs trained after
    each epoch, starting from ``first_epoch`` (e.g. 1.0, 1.34 for a stop after 120 of 355 batches).
    """

    def __init__(self, listener: TrainingListener | None, stop: StopFlag | None, state: RunState,
                 epochs: int, interval: float = 0.2, after_epoch: Callable[[RunState], None] | None = None,
                 first_epoch: float = 0.0):
        super().__init__()
        self.listener, self.stop, self.state = listener, stop, state
        self.epochs, self.interval = epochs, interval
        self.after_epoch = after_epoch
        self.position = float(first_epoch)  # epochs trained so far, partial ones counted by their batches
        self._epoch_start = self._last_emit = 0.0
        self._epoch = 0
        self._steps_done = 0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._epoch = epoch
        self._epoch_start = time.perf_counter()
        self._last_emit = 0.0
        self._steps_done = 0

    @property
    def _steps(self) -> int:
        return int(self.params.get("steps") or 0)

    def _check_stop(self, batch: int, logs: dict[str, float]) -> None:
        if self.state.end is not None:
            return
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            self.state.end = RunEnd(StopReason.NON_FINITE, f"the loss became {loss} at epoch {self._epoch + 1}, "
                                    f"batch {batch + 1}: try a lower learning rate")
        elif self.stop is not None and self.stop.requested:
            self.state.end = RunEnd(StopReason.REQUESTED)
        if self.state.end is not None:
            self.model.stop_training = True

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        # ``batch`` is the last step of the call: with steps_per_execution > 1 the epoch's last call
        # reports a step past the end (batch 24 of 21), so the count is clamped to the epoch's steps
        steps = self._steps
        self._steps_done = min(batch + 1, steps) if steps else batch + 1
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self._check_stop(self._steps_done - 1, logs)
        now = time.perf_counter()
        last = steps and self._steps_done >= steps
        if self.listener is not None and (last or now - self._last_emit >= self.interval or self.model.stop_training):
            self._last_emit = now
            self.listener.on_batch(BatchProgress(self._epoch, self.epochs, self._steps_done, steps, logs,
                                                 now - self._epoch_start, self.position))
            self._check_stop(self._steps_done - 1, logs)  # a stop asked for while handling this update takes effect now

    def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
        if self.model.stop_training:  # skip the rest of validation once a stop was asked for
            self.model.stop_evaluating = True

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        seconds = time.perf_counter() - self._epoch_start
        self.state.seconds_per_epoch.append(seconds)
        metrics = {k: float(v) for k, v in (logs or {}).items()}
        for key, value in metrics.items():
            self.state.history.setdefault(key, []).append(value)
        steps = self._steps
        result = EpochResult(epoch, self.epochs, metrics, seconds, self._steps_done, steps, self.position)
        self.position = result.epoch_end
        self.state.epoch_ends.append(self.position)
        if self.after_epoch is not None:
            self.after_epoch(self.state)
        if self.listener is not None:
            self.listener.on_epoch(result)

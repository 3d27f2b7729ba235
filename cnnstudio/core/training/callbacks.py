"""The Keras callback that connects a training run to the outside world without any GUI code."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from cnnstudio.core.training.progress import BatchProgress, EpochResult, RunState, StopFlag, TrainingListener
from cnnstudio.core.training.stop_reason import RunEnd, StopReason


def finite_snapshot(model: Any) -> list[np.ndarray] | None:
    """Copies of the model's weights and its optimizer's variables, or None when any is NaN or infinite.

    One pass over every value (a few milliseconds per epoch for LeNet-5 and vgg_small on a CPU).
    """
    optimizer = getattr(model, "optimizer", None)
    values = [np.array(w) for w in model.get_weights()] if hasattr(model, "get_weights") else []
    values += [np.array(v.numpy()) for v in getattr(optimizer, "variables", ())]
    if all(v.dtype.kind not in "fc" or bool(np.isfinite(v).all()) for v in values):
        return values
    return None


def restore_snapshot(model: Any, snapshot: list[np.ndarray]) -> None:
    """Put back what :func:`finite_snapshot` copied (the optimizer's part only when it still matches)."""
    count = len(model.weights)
    model.set_weights(snapshot[:count])
    variables = list(getattr(getattr(model, "optimizer", None), "variables", ()))
    if len(variables) == len(snapshot) - count:
        for variable, value in zip(variables, snapshot[count:]):
            variable.assign(value)


def gives_finite_outputs(model: Any, probe: np.ndarray | None) -> bool:
    """Whether ``model`` maps the ``probe`` images to finite outputs (True without a probe)."""
    if probe is None or not len(probe):
        return True
    return bool(np.isfinite(keras.ops.convert_to_numpy(model(probe, training=False))).all())


def _epoch_text(position: float) -> str:
    return f"{position:g}" if position != int(position) else str(int(position))


class StudioCallback(keras.callbacks.Callback):
    """Throttled progress, epoch results, stop requests and divergence detection in one callback.

    A stop request or a NaN loss sets ``model.stop_training``, which Keras checks after every
    step call, so the run ends after the batch in progress. After every epoch the weights (and
    the optimizer's variables) are checked for NaN or infinite values, since an overflowing
    update can leave them broken while the reported loss still looks finite. A diverged epoch
    (non-finite loss or weights) is not logged: the last finite weights, copied at the end of
    each good epoch (or at the start), are put back, ``state.kept_epoch`` says which, and the
    run ends with :attr:`StopReason.NON_FINITE`. Finite weights can still be too large to use
    (the next forward pass overflows): with ``probe`` images, a kept copy whose outputs for
    them are not finite gives way to the one before it, down to the starting weights. An epoch cut short that way counts
    as the share of its batches that ran: ``state.epoch_ends`` holds the epochs trained after
    each epoch, starting from ``first_epoch`` (e.g. 1.0, 1.34 for a stop after 120 of 355 batches).
    """

    def __init__(self, listener: TrainingListener | None, stop: StopFlag | None, state: RunState,
                 epochs: int, interval: float = 0.2, after_epoch: Callable[[RunState], None] | None = None,
                 first_epoch: float = 0.0, probe: np.ndarray | None = None):
        super().__init__()
        self.listener, self.stop, self.state = listener, stop, state
        self.epochs, self.interval = epochs, interval
        self.after_epoch = after_epoch
        self.position = float(first_epoch)  # epochs trained so far, partial ones counted by their batches
        self._epoch_start = self._last_emit = 0.0
        self._epoch = 0
        self._steps_done = 0
        self.probe = probe
        # the starting weights and those of the last two finite epoch ends
        self._snapshots: list[tuple[float, int, list[np.ndarray]]] = []  # (epochs trained, epochs logged, copy)

    def on_train_begin(self, logs: Any = None) -> None:
        snapshot = finite_snapshot(self.model)  # None: the model was already broken when training began
        self._snapshots = [] if snapshot is None else [(self.position, 0, snapshot)]

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

    def _diverged(self, epoch: int, metrics: dict[str, float], epoch_end: float) -> bool:
        """Check the epoch's losses and weights; on divergence put back the last usable weights and say so."""
        end = self.state.end
        loss_stop = end is not None and end.reason is StopReason.NON_FINITE  # a batch's loss was NaN or infinite
        losses = [(k, v) for k, v in metrics.items() if k.endswith("loss") and not math.isfinite(v)]
        snapshot = None if loss_stop or losses else finite_snapshot(self.model)
        if snapshot is not None:  # keep the starting weights and the last two good epoch ends
            logged = len(self.state.epoch_ends) + 1
            self._snapshots = self._snapshots[:1] + self._snapshots[1:][-1:] + [(epoch_end, logged, snapshot)]
            return False
        if loss_stop:
            what = end.detail.removesuffix(": try a lower learning rate")
        elif losses:
            what = f"the {losses[0][0].replace('_', ' ')} became {losses[0][1]} in epoch {epoch + 1}"
        else:
            what = f"the weights became NaN or infinite in epoch {epoch + 1} (the loss still looked finite)"
        kept = "no finite weights were left to keep"
        for i, (position, logged, snapshot) in enumerate(reversed(self._snapshots)):
            restore_snapshot(self.model, snapshot)
            if i == len(self._snapshots) - 1 or gives_finite_outputs(self.model, self.probe):
                self._forget_epochs_after(logged)
                self.state.kept_epoch = position
                kept = (f"the weights after epoch {_epoch_text(position)} were kept" if position
                        else "the untrained starting weights were kept")
                break
        self.state.end = RunEnd(StopReason.NON_FINITE, f"training diverged: {what}; {kept}; try a lower learning rate")
        self.model.stop_training = True
        return True

    def _forget_epochs_after(self, logged: int) -> None:
        """Drop this run's logged epochs past the first ``logged`` (their weights were not kept); re-checkpoint."""
        if len(self.state.epoch_ends) <= logged:
            return
        del self.state.epoch_ends[logged:], self.state.seconds_per_epoch[logged:]
        for values in self.state.history.values():
            del values[logged:]
        if self.after_epoch is not None:
            self.after_epoch(self.state)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        seconds = time.perf_counter() - self._epoch_start
        metrics = {k: float(v) for k, v in (logs or {}).items()}
        result = EpochResult(epoch, self.epochs, metrics, seconds, self._steps_done, self._steps, self.position)
        if self._diverged(epoch, metrics, result.epoch_end):
            return  # the diverged epoch is not logged: the record describes the weights that were kept
        self.state.seconds_per_epoch.append(seconds)
        for key, value in metrics.items():
            self.state.history.setdefault(key, []).append(value)
        self.position = result.epoch_end
        self.state.epoch_ends.append(self.position)
        if self.after_epoch is not None:
            self.after_epoch(self.state)
        if self.listener is not None:
            self.listener.on_epoch(result)

"""Recording the training timeline: :class:`TimelineCallback` snapshots the first convolution during a run.

The data (:class:`Snapshot`, :class:`Timeline`, their JSON form and limits) is in
:mod:`cnnstudio.core.timeline`, which model records and the GUI read without Keras.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from cnnstudio.core.inspection import layer_kind
from cnnstudio.core.logs import log
from cnnstudio.core.timeline import (
    MAX_FILTERS,
    MAX_INPUT_CHANNELS,
    MAX_SNAPSHOTS,
    Snapshot,
    Timeline,
    quantized,
    shrunk,
)
from cnnstudio.core.training.progress import RunState

__all__ = ["MAX_SNAPSHOTS", "Snapshot", "Timeline", "TimelineCallback", "continued_timeline", "first_conv"]


def first_conv(model: Any) -> Any | None:
    """The model's first Conv2D layer, or None."""
    return next((layer for layer in getattr(model, "layers", []) if layer_kind(layer) == "Conv2D"), None)


def continued_timeline(previous: Timeline | None, model: Any, image_index: int) -> Timeline | None:
    """The timeline a run of ``model`` extends: a copy of ``previous`` when it fits, else a new one (None: no Conv2D)."""
    layer = first_conv(model)
    if layer is None:
        return None
    if previous is not None and (previous.layer, previous.image_index) == (layer.name, image_index):
        return previous.copy()
    return Timeline(layer.name, image_index, [])


class TimelineCallback(keras.callbacks.Callback):
    """Takes a :class:`Snapshot` at the start of training and after every logged epoch.

    Epoch positions come from ``state.epoch_ends`` (the run's own, from ``first_epoch``; a stopped
    epoch is fractional); without a ``state`` they count whole epochs from ``first_epoch``.
    :meth:`sync` is idempotent: snapshots past the current position are dropped (a diverged run
    went back to earlier weights), and one is added when the position is new and the weights are
    finite. ``fit`` also calls it just before each checkpoint, so a saved record includes the epoch.
    The sub-model to the first convolution is built once; a model without one records nothing.
    """

    def __init__(self, image: np.ndarray, image_index: int, timeline: Timeline | None, *,
                 state: RunState | None = None, first_epoch: float = 0.0):
        super().__init__()
        self.image = np.asarray(image, dtype="float32")[np.newaxis]
        self.image_index = image_index
        self.timeline = timeline
        self.state, self.first_epoch = state, float(first_epoch)
        self._epochs_ended = 0
        self._layer: Any = None
        self._maps_model: Any = None

    def on_train_begin(self, logs: Any = None) -> None:
        self._layer = first_conv(self.model)
        if self._layer is None:
            return
        self._maps_model = keras.Model(self.model.input, self._layer.output)
        if self.timeline is None or self.timeline.layer != self._layer.name:
            self.timeline = Timeline(self._layer.name, self.image_index, [])
        self.sync()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self._epochs_ended += 1
        self.sync()

    @property
    def position(self) -> float:
        """Epochs the model's current weights have trained."""
        if self.state is None:
            return self.first_epoch + self._epochs_ended
        return self.state.epoch_ends[-1] if self.state.epoch_ends else self.first_epoch

    def sync(self) -> None:
        if self._maps_model is None or self.timeline is None:
            return
        position = self.position
        self.timeline.drop_after(position)
        if self.timeline.snapshots and self.timeline.snapshots[-1].epoch >= position:
            return
        snapshot = self.snapshot(position)
        if snapshot is None:
            log.info("training timeline: no snapshot at epoch %g (non-finite values)", position)
        else:
            self.timeline.add(snapshot)

    def snapshot(self, epoch: float) -> Snapshot | None:
        """The first convolution now, or None when its kernels or maps are not finite."""
        kernel = keras.ops.convert_to_numpy(self._layer.kernel)
        kernels = np.ascontiguousarray(kernel[:, :, :MAX_INPUT_CHANNELS, :MAX_FILTERS], dtype=np.float32)
        maps = keras.ops.convert_to_numpy(self._maps_model(self.image, training=False)).astype(np.float32)
        maps = maps[0, ..., :MAX_FILTERS]
        if not (np.isfinite(kernels).all() and np.isfinite(maps).all()):
            return None
        codes, ranges = quantized(shrunk(maps))
        return Snapshot(float(epoch), kernels, codes, ranges)

"""Looking inside a trained network: feature maps, learned filters, shift probes, evaluation details.

Models are called directly (``model(x, training=False)``), not through ``model.predict``, which
keeps a single image well under the per-call overhead of ``predict``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from cnnstudio.core.errors import CnnStudioError

SHOWN_KINDS = ("Conv2D", "MaxPooling2D", "AveragePooling2D", "MinPooling2D", "ZeroPadding2D", "Resizing",
               "Concatenate", "Activation", "BatchNormalization")


def layer_kind(layer: Any) -> str:
    """The layer's class name; a nested Sequential of negate → max pool → negate is min pooling."""
    name = layer.__class__.__name__
    if name == "Sequential":
        inner = [sub.__class__.__name__ for sub in layer.layers]
        if inner == ["Rescaling", "MaxPooling2D", "Rescaling"]:
            return "MinPooling2D"
    return name


@dataclass(frozen=True)
class FeatureMap:
    name: str
    kind: str
    values: np.ndarray  # H×W×C for one image

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)


def _check_image_model(model: Any) -> None:
    shape = getattr(model, "input_shape", None)
    if not isinstance(shape, tuple) or len(shape) != 4:
        raise CnnStudioError(f"this model does not take images (its input is {shape}); feature maps need H×W×C images")
    if not any(layer_kind(layer) == "Conv2D" for layer in model.layers):
        raise CnnStudioError("this model has no convolution layers, so it has no feature maps or filters to show")


class FeatureExtractor:
    """Outputs of every convolution, pooling and input-adapting layer for one image, in one call."""

    def __init__(self, model: Any):
        import keras

        _check_image_model(model)
        self.layers = [layer for layer in model.layers
                       if layer_kind(layer) in SHOWN_KINDS and len(layer.output.shape) == 4]
        self.kinds = [layer_kind(layer) for layer in self.layers]
        self._model = keras.Model(model.input, [layer.output for layer in self.layers])

    def __call__(self, image: np.ndarray) -> list[FeatureMap]:
        outputs = self._model(np.asarray(image, dtype="float32")[np.newaxis], training=False)
        return [FeatureMap(layer.name, kind, np.asarray(out)[0])
                for layer, kind, out in zip(self.layers, self.kinds, outputs)]


class ConvFilters(NamedTuple):
    """A convolution's kernels as k×k×filters, each the mean over the layer's ``inputs`` input channels."""

    name: str
    kernels: np.ndarray
    inputs: int


def conv_filters(model: Any) -> list[ConvFilters]:
    """Each convolution's kernels (averaged over input channels), in the model's order."""
    _check_image_model(model)
    found = []
    for layer in model.layers:
        if layer_kind(layer) == "Conv2D":
            kernel = np.asarray(layer.kernel)  # k×k×in×out
            found.append(ConvFilters(layer.name, kernel.mean(axis=2), kernel.shape[2]))
    return found


def unit_scaled(values: np.ndarray) -> np.ndarray:
    """``values`` (one channel) stretched to 0..1 by its own minimum and maximum; all zeros when constant."""
    values = np.asarray(values, dtype=np.float32)
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def tile_columns(channels: int) -> int:
    """How many columns :func:`tile` uses by default: a grid about twice as wide as tall."""
    return max(1, min(int(np.ceil(np.sqrt(2 * channels))), channels))


def tile(maps: np.ndarray, columns: int | None = None, gap: int = 1,
         value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Channels of an H×W×C array side by side in a grid (NaN gaps), each scaled to 0..1 on its own
    or, with ``value_range`` (low, high), all on that one scale (values outside it clipped)."""
    height, width, channels = maps.shape
    columns = max(1, min(columns or tile_columns(channels), channels))
    rows = int(np.ceil(channels / columns))
    out = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), np.nan, dtype=np.float32)
    if value_range is not None:
        low, high = value_range
        span = max(high - low, 1e-12)
    for c in range(channels):
        scaled = unit_scaled(maps[..., c]) if value_range is None \
            else np.clip((maps[..., c].astype(np.float32) - low) / span, 0.0, 1.0)
        r, k = divmod(c, columns)
        out[r * (height + gap): r * (height + gap) + height, k * (width + gap): k * (width + gap) + width] = scaled
    return out


def tile_unused(maps_shape: tuple[int, int, int], columns: int, gap: int = 1) -> np.ndarray:
    """Where a :func:`tile` image of ``maps_shape`` in ``columns`` columns holds no channel at all: the cells
    after the last channel in its row (and the gap before them), not the gaps between channels."""
    height, width, channels = maps_shape
    columns = max(1, min(columns, channels))
    rows = -(-channels // columns)
    unused = np.zeros((rows * (height + gap) - gap, columns * (width + gap) - gap), dtype=bool)
    last_row, last_column = divmod(channels - 1, columns)
    unused[last_row * (height + gap):, (last_column + 1) * (width + gap) - gap:] = True
    return unused


def tile_position(maps_shape: tuple[int, int, int], columns: int, x: int, y: int, gap: int = 1) -> int | None:
    """The channel under pixel (x, y) of a :func:`tile` image, or None in a gap."""
    height, width, channels = maps_shape
    k, dx = divmod(x, width + gap)
    r, dy = divmod(y, height + gap)
    channel = r * columns + k
    return channel if dx < width and dy < height and k < columns and channel < channels else None


def probabilities(model: Any, images: np.ndarray) -> np.ndarray:
    import keras

    return keras.ops.convert_to_numpy(model(np.asarray(images, dtype="float32"), training=False))


def shift(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The image moved by (dx, dy) pixels, uncovered pixels zero (black)."""
    out = np.zeros_like(image)
    h, w = image.shape[:2]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = image[ys, xs]
    return out


def shift_probe(model: Any, image: np.ndarray, reach: int = 6) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """Confidence in the unshifted prediction when the image moves by -reach..reach pixels.

    Returns ``(shifts, predicted_class, horizontal_confidence, vertical_confidence)``.
    """
    shifts = np.arange(-reach, reach + 1)
    batch = [shift(image, int(s), 0) for s in shifts] + [shift(image, 0, int(s)) for s in shifts]
    probs = probabilities(model, np.stack(batch))
    predicted = int(np.argmax(probs[reach]))
    return shifts, predicted, probs[: len(shifts), predicted], probs[len(shifts):, predicted]


@dataclass
class Evaluation:
    probabilities: np.ndarray  # N×classes
    labels: np.ndarray
    loss: float
    accuracy: float

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def confusion(self) -> np.ndarray:
        """Rows: true class; columns: predicted class."""
        n = self.probabilities.shape[1]
        return np.bincount(self.labels * n + self.predictions, minlength=n * n).reshape(n, n)

    @property
    def per_class_accuracy(self) -> np.ndarray:
        matrix = self.confusion
        totals = matrix.sum(axis=1)
        return np.divide(np.diag(matrix), totals, out=np.full(len(totals), np.nan), where=totals > 0)

    def cell(self, true: int, predicted: int) -> np.ndarray:
        """Indices of test images with this (true, predicted) pair, most confident prediction first."""
        chosen = np.flatnonzero((self.labels == true) & (self.predictions == predicted))
        return chosen[np.argsort(-self.probabilities[chosen, predicted], kind="stable")]


LOSS_EPSILON = 1e-7  # Keras' clipping of probabilities in its cross-entropy


def evaluate_details(model: Any, images: np.ndarray, labels: np.ndarray, batch_size: int = 512,
                     progress: Callable[[int, int], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> Evaluation | None:
    """Probabilities for every test image (in batches, reporting progress), with loss and accuracy.

    The one test-set computation: the Evaluation view and the test figures of every training run
    (:func:`cnnstudio.core.training.trainer.evaluate`) both come from here. The loss is Keras'
    sparse categorical cross-entropy. ``should_stop`` is asked before each batch; when it answers
    True the evaluation ends without a result (None).
    """
    chunks = []
    for start in range(0, len(images), batch_size):
        if should_stop is not None and should_stop():
            return None
        chunks.append(probabilities(model, images[start:start + batch_size]))
        if progress is not None:
            progress(min(start + batch_size, len(images)), len(images))
    probs = np.concatenate(chunks)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    picked = probs[np.arange(len(labels)), labels] / probs.sum(axis=1)
    loss = float(-np.mean(np.log(np.clip(picked, LOSS_EPSILON, 1.0 - LOSS_EPSILON)), dtype=np.float64))
    return Evaluation(probs, labels, loss, float(np.mean(probs.argmax(axis=1) == labels)))

"""The operation explorer's arithmetic: which window produced an output cell, and its value.

Qt-free and TensorFlow-free (NumPy only). Windows follow TensorFlow's conventions: 'valid' has no
padding; 'same' pads ``pad_total = max((ceil(n / s) - 1) * s + k - n, 0)`` cells, the smaller half
(``pad_total // 2``) before and the odd extra cell after, so a window's top-left can be negative and
its far edge can pass the map. Explicit borders belong to the ``ZeroPadding2D`` layer before a layer.

Padding cells count as zeros in a convolution. Max and min pooling ignore them (TensorFlow pads
with -inf). Average pooling with 'same' padding also ignores them: Keras' ``AveragePooling2D`` (on
TensorFlow, ``tf.nn.avg_pool``) divides by the number of real cells in the window, not by k×k.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstudio.core.network.layer_specs import window_output
from cnnstudio.core.network.receptive_field import WINDOWED_KINDS, pad_before, receptive_fields

if TYPE_CHECKING:
    from cnnstudio.core.network.shape_table import ShapeTable


@dataclass(frozen=True)
class Window:
    """A size×size window on a layer's input map of ``input_hw``; top/left may be negative (padding)."""

    top: int
    left: int
    size: int
    input_hw: tuple[int, int]

    @property
    def bottom(self) -> int:
        """One past the last row (exclusive)."""
        return self.top + self.size

    @property
    def right(self) -> int:
        """One past the last column (exclusive)."""
        return self.left + self.size

    def padded(self) -> np.ndarray:
        """size×size booleans, True where the cell lies in the padding, outside the input map."""
        rows = np.arange(self.top, self.bottom)
        cols = np.arange(self.left, self.right)
        inside_r = (rows >= 0) & (rows < self.input_hw[0])
        inside_c = (cols >= 0) & (cols < self.input_hw[1])
        return ~(inside_r[:, None] & inside_c[None, :])

    def clipped(self) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of the part inside the map; bottom and right exclusive."""
        h, w = self.input_hw
        return max(self.top, 0), max(self.left, 0), min(self.bottom, h), min(self.right, w)

    def take(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """The window cut from an H×W(×C) map, padding cells set to ``fill``."""
        values = np.asarray(values)
        out = np.full((self.size, self.size, *values.shape[2:]), fill, dtype=np.result_type(values, float))
        top, left, bottom, right = self.clipped()
        if bottom > top and right > left:
            out[top - self.top:bottom - self.top, left - self.left:right - self.left] = values[top:bottom, left:right]
        return out


def input_window(settings: Mapping[str, Any], input_hw: tuple[int, int], output_rc: tuple[int, int]) -> Window:
    """The window of the input map (``input_hw``) that a conv or pooling layer with these settings
    (a shape-table row's ``settings``: kernel, stride, padding) read for output cell ``output_rc``."""
    k, s = int(settings["kernel"]), int(settings["stride"])
    padding = settings.get("padding", "valid")
    out_hw = [window_output(n, k, s, padding) for n in input_hw]
    for index, size in zip(output_rc, out_hw, strict=True):
        if not 0 <= index < size:
            raise ValueError(f"output cell {tuple(output_rc)} is outside the {out_hw[0]}×{out_hw[1]} output")
    top = output_rc[0] * s - pad_before(settings, input_hw[0])
    left = output_rc[1] * s - pad_before(settings, input_hw[1])
    return Window(top, left, k, (int(input_hw[0]), int(input_hw[1])))


def layer_window(table: ShapeTable, layer_index: int, row: int, col: int) -> Window:
    """``input_window`` for row ``layer_index`` of a shape table (a conv or pooling layer)."""
    layer = table.rows[layer_index]
    if layer.kind not in WINDOWED_KINDS:
        raise ValueError(f"layer '{layer.name}' ({layer.kind}) has no sliding window")
    shape = table.input_shape if layer_index == 0 else table.rows[layer_index - 1].output_shape
    return input_window(layer.settings, (shape[0], shape[1]), (row, col))


def trace_to_input(table: ShapeTable, layer_index: int, row: int, col: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the input pixels that output cell (row, col) of layer
    ``layer_index`` depends on, clipped to the image; bottom and right exclusive.

    After a Resizing layer the box is in pixels of the resized image (the field's ``frame``);
    after Flatten, global pooling or Dense it is the whole image.
    """
    field = receptive_fields(table)[layer_index]
    if field is None:
        raise ValueError(f"layer '{table.rows[layer_index].name}' has no receptive field")
    frame_hw = _frame_hw(table, field.frame)
    if field.whole:
        return 0, 0, frame_hw[0], frame_hw[1]
    shape = table.rows[layer_index].output_shape
    if not (0 <= row < shape[0] and 0 <= col < shape[1]):
        raise ValueError(f"cell ({row}, {col}) is outside the {shape[0]}×{shape[1]} output")
    top, left, bottom, right = (round(v) for v in field.bounds(row, col))
    return max(top, 0), max(left, 0), min(bottom, frame_hw[0]), min(right, frame_hw[1])


def _frame_hw(table: ShapeTable, frame: str) -> tuple[int, int]:
    for layer in table.rows:
        if layer.name == frame:
            return layer.output_shape[0], layer.output_shape[1]
    return table.input_shape[0], table.input_shape[1]


def pool_value(window_values: np.ndarray, kind: str,
               padded: np.ndarray | None = None) -> tuple[float, tuple[int, int] | None]:
    """A pooling window's result and, for max/min, the winning cell (row, col) in the window.

    ``kind``: 'max', 'min' or 'avg'. Cells marked in ``padded`` are ignored (see the module doc);
    ties go to the first cell in reading order, as ``np.argmax`` picks.
    """
    values = np.asarray(window_values, dtype=float)
    real = np.ones(values.shape, bool) if padded is None else ~np.asarray(padded, bool)
    if not real.any():
        raise ValueError("the window holds only padding")
    if kind == "avg":
        return float(values[real].mean()), None
    if kind not in ("max", "min"):
        raise ValueError(f"unknown pooling {kind!r}; expected 'max', 'min' or 'avg'")
    masked = np.where(real, values, -math.inf if kind == "max" else math.inf)
    flat = int(np.argmax(masked) if kind == "max" else np.argmin(masked))
    winner = np.unravel_index(flat, values.shape)
    return float(values[winner]), (int(winner[0]), int(winner[1]))


@dataclass(frozen=True)
class ConvResult:
    """One convolution output: the element-wise products, their sum plus bias, and after activation."""

    products: np.ndarray
    total: float
    activated: float


def activate(value: float, activation: str | None) -> float:
    """Keras' activation functions that the app offers (None or 'linear': unchanged)."""
    if activation in (None, "linear"):
        return value
    if activation == "relu":
        return max(value, 0.0)
    if activation == "tanh":
        return math.tanh(value)
    if activation == "sigmoid":
        return 1.0 / (1.0 + math.exp(-value)) if value >= 0 else math.exp(value) / (1.0 + math.exp(value))
    raise ValueError(f"unknown activation {activation!r}")


def conv_value(window: np.ndarray, kernel: np.ndarray, bias: float = 0.0,
               activation: str | None = None) -> ConvResult:
    """One filter on one window: ``window`` and ``kernel`` are k×k(×C) (padding cells as zeros,
    see :meth:`Window.take`); ``kernel`` is ``weights[:, :, :, filter]`` of a Keras Conv2D."""
    products = np.asarray(window, dtype=float) * np.asarray(kernel, dtype=float)
    total = float(products.sum()) + float(bias)
    return ConvResult(products, total, activate(total, activation))

"""Receptive fields: how much of the image each layer's output cell sees, and where.

Pure Python over a shape table's rows (kind and settings), so it is instant and needs no TensorFlow.

Coordinates are pixel indices of the *frame*: the network input, or after a ``Resizing`` layer the
resized image (bilinear resizing mixes neighbouring pixels, so fields restart on its grid and
``frame`` names that layer). Pixel centres sit at whole numbers: pixel 0's centre is 0.0.

The standard recurrences, layer by layer (k kernel, s stride, j jump, r field side):
``j_out = j_in * s``, ``r_out = r_in + (k - 1) * j_in``,
``start_out = start_in + ((k - 1) / 2 - pad_before) * j_in``, where 'same' padding follows
TensorFlow: ``pad_total = max((ceil(n / s) - 1) * s + k - n, 0)`` and ``pad_before = pad_total // 2``
(the odd extra pixel goes after). An explicit ``ZeroPadding2D`` border shifts the start by
``-pixels * j_in``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnnstudio.core.network.shape_table import ShapeTable

WINDOWED_KINDS = frozenset({"Conv2D", "MaxPooling2D", "AveragePooling2D", "MinPooling2D"})
WHOLE_KINDS = frozenset({"Flatten", "GlobalAveragePooling2D", "Dense"})
INPUT_FRAME = "input"


@dataclass(frozen=True)
class ReceptiveField:
    """One layer's receptive field (square kernels give square fields).

    ``size``: side of the field in frame pixels (padding included, so it may exceed the image);
    ``jump``: frame pixels between neighbouring output cells; ``start``: (y, x) centre of output
    cell (0, 0) in frame coordinates. ``whole``: every output sees the whole frame (after Flatten,
    global pooling or Dense); then ``size`` is the frame's longer side and jump and start are None.
    """

    size: int
    jump: int | None
    start: tuple[float, float] | None
    frame: str = INPUT_FRAME
    whole: bool = False

    def bounds(self, row: int, col: int) -> tuple[float, float, float, float]:
        """Unclipped (top, left, bottom, right) of cell (row, col)'s field; bottom and right exclusive."""
        if self.jump is None or self.start is None:
            raise ValueError("this layer's outputs see the whole input; there is no window per cell")
        half = (self.size - 1) / 2
        top = self.start[0] + row * self.jump - half
        left = self.start[1] + col * self.jump - half
        return top, left, top + self.size, left + self.size


def same_pad_before(size: int, kernel: int, stride: int) -> int:
    """TensorFlow's 'same' padding before the first pixel (the smaller half of the total)."""
    return max((math.ceil(size / stride) - 1) * stride + kernel - size, 0) // 2


def pad_before(settings: Mapping[str, Any], size: int) -> int:
    """Pixels of implicit padding before the first input pixel for a conv or pooling layer."""
    if settings.get("padding") == "same":
        return same_pad_before(size, settings["kernel"], settings["stride"])
    return 0


def receptive_fields(table: ShapeTable) -> list[ReceptiveField | None]:
    """Each row's receptive field, or None where it is not defined (a layer that changes the grid
    in a way not modelled here)."""
    field: ReceptiveField | None = ReceptiveField(1, 1, (0.0, 0.0))
    frame_hw = (table.input_shape[0], table.input_shape[1])
    shape = tuple(table.input_shape)
    fields: list[ReceptiveField | None] = []
    for row in table.rows:
        out = tuple(row.output_shape)
        field, frame_hw = _step(field, frame_hw, row.name, row.kind, row.settings, shape, out)
        fields.append(field)
        shape = out
    return fields


def _step(field: ReceptiveField | None, frame_hw: tuple[int, int], name: str, kind: str,
          settings: dict[str, Any], shape: tuple[int, ...],
          out: tuple[int, ...]) -> tuple[ReceptiveField | None, tuple[int, int]]:
    if kind == "Resizing" and len(out) == 3:
        return ReceptiveField(1, 1, (0.0, 0.0), frame=name), (out[0], out[1])
    if kind in WHOLE_KINDS or (field is not None and field.whole):
        return ReceptiveField(max(frame_hw), None, None, field.frame if field else INPUT_FRAME, True), frame_hw
    if field is None or field.jump is None or field.start is None:
        return None, frame_hw
    j, (y, x) = field.jump, field.start
    if kind in WINDOWED_KINDS:
        k, s = settings["kernel"], settings["stride"]
        y += ((k - 1) / 2 - pad_before(settings, shape[0])) * j
        x += ((k - 1) / 2 - pad_before(settings, shape[1])) * j
        return ReceptiveField(field.size + (k - 1) * j, j * s, (y, x), field.frame), frame_hw
    if kind == "ZeroPadding2D":
        p = settings["pixels"]
        return ReceptiveField(field.size, j, (y - p * j, x - p * j), field.frame), frame_hw
    if len(out) == 3 and len(shape) == 3 and out[:2] == shape[:2]:
        return field, frame_hw  # rescaling, batch norm, activation, dropout, gray to RGB…
    return None, frame_hw

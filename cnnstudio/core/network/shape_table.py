"""The shape inspector: each layer's output shape, parameters and multiply-accumulates.

Pure Python over the layer specs, so it is instant and needs no TensorFlow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

from cnnstudio.core.config import ModelOptions
from cnnstudio.core.errors import ConfigError
from cnnstudio.core.network.architectures import PRESET_ARCHITECTURES, layer_specs
from cnnstudio.core.network.layer_specs import LayerSpec, Shape
from cnnstudio.core.network.receptive_field import INPUT_FRAME, ReceptiveField, receptive_fields


@dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str
    output_shape: Shape
    params: int
    macs: int
    detail: str  # for people: "6@5×5, stride 1, valid"
    settings: dict[str, Any] = field(default_factory=dict)  # for programs: the spec's own fields (kernel, stride…)


@dataclass(frozen=True)
class ShapeTable:
    input_shape: Shape
    rows: tuple[LayerRow, ...]

    @property
    def params(self) -> int:
        return sum(row.params for row in self.rows)

    @property
    def macs(self) -> int:
        """Multiply-accumulates for one image (FLOPs are about twice this)."""
        return sum(row.macs for row in self.rows)

    def receptive_fields(self) -> list[ReceptiveField | None]:
        """Each layer's receptive field in input pixels (see :mod:`receptive_field`)."""
        return receptive_fields(self)

    def to_json(self) -> dict:
        fields = self.receptive_fields()
        return {
            "input_shape": list(self.input_shape),
            "layers": [{**asdict(row), "output_shape": list(row.output_shape), **_field_json(rf)}
                       for row, rf in zip(self.rows, fields, strict=True)],
            "params": self.params,
            "macs": self.macs,
            "flops": 2 * self.macs,
        }

    def format(self) -> str:
        """A plain-text table for terminals."""
        fields = self.receptive_fields()
        cells = [("layer", "kind", "output shape", "params", "MACs", "RF", "detail"),
                 ("input", "Input", _shape(self.input_shape), "0", "0", "1", "")]
        cells += [(r.name, r.kind, _shape(r.output_shape), f"{r.params:,}", f"{r.macs:,}", _field_text(rf), r.detail)
                  for r, rf in zip(self.rows, fields, strict=True)]
        # columns as wide as their widest cell (at least the usual widths): large numbers never run together
        widths = [max(least, *(len(row[i]) + gap for row in cells))
                  for i, (least, gap) in enumerate(((14, 1), (20, 1), (16, 1), (12, 2), (16, 2), (6, 2)))]
        lines = [f"{row[0]:<{widths[0]}}{row[1]:<{widths[1]}}{row[2]:<{widths[2]}}{row[3]:>{widths[3]}}"
                 f"{row[4]:>{widths[4]}}{row[5]:>{widths[5]}}  {row[6]}".rstrip() for row in cells]
        frames = sorted({rf.frame for rf in fields if rf is not None and rf.frame != INPUT_FRAME})
        note = f" ('*': pixels of the image resized by '{frames[-1]}')" if frames else ""
        lines.append(f"RF: receptive field side in input pixels{note}; all: every input pixel")
        lines.append(f"total: {self.params:,} parameters, {self.macs:,} MACs per image ({2 * self.macs:,} FLOPs)")
        return "\n".join(lines)


def _field_json(rf: ReceptiveField | None) -> dict[str, Any]:
    return {"receptive_field": rf.size if rf else None, "jump": rf.jump if rf else None,
            "start": list(rf.start) if rf and rf.start else None,
            "receptive_field_frame": rf.frame if rf else None, "whole_input": bool(rf and rf.whole)}


def _field_text(rf: ReceptiveField | None) -> str:
    if rf is None:
        return "-"
    if rf.whole:
        return "all"
    return f"{rf.size}{'*' if rf.frame != INPUT_FRAME else ''}"


def _shape(shape: Shape) -> str:
    return "×".join(str(n) for n in shape)


def _walk(specs: list[LayerSpec], input_shape: Shape) -> tuple[ShapeTable, LayerSpec | None, ConfigError | None]:
    """The rows of the specs up to the first impossible one, that spec and why (None, None when all fit)."""
    shape = tuple(input_shape)
    rows = []
    for spec in specs:
        try:
            out = spec.output_shape(shape)
        except ConfigError as exc:
            return ShapeTable(tuple(input_shape), tuple(rows)), spec, exc
        settings = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.name != "name"}
        rows.append(LayerRow(spec.name, spec.kind, out, spec.params(shape), spec.macs(shape, out), spec.describe(),
                             settings))
        shape = out
    return ShapeTable(tuple(input_shape), tuple(rows)), None, None


def table_for_specs(specs: list[LayerSpec], input_shape: Shape) -> ShapeTable:
    """Walk the specs, refusing (``ConfigError``) a layer whose output would be empty."""
    table, _failing, problem = _walk(specs, input_shape)
    if problem is not None:
        raise problem
    return table


def rows_before_problem(options: ModelOptions, input_shape: Shape, num_classes: int) -> tuple[ShapeTable, LayerSpec | None]:
    """An impossible network's layers that fit, and the first one that does not (None when all fit, or when the
    options make no layers at all): how the maps shrank before the network ran out of pixels."""
    try:
        specs = layer_specs(options, input_shape, num_classes)
    except ConfigError:
        return ShapeTable(tuple(input_shape), ()), None
    table, failing, _problem = _walk(specs, input_shape)
    return table, failing


MAX_SIDE_SEARCHED = 1024


def shape_table(options: ModelOptions, input_shape: Shape, num_classes: int) -> ShapeTable:
    """The shape table of the network that ``options`` describes for this data.

    Images too small for the network are refused with the smallest square size that would work.
    """
    try:
        return table_for_specs(layer_specs(options, input_shape, num_classes), input_shape)
    except ConfigError as exc:
        side = smallest_side(options, input_shape, num_classes)
        if side is None or side <= min(input_shape[0], input_shape[1]):
            raise
        preset = PRESET_ARCHITECTURES.get(options.arch)
        what = (f"the design {options.design.name!r}" if options.design is not None
                else preset.title if preset is not None else options.arch)
        raise ConfigError(f"{exc}; with these options {what} needs images of at least {side}×{side}") from exc


def smallest_side(options: ModelOptions, input_shape: Shape, num_classes: int) -> int | None:
    """The smallest square image side (up to ``MAX_SIDE_SEARCHED``) the network can take, or None."""
    channels = input_shape[2] if len(input_shape) > 2 else 1
    for side in range(1, MAX_SIDE_SEARCHED + 1):
        try:
            table_for_specs(layer_specs(options, (side, side, channels), num_classes), (side, side, channels))
        except ConfigError:
            continue
        return side
    return None

"""Each layer of a design under the current options: its output shape, parameters and MACs, and the first
layer that cannot work, named by its position (what the Design tab shows beside every row).

The builder may add layers of its own around a design's layer (``c1_pad`` before ``c1``); they are
counted with the layer they serve, the one whose name they extend.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from cnnstudio.core.config import ModelOptions
from cnnstudio.core.errors import ConfigError, LayerError
from cnnstudio.core.network.architectures import layer_specs
from cnnstudio.core.network.design import KIND_TITLES, Design, DesignError, LayerEntry
from cnnstudio.core.network.layer_specs import Shape


def shape_text(shape: Sequence[int]) -> str:
    return " × ".join(str(n) for n in shape)


@dataclass(frozen=True)
class RowResult:
    """What one layer makes under the current options: '' where it was not reached."""

    output: str = ""
    params: int = 0
    macs: int = 0
    skipped: bool = False  # the options leave it out (e.g. dropout at rate 0, gray to RGB on colour images)


@dataclass(frozen=True)
class Analysis:
    design: Design | None  # None: the layers make no design (see problem)
    rows: tuple[RowResult, ...]
    problem: str | None = None  # one line, naming the layer
    problem_row: int | None = None  # 0-based; None: the design as a whole (or the output layer)


def analyse(entries: Sequence[LayerEntry], name: str, options: ModelOptions, input_shape: Shape | None,
            num_classes: int) -> Analysis:
    """Each row's output shape, parameters and MACs, and the first impossible row with its reason."""
    blank = tuple(RowResult() for _ in entries)
    try:
        design = Design(name, tuple(entries))
    except DesignError as exc:
        row = exc.position - 1 if exc.position is not None and exc.position <= len(entries) else None
        return Analysis(None, blank, str(exc), row)
    if input_shape is None:
        return Analysis(design, blank)
    try:
        specs = layer_specs(dataclasses.replace(options, design=design, pool_size=None, pool_stride=None),
                            input_shape, num_classes)
    except ConfigError as exc:
        return Analysis(design, blank, str(exc))
    names = {n.lower(): i for i, n in enumerate(design.layer_names())}
    outputs: dict[int, Shape] = {}
    params: dict[int, int] = {}
    macs: dict[int, int] = {}
    shape = tuple(input_shape)
    for spec in specs:
        key = spec.name.lower()
        owner = names.get(key, names.get(key.rsplit("_", 1)[0]) if "_" in key else None)
        try:
            out = spec.output_shape(shape)
        except ConfigError as exc:
            if owner is None:
                return Analysis(design, _results(entries, outputs, params, macs, None), str(exc))
            kind = KIND_TITLES[entries[owner].kind]
            said = (f"layer {owner + 1}, {kind} '{exc.layer}' ({exc.description}): {exc.reason}"
                    if isinstance(exc, LayerError) and exc.layer == spec.name  # the builder names this layer itself
                    else f"layer {owner + 1} ({kind}): {exc}")
            return Analysis(design, _results(entries, outputs, params, macs, owner), said, owner)
        if owner is not None:
            outputs[owner] = out
            params[owner] = params.get(owner, 0) + spec.params(shape)
            macs[owner] = macs.get(owner, 0) + spec.macs(shape, out)
        shape = out
    return Analysis(design, _results(entries, outputs, params, macs, len(entries)))


def _results(entries: Sequence[LayerEntry], outputs: dict[int, Shape], params: dict[int, int], macs: dict[int, int],
             reached: int | None) -> tuple[RowResult, ...]:
    """Rows before ``reached`` were walked: those without a layer of their own were left out by the options."""
    limit = len(entries) if reached is None else reached
    rows = []
    for i in range(len(entries)):
        if i in outputs:
            rows.append(RowResult(shape_text(outputs[i]), params.get(i, 0), macs.get(i, 0)))
        elif i < limit and reached is not None:
            rows.append(RowResult("left out", skipped=True))
        else:
            rows.append(RowResult())
    return tuple(rows)

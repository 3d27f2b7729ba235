"""The inline text form of a design: ``"pad 2, conv 6 5, pool 2, conv 16 5, pool 2, flatten, dense 120, dense 84"``.

Layers are separated by commas, semicolons or new lines; the output layer is added. Grammar::

    conv FILTERS KERNEL [stride S] [valid | same | pad N | global]
    pool SIZE [stride S] [max | avg | min | global] [valid | same]
    pad N          dense UNITS        dropout RATE       act relu | tanh | sigmoid | global
    bn             gap                flatten            resize SIZE       rgb

Any layer may end in ``as NAME``. Options left out follow the experiment's settings ("global").
``parse_layers(text, name="custom") -> Design`` and ``format_layers(design) -> str`` are inverses
(up to spacing and the description, which the text form does not carry).
"""

from __future__ import annotations

import re
from typing import Any

from cnnstudio.core.network.design import (
    GLOBAL,
    KINDS,
    MAX_LAYERS,
    POOLINGS,
    Design,
    DesignError,
    LayerEntry,
    shown,
)

MAX_TEXT = 100_000
POSITIONAL = {"conv": ("filters", "kernel"), "pool": ("size",), "pad": ("pixels",), "dense": ("units",),
              "dropout": ("rate",), "act": ("activation",), "resize": ("size",)}
ALIASES = {"batchnorm": "bn", "conv2d": "conv", "maxpool": "pool", "activation": "act", "zeropad": "pad",
           "global_avg_pool": "gap", "globalaveragepooling": "gap"}
GRAMMAR = ("conv FILTERS KERNEL [stride S] [valid|same|pad N], pool SIZE [stride S] [max|avg|min] [valid|same], "
           "pad N, dense UNITS, dropout RATE, act relu|tanh|sigmoid, bn, gap, flatten, resize SIZE, rgb")


def _number(token: str, field: str) -> Any:
    """A token as the field's number when it reads as one, else the text (which the entry then refuses)."""
    try:
        return float(token) if field == "rate" else int(token) if re.fullmatch(r"[0-9]{1,12}", token) else token
    except ValueError:
        return token


def parse_entry(text: str, position: int) -> LayerEntry:
    """One layer of the inline form; a mistake is a ``DesignError`` naming the layer and field."""
    tokens = text.split()
    kind = ALIASES.get(tokens[0].lower(), tokens[0].lower())
    if kind not in KINDS:
        raise DesignError(f"unknown layer {shown(tokens[0])}: use {GRAMMAR}", position, field="kind")
    values: dict[str, Any] = {"kind": kind}
    rest = tokens[1:]
    if len(rest) >= 2 and rest[-2].lower() == "as":
        values["name"], rest = rest[-1], rest[:-2]
    for field in POSITIONAL.get(kind, ()):
        if not rest or rest[0].lower() in ("stride", "pad", "as"):
            raise DesignError(f"{field} is missing (write: {_usage(kind)})", position, kind, field)
        token = rest.pop(0)
        values[field] = token.lower() if field == "activation" else _number(token, field)
    while rest:
        word = rest.pop(0).lower()
        if word in ("stride", "pad") and kind in ("conv", "pool") and (kind == "conv" or word == "stride"):
            field = "stride" if word == "stride" else "padding"
            if not rest:
                raise DesignError(f"'{word}' needs a number (write: {_usage(kind)})", position, kind, field)
            token = rest.pop(0)
            values[field] = _number(token, field) if field == "stride" else token
        elif word in ("valid", "same") and kind in ("conv", "pool") or word == GLOBAL and kind == "conv":
            values["padding"] = word
        elif kind == "pool" and word in POOLINGS:
            values["pooling"] = word
        else:
            raise DesignError(f"unexpected {shown(word)} (write: {_usage(kind)})", position, kind)
    try:
        return LayerEntry(**values)
    except DesignError as exc:
        raise DesignError(exc.reason, position, kind, exc.field) from exc


def _usage(kind: str) -> str:
    return next(part.strip() for part in GRAMMAR.split(", ") if part.startswith(kind + " ") or part == kind)


def parse_layers(text: str, name: str = "custom") -> Design:
    """A design from the inline text form (see the module docstring)."""
    if not isinstance(text, str) or not text.strip():
        raise DesignError(f"no layers given: write them like 'conv 6 5, pool 2, flatten, dense 84' ({GRAMMAR})")
    if len(text) > MAX_TEXT:
        raise DesignError(f"the layers text is longer than {MAX_TEXT:,} characters")
    pieces = [piece.strip() for piece in re.split(r"[,;\n]", text) if piece.strip()]
    if len(pieces) > MAX_LAYERS:
        raise DesignError(f"a design has at most {MAX_LAYERS} layers, not {len(pieces):,}", field="layers")
    return Design(name, tuple(parse_entry(piece, position) for position, piece in enumerate(pieces, 1)))


def format_entry(entry: LayerEntry) -> str:
    """One layer in the inline form, options at their defaults left out."""
    parts: list[str] = [entry.kind]
    if entry.kind == "conv":
        parts += [str(entry.filters), str(entry.kernel)]
        if entry.stride is not None:
            parts += ["stride", str(entry.stride)]
        if entry.padding != GLOBAL:
            parts += [entry.padding] if entry.padding in ("valid", "same") else ["pad", entry.padding]
    elif entry.kind == "pool":
        parts.append(str(entry.size))
        if entry.stride is not None:
            parts += ["stride", str(entry.stride)]
        parts += [value for value in (entry.pooling, entry.padding) if value != GLOBAL]
    elif entry.kind in POSITIONAL:
        value = getattr(entry, POSITIONAL[entry.kind][0])
        parts.append(repr(value) if isinstance(value, float) else str(value))
    if entry.name is not None:
        parts += ["as", entry.name]
    return " ".join(parts)


def format_layers(design: Design) -> str:
    """The design's layers in the inline form, comma-separated (the output layer is implied)."""
    return ", ".join(format_entry(entry) for entry in design.layers)

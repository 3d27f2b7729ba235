"""Designs: a network as an ordered list of layers, saved as ``.cnn.json`` files.

The data model (no Qt, no TensorFlow):

- ``LayerEntry(kind, name=None, filters=…, kernel=…, size=…, stride=…, padding="global",
  pooling="global", pixels=…, units=…, rate=…, activation="global")``: one layer; which fields a
  kind uses is in ``FIELDS``. ``"global"`` means "follow the experiment's option" (padding,
  pooling type, activation), so a pooling × padding study varies every layer that follows it.
- ``Design(name, layers, description="")``: the layers (a tuple; a list is converted), without the output layer (a dense softmax
  layer sized to the dataset's classes is always added). Constructing one validates it: every
  field, at most ``MAX_LAYERS`` layers, names unique, and the order (``resize``/``rgb`` first,
  nothing image-like after ``flatten``/``gap``, a ``flatten`` or ``gap`` before any ``dense`` and
  before the output). Sizes that depend on the images are checked by the shape table.
- ``Design.to_json()`` / ``Design.from_json(data)`` (``DESIGN_FORMAT``, ``DESIGN_VERSION``; a newer
  version is refused, not guessed); ``load_design(path)`` / ``save_design(design, path)``
  (atomic, ``DESIGN_SUFFIX``).
- ``DesignError(ConfigError)``: ``position`` (1-based layer, or None), ``kind`` and ``field``;
  the message reads "layer 3 (conv): kernel must be a whole number from 1 to 64, not 'x'".

The inline text form is in :mod:`design_text`, the presets in :mod:`design_presets`, and the
layers each entry becomes under a set of options in :mod:`architectures`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from cnnstudio.core.atomic_write import atomic_text
from cnnstudio.core.config import ACTIVATIONS, MAX_EXPLICIT_PADDING, POOLING_TYPES
from cnnstudio.core.errors import ConfigError, has_controls, printable
from cnnstudio.core.regular_file import NotRegularFileError, open_regular_file

DESIGN_FORMAT = "cnnstudio-design"
DESIGN_VERSION = 1
DESIGN_SUFFIX = ".cnn.json"
MAX_LAYERS = 200
MAX_FILE_BYTES = 1_000_000
MAX_DESCRIPTION = 2000
GLOBAL = "global"  # follow the experiment's option

# Every kind and the fields it uses (``kind`` and ``name`` are always allowed).
FIELDS: dict[str, tuple[str, ...]] = {
    "conv": ("filters", "kernel", "stride", "padding"),
    "pool": ("pooling", "size", "stride", "padding"),
    "pad": ("pixels",),
    "bn": (),
    "act": ("activation",),
    "dropout": ("rate",),
    "flatten": (),
    "gap": (),
    "dense": ("units",),
    "resize": ("size",),
    "rgb": (),
}
KINDS = tuple(FIELDS)
KIND_TITLES = {
    "conv": "convolution", "pool": "pooling", "pad": "zero padding", "bn": "batch normalization",
    "act": "activation", "dropout": "dropout", "flatten": "flatten", "gap": "global average pooling",
    "dense": "dense", "resize": "resize the input", "rgb": "gray to RGB",
}
REQUIRED = {"conv": ("filters", "kernel"), "pool": ("size",), "pad": ("pixels",), "dropout": ("rate",),
            "dense": ("units",), "resize": ("size",)}
# Whole-number fields and their ranges.
BOUNDS = {"filters": (1, 4096), "kernel": (1, 64), "stride": (1, 64), "pixels": (1, MAX_EXPLICIT_PADDING),
          "units": (1, 65_536), "size": (1, 1024)}
CONV_PADDINGS = (GLOBAL, "valid", "same")  # or a border of N pixels, as text: "2"
POOL_PADDINGS = (GLOBAL, "valid", "same")
POOLINGS = (GLOBAL, *POOLING_TYPES)
LAYER_ACTIVATIONS = (GLOBAL, *ACTIVATIONS)
FLAT_KINDS = ("flatten", "gap")  # after one of these the maps are a vector
IMAGE_KINDS = ("conv", "pool", "pad", "flatten", "gap", "resize", "rgb")  # need maps, not a vector
INPUT_KINDS = ("resize", "rgb")  # adapt the input: only at the start
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
RESERVED_NAMES = ("image", "rescale", "augment", "output")
DESIGN_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_ .-]{0,59}")


class DesignError(ConfigError):
    """A design that cannot be read or built; ``position`` is 1-based (None: the design as a whole)."""

    def __init__(self, message: str, position: int | None = None, kind: str | None = None,
                 field: str | None = None, source: str = "") -> None:
        where = f"layer {position}" + (f" ({kind})" if kind else "") if position is not None else ""
        text = f"{where}: {message}" if where else message
        super().__init__(f"{source}: {text}" if source else text)
        self.position, self.kind, self.field, self.reason = position, kind, field, message

    def within(self, source: str) -> DesignError:
        """The same error said of ``source`` (a file name): "my.cnn.json: layer 3 (conv): …"."""
        return DesignError(self.reason, self.position, self.kind, self.field, source)


def shown(value: Any) -> str:
    """A short, printable picture of an untrusted value for messages."""
    if isinstance(value, str):
        return f"'{printable(value, 40)}'"
    if value is None or isinstance(value, (bool, float)):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if abs(value) < 10**12 else "a huge number"
    return f"a {type(value).__name__}"


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class LayerEntry:
    """One layer of a design; unused fields keep their defaults (see ``FIELDS``)."""

    kind: str
    name: str | None = None
    filters: int | None = None
    kernel: int | None = None
    size: int | None = None  # pooling window, or the side a resize makes
    stride: int | None = None  # conv: 1 when None; pool: the window when None
    padding: str = GLOBAL  # conv: global | valid | same | "N"; pool: global | valid | same
    pooling: str = GLOBAL  # pool: global | max | avg | min
    pixels: int | None = None  # pad
    units: int | None = None  # dense
    rate: float | None = None  # dropout
    activation: str = GLOBAL  # act: global | relu | tanh | sigmoid

    def __post_init__(self) -> None:
        check_entry(self)

    def to_json(self) -> dict[str, Any]:
        """``kind``, ``name`` when set and the kind's fields that differ from their defaults."""
        data: dict[str, Any] = {"kind": self.kind}
        if self.name is not None:
            data["name"] = self.name
        for f in fields(self):
            if f.name in FIELDS[self.kind] and getattr(self, f.name) != f.default:
                data[f.name] = getattr(self, f.name)
        return data

    @classmethod
    def from_json(cls, data: Any, position: int | None = None) -> LayerEntry:
        """One layer from untrusted JSON: unknown keys and wrong types are refused naming the field."""
        if not isinstance(data, dict):
            raise DesignError(f"must be a mapping with a 'kind', not {shown(data)}", position)
        kind = data.get("kind")
        if not isinstance(kind, str) or kind not in FIELDS:
            raise DesignError(f"kind must be one of {', '.join(KINDS)}, not {shown(kind)}", position, field="kind")
        for key in data:
            if key not in ("kind", "name", *FIELDS[kind]):
                raise DesignError(f"has an unknown field {shown(key)} (a {kind} layer takes "
                                  f"{', '.join(('name', *FIELDS[kind]))})", position, kind, str(key)[:40])
        try:
            return cls(**data)
        except DesignError as exc:
            raise DesignError(exc.reason, position, kind, exc.field) from exc

    def describe(self) -> str:
        """The layer in the inline text form (see :func:`design_text.format_entry`)."""
        from cnnstudio.core.network.design_text import format_entry

        return format_entry(self)


def check_entry(entry: LayerEntry) -> None:
    """Refuse a field of the wrong type, out of range or not used by the kind (``DesignError``)."""
    kind = entry.kind
    if not isinstance(kind, str) or kind not in FIELDS:
        raise DesignError(f"kind must be one of {', '.join(KINDS)}, not {shown(kind)}", field="kind")
    name = entry.name
    if name is not None and (not isinstance(name, str) or not NAME_PATTERN.fullmatch(name)
                             or name.lower() in RESERVED_NAMES):
        raise DesignError("name must be a letter then up to 39 letters, digits or '_' (not image, rescale, "
                          f"augment or output), not {shown(name)}", kind=kind, field="name")
    for f in fields(entry):
        if f.name in ("kind", "name"):
            continue
        value = getattr(entry, f.name)
        if f.name not in FIELDS[kind]:
            if value != f.default:
                raise DesignError(f"a {kind} layer has no {f.name} (it takes {', '.join(FIELDS[kind]) or 'nothing'})",
                                  kind=kind, field=f.name)
            continue
        if value is None:
            if f.name in REQUIRED.get(kind, ()):
                raise DesignError(f"{f.name} is missing", kind=kind, field=f.name)
            continue
        _check_value(kind, f.name, value)


def _check_value(kind: str, name: str, value: Any) -> None:
    if name in BOUNDS:
        low, high = BOUNDS[name]
        if kind == "resize":
            low = 8
        if not _is_whole(value) or not low <= value <= high:
            raise DesignError(f"{name} must be a whole number from {low} to {high}, not {shown(value)}", kind=kind,
                              field=name)
    elif name == "rate":
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
                or not 0.0 <= value < 1.0:
            raise DesignError(f"rate must be a number from 0 to below 1, not {shown(value)}", kind=kind, field=name)
    elif name == "padding":
        choices = CONV_PADDINGS if kind == "conv" else POOL_PADDINGS
        explicit = (kind == "conv" and isinstance(value, str) and value.isascii() and value.isdigit()
                    and len(value) <= 3 and 1 <= int(value) <= MAX_EXPLICIT_PADDING and value == str(int(value)))
        if not explicit and (not isinstance(value, str) or value not in choices):
            border = f" or a border of 1..{MAX_EXPLICIT_PADDING} pixels" if kind == "conv" else ""
            raise DesignError(f"padding must be {', '.join(choices)}{border}, not {shown(value)}", kind=kind,
                              field=name)
    else:
        choices = {"pooling": POOLINGS, "activation": LAYER_ACTIVATIONS}[name]
        if not isinstance(value, str) or value not in choices:
            raise DesignError(f"{name} must be one of {', '.join(choices)}, not {shown(value)}", kind=kind,
                              field=name)


@dataclass(frozen=True)
class Design:
    """A named network: its layers in order, the output layer excluded (it is added for the dataset)."""

    name: str
    layers: tuple[LayerEntry, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not DESIGN_NAME_PATTERN.fullmatch(self.name):
            raise DesignError("a design's name must be 1 to 60 letters, digits, spaces, '_', '-' or '.', starting "
                              f"with a letter or digit, not {shown(self.name)}", field="name")
        if not isinstance(self.description, str) or len(self.description) > MAX_DESCRIPTION \
                or has_controls(self.description.replace("\n", " ")):
            raise DesignError(f"a design's description must be text of at most {MAX_DESCRIPTION} characters",
                              field="description")
        if isinstance(self.layers, list):
            object.__setattr__(self, "layers", tuple(self.layers))  # a list is taken (kept as a tuple)
        if not isinstance(self.layers, tuple) or not all(isinstance(e, LayerEntry) for e in self.layers):
            raise DesignError("a design's layers must be a tuple of LayerEntry", field="layers")
        if not self.layers:
            raise DesignError("a design needs at least one layer (e.g. flatten)", field="layers")
        if len(self.layers) > MAX_LAYERS:
            raise DesignError(f"a design has at most {MAX_LAYERS} layers, not {len(self.layers):,}", field="layers")
        check_order(self.layers)
        self.layer_names()  # refuses duplicates

    def layer_names(self) -> list[str]:
        """Each layer's Keras name: its own, else kind + count (conv1, conv2, pool1, …)."""
        taken = {e.name.lower() for e in self.layers if e.name}
        counts: dict[str, int] = {}
        names, seen = [], set()
        for position, entry in enumerate(self.layers, 1):
            name = entry.name
            if name is None:
                counts[entry.kind] = counts.get(entry.kind, 0) + 1
                name = f"{entry.kind}{counts[entry.kind]}"
                while name.lower() in taken:
                    counts[entry.kind] += 1
                    name = f"{entry.kind}{counts[entry.kind]}"
            if name.lower() in seen:
                raise DesignError(f"the name {shown(name)} is used twice", position, entry.kind, "name")
            seen.add(name.lower())
            names.append(name)
        return names

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format": DESIGN_FORMAT, "version": DESIGN_VERSION, "name": self.name}
        if self.description:
            data["description"] = self.description
        data["layers"] = [entry.to_json() for entry in self.layers]
        return data

    @classmethod
    def from_json(cls, data: Any) -> Design:
        """A design from untrusted JSON; anything wrong is a ``DesignError`` naming the layer and field."""
        if not isinstance(data, dict) or data.get("format") != DESIGN_FORMAT:
            raise DesignError(f"not a CNN Studio design (its \"format\" must be {DESIGN_FORMAT!r})", field="format")
        version = data.get("version")
        if not _is_whole(version) or version < 1:
            raise DesignError(f"the design's version must be a whole number from 1, not {shown(version)}",
                              field="version")
        if version > DESIGN_VERSION:
            raise DesignError(f"the design is version {version}, newer than this CNN Studio reads (up to "
                              f"{DESIGN_VERSION}): open it with a newer CNN Studio", field="version")
        for key in data:
            if key not in ("format", "version", "name", "description", "layers"):
                raise DesignError(f"the design has an unknown field {shown(key)}", field=str(key)[:40])
        layers = data.get("layers")
        if not isinstance(layers, list):
            raise DesignError(f"the design's layers must be a list, not {shown(layers)}", field="layers")
        if len(layers) > MAX_LAYERS:
            raise DesignError(f"a design has at most {MAX_LAYERS} layers, not {len(layers):,}", field="layers")
        entries = tuple(LayerEntry.from_json(item, position) for position, item in enumerate(layers, 1))
        return cls(data.get("name", "custom"), entries, data.get("description", ""))


def check_order(layers: tuple[LayerEntry, ...]) -> None:
    """Refuse an order no input size can fix: maps after flattening, dense on maps, misplaced input layers."""
    flat_at = None
    for position, entry in enumerate(layers, 1):
        if entry.kind in INPUT_KINDS and any(e.kind not in INPUT_KINDS for e in layers[:position - 1]):
            raise DesignError(f"{entry.kind} adapts the input images, so it must come before every other layer",
                              position, entry.kind)
        if flat_at is not None and entry.kind in IMAGE_KINDS:
            raise DesignError(f"needs feature maps, but layer {flat_at} ({layers[flat_at - 1].kind}) already made "
                              "them a vector", position, entry.kind)
        if flat_at is None and entry.kind == "dense":
            raise DesignError("needs a vector: put flatten or gap before it", position, entry.kind)
        if entry.kind in FLAT_KINDS:
            flat_at = position
    if flat_at is None:
        raise DesignError("the output layer needs a vector: end the feature maps with flatten or gap",
                          len(layers) + 1, "output")


def read_design_text(text: str, where: str = "the design") -> Design:
    """A design from JSON text; malformed JSON is one line saying where."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        detail = f"line {exc.lineno}, column {exc.colno}: {exc.msg}" if isinstance(exc, json.JSONDecodeError) \
            else "nested too deeply"
        raise DesignError(f"{where} is not valid JSON ({detail})") from exc
    except ValueError as exc:  # e.g. a number of thousands of digits
        raise DesignError(f"{where} is not a design: {printable(str(exc), 120)}") from exc
    try:
        return Design.from_json(data)
    except DesignError as exc:
        raise exc.within(where) from None


def load_design(path: str | Path) -> Design:
    """Read a ``.cnn.json`` design file (untrusted: bounded in size, validated field by field)."""
    path = Path(path)
    shown_path = printable(str(path), 200)
    try:
        # checked to be a regular file and opened without blocking: a named pipe would wait forever
        with open_regular_file(path) as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except NotRegularFileError as exc:
        raise DesignError(f"{shown_path}: {exc}, so not a design") from exc
    except OSError as exc:
        raise DesignError(f"{shown_path}: cannot read the design ({exc.strerror or exc.__class__.__name__})") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise DesignError(f"{shown_path}: larger than {MAX_FILE_BYTES:,} bytes, so not a design")
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (Windows Notepad) is not the JSON
    except UnicodeDecodeError as exc:
        raise DesignError(f"{shown_path}: not UTF-8 text, so not a design") from exc
    return read_design_text(text, shown_path)


def save_design(design: Design, path: str | Path) -> Path:
    """Write ``design`` to ``path`` (``.cnn.json`` added when missing) atomically; returns the path."""
    path = Path(path)
    if not path.name.lower().endswith(DESIGN_SUFFIX):
        path = path.with_name(path.name + DESIGN_SUFFIX)
    text = json.dumps(design.to_json(), indent=1, ensure_ascii=False) + "\n"
    try:
        with atomic_text(path, prefix=f".{path.name}.") as out:
            out.write(text)
    except OSError as exc:
        raise DesignError(f"{printable(str(path), 200)}: cannot save the design "
                          f"({exc.strerror or exc.__class__.__name__})") from exc
    return path

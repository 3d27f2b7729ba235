"""What a loaded model must look like for CNN Studio to use it: one image in, one class distribution out.

CNN Studio feeds models batches of images (N × height × width × channels, 1 or 3 channels) and
reads one probability per class. Any other valid Keras model (vectors in, several inputs or
outputs, a single sigmoid unit, dynamic image sizes) is refused once, on load, with a message
saying what the app supports, instead of failing later in predict, evaluate or a view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cnnstudio.core.errors import ModelFileError, plural, printable
from cnnstudio.core.limits import IMAGE_CHANNELS, MAX_CLASSES, MAX_IMAGE_SIDE, MIN_CLASSES

if TYPE_CHECKING:
    from cnnstudio.core.files.model_record import ModelRecord

MIN_SIDE = 1  # image height and width, in pixels
MAX_SIDE = MAX_IMAGE_SIDE
CHANNELS = IMAGE_CHANNELS


@dataclass(frozen=True)
class ClassifierSignature:
    """The shape of images a classifier takes (height, width, channels) and its number of classes."""

    input_shape: tuple[int, int, int]
    classes: int


class NotAnImageClassifier(ModelFileError):
    """A valid Keras model that is not an image classifier CNN Studio can use. ``reason`` says why."""


class RecordMismatch(ModelFileError):
    """A model whose experiment record describes other images or classes than the model has."""


NEEDS = (f"CNN Studio needs one input of images (height × width × channels, {MIN_SIDE}..{MAX_SIDE} pixels, "
         f"{' or '.join(map(str, CHANNELS))} channels) and one output of {MIN_CLASSES}..{MAX_CLASSES} class "
         "probabilities")


def _shape_text(shape: Any) -> str:
    """A tensor shape without its batch dimension, as Python writes a tuple: ``(10,)``, ``(None, None, 1)``."""
    try:
        dims = tuple(None if d is None else int(d) for d in tuple(shape)[1:])
    except (TypeError, ValueError):
        return printable(shape, 80)
    return str(dims)


def _tensors(model: Any, which: str) -> list[Any]:
    try:
        tensors = getattr(model, which)
        return list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]
    except Exception:  # noqa: BLE001 - a model without known inputs/outputs (never built)
        return []


def _refuse(name: str, reason: str) -> NotAnImageClassifier:
    return NotAnImageClassifier(f"{name} is not an image classifier CNN Studio can use: {reason}; {NEEDS}", reason)


def classifier_signature(model: Any, name: str = "the model") -> ClassifierSignature:
    """The model's image shape and class count; raises :class:`NotAnImageClassifier` for anything else.

    Exactly one input of rank 4 (batch, height, width, channels) with static height and width in
    ``MIN_SIDE..MAX_SIDE`` and 1 or 3 channels, and exactly one output of shape (batch, K) with
    ``MIN_CLASSES <= K <= MAX_CLASSES``.
    """
    name = printable(name, 200)
    inputs, outputs = _tensors(model, "inputs"), _tensors(model, "outputs")
    if not inputs or not outputs:
        raise _refuse(name, "its inputs and outputs are unknown (the model was never built)")
    shapes = [getattr(tensor, "shape", None) for tensor in inputs]
    if len(inputs) != 1:
        raise _refuse(name, f"it takes {len(inputs)} inputs of shapes {', '.join(map(_shape_text, shapes))}")
    shape = tuple(shapes[0] or ())
    if len(shape) != 4:
        raise _refuse(name, f"it takes 1 input of shape {_shape_text(shape)}, not images")
    height, width, channels = shape[1:]
    if any(not isinstance(d, int) or isinstance(d, bool) for d in (height, width, channels)):
        raise _refuse(name, f"it takes images of shape {_shape_text(shape)}, whose size is not fixed")
    if not (MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE) or channels not in CHANNELS:
        raise _refuse(name, f"it takes images of shape {_shape_text(shape)}")
    dtype = str(getattr(inputs[0], "dtype", None) or "float32")
    if not dtype.startswith(("float", "bfloat", "int", "uint")):
        raise _refuse(name, f"it takes {printable(dtype, 40)} input, not pixel values")
    if len(outputs) != 1:
        raise _refuse(name, f"it has {len(outputs)} outputs")
    out = tuple(getattr(outputs[0], "shape", None) or ())
    if len(out) != 2 or not isinstance(out[1], int) or isinstance(out[1], bool):
        raise _refuse(name, f"its output has shape {_shape_text(out)}, not one probability per class")
    classes = out[1]
    if classes < MIN_CLASSES:
        raise _refuse(name, f"its output has {plural(classes, 'value')}, not a probability for each of "
                            f"{MIN_CLASSES} or more classes")
    if classes > MAX_CLASSES:
        raise _refuse(name, f"its output has {classes:,} classes, more than {MAX_CLASSES:,}")
    last = _output_activation(outputs[0])
    if last is not None and last != "softmax":
        raise _refuse(name, f"its output layer's activation is {printable(last, 40)}, not softmax (probabilities)")
    if (setting := _non_finite_setting(model)) is not None:
        raise _refuse(name, f"layer {setting[0]} has a setting {setting[1]} that is not a finite number")
    return ClassifierSignature((height, width, channels), classes)


def _output_activation(output: Any) -> str | None:
    """The activation of the layer making ``output`` ("softmax", "linear"…), or None when it cannot be told."""
    history = getattr(output, "_keras_history", None)
    layer = getattr(history, "operation", None) if history is not None else None
    if layer is None:
        return None
    if type(layer).__name__ == "Softmax":
        return "softmax"
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) if activation is not None else None


def _non_finite_setting(model: Any) -> tuple[str, str] | None:
    """The first (layer, setting) whose configured number is NaN or infinite (a Rescaling scale of NaN…)."""
    for layer in getattr(model, "layers", None) or ():
        try:
            config = layer.get_config()
        except Exception:  # noqa: BLE001 - a layer without a readable config has no numbers to check here
            continue
        for key, value in config.items():
            values = value if isinstance(value, list | tuple) else [value]
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                return printable(getattr(layer, "name", "?"), 60), printable(key, 40)
    return None


def _size_text(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


def check_classifier(model: Any, record: ModelRecord | None, name: str = "the model") -> ClassifierSignature:
    """Check once, on load, that ``model`` is an image classifier and agrees with its ``record``.

    Raises :class:`NotAnImageClassifier` (see :func:`classifier_signature`), or :class:`RecordMismatch`
    when the record's input shape or number of class names differ from the model's.
    """
    signature = classifier_signature(model, name)
    if record is None:
        return signature
    shown = printable(name, 200)
    if tuple(record.input_shape) != signature.input_shape:
        reason = (f"the record says {_size_text(record.input_shape)} images but the model takes "
                  f"{_size_text(signature.input_shape)}")
        raise RecordMismatch(f"{shown}: its experiment record does not match the model: {reason}", reason)
    if len(record.class_names) != signature.classes:
        reason = (f"the record names {plural(len(record.class_names), 'class')} but the model outputs "
                  f"{plural(signature.classes, 'class')}")
        raise RecordMismatch(f"{shown}: its experiment record does not match the model: {reason}", reason)
    return signature

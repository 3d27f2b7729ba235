"""What a loaded model must look like for CNN Studio to use it: one image in, one class distribution out.

CNN Studio feeds models batches of images (N × height × width × channels, 1 or 3 channels) and
reads one probability per class. Any other valid Keras model (vectors in, several inputs or
outputs, a single sigmoid unit, dynamic image sizes) is refused once, on load, with a message
saying what the app supports, instead of failing later in predict, evaluate or a view.
"""

from __future__ import annotations

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
    return ClassifierSignature((height, width, channels), classes)


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

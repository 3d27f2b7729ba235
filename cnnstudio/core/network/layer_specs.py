"""A small description of each layer that knows its output shape, parameters and cost.

Architectures are lists of these specs. Shapes, parameter counts and multiply-accumulates are
computed here in plain Python, so the shape inspector answers instantly and before TensorFlow is
imported; :meth:`LayerSpec.build` makes the matching Keras layer when a model is really built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cnnstudio.core.errors import LayerError

Shape = tuple[int, ...]


def window_output(size: int, kernel: int, stride: int, padding: str) -> int:
    """Output length of a sliding window: floor((n - k) / s) + 1 for 'valid', ceil(n / s) for 'same'."""
    if padding == "same":
        return math.ceil(size / stride)
    return (size - kernel) // stride + 1 if size >= kernel else size - kernel + 1


@dataclass(frozen=True)
class KerasCall:
    """A Keras layer constructor call: ``layers.<name>(*args, **kwargs)``, or a ``Sequential`` of such calls.

    One description serves both building the model and writing it out as a standalone script.
    """

    name: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    children: tuple[KerasCall, ...] = ()
    triple_input: bool = False  # applied to [x, x, x] (gray to RGB)

    def make(self) -> Any:
        import keras

        if self.name == "Sequential":
            return keras.Sequential([child.make() for child in self.children], **dict(self.kwargs))
        return getattr(keras.layers, self.name)(*self.args, **dict(self.kwargs))

    def source(self) -> str:
        kwargs = [f"{k}={v!r}" for k, v in self.kwargs]
        if self.name == "Sequential":
            inner = ", ".join(child.source() for child in self.children)
            return f"keras.Sequential([{inner}], {', '.join(kwargs)})"
        return f"layers.{self.name}({', '.join([*map(repr, self.args), *kwargs])})"


def _call(layer: str, /, *args: Any, children: tuple[KerasCall, ...] = (), triple_input: bool = False,
          **kwargs: Any) -> KerasCall:
    return KerasCall(layer, args, tuple(kwargs.items()), children, triple_input)


@dataclass(frozen=True)
class LayerSpec:
    """Base class; ``name`` becomes the Keras layer name."""

    name: str

    kind = "Layer"

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def params(self, shape: Shape) -> int:
        return 0

    def macs(self, shape: Shape, out: Shape) -> int:
        return 0

    def describe(self) -> str:
        return ""

    def keras_call(self) -> KerasCall:  # pragma: no cover - every concrete spec overrides it
        raise NotImplementedError

    def build(self, x: Any) -> Any:
        """Apply the matching Keras layer to the symbolic tensor ``x``."""
        call = self.keras_call()
        return call.make()([x, x, x] if call.triple_input else x)

    def code(self) -> str:
        """The same layer as Keras source code applied to ``x`` (for exported scripts)."""
        call = self.keras_call()
        return f"{call.source()}({'[x, x, x]' if call.triple_input else 'x'})"


@dataclass(frozen=True)
class Rescale(LayerSpec):
    """Maps raw 0..255 pixels to 0..1 inside the model, so saved models take raw images."""

    scale: float = 1.0 / 255.0
    kind = "Rescaling"

    def describe(self) -> str:
        return "pixels 0..255 → 0..1" if self.scale == 1.0 / 255.0 else f"× {self.scale:g}"

    def keras_call(self) -> KerasCall:
        return _call("Rescaling", self.scale, name=self.name)


@dataclass(frozen=True)
class Augment(LayerSpec):
    """Random training-time distortions (Keras preprocessing layers, inactive at inference).

    Gray images (digits): shifts of up to 10%, rotations of up to ±10°, zoom of up to ±10%.
    Colour images (as AlexNet did): shifts of up to 12.5% (pad-and-crop), horizontal flips, contrast.
    """

    colour: bool = False
    kind = "Augmentation"

    def describe(self) -> str:
        return "training only: " + ("shift, flip, contrast" if self.colour else "shift, rotate, zoom")

    def keras_call(self) -> KerasCall:
        if self.colour:
            steps = (_call("RandomTranslation", 0.125, 0.125, fill_mode="reflect", name="shift"),
                     _call("RandomFlip", "horizontal", name="flip"),
                     _call("RandomContrast", 0.2, value_range=(0, 1), name="contrast"))
        else:
            steps = (_call("RandomTranslation", 0.1, 0.1, fill_mode="constant", name="shift"),
                     _call("RandomRotation", 10 / 360, fill_mode="constant", name="rotate"),
                     _call("RandomZoom", 0.1, fill_mode="constant", name="zoom"))
        return _call("Sequential", children=steps, name=self.name)


@dataclass(frozen=True)
class Resize(LayerSpec):
    height: int = 224
    width: int = 224
    kind = "Resizing"

    def output_shape(self, shape: Shape) -> Shape:
        return (self.height, self.width, shape[2])

    def describe(self) -> str:
        return f"resize to {self.height}×{self.width}"

    def keras_call(self) -> KerasCall:
        return _call("Resizing", self.height, self.width, name=self.name)


@dataclass(frozen=True)
class GrayToRGB(LayerSpec):
    """Repeats a single channel three times (a built-in Concatenate, so it loads anywhere)."""

    kind = "GrayToRGB"

    def output_shape(self, shape: Shape) -> Shape:
        return (shape[0], shape[1], 3)

    def keras_call(self) -> KerasCall:
        return _call("Concatenate", axis=-1, name=self.name, triple_input=True)


INPUT_PAD = "input_pad"  # the name of a border an architecture gives its input (LeNet-5: 28×28 → 32×32)

@dataclass(frozen=True)
class ZeroPad(LayerSpec):
    pixels: int = 2
    kind = "ZeroPadding2D"

    def output_shape(self, shape: Shape) -> Shape:
        return (shape[0] + 2 * self.pixels, shape[1] + 2 * self.pixels, shape[2])

    def describe(self) -> str:
        if self.name == INPUT_PAD:  # the architecture's own: it stays whatever padding the convolutions use
            return f"zero border of {self.pixels} px on the input (the architecture's, under any padding)"
        return f"zero border of {self.pixels} px"

    def keras_call(self) -> KerasCall:
        return _call("ZeroPadding2D", self.pixels, name=self.name)


def _windowed_shape(spec: Conv | Pool, shape: Shape, channels: int) -> Shape:
    h = window_output(shape[0], spec.kernel, spec.stride, spec.padding)
    w = window_output(shape[1], spec.kernel, spec.stride, spec.padding)
    if h <= 0 or w <= 0:  # only 'valid' windows larger than the input get here
        window = "pooling window" if isinstance(spec, Pool) else "kernel"
        raise LayerError(
            spec.name, spec.describe(),
            f"the {shape[0]}×{shape[1]} input is smaller than the {spec.kernel}×{spec.kernel} {window}, so nothing "
            "would come out; use 'same' padding, a smaller kernel or pool, or larger images"
        )
    return (h, w, channels)


@dataclass(frozen=True)
class Conv(LayerSpec):
    filters: int = 6
    kernel: int = 5
    stride: int = 1
    padding: str = "valid"
    activation: str | None = "relu"
    kind = "Conv2D"

    def output_shape(self, shape: Shape) -> Shape:
        return _windowed_shape(self, shape, self.filters)

    def params(self, shape: Shape) -> int:
        return self.kernel * self.kernel * shape[2] * self.filters + self.filters

    def macs(self, shape: Shape, out: Shape) -> int:
        return out[0] * out[1] * out[2] * self.kernel * self.kernel * shape[2]

    def describe(self) -> str:
        return f"{self.filters}@{self.kernel}×{self.kernel}, stride {self.stride}, {self.padding}"

    def keras_call(self) -> KerasCall:
        return _call("Conv2D", self.filters, self.kernel, strides=self.stride, padding=self.padding,
                     activation=self.activation, name=self.name)


@dataclass(frozen=True)
class Pool(LayerSpec):
    pooling: str = "max"
    kernel: int = 2
    stride: int = 2
    padding: str = "valid"

    @property
    def kind(self) -> str:  # type: ignore[override]
        return {"max": "MaxPooling2D", "avg": "AveragePooling2D", "min": "MinPooling2D"}[self.pooling]

    def output_shape(self, shape: Shape) -> Shape:
        return _windowed_shape(self, shape, shape[2])

    def describe(self) -> str:
        return f"{self.pooling} pool {self.kernel}×{self.kernel}, stride {self.stride}, {self.padding}"

    def keras_call(self) -> KerasCall:
        if self.pooling == "min":
            return min_pooling_call(self.kernel, self.stride, self.padding, self.name)
        layer = "MaxPooling2D" if self.pooling == "max" else "AveragePooling2D"
        return _call(layer, self.kernel, strides=self.stride, padding=self.padding, name=self.name)


@dataclass(frozen=True)
class BatchNorm(LayerSpec):
    kind = "BatchNormalization"

    def params(self, shape: Shape) -> int:
        return 4 * shape[-1]

    def keras_call(self) -> KerasCall:
        return _call("BatchNormalization", name=self.name)


@dataclass(frozen=True)
class Activation(LayerSpec):
    function: str = "relu"
    kind = "Activation"

    def describe(self) -> str:
        return self.function

    def keras_call(self) -> KerasCall:
        return _call("Activation", self.function, name=self.name)


@dataclass(frozen=True)
class Flatten(LayerSpec):
    kind = "Flatten"

    def output_shape(self, shape: Shape) -> Shape:
        return (math.prod(shape),)

    def keras_call(self) -> KerasCall:
        return _call("Flatten", name=self.name)


@dataclass(frozen=True)
class GlobalAvgPool(LayerSpec):
    """The mean of each feature map: H×W×C becomes C (Lin et al., "Network in Network", 2013)."""

    kind = "GlobalAveragePooling2D"

    def output_shape(self, shape: Shape) -> Shape:
        return (shape[-1],)

    def describe(self) -> str:
        return "mean of each map"

    def keras_call(self) -> KerasCall:
        return _call("GlobalAveragePooling2D", name=self.name)


@dataclass(frozen=True)
class Dense(LayerSpec):
    units: int = 10
    activation: str | None = "relu"
    dtype: str | None = None  # "float32" for the output layer: probabilities stay float32 under mixed precision
    kind = "Dense"

    def output_shape(self, shape: Shape) -> Shape:
        return (self.units,)

    def params(self, shape: Shape) -> int:
        return shape[-1] * self.units + self.units

    def macs(self, shape: Shape, out: Shape) -> int:
        return shape[-1] * self.units

    def describe(self) -> str:
        return f"{self.units} units, {self.activation or 'linear'}"

    def keras_call(self) -> KerasCall:
        dtype = {"dtype": self.dtype} if self.dtype else {}
        return _call("Dense", self.units, activation=self.activation, name=self.name, **dtype)


@dataclass(frozen=True)
class Dropout(LayerSpec):
    rate: float = 0.5
    kind = "Dropout"

    def describe(self) -> str:
        return f"rate {self.rate:g}"

    def keras_call(self) -> KerasCall:
        return _call("Dropout", self.rate, name=self.name)


def min_pooling_call(pool_size: int, strides: int, padding: str, name: str) -> KerasCall:
    """Min pooling as built-in layers: ``Rescaling(-1) → MaxPooling2D → Rescaling(-1)`` (see min_pooling)."""
    return _call("Sequential", name=name, children=(
        _call("Rescaling", -1.0, name="negate"),
        _call("MaxPooling2D", pool_size, strides=strides, padding=padding, name="max_of_negated"),
        _call("Rescaling", -1.0, name="negate_back"),
    ))

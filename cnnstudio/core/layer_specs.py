"""A small description of each layer that knows its output shape, parameters and cost.

Architectures are lists of these specs. Shapes, parameter counts and multiply-accumulates are
computed here in plain Python, so the shape inspector answers instantly and before TensorFlow is
imported; :meth:`LayerSpec.build` makes the matching Keras layer when a model is really built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cnnstudio.core.errors import ConfigError

Shape = tuple[int, ...]


def window_output(size: int, kernel: int, stride: int, padding: str) -> int:
    """Output length of a sliding window: floor((n - k) / s) + 1 for 'valid', ceil(n / s) for 'same'."""
    if padding == "same":
        return math.ceil(size / stride)
    return (size - kernel) // stride + 1 if size >= kernel else size - kernel + 1


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

    def build(self, x: Any) -> Any:  # pragma: no cover - every concrete spec overrides it
        raise NotImplementedError


@dataclass(frozen=True)
class Rescale(LayerSpec):
    """Maps raw 0..255 pixels to 0..1 inside the model, so saved models take raw images."""

    scale: float = 1.0 / 255.0
    kind = "Rescaling"

    def describe(self) -> str:
        return "pixels 0..255 → 0..1" if self.scale == 1.0 / 255.0 else f"× {self.scale:g}"

    def build(self, x: Any) -> Any:
        from keras import layers

        return layers.Rescaling(self.scale, name=self.name)(x)


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

    def build(self, x: Any) -> Any:
        from keras import Sequential, layers

        if self.colour:
            steps = [layers.RandomTranslation(0.125, 0.125, fill_mode="reflect", name="shift"),
                     layers.RandomFlip("horizontal", name="flip"),
                     layers.RandomContrast(0.2, value_range=(0, 1), name="contrast")]
        else:
            steps = [layers.RandomTranslation(0.1, 0.1, fill_mode="constant", name="shift"),
                     layers.RandomRotation(10 / 360, fill_mode="constant", name="rotate"),
                     layers.RandomZoom(0.1, fill_mode="constant", name="zoom")]
        return Sequential(steps, name=self.name)(x)


@dataclass(frozen=True)
class Resize(LayerSpec):
    height: int = 224
    width: int = 224
    kind = "Resizing"

    def output_shape(self, shape: Shape) -> Shape:
        return (self.height, self.width, shape[2])

    def describe(self) -> str:
        return f"resize to {self.height}×{self.width}"

    def build(self, x: Any) -> Any:
        from keras import layers

        return layers.Resizing(self.height, self.width, name=self.name)(x)


@dataclass(frozen=True)
class GrayToRGB(LayerSpec):
    """Repeats a single channel three times (a built-in Concatenate, so it loads anywhere)."""

    kind = "GrayToRGB"

    def output_shape(self, shape: Shape) -> Shape:
        return (shape[0], shape[1], 3)

    def build(self, x: Any) -> Any:
        from keras import layers

        return layers.Concatenate(axis=-1, name=self.name)([x, x, x])


@dataclass(frozen=True)
class ZeroPad(LayerSpec):
    pixels: int = 2
    kind = "ZeroPadding2D"

    def output_shape(self, shape: Shape) -> Shape:
        return (shape[0] + 2 * self.pixels, shape[1] + 2 * self.pixels, shape[2])

    def describe(self) -> str:
        return f"zero border of {self.pixels} px"

    def build(self, x: Any) -> Any:
        from keras import layers

        return layers.ZeroPadding2D(self.pixels, name=self.name)(x)


def _windowed_shape(spec: Conv | Pool, shape: Shape, channels: int) -> Shape:
    h = window_output(shape[0], spec.kernel, spec.stride, spec.padding)
    w = window_output(shape[1], spec.kernel, spec.stride, spec.padding)
    if h <= 0 or w <= 0:
        raise ConfigError(
            f"layer '{spec.name}' ({spec.describe()}) gets a {shape[0]}×{shape[1]} input, "
            f"so its output would be empty ({h}×{w}); use 'same' padding, a smaller kernel or pool, or larger images"
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

    def build(self, x: Any) -> Any:
        from keras import layers

        return layers.Conv2D(
            self.filters, self.kernel, strides=self.stride, padding=self.padding,
            activation=self.activation, name=self.name,
        )(x)


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

    def build(self, x: Any) -> Any:
        from keras import layers

        from cnnstudio.core.min_pooling import min_pooling_2d

        if self.pooling == "min":
            return min_pooling_2d(self.kernel, self.stride, self.padding, name=self.name)(x)
        layer = layers.MaxPooling2D if self.pooling == "max" else layers.AveragePooling2D
        return layer(self.kernel, strides=self.stride, padding=self.padding, name=self.name)(x)


@dataclass(frozen=True)
class BatchNorm(LayerSpec):
    kind = "BatchNormalization"

    def params(self, shape: Shape) -> int:
        return 4 * shape[-1]

    def build(self, x: Any) -> Any:
        from keras import layers

        return layers.BatchNormalization(name=self.name)(x)


@dataclass(frozen=True)
class Activation(LayerSpec):
    function: str = "relu"
    kind = "Activation"

    def describe(self) -> str:
        return self.function

    def build(self, x: Any) -> Any:
        from keras import layers

        return layers.Activation(self.function, name=self.name)(x)


@dataclass(frozen=True)
class Flatten(LayerSpec):
    kind = "Flatten"

    def output_shape(self, shape: Shape) -> Shape:
        return (math.prod(shape),)

    def build(self, x: Any) -> Any:
        from keras import layers

        return layers.Flatten(name=self.name)(x)


@dataclass(frozen=True)
class Dense(LayerSpec):
    units: int = 10
    activation: str | None = "relu"
    kind = "Dense"

    def output_shape(self, shape: Shape) -> Shape:
        return (self.units,)

    def params(self, shape: Shape) -> int:
        return shape[-1] * self.units + self.units

    def macs(self, shape: Shape, out: Shape) -> int:
        return shape[-1] * self.units

    def describe(self) -> str:
        return f"{self.units} units, {self.activation or 'linear'}"

    def build(self, x: Any) -> Any:
        from keras import layers

        return layers.Dense(self.units, activation=self.activation, name=self.name)(x)


@dataclass(frozen=True)
class Dropout(LayerSpec):
    rate: float = 0.5
    kind = "Dropout"

    def describe(self) -> str:
        return f"rate {self.rate:g}"

    def build(self, x: Any) -> Any:
        from keras import layers

        return layers.Dropout(self.rate, name=self.name)(x)

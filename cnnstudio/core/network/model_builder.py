"""Builds the Keras model that the layer specs describe (a preset's or a design's)."""

from __future__ import annotations

import re
from typing import Any

from cnnstudio.core.config import ModelOptions
from cnnstudio.core.network.architectures import layer_specs
from cnnstudio.core.network.layer_specs import Shape
from cnnstudio.core.network.shape_table import shape_table


def build_model(options: ModelOptions, input_shape: Shape, num_classes: int) -> Any:
    """A functional ``keras.Model``; impossible configurations raise ``ConfigError`` first."""
    import keras

    shape_table(options, input_shape, num_classes)  # refuses impossible shapes with a readable message
    specs = layer_specs(options, input_shape, num_classes)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for spec in specs:
        x = spec.build(x)
    return keras.Model(inputs, x, name=model_name(options))


def model_name(options: ModelOptions) -> str:
    """The Keras model's name: architecture (or design name), pooling and padding, as a plain identifier."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{options.arch}_{options.pooling}_{options.padding}")

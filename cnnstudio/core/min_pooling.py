"""Min pooling composed of built-in Keras layers: min(x) = -max(-x).

Keras has no min pooling. Negating with ``Rescaling(-1)`` around ``MaxPooling2D`` is exact
(negation is exact in floating point), keeps 'same' borders right (max pooling ignores the
padded positions, so the minimum is taken over real values only) and needs no custom class or
Lambda, so a saved model loads with plain ``keras.saving.load_model`` in safe mode.
"""

from __future__ import annotations

from typing import Any


def min_pooling_2d(pool_size: int, strides: int, padding: str, name: str) -> Any:
    """A ``keras.Sequential`` block named ``name`` that computes 2-D min pooling."""
    from keras import Sequential, layers

    return Sequential(
        [
            layers.Rescaling(-1.0, name="negate"),
            layers.MaxPooling2D(pool_size, strides=strides, padding=padding, name="max_of_negated"),
            layers.Rescaling(-1.0, name="negate_back"),
        ],
        name=name,
    )

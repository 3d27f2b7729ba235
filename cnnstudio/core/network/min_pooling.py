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
    from cnnstudio.core.network.layer_specs import min_pooling_call

    return min_pooling_call(pool_size, strides, padding, name).make()

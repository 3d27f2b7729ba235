"""Whether a network's feature maps fit in memory for training, checked before anything is built (no TensorFlow).

Training keeps every layer's output for the backward pass and makes a gradient of the same size,
so a batch needs about twice its forward activations. A network past the memory there is would
not fail cleanly: TensorFlow's oneDNN kernels can end the process with a segmentation fault.
"""

from __future__ import annotations

from cnnstudio.core.data.checks import available_memory, human_bytes
from cnnstudio.core.errors import ConfigError
from cnnstudio.core.network.cost import activation_bytes
from cnnstudio.core.network.shape_table import ShapeTable

TRAINING_COPIES = 2  # the forward activations kept for the backward pass, and their gradients


def training_bytes(table: ShapeTable, batch_size: int) -> int:
    """About the memory the feature maps of one training batch take (activations and their gradients)."""
    return TRAINING_COPIES * activation_bytes(table) * batch_size


def check_training_memory(table: ShapeTable, batch_size: int, available: int | None = None) -> None:
    """``ConfigError`` (one line) when one batch's feature maps alone would not fit in the memory available now."""
    available = available_memory() if available is None else available
    need = training_bytes(table, batch_size)
    if available is None or need <= available:
        return
    raise ConfigError(f"training needs about {human_bytes(need)} for the feature maps of a batch of {batch_size} "
                      f"({human_bytes(activation_bytes(table))} an image, kept with their gradients), more than the "
                      f"{human_bytes(available)} of memory available: use fewer filters, less padding, smaller images "
                      "or a smaller batch")

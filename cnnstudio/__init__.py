"""CNN Studio: learn and experiment with convolutional networks (Keras 3)."""

__version__ = "0.1.0"

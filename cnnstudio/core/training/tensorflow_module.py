"""The ``tensorflow`` module, imported only when a function needs it (tests pass a fake instead)."""

from __future__ import annotations

from typing import Any


def tensorflow_module(fake: Any = None) -> Any:
    """``fake`` when given, else ``tensorflow`` (imported now: about 5 s the first time)."""
    if fake is not None:
        return fake
    import tensorflow as tf

    return tf

"""One-line messages for the user (``cnnstudio.core.errors``)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cnnstudio.core.errors import CnnStudioError, one_line, printable


def test_an_error_raised_inside_a_keras_layer_is_one_line_without_its_bold() -> None:
    """Keras wraps such a message in ANSI bold; escaped, the line showed ``\\x1b[1m…\\x1b[0m``."""

    class Failing(keras.layers.Layer):
        def call(self, inputs):
            raise ValueError("the kernel is too large")

    with pytest.raises(ValueError) as caught:
        Failing()(np.zeros((1, 2), "float32"))
    assert "\x1b[" in str(caught.value)  # what Keras does (if it stops, this test has nothing to check)
    line = one_line(caught.value, limit=10_000)
    assert line.startswith("ValueError: Exception encountered when calling Failing.call(). the kernel is too large")
    assert "\x1b" not in line and "\\x1b" not in printable(line, 10_000) and "\n" not in line


def test_untrusted_names_keep_their_escapes_visible() -> None:
    """A name from a file is escaped, not cleaned: the user sees that it held an escape."""
    assert printable("a\x1b[31mb") == "a\\x1b[31mb"
    assert one_line(CnnStudioError("bad  \n name")) == "bad name"

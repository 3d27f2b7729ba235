"""Min pooling: exact against NumPy, and portable to a process that never imported cnnstudio."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from cnnstudio.core.network.min_pooling import min_pooling_2d


def numpy_min_pool(x: np.ndarray, k: int, s: int, padding: str) -> np.ndarray:
    """Reference: the minimum over each window, 'same' windows clipped to the real pixels."""
    n, h, w, c = x.shape
    if padding == "same":
        oh, ow = math.ceil(h / s), math.ceil(w / s)
        pad_h, pad_w = max((oh - 1) * s + k - h, 0), max((ow - 1) * s + k - w, 0)
        top, left = pad_h // 2, pad_w // 2
    else:
        oh, ow = (h - k) // s + 1, (w - k) // s + 1
        top = left = 0
    out = np.empty((n, oh, ow, c), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * s - top, j * s - left
            window = x[:, max(r0, 0) : min(r0 + k, h), max(c0, 0) : min(c0 + k, w), :]
            out[:, i, j, :] = window.min(axis=(1, 2))
    return out


@pytest.mark.parametrize("k,s,padding,size", [
    (2, 2, "valid", 8), (3, 2, "valid", 9), (3, 2, "same", 9), (2, 2, "same", 7),
    (3, 1, "same", 6), (3, 3, "same", 10), (4, 3, "valid", 11),
])
def test_min_pooling_equals_numpy_minimum_everywhere(k: int, s: int, padding: str, size: int) -> None:
    x = np.random.default_rng(k * 100 + s).normal(size=(2, size, size + 1, 3)).astype("float32")
    got = np.asarray(min_pooling_2d(k, s, padding, name="minpool")(x))
    np.testing.assert_array_equal(got, numpy_min_pool(x, k, s, padding))


def test_min_pooling_is_minus_maxpool_of_minus_x() -> None:
    import keras

    x = np.random.default_rng(7).uniform(-5, 5, size=(1, 7, 7, 2)).astype("float32")
    for padding in ("valid", "same"):
        maxpool = keras.layers.MaxPooling2D(3, strides=2, padding=padding)
        np.testing.assert_array_equal(np.asarray(min_pooling_2d(3, 2, padding, "m")(x)), -np.asarray(maxpool(-x)))


PORTABLE_CHECK = r"""
import json, sys
import numpy as np
import keras
model = keras.saving.load_model(sys.argv[1])  # safe mode is the default
x = np.load(sys.argv[2])
assert not any(name.startswith("cnnstudio") for name in sys.modules), "cnnstudio was imported"
print(json.dumps(np.asarray(model(x, training=False)).tolist()))
"""


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_saved_min_pooling_model_loads_in_plain_keras_with_same_outputs(tmp_path, padding: str) -> None:
    from cnnstudio.core.config import ModelOptions
    from cnnstudio.core.network.model_builder import build_model

    model = build_model(ModelOptions(arch="lenet5", pooling="min", padding=padding), (28, 28, 1), 10)
    path = tmp_path / "min.keras"
    model.save(path)
    x = np.random.default_rng(0).uniform(0, 255, size=(3, 28, 28, 1)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    result = subprocess.run([sys.executable, "-c", PORTABLE_CHECK, str(path), str(tmp_path / "x.npy")],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    outputs = np.array(json.loads(result.stdout.strip().splitlines()[-1]), dtype="float32")
    np.testing.assert_allclose(outputs, np.asarray(model(x, training=False)), rtol=1e-6, atol=1e-7)

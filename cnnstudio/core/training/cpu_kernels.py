"""TensorFlow's oneDNN CPU kernels: asked for unless the user chose, and reported as TensorFlow runs them.

TensorFlow turns oneDNN's kernels on by itself only on CPUs with AVX-512 VNNI/BF16 or AMX. On an
AVX2 CPU its own kernels are left in place, and they train LeNet-5 about half as fast:
convolution and pooling gradients take several times longer (docs/benchmarks.md, "oneDNN").
TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, when it is imported, so the request must come
before any import of TensorFlow or Keras.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

ONEDNN_SWITCH = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn_kernels(environ: MutableMapping[str, str] | None = None) -> bool:
    """Ask for oneDNN's kernels unless ``TF_ENABLE_ONEDNN_OPTS`` is already set; True when this call asked."""
    environ = os.environ if environ is None else environ
    if ONEDNN_SWITCH in environ:  # the user's choice, '0' included, wins
        return False
    environ[ONEDNN_SWITCH] = "1"
    return True


def onednn_kernels_on() -> bool | None:
    """Whether the TensorFlow in this process runs oneDNN's kernels (imports it); None when it cannot tell."""
    try:
        from tensorflow.python.util import _pywrap_util_port  # TensorFlow's own answer; not a public API
    except ImportError:
        return None
    try:
        return bool(_pywrap_util_port.IsMklEnabled())
    except Exception:  # noqa: BLE001 - an unusual build: unknown rather than a failure
        return None

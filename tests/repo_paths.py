"""Where the checkout and the shared MNIST files are (importable by tests; conftest uses them too)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = Path(os.environ.get("CNNSTUDIO_MNIST_DIR", REPO.parent / "shared" / "datasets" / "mnist"))

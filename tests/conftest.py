"""Shared test set-up: quiet TensorFlow, offscreen Qt, no network, and the shared MNIST files."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = Path(os.environ.get("CNNSTUDIO_MNIST_DIR", REPO.parent / "shared" / "datasets" / "mnist"))


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach the network: any attempt to connect fails at once."""

    def refuse(*_args, **_kwargs):
        raise OSError("network access is disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(autouse=True)
def _private_homes(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keras caches and CNN Studio's run history go to temporary folders, not the user's."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.getbasetemp() / "keras_home"))
    monkeypatch.setenv("CNNSTUDIO_HOME", str(tmp_path_factory.mktemp("cnnstudio_home")))


@pytest.fixture
def mnist_dir() -> Path:
    """The real MNIST files in ../shared/datasets/mnist; skips (saying so) where they are absent."""
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST files not found in {SHARED_MNIST} (set CNNSTUDIO_MNIST_DIR to use another copy)")
    return SHARED_MNIST


@pytest.fixture(scope="session")
def digits():
    from cnnstudio.core.datasets import load_digits

    return load_digits()

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
    from cnnstudio.core.data.datasets import load_digits

    return load_digits()


# GUI fixtures (pytest-qt, offscreen); helpers in gui_helpers.py -----------------------------------


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings

    from cnnstudio.ui.settings import Settings

    return Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))


@pytest.fixture(autouse=True)
def _no_blocking_dialogs(monkeypatch) -> None:
    """A modal question in a test would wait forever: fail instead."""
    from PySide6.QtWidgets import QMessageBox

    def unexpected(*args, **_kwargs):
        raise AssertionError(f"unexpected modal dialog: {args[1:3]}")

    monkeypatch.setattr(QMessageBox, "question", unexpected)


@pytest.fixture
def make_window(qtbot, settings):
    """Windows that are closed after the test; a QThread still running then fails the test."""
    windows = []

    from gui_helpers import WAIT_MS

    from cnnstudio.ui.background import running_threads
    from cnnstudio.ui.main_window import MainWindow

    def make(wait_for_backend: bool = True, **kwargs):
        window = MainWindow(kwargs.pop("settings", settings), **kwargs)
        window.show()
        windows.append(window)
        if wait_for_backend:
            qtbot.waitUntil(lambda: window.runtime is not None, timeout=WAIT_MS)
        return window

    yield make
    for window in windows:
        window.unsaved = False
        window.confirm_stop_training = lambda: True
        window.stop()
        qtbot.waitUntil(lambda w=window: not w.training and not w.busy, timeout=WAIT_MS)
        window.close()
    assert running_threads() == [], "a worker thread was left running"

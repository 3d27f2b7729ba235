"""Shared test set-up: the user's files out of reach, quiet TensorFlow, offscreen Qt, no network, shared MNIST.

The first thing done, before CNN Studio, Keras or Qt is imported: every per-user location (HOME,
XDG folders, CNN Studio's data folder, Keras' folder, matplotlib's, Qt's settings) points into a
session folder that subprocesses inherit too, and is removed at the end. The real folders are
listed before and compared after the run: a change fails the run (see home_guard.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import home_guard
import pytest

home_guard.real_folders = home_guard.user_folders()
_REAL_BEFORE = home_guard.snapshot(home_guard.real_folders)
home_guard.session_home = Path(tempfile.mkdtemp(prefix="cnnstudio-tests-"))
os.environ.update(home_guard.isolated_environment(home_guard.session_home))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
from cnnstudio.core.training.cpu_kernels import prefer_onednn_kernels  # noqa: E402 - as the app does, before TensorFlow

prefer_onednn_kernels()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

try:
    from PySide6.QtCore import QSettings, QStandardPaths
except ImportError:  # a core-only environment: nothing of Qt's to isolate
    QSettings = None
else:
    QStandardPaths.setTestModeEnabled(True)

    def _qt_settings_in(folder: Path) -> None:
        for settings_format in (QSettings.NativeFormat, QSettings.IniFormat):
            QSettings.setPath(settings_format, QSettings.UserScope, str(folder))

    _qt_settings_in(home_guard.session_home / "xdg-config")

from repo_paths import SHARED_MNIST  # noqa: E402 - importable by test modules too (unlike conftest)


def _null_device_is_intact() -> bool:
    try:
        return stat.S_ISCHR(os.stat(os.devnull).st_mode)
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _null_device_guard():
    """Fail the test that replaces or removes /dev/null (root can), and put the device back.

    Code that writes "atomically" beside a target would swap a regular file in for /dev/null when
    given it as the target; everything after (the bundle build, the shell) then breaks.
    """
    intact = _null_device_is_intact()
    yield
    if intact and not _null_device_is_intact():
        try:
            os.unlink(os.devnull)
            os.mknod(os.devnull, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            os.chmod(os.devnull, 0o666)
        except OSError:
            pass
        pytest.fail(f"{os.devnull} was replaced or removed by this test (it was put back)")


_REAL_CREATE_CONNECTION = socket.create_connection
_REAL_CONNECT = socket.socket.connect


@pytest.fixture
def this_machine(monkeypatch: pytest.MonkeyPatch):
    """Connections to this machine's own servers (loopback, or a host given to the returned ``allow(host)``), for a
    test's own servers: still no network."""
    hosts = {"127.0.0.1", "::1", "localhost"}

    def check(address) -> None:
        if not isinstance(address, tuple) or address[0] not in hosts:
            raise OSError("network access is disabled in tests")

    def create_connection(address, *args, **kwargs):
        check(address)
        return _REAL_CREATE_CONNECTION(address, *args, **kwargs)

    def connect(self, address):
        check(address)
        return _REAL_CONNECT(self, address)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return hosts.add


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach the network: any attempt to connect fails at once."""

    def refuse(*_args, **_kwargs):
        raise OSError("network access is disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(autouse=True)
def _private_homes(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Each test starts with its own empty data folder, Keras folder and Qt settings (subprocesses too)."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras_home")))
    monkeypatch.setenv("CNNSTUDIO_HOME", str(tmp_path_factory.mktemp("cnnstudio_home")))
    config = tmp_path_factory.mktemp("config_home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    if QSettings is not None:
        _qt_settings_in(config)
        yield
        _qt_settings_in(home_guard.session_home / "xdg-config")
    else:
        yield


_real_data_changes: list[str] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when the real user's CNN Studio, Qt settings or Keras folders changed during it."""
    _real_data_changes[:] = home_guard.changes(_REAL_BEFORE, home_guard.snapshot(home_guard.real_folders))
    if _real_data_changes:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if _real_data_changes:
        terminalreporter.section("the real user's files changed during the test run", red=True, bold=True)
        terminalreporter.write_line("Tests must use only the session's temporary folders (tests/home_guard.py); "
                                    "changed by this run, or by another process meanwhile:", red=True)
        for line in _real_data_changes[:50]:
            terminalreporter.write_line(f"  {line}", red=True)
        if len(_real_data_changes) > 50:
            terminalreporter.write_line(f"  … and {len(_real_data_changes) - 50} more", red=True)


def pytest_unconfigure(config) -> None:
    shutil.rmtree(home_guard.session_home, ignore_errors=True)


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


@pytest.fixture(scope="module")
def small(digits):
    """320 training and 64 test digits: enough to train LeNet-5 for real in a second."""
    from cnnstudio.core.data.datasets import Dataset

    return Dataset("small", digits.x_train[:320], digits.y_train[:320], digits.x_test[:64], digits.y_test[:64],
                   digits.class_names, digit_like=True)


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
        window.stop()
        qtbot.waitUntil(lambda w=window: not w.training and not w.busy, timeout=WAIT_MS)
        window.workspace.discard_changes()
        window.close()
    assert running_threads() == [], "a worker thread was left running"


@pytest.fixture
def trained(qtbot, make_window):
    """A window whose model was trained for two epochs on digits through the Train button."""
    from gui_helpers import set_options, train_and_wait

    window = make_window()
    set_options(window, epochs=2)
    train_and_wait(qtbot, window)
    return window


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail a test that blocks (a named pipe opened for reading waits for a writer) instead of hanging the suite."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError("blocked on a file that is not a regular file")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)

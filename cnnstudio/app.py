"""Starting the desktop application, and its ``--smoke-test`` mode.

The window appears first; TensorFlow (seconds to import) loads on a worker thread behind it.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from cnnstudio import __version__
from cnnstudio.core.logs import setup_logging
from cnnstudio.malloc_arenas import cap_malloc_arenas

SMOKE_TIMEOUT_S = 300
EXIT_CANNOT_START = 2  # no display, or Qt's platform plugin lacks a system library (one line says which)

log = logging.getLogger("cnnstudio.app")


def _application():
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("CNN Studio")
    app.setOrganizationName("CNN Studio")
    app.setApplicationVersion(__version__)
    icon_file = resources.files("cnnstudio.resources").joinpath("icons/cnnstudio.png")
    if icon_file.is_file():
        app.setWindowIcon(QIcon(str(icon_file)))
    return app


def _log_uncaught_exceptions() -> None:
    """An exception that escapes a Qt slot goes to the log file, traceback included, and on to the terminal."""
    previous = sys.excepthook

    def hook(kind, value, tb) -> None:
        log.error("uncaught exception", exc_info=(kind, value, tb))
        previous(kind, value, tb)

    sys.excepthook = hook


def run_gui(smoke_test: bool = False, report_startup: bool = False) -> int:
    started = time.perf_counter()
    cap_malloc_arenas()  # before Qt and TensorFlow start their threads
    setup_logging()
    _log_uncaught_exceptions()
    if smoke_test and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    log.info("starting the window (QT_QPA_PLATFORM=%s, DISPLAY=%s, WAYLAND_DISPLAY=%s)",
             *(os.environ.get(name, "unset") for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")))
    from cnnstudio.qt_check import platform_problem

    problem = platform_problem()  # before the QApplication: Qt would only abort()
    if problem:
        log.error("the window cannot start: %s", problem)
        print(f"cnnstudio: {problem}", file=sys.stderr, flush=True)
        return EXIT_CANNOT_START
    app = _application()
    from cnnstudio.core.workspace import Recovery
    from cnnstudio.ui.main_window import MainWindow

    if smoke_test:  # it leaves the user's things alone: no interrupted run offered (no one would answer), and
        # its own settings, run history and recovery folder, so the user's options, recent models and runs stay
        from PySide6.QtCore import QSettings

        from cnnstudio.core.experiments.run_history import RunHistory
        from cnnstudio.ui.settings import Settings

        with tempfile.TemporaryDirectory(prefix="cnnstudio-smoke-") as scratch:
            settings = Settings(QSettings(str(Path(scratch) / "settings.ini"), QSettings.IniFormat))
            window = MainWindow(settings, history=RunHistory(Path(scratch) / "runs"),
                                recovery=Recovery(Path(scratch) / "recovery"))
            _show(window, started, report_startup)
            return smoke(app, window)
    window = MainWindow()
    _show(window, started, report_startup)
    return app.exec()


def _show(window: Any, started: float, report_startup: bool) -> None:
    """Show the window; with ``report_startup``, print how long it took to appear."""
    window.show()
    if report_startup:
        from PySide6.QtCore import QTimer

        QTimer.singleShot(0, lambda: print(f"window shown after {time.perf_counter() - started:.2f} s "
                                           "(from the start of run_gui)", flush=True))


def smoke(app, window) -> int:
    """Train one short epoch on the built-in digits through the real worker, save, reopen, exit."""
    from cnnstudio.core.config import Experiment, TrainOptions
    from cnnstudio.ui.background import wait_for_threads
    from cnnstudio.ui.event_wait import wait_until

    t0 = time.perf_counter()
    try:
        failures: list[str] = []
        window.error_shown.connect(lambda title, reason: failures.append(f"{title}: {reason}"))
        wait_until(lambda: window.runtime is not None or bool(failures), SMOKE_TIMEOUT_S, "TensorFlow to load")
        if failures:
            raise RuntimeError(failures[0])
        experiment = window.panel.experiment()
        window.panel.set_experiment(Experiment(experiment.model, TrainOptions(epochs=1), "digits"))
        wait_until(lambda: window.train_button.isEnabled(), SMOKE_TIMEOUT_S, "the Train button")
        window.train_button.click()
        wait_until(lambda: not window.training and not failures, SMOKE_TIMEOUT_S, "training")
        if failures or window.workspace.model is None:
            raise RuntimeError(failures[0] if failures else "training produced no model")
        with tempfile.TemporaryDirectory() as folder:
            path = str(Path(folder) / "smoke.keras")
            window.files.save_to(path)
            wait_until(lambda: not window.busy, SMOKE_TIMEOUT_S, "saving")
            window.workspace.clear()
            window.files.open_model_path(path)
            wait_until(lambda: not window.busy, SMOKE_TIMEOUT_S, "reopening")
            record = window.workspace.record
            if failures or record is None or record.epochs_trained != 1:
                raise RuntimeError(failures[0] if failures else "the reopened model lost its experiment")
            accuracy = record.test_accuracy
        window.close()
        wait_for_threads()
        print(f"smoke test passed in {time.perf_counter() - t0:.1f} s: 1 epoch on digits, "
              f"test accuracy {accuracy:.3f}, saved and reopened", flush=True)
        return 0
    except Exception as exc:  # noqa: BLE001 - the reason, then a failing exit code
        log.exception("smoke test failed")
        print(f"smoke test failed: {exc}", file=sys.stderr, flush=True)
        return 1

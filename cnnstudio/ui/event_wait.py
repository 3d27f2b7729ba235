"""Waiting while Qt's event loop runs, for the smoke test and scripts that drive the real window.

Polled on purpose: a nested ``QEventLoop`` quit by ``QTimer.singleShot`` keeps references to
``None`` in PySide6 6.11, which the soak benchmark would count as if the app had caused them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QApplication


def wait(milliseconds: int) -> None:
    """Let the event loop run for a while."""
    app = QApplication.instance()
    end = time.monotonic() + milliseconds / 1000
    while True:
        app.processEvents(QEventLoop.AllEvents, 20)
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.01))


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Run the event loop until ``condition()`` holds; TimeoutError naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting {seconds:.0f} s for {what}")
        wait(20)

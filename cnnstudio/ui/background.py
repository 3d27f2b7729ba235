"""Run long work on a ``QThread``: a ``QObject`` task moved to its own thread.

Results, errors and progress come back as signals, which Qt queues to the receivers' (GUI)
thread; nothing here touches a widget. Every started thread is tracked until it has finished,
so the window can stop and wait for them on close and tests can fail on a dangling thread.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from cnnstudio.core.errors import CnnStudioError, one_line
from cnnstudio.core.logs import log


class _Registry(QObject):
    """Holds started threads until they have finished; lives in the GUI thread."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: dict[QThread, Task] = {}  # holding the task keeps its Python wrapper alive

    @Slot()
    def reap(self) -> None:
        for thread in [t for t in self.threads if t.isFinished()]:
            thread.wait()
            self.threads.pop(thread, None)


_registry: _Registry | None = None


def running_threads() -> list[QThread]:
    """Threads started here that have not finished yet."""
    return [t for t in (_registry.threads if _registry else ()) if not t.isFinished()]


def wait_for_threads(milliseconds: int = 30_000) -> bool:
    """Block until every started thread has finished (or the time is up); True when none is left."""
    for thread in running_threads():
        thread.wait(milliseconds)
    if _registry is not None:
        _registry.reap()
    return not running_threads()


class Task(QObject):
    """Calls ``work(task)`` on its thread; ``work`` may emit ``task.progress``."""

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str, str)  # one-line reason, details (traceback)
    done = Signal()

    def __init__(self, work: Callable[[Task], Any]):
        super().__init__()
        self._work = work

    @Slot()
    def run(self) -> None:
        try:
            result = self._work(self)
        except CnnStudioError as exc:  # an expected problem: its one line says it all
            log.warning("%s: %s", self.objectName() or "task", exc)
            self.failed.emit(one_line(exc), "")
        except Exception as exc:  # noqa: BLE001 - every failure reaches the user as a message
            log.exception("unexpected failure in a background task")
            self.failed.emit(one_line(exc), traceback.format_exc())
        else:
            self.succeeded.emit(result)
        finally:
            self.done.emit()


def start_task(work: Callable[[Task], Any], *, succeeded: Callable[[Any], None] | None = None,
               failed: Callable[[str, str], None] | None = None, progress: Callable[[Any], None] | None = None,
               name: str = "cnnstudio-task") -> Task:
    """Start ``work`` on a new thread (call from the GUI thread).

    The callbacks should be methods of objects living in the GUI thread so that Qt queues the
    calls there; they are connected before the thread starts, so no signal is missed. The thread
    quits and is cleaned up by itself.
    """
    global _registry
    if _registry is None:
        _registry = _Registry()
    thread = QThread()
    thread.setObjectName(name)
    task = Task(work)
    task.moveToThread(thread)
    for signal, slot in ((task.succeeded, succeeded), (task.failed, failed), (task.progress, progress)):
        if slot is not None:
            signal.connect(slot)
    thread.started.connect(task.run)
    task.done.connect(thread.quit, Qt.DirectConnection)  # quit() is thread-safe; no GUI round trip
    thread.finished.connect(_registry.reap)
    _registry.threads[thread] = task
    thread.start()
    return task

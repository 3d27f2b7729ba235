"""What Ctrl-C, SIGTERM and SIGHUP do to a command: end it as Ctrl-C does, or (in a wait nothing can interrupt) at once."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_received = threading.Event()  # a stop signal has come (whatever the code it interrupted made of it)


def stop_requested() -> bool:
    """Whether Ctrl-C, SIGTERM or SIGHUP has come since :func:`end_like_ctrl_c` was called."""
    return _received.is_set()


def end_like_ctrl_c() -> None:
    """SIGTERM (``kill``, ``timeout``, a service manager) and SIGHUP (a closed terminal) end a command as Ctrl-C does:
    the run stops, its finished epochs are kept, no temporary file is left, and the exit code is 130.

    Each stop signal is also remembered (:func:`stop_requested`): one landing inside a native module's
    start-up (TensorFlow's import) can come out as some other error, which is still an interruption.
    """
    def interrupt(_signum: int, _frame: Any) -> None:
        _received.set()
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        return
    for number in STOP_SIGNALS:
        if number != signal.SIGINT or signal.getsignal(number) is signal.default_int_handler:  # not if ignored
            signal.signal(number, interrupt)
    if hasattr(signal, "pthread_sigmask"):  # a mask inherited from the parent would keep them pending for good
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@contextlib.contextmanager
def ending_at_once() -> Iterator[None]:
    """Within the block, a stop signal ends the process at once (the system's default action), without cleanup.

    For a wait inside TensorFlow that keeps Python's interpreter lock (``MultiWorkerMirroredStrategy``
    waiting for the other workers): no Python handler, and no other Python thread, can run until it
    ends. Nothing may be written within the block. Afterwards the handlers are as they were before,
    including any that TensorFlow replaced meanwhile (it takes SIGTERM for its preemption notices).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_DFL)
    try:
        yield
    finally:
        for number, handler in previous.items():
            if handler is not None:  # None: set outside Python, cannot be put back from here
                signal.signal(number, handler)

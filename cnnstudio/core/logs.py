"""CNN Studio's log file: a rotating ``cnnstudio.log`` in the log folder, for diagnosing problems.

``setup_logging()`` is called once at the start of the command line and of the GUI. A log folder
that cannot be created or written never stops the application: logging then goes nowhere, silently.
``CNNSTUDIO_DEBUG=1`` also records CNN Studio's DEBUG messages.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import BinaryIO

from cnnstudio import __version__
from cnnstudio.core.paths import log_dir
from cnnstudio.core.regular_file import kind_of

LOG_NAME = "cnnstudio.log"
NATIVE_LOG_NAME = "native.log"
MAX_BYTES = 1_000_000
BACKUP_COUNT = 3
DEBUG_VARIABLE = "CNNSTUDIO_DEBUG"
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

log = logging.getLogger("cnnstudio")


class _QuietRotatingFileHandler(RotatingFileHandler):
    """A failed write or rotation (disk full, file locked by another process) is dropped, never printed."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        pass


_handler: _QuietRotatingFileHandler | None = None
_fallback: logging.NullHandler | None = None
_native_lock = threading.Lock()  # one diversion of descriptor 2 at a time: each puts back what it found


def debug_enabled() -> bool:
    """Whether ``CNNSTUDIO_DEBUG`` asks for a verbose terminal, tracebacks and DEBUG logging."""
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() not in ("", "0", "false", "no", "off")


def log_file() -> Path:
    """The log file in use, or where it would be (the log folder's ``cnnstudio.log``)."""
    if _handler is not None:
        return Path(_handler.baseFilename)
    return log_dir() / LOG_NAME


def _refuse_unless_regular(path: Path) -> None:
    """``OSError`` when ``path`` exists and is no regular file: opening a named pipe would wait for a reader
    for ever (every command would hang before its first line), and a device is no log."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if (kind := kind_of(mode)) is not None:
        raise OSError(f"{path} is {kind}, not a log file")


def active_log_file() -> Path | None:
    """The log file being written, or None when ``setup_logging`` has not opened one."""
    return Path(_handler.baseFilename) if _handler is not None else None


def open_native_log() -> BinaryIO | None:
    """``native.log`` beside the log file, for what native libraries write to the process's stderr.

    Appended to, and emptied once it has grown past the log file's size limit; None when
    ``setup_logging`` opened no log file or this one cannot be opened.
    """
    if _handler is None:
        return None
    path = Path(_handler.baseFilename).with_name(NATIVE_LOG_NAME)
    try:
        _refuse_unless_regular(path)
        mode = "wb" if path.is_file() and path.stat().st_size > MAX_BYTES else "ab"
        native = open(path, mode, buffering=0)  # it lives as long as the process
        native.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} process {os.getpid()}: cnnstudio "
                     f"{' '.join(sys.argv[1:])}\n".encode(errors="replace"))
    except OSError:
        return None
    return native


def native_sink() -> BinaryIO:
    """Where native output goes instead of the terminal: ``native.log``, or a temporary file without a log."""
    return open_native_log() or tempfile.TemporaryFile(prefix="cnnstudio-native-")


@contextlib.contextmanager
def native_output_to_log() -> Iterator[None]:
    """While the block runs, what native code writes to descriptor 2 goes to ``native.log``; then the terminal again.

    For the window's TensorFlow import, whose start-up chatter (oneDNN, CUDA drivers, ``cuInit``)
    would otherwise reach the terminal: Qt's own messages before and after still do. Meanwhile
    Python's ``sys.stderr``, which shares the descriptor, goes there too. ``CNNSTUDIO_DEBUG=1``
    changes nothing; a descriptor that cannot be copied leaves the terminal as it is.
    """
    if debug_enabled():
        yield
        return
    with _native_lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, AttributeError, ValueError):
            yield
            return
        sink = native_sink()
        try:
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            with contextlib.suppress(OSError, AttributeError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.close()


def setup_logging(debug: bool | None = None) -> Path | None:
    """Log CNN Studio's messages (and other libraries' warnings) to the rotating log file.

    Returns the file, or None when it could not be opened; then records go nowhere (not even to
    the terminal). Once set up, calling it again changes nothing.
    """
    global _handler, _fallback
    if _handler is not None or _fallback is not None:
        return active_log_file()
    if debug is None:
        debug = debug_enabled()
    root = logging.getLogger()
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        _refuse_unless_regular(folder / LOG_NAME)
        handler = _QuietRotatingFileHandler(folder / LOG_NAME, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT,
                                            encoding="utf-8")
    except (OSError, ValueError):
        # Without a handler on the root logger, Python would print warnings on the terminal instead.
        _fallback = logging.NullHandler()
        root.addHandler(_fallback)
    else:
        handler.setFormatter(logging.Formatter(FORMAT))
        _handler = handler
        root.addHandler(handler)
    log.setLevel(logging.DEBUG if debug else logging.INFO)
    log.info("cnnstudio %s started (%s), Python %s, %s%s", __version__, " ".join(sys.argv[1:]) or "no arguments",
             platform.python_version(), platform.platform(), ", debug" if debug else "")
    return active_log_file()


def shutdown_logging() -> None:
    """Remove and close what ``setup_logging`` installed (tests; a later call sets up afresh)."""
    global _handler, _fallback
    for handler in (_handler, _fallback):
        if handler is not None:
            logging.getLogger().removeHandler(handler)
            handler.close()
    _handler = _fallback = None
    log.setLevel(logging.NOTSET)

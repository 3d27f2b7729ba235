"""Keras dataset downloads with progress reported to the caller, and failures told as sentences.

``keras.datasets`` downloads through ``keras.utils.get_file``, which prints its own progress bar
and, when the network fails, raises a bare ``Exception("URL fetch failure on …: [Errno -2] …")``.
Here the download's progress hook reports to a callback instead, and a failure is explained from
the underlying exception's type (never from its text).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import urllib.error
from collections.abc import Callable, Iterator
from typing import Any

from cnnstudio.core.errors import DatasetError

DownloadProgress = Callable[[int, "int | None"], None]  # bytes so far, total bytes (None when unknown)

_patch_lock = threading.Lock()  # one download hook at a time (the hook is process-wide)


class DownloadError(DatasetError):
    """A built-in dataset could not be downloaded (the app can fall back to the offline digits)."""


@contextlib.contextmanager
def reporting_downloads(progress: DownloadProgress | None) -> Iterator[None]:
    """While active, Keras downloads report ``progress(bytes_done, bytes_total)`` instead of printing."""
    if progress is None:
        yield
        return
    try:
        import keras
        from keras.src.utils import file_utils
    except ImportError:  # a Keras without this module: downloads still work, without progress
        yield
        return
    with _patch_lock:
        original = file_utils.urlretrieve
        printing = keras.config.is_interactive_logging_enabled()
        keras.config.disable_interactive_logging()  # Keras' own "Downloading data from …" goes to its log

        def retrieve(url: str, filename: Any, reporthook: Any = None, data: Any = None) -> Any:
            def hook(blocks: int, block_size: int, total: int) -> None:
                known = total if total and total > 0 else None
                done = blocks * block_size
                progress(min(done, known) if known else done, known)

            return original(url, filename, hook, data)

        file_utils.urlretrieve = retrieve
        try:
            yield
        finally:
            file_utils.urlretrieve = original
            if printing:
                keras.config.enable_interactive_logging()


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def download_failure_reason(exc: BaseException) -> str:
    """Why a download failed, in words, judged from the exception types in its chain."""
    for cause in _causes(exc):
        if isinstance(cause, urllib.error.HTTPError):
            return f"the server answered HTTP {cause.code}"
        reason = cause.reason if isinstance(cause, urllib.error.URLError) else cause
        if isinstance(reason, socket.gaierror):
            return "there is no network connection (the server's name could not be looked up)"
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return "the connection timed out"
        if isinstance(reason, ConnectionRefusedError):
            return "the connection was refused"
        if isinstance(reason, ssl.SSLError):
            return "a secure connection could not be made (SSL)"
        if isinstance(reason, PermissionError):
            return f"the dataset cache is not writable ({reason.filename or reason})"
        if isinstance(reason, OSError) and reason is not exc:
            return f"the network could not be reached ({reason.strerror or reason})"
    return "the download failed"

"""Text files written atomically: the new content replaces the file only when it is complete."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


def _current_umask() -> int:
    """The process umask, read without changing it where the system says (Linux); else set and restored."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode_for(path: Path) -> int:
    """Permissions for a saved file: the replaced file's, else what a new file gets (0666 less the umask);
    a temporary file is made 0600, so a file written through one is given these before it replaces ``path``."""
    try:
        current = os.stat(path)
    except OSError:
        current = None
    if current is not None and stat.S_ISREG(current.st_mode):
        return stat.S_IMODE(current.st_mode) & 0o777
    return 0o666 & ~_current_umask()


@contextmanager
def atomic_text(path: str | Path, prefix: str, suffix: str = ".tmp", newline: str | None = None) -> Iterator[TextIO]:
    """A stream whose text replaces ``path`` when the block ends; on any exception the old file stays
    as it was and the temporary file (``prefix…suffix`` beside it) is removed. OSError when the folder
    cannot be written."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline=newline) as stream:
            yield stream
        os.chmod(temporary, file_mode_for(path))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

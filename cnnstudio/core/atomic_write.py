"""Text files written atomically: the new content replaces the file only when it is complete."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


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
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

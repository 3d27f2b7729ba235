"""Is this path a regular file? One check for every file the core reads from a user's path.

A named pipe would block a read forever, a device such as ``/dev/zero`` never ends, and a folder
is no file at all: each reader refuses them before opening (opening some devices acts on them),
opens without blocking, and checks the opened handle again (the path may be swapped in between).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

FOLDER = "a folder"
NAMED_PIPE = "a named pipe"
DEVICE = "a device"
SOCKET = "a socket"
SYMBOLIC_LINK = "a symbolic link"
SPECIAL = "a special file"

StrPath = str | os.PathLike[str]


def kind_of(mode: int) -> str | None:
    """What a file of this ``st_mode`` is in words (``"a named pipe"``…); None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return FOLDER
    if stat.S_ISFIFO(mode):
        return NAMED_PIPE
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return DEVICE
    if stat.S_ISSOCK(mode):
        return SOCKET
    if stat.S_ISLNK(mode):
        return SYMBOLIC_LINK
    return SPECIAL


class NotRegularFileError(ValueError):
    """``path`` is not a regular file; ``kind`` says what it is (:data:`FOLDER`, :data:`NAMED_PIPE`…).

    The message is ``"not a regular file (a named pipe)"``: callers put the path in front and what
    the file should have been behind it.
    """

    def __init__(self, path: StrPath, kind: str) -> None:
        super().__init__(f"not a regular file ({kind})")
        self.path = Path(path)
        self.kind = kind


def check_regular_file(path: StrPath, *, follow_symlinks: bool = True) -> os.stat_result:
    """``path``'s status when it is a regular file; else :class:`NotRegularFileError`.

    A missing or unreadable path raises ``OSError`` (``FileNotFoundError``…) as ``os.stat`` does.
    With ``follow_symlinks=False`` a symbolic link is refused as :data:`SYMBOLIC_LINK`.
    """
    info = os.stat(path, follow_symlinks=follow_symlinks)
    kind = kind_of(info.st_mode)
    if kind is not None:
        raise NotRegularFileError(path, kind)
    return info


def is_regular_file(path: StrPath, *, follow_symlinks: bool = True) -> bool:
    """Whether ``path`` is a regular file (False for anything else, and for a path that cannot be read)."""
    try:
        check_regular_file(path, follow_symlinks=follow_symlinks)
    except (OSError, NotRegularFileError):
        return False
    return True


def open_regular_file(path: StrPath, *, follow_symlinks: bool = True) -> BinaryIO:
    """``path`` opened for binary reading, checked to be a regular file before and after opening.

    Opened without blocking (a pipe swapped in meanwhile cannot hang the open) and without becoming
    the controlling terminal; the open handle's own status is checked again. Raises
    :class:`NotRegularFileError` or ``OSError``; the caller closes the file (it is a context manager).
    """
    check_regular_file(path, follow_symlinks=follow_symlinks)
    flags = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
             | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0)))
    descriptor = os.open(path, flags)
    try:
        kind = kind_of(os.fstat(descriptor).st_mode)
        if kind is not None:  # replaced since the check above
            raise NotRegularFileError(path, kind)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise

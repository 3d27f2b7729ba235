"""Where CNN Studio keeps its files: ``$CNNSTUDIO_HOME`` when set, else the platform's per-user folders."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import platformdirs

from cnnstudio.core.errors import CnnStudioError, printable

APP_NAME = "cnnstudio"
DISPLAY_NAME = "CNN Studio"
HOME_VARIABLE = "CNNSTUDIO_HOME"


def user_path(text: str) -> Path:
    """``text`` as a path, a leading ``~`` or ``~user`` expanded; ``CnnStudioError`` (one line) when it cannot be."""
    try:
        return Path(text).expanduser()
    except RuntimeError:  # ~nouser, or no home folder at all
        user = text.split("/", 1)[0].split(os.sep, 1)[0]
        raise CnnStudioError(f"{printable(text, 120)}: {printable(user, 40)} names no user's home folder here "
                             "(write the path in full)") from None


def _home() -> Path | None:
    value = os.environ.get(HOME_VARIABLE, "").strip()
    return user_path(value) if value else None


def data_dir() -> Path:
    """The data folder (run history, run models): ``$CNNSTUDIO_HOME``, else the user data folder.

    Linux ``$XDG_DATA_HOME/cnnstudio`` (``~/.local/share/cnnstudio``), macOS
    ``~/Library/Application Support/CNN Studio``, Windows ``%APPDATA%\\CNN Studio`` (the folders
    earlier versions used, so existing run histories stay where they are).
    """
    if home := _home():
        return home
    if sys.platform in ("win32", "darwin"):
        return Path(platformdirs.user_data_dir(DISPLAY_NAME, appauthor=False, roaming=True))
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    """The folder for log files: ``$CNNSTUDIO_HOME/logs``, else the platform's user log folder.

    Linux ``$XDG_STATE_HOME/cnnstudio/log`` (``~/.local/state/cnnstudio/log``), macOS
    ``~/Library/Logs/cnnstudio``, Windows ``%LOCALAPPDATA%\\cnnstudio\\Logs``.
    """
    home = _home()
    return home / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (created when missing), or None when they can.

    Tries for real (create the folder, write and remove a small file), since permissions alone do
    not tell: a read-only file system, a file where the folder should be or ``/dev/null`` as the
    home all show up here as one line, before any work that would be lost.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not folder.is_dir():
            return f"{folder} is not a folder"
        handle, name = tempfile.mkstemp(dir=folder, prefix=".write-test.")
        os.close(handle)
        os.unlink(name)
    except OSError as exc:
        blocking = next((p for p in (folder, *folder.parents) if os.path.lexists(p)), None)
        if blocking is not None and not blocking.is_dir():
            return f"{folder} cannot be used: {blocking} is not a folder"
        return f"{folder} cannot be written ({exc.strerror or exc.__class__.__name__})"
    return None

"""Keep a test run away from the real user's files: an isolated environment, and a check that proves it.

``conftest.py`` lists the real folders (``user_folders``) and their contents (``snapshot``) before
anything else is imported, points every per-user location at a session folder
(``isolated_environment``), and compares the real folders again when the run ends (``changes``).
Nothing here imports CNN Studio, Keras or Qt: the real locations are worked out independently.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

# Set by conftest.py for the tests that check the isolation itself.
session_home: Path | None = None
real_folders: list[Path] = []

APP_NAMES = ("cnnstudio", "CNN Studio")  # the data folder's name, and Qt's organisation name


def user_folders() -> list[Path]:
    """Where CNN Studio, its Qt settings and Keras keep per-user files, for the current environment.

    Linux and other XDG systems, macOS and Windows folders; not macOS's preference files or the
    Windows registry, where Qt keeps settings on those systems.
    """
    import platformdirs

    environ = os.environ
    home = Path(environ.get("HOME") or environ.get("USERPROFILE") or Path.home())

    def xdg(variable: str, default: str) -> Path:
        value = environ.get(variable, "").strip()
        return Path(value) if value else home / default

    folders = [Path(environ.get("KERAS_HOME") or home / ".keras")]
    if environ.get("CNNSTUDIO_HOME", "").strip():
        folders.append(Path(environ["CNNSTUDIO_HOME"]).expanduser())
    for name in APP_NAMES:
        folders += [xdg("XDG_DATA_HOME", ".local/share") / name, xdg("XDG_CONFIG_HOME", ".config") / name,
                    xdg("XDG_CACHE_HOME", ".cache") / name, xdg("XDG_STATE_HOME", ".local/state") / name]
        folders += [Path(find(name, appauthor=False)) for find in (
            platformdirs.user_data_dir, platformdirs.user_config_dir, platformdirs.user_cache_dir,
            platformdirs.user_state_dir, platformdirs.user_log_dir)]
        if sys.platform == "win32":
            folders += [Path(environ[v]) / name for v in ("APPDATA", "LOCALAPPDATA") if environ.get(v)]
    unique = {os.path.normcase(os.path.abspath(folder)): folder for folder in reversed(folders)}
    inside = [key for key in unique if any(key.startswith(other + os.sep) for other in unique)]
    return [folder for key, folder in unique.items() if key not in inside]


Snapshot = dict[str, tuple]


def snapshot(folders: Iterable[Path]) -> Snapshot:
    """Every file and folder under ``folders``: kind, size and modification time (absent folders too)."""
    entries: Snapshot = {}
    for folder in folders:
        folder = Path(folder)
        if not folder.exists():
            entries[str(folder)] = ("absent",)
            continue
        entries[str(folder)] = ("folder",)
        for root, dirs, files in os.walk(folder, onerror=lambda _error: None):
            for name in dirs + files:
                path = os.path.join(root, name)
                try:
                    info = os.lstat(path)
                except OSError:
                    continue
                kind = "folder" if stat.S_ISDIR(info.st_mode) else "file"
                entries[path] = (kind,) if kind == "folder" else (kind, info.st_size, info.st_mtime_ns)
    return entries


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """What differs between two snapshots, one line per path; empty when nothing changed."""
    lines = []
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if old == new:
            continue
        if old is None or old == ("absent",):
            lines.append(f"created: {path}")
        elif new is None or new == ("absent",):
            lines.append(f"deleted: {path}")
        elif old[0] != new[0]:
            lines.append(f"replaced ({old[0]} → {new[0]}): {path}")
        else:
            lines.append(f"modified (size {old[1]} → {new[1]} bytes): {path}")
    return lines


def isolated_environment(folder: Path) -> dict[str, str]:
    """Environment variables that send every per-user location into ``folder``."""
    env = {
        "HOME": folder / "home",
        "XDG_DATA_HOME": folder / "xdg-data",
        "XDG_CONFIG_HOME": folder / "xdg-config",
        "XDG_CACHE_HOME": folder / "xdg-cache",
        "XDG_STATE_HOME": folder / "xdg-state",
        "CNNSTUDIO_HOME": folder / "cnnstudio-home",
        "KERAS_HOME": folder / "keras-home",
        "MPLCONFIGDIR": folder / "matplotlib",
    }
    if sys.platform == "win32":
        env.update(USERPROFILE=folder / "home", APPDATA=folder / "appdata", LOCALAPPDATA=folder / "localappdata")
    for path in env.values():
        path.mkdir(parents=True, exist_ok=True)
    return {name: str(path) for name, path in env.items()}

"""Before the window: can Qt's platform plugin start here? One line saying why not, instead of ``Aborted``.

When Qt cannot load or connect its platform plugin it calls ``abort()``: the terminal shows
``Aborted`` (exit 134), at best after a message about the xcb plugin that names no missing
library. So before the ``QApplication`` is made, on Linux with the xcb platform (the default, or
``QT_QPA_PLATFORM=xcb``), :func:`platform_problem` checks that there is a display and that
``ldd`` finds every system library the xcb plugin links, and says which Debian/Ubuntu packages
to install when not. Nothing here imports ``QtWidgets`` (only ``QtCore``, as a fallback to find
the plugin folder), and any failure of the check itself means no check: a working start is
never blocked.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

NO_DISPLAY_ADVICE = "run under xvfb-run, or use --smoke-test / the command-line commands (cnnstudio --help)"

# The system libraries that PySide6's xcb plugin, libQt6XcbQpa, libQt6Gui and libQt6DBus link
# (objdump -p … | grep NEEDED, PySide6 6.11), and the Debian/Ubuntu package of each (dpkg -S).
SO_PACKAGES = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libXau.so.6": "libxau6",
    "libXdmcp.so.6": "libxdmcp6",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libpng16.so.16": "libpng16-16",
}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")
_RESOLVED = re.compile(r"^\s*(\S+)\s+=>\s+(/\S+)\s+\(0x[0-9a-fA-F]+\)\s*$")


def missing_libraries(ldd_output: str) -> list[str]:
    """The libraries ``ldd`` reported as ``=> not found``, each once, in the order it named them."""
    found = (match.group(1) for match in map(_NOT_FOUND.match, ldd_output.splitlines()) if match)
    return list(dict.fromkeys(found))


def linked_path(ldd_output: str, prefix: str) -> Path | None:
    """Where ``ldd`` found the first library whose name starts with ``prefix``, if it did."""
    for line in ldd_output.splitlines():
        match = _RESOLVED.match(line)
        if match and match.group(1).startswith(prefix):
            return Path(match.group(2))
    return None


def install_advice(missing: Iterable[str]) -> str:
    """The Debian/Ubuntu command for the packages of ``missing`` (.so names); unknown names listed as they are."""
    missing = list(missing)
    packages = list(dict.fromkeys(SO_PACKAGES[name] for name in missing if name in SO_PACKAGES))
    unknown = [name for name in missing if name not in SO_PACKAGES]
    parts = []
    if packages:
        parts.append(f"sudo apt-get install {' '.join(packages)}")
    if unknown:
        parts.append(f"the packages that provide {', '.join(unknown)}")
    return ("on Debian/Ubuntu: " + "; and ".join(parts)) if packages else ("install " + parts[0])


def missing_message(missing: list[str]) -> str:
    return (f"Qt's xcb platform plugin cannot start: missing system "
            f"{'library' if len(missing) == 1 else 'libraries'} {', '.join(missing)} ({install_advice(missing)})")


def xcb_plugin() -> Path | None:
    """PySide6's ``libqxcb.so``: in its package folder, else where QtCore says Qt's plugins are."""
    folders = []
    if os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH"):
        folders.append(Path(os.environ["QT_QPA_PLATFORM_PLUGIN_PATH"]))
    spec = importlib.util.find_spec("PySide6")
    for location in (spec.submodule_search_locations or []) if spec else []:
        folders.append(Path(location) / "Qt" / "plugins" / "platforms")
    for folder in folders:
        if (folder / "libqxcb.so").is_file():
            return folder / "libqxcb.so"
    from PySide6.QtCore import QLibraryInfo  # QtCore only: no QtGui, no QtWidgets

    plugin = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def run_ldd(library: Path) -> str | None:
    """``ldd``'s output for ``library``; None when there is no ``ldd`` or it fails."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        done = subprocess.run([ldd, str(library)], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _uses_xcb(env: Mapping[str, str]) -> bool:
    """Whether Qt will start the xcb platform: QT_QPA_PLATFORM names it first, or is unset with no Wayland-only session."""
    requested = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if requested:
        return requested == "xcb"
    return not (env.get("WAYLAND_DISPLAY") and not env.get("DISPLAY"))


def platform_problem(env: Mapping[str, str] | None = None, platform: str | None = None,
                     plugin: Callable[[], Path | None] = xcb_plugin,
                     ldd: Callable[[Path], str | None] = run_ldd) -> str | None:
    """Why Qt's platform plugin cannot start here, in one line; None when it can (or when unsure)."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux") or not _uses_xcb(env):
        return None
    if not env.get("DISPLAY"):
        why = ("QT_QPA_PLATFORM=xcb needs an X display and DISPLAY is unset" if env.get("QT_QPA_PLATFORM")
               else "neither DISPLAY nor WAYLAND_DISPLAY is set")
        return f"no display: Qt's xcb platform plugin cannot start ({why}); {NO_DISPLAY_ADVICE}"
    try:
        library = plugin()
        output = ldd(library) if library is not None else None
        if output is None:
            return None
        missing = missing_libraries(output)
        integration = linked_path(output, "libQt6XcbQpa")
        if integration is not None:
            more = ldd(integration)
            missing += [name for name in missing_libraries(more or "") if name not in missing]
    except Exception:  # noqa: BLE001 - the check must never block a start that would work
        return None
    return missing_message(missing) if missing else None

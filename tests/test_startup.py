"""Before the window: no display, or a system library Qt's xcb plugin needs is missing → one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnstudio import qt_check
from cnnstudio.qt_check import install_advice, missing_libraries, platform_problem

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb platform is Linux's")

# What ldd printed for PySide6's libqxcb.so on a Debian 12 machine without libxcb-icccm4 and libxcb-keysyms1
# (shortened): each missing library appears wherever a library that links it is listed.
SAMPLE_LDD = """\
\tlinux-vdso.so.1 (0x00007f91b8d25000)
\tlibQt6XcbQpa.so.6 => /opt/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x00007f91b8c57000)
\tlibGL.so.1 => /lib/x86_64-linux-gnu/libGL.so.1 (0x00007f91b8bc7000)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f91b8b6d000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x00007f91b8b65000)
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibfoo-private.so.3 => not found
\t/lib64/ld-linux-x86-64.so.2 (0x00007f91b8d27000)
"""


def _clean_env(**extra: str) -> dict[str, str]:
    """The test's environment (its private folders) without any display or platform choice, plus ``extra``."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "CNNSTUDIO_DEBUG")}
    return {**env, **extra}


def test_ldd_output_parser_lists_each_missing_library_once_in_order() -> None:
    assert missing_libraries(SAMPLE_LDD) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libfoo-private.so.3"]
    assert missing_libraries("\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0000000000)\n") == []
    assert qt_check.linked_path(SAMPLE_LDD, "libQt6XcbQpa") == Path(
        "/opt/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6")


def test_missing_libraries_map_to_debian_packages_and_unknown_ones_are_named() -> None:
    advice = install_advice(["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"])
    assert advice == "on Debian/Ubuntu: sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0"
    mixed = install_advice(["libxkbcommon-x11.so.0", "libfoo-private.so.3"])
    assert "sudo apt-get install libxkbcommon-x11-0" in mixed and "libfoo-private.so.3" in mixed
    assert install_advice(["libfoo-private.so.3"]) == "install the packages that provide libfoo-private.so.3"
    # two libraries of one package: the package once
    assert install_advice(["libglib-2.0.so.0", "libgthread-2.0.so.0"]).count("libglib2.0-0") == 1


_looked_at: list[tuple] = []


def _fail(*args):
    """Stands for the plugin search and ldd where neither may be used (the check swallows its own errors)."""
    _looked_at.append(args)
    raise AssertionError("the plugin should not have been looked at")


@pytest.fixture(autouse=True)
def _nothing_looked_at_unasked():
    _looked_at.clear()
    yield
    assert _looked_at == [], "the plugin search or ldd was consulted where it must not be"


@pytest.mark.parametrize("env", [
    {"QT_QPA_PLATFORM": "offscreen"},
    {"QT_QPA_PLATFORM": "minimal", "DISPLAY": ":0"},
    {"WAYLAND_DISPLAY": "wayland-0"},  # Wayland, no X: xcb is not required
    {"QT_QPA_PLATFORM": "wayland", "WAYLAND_DISPLAY": "wayland-0"},
])
def test_no_problem_where_xcb_is_not_used(env) -> None:
    assert platform_problem(env, "linux", plugin=_fail, ldd=_fail) is None


def test_no_problem_off_linux() -> None:
    assert platform_problem({}, "darwin", plugin=_fail, ldd=_fail) is None
    assert platform_problem({}, "win32", plugin=_fail, ldd=_fail) is None


@pytest.mark.parametrize("env", [{}, {"QT_QPA_PLATFORM": "xcb"}, {"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "w-0"}])
def test_xcb_without_an_x_display_is_no_display(env) -> None:
    problem = platform_problem(env, "linux", plugin=_fail, ldd=_fail)
    assert problem.startswith("no display:") and "xvfb-run" in problem and "--smoke-test" in problem


def test_missing_libraries_of_the_plugin_and_its_integration_library_are_named(tmp_path) -> None:
    plugin = tmp_path / "libqxcb.so"
    asked = []

    def ldd(library: Path) -> str:
        asked.append(library)
        if library == plugin:
            return SAMPLE_LDD
        return "\tlibxcb-icccm.so.4 => not found\n\tlibxkbcommon-x11.so.0 => not found\n"

    problem = platform_problem({"DISPLAY": ":0"}, "linux", plugin=lambda: plugin, ldd=ldd)
    assert asked == [plugin, Path("/opt/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6")]
    assert "\n" not in problem
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1, libfoo-private.so.3, libxkbcommon-x11.so.0" in problem
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0" in problem
    assert "libfoo-private.so.3" in problem.split("sudo apt-get install")[1]  # unknown: by file name


def test_a_failing_check_never_blocks_the_start(tmp_path) -> None:
    env = {"DISPLAY": ":0"}
    plugin = tmp_path / "libqxcb.so"
    assert platform_problem(env, "linux", plugin=lambda: None, ldd=_fail) is None  # no plugin found
    assert platform_problem(env, "linux", plugin=lambda: plugin, ldd=lambda _p: None) is None  # no ldd / ldd failed

    def broken_plugin():
        raise ImportError("no QtCore")

    assert platform_problem(env, "linux", plugin=broken_plugin, ldd=_fail) is None
    assert platform_problem(env, "linux", plugin=lambda: plugin, ldd=lambda _p: "nothing ldd-like") is None


def test_run_ldd_without_ldd_is_none(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no ldd
    assert qt_check.run_ldd(tmp_path / "libqxcb.so") is None


@linux_only
def test_the_installed_xcb_plugin_is_found_and_ldd_reads_it() -> None:
    plugin = qt_check.xcb_plugin()
    if plugin is None:
        pytest.skip("this Qt has no xcb platform plugin")
    output = qt_check.run_ldd(plugin)
    if output is None:
        pytest.skip("no working ldd here")
    assert "libxcb" in output  # the real plugin's dependencies, found or not


@linux_only
def test_gui_without_a_display_exits_2_with_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "cnnstudio"], capture_output=True, text=True, timeout=300,
                            env=_clean_env(QT_QPA_PLATFORM="xcb"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "no display" in lines[0], result.stderr
    assert "Aborted" not in result.stderr and result.stdout == ""


@linux_only
def test_gui_with_missing_xcb_libraries_names_them_and_the_packages(tmp_path) -> None:
    """The start-up path with the real plugin, and an ``ldd`` on PATH that reports two libraries missing."""
    if qt_check.xcb_plugin() is None:
        pytest.skip("this Qt has no xcb platform plugin")
    fake = tmp_path / "bin" / "ldd"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{SAMPLE_LDD}EOF\n")
    fake.chmod(0o755)
    env = _clean_env(QT_QPA_PLATFORM="xcb", DISPLAY=":99")
    env["PATH"] = f"{fake.parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run([sys.executable, "-m", "cnnstudio"], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in lines[0]
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in lines[0] and "libfoo-private.so.3" in lines[0]


@linux_only
def test_smoke_test_without_a_display_goes_offscreen_before_the_check() -> None:
    """--smoke-test with no display and no platform chosen passes the check and makes its QApplication offscreen."""
    code = ("import os, cnnstudio.app as app\n"
            "def reached():\n"
            "    print('platform', os.environ.get('QT_QPA_PLATFORM'))\n"
            "    raise SystemExit(7)\n"
            "app._application = reached\n"
            "raise SystemExit(app.run_gui(smoke_test=True))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env=_clean_env())
    assert result.returncode == 7, result.stderr
    assert result.stdout.strip() == "platform offscreen"

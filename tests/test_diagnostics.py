"""Errors that can be diagnosed: the log file, one-line errors that say where the details are, CNNSTUDIO_DEBUG,
and a GUI whose terminal keeps Qt's own fatal messages."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnstudio.core import logs
from cnnstudio.core.paths import log_dir

# A command whose work raises an unexpected error, itself caused by another one.
FAILING_COMMAND = """
import sys
import cnnstudio.cli as cli

def broken(args):
    try:
        {}["weights"]
    except KeyError as exc:
        raise RuntimeError("the model\\nbroke") from exc

cli.COMMANDS["info"] = broken
raise SystemExit(cli.main(["info", "model.keras"]))
"""


def run_python(code: str, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """A fresh interpreter with the test's environment at call time (its private data folder), debug off."""
    base = {name: value for name, value in os.environ.items() if name != logs.DEBUG_VARIABLE}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env={**base, **(env or {})})


@pytest.fixture
def fresh_logging():
    """setup_logging() in this process, undone afterwards (handlers, levels, captured warnings)."""
    logs.shutdown_logging()
    yield
    logs.shutdown_logging()


def test_internal_error_is_one_line_that_says_where_the_traceback_is() -> None:
    result = run_python(FAILING_COMMAND)
    assert result.returncode == 1
    log_file = log_dir() / "cnnstudio.log"
    assert result.stderr.splitlines() == [
        f"cnnstudio info: internal error: RuntimeError: the model broke (details in {log_file})"]
    text = log_file.read_text(encoding="utf-8")
    assert "ERROR cnnstudio.cli: cnnstudio info: internal error" in text
    assert "Traceback (most recent call last)" in text and 'RuntimeError: the model\nbroke' in text
    assert "KeyError: 'weights'" in text and "direct cause of the following exception" in text


def test_debug_prints_the_traceback_and_logs_debug_messages(tmp_path) -> None:
    code = FAILING_COMMAND.replace("    try:", "    cli.log.debug('a debug note')\n    try:")
    result = run_python(code, env={logs.DEBUG_VARIABLE: "1"})
    assert result.returncode == 1
    assert "internal error: RuntimeError: the model broke (details in" in result.stderr
    assert "Traceback (most recent call last)" in result.stderr and "KeyError: 'weights'" in result.stderr
    assert "DEBUG cnnstudio.cli: a debug note" in (log_dir() / "cnnstudio.log").read_text(encoding="utf-8")

    quiet_home = tmp_path / "without-debug"
    quiet = run_python(code, env={"CNNSTUDIO_HOME": str(quiet_home)})
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr
    assert "a debug note" not in (quiet_home / "logs" / "cnnstudio.log").read_text(encoding="utf-8")


def test_expected_errors_stay_one_line_and_are_logged(tmp_path) -> None:
    result = run_python("import cnnstudio.cli as cli; raise SystemExit(cli.main(['info', 'missing.keras']))")
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["cnnstudio info: missing.keras: no such file"]
    assert "WARNING cnnstudio.cli: cnnstudio info: missing.keras: no such file" in (
        log_dir() / "cnnstudio.log").read_text(encoding="utf-8")


def test_a_log_folder_that_cannot_be_made_changes_nothing_on_screen(tmp_path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    env = {"CNNSTUDIO_HOME": str(blocker)}
    failing = run_python(FAILING_COMMAND, env=env)
    assert failing.returncode == 1
    assert failing.stderr.splitlines() == ["cnnstudio info: internal error: RuntimeError: the model broke"]
    working = run_python("import cnnstudio.cli as cli; raise SystemExit(cli.main(['summary', '--json']))", env=env)
    assert working.returncode == 0 and working.stderr == "" and '"params"' in working.stdout


def test_setup_logging_writes_the_log_file_and_rotates_it(fresh_logging, monkeypatch) -> None:
    monkeypatch.setattr(logs, "MAX_BYTES", 2_000)
    path = logs.setup_logging(debug=False)
    assert path == logs.log_file() == log_dir() / "cnnstudio.log" and path.is_file()
    assert logs.setup_logging() == path  # a second call changes nothing
    logger = logging.getLogger("cnnstudio.test")
    logger.debug("not recorded without debug")
    for i in range(200):
        logger.info("line %d of a long session", i)
    logs.shutdown_logging()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["cnnstudio.log", "cnnstudio.log.1", "cnnstudio.log.2", "cnnstudio.log.3"]
    assert all(p.stat().st_size <= 2_000 for p in path.parent.iterdir())
    assert "line 199 of a long session" in path.read_text(encoding="utf-8")
    assert "not recorded" not in "".join(p.read_text(encoding="utf-8") for p in path.parent.iterdir())


def test_setup_logging_without_a_usable_folder_is_silent(fresh_logging, monkeypatch, tmp_path, capfd) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("CNNSTUDIO_HOME", str(blocker))
    assert logs.setup_logging(debug=False) is None and logs.active_log_file() is None
    assert logs.log_file() == blocker / "logs" / "cnnstudio.log"  # where it would be, for Help → About
    assert logs.open_native_log() is None
    logging.getLogger("cnnstudio.test").error("nowhere to go")
    logging.getLogger("some.library").warning("nor this")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb platform is Linux's")
def test_gui_without_a_display_shows_qts_own_message() -> None:
    """Qt aborts when no platform plugin can start; its reason must reach the terminal, not a bare 'Aborted'."""
    env = {name: value for name, value in os.environ.items() if name not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "-m", "cnnstudio"], capture_output=True, text=True, timeout=300,
                            env={**env, "QT_QPA_PLATFORM": "xcb"})
    print(f"exit code {result.returncode}; stderr:\n{result.stderr}")
    assert result.returncode != 0  # -6 (SIGABRT) on Linux: Qt calls abort()
    assert "platform plugin" in result.stderr and "xcb" in result.stderr
    log_text = (log_dir() / "cnnstudio.log").read_text(encoding="utf-8")
    assert "starting the window (QT_QPA_PLATFORM=xcb, DISPLAY=unset" in log_text


def test_native_output_of_a_command_goes_to_native_log() -> None:
    code = ("import os, cnnstudio.cli as cli\n"
            "cli.COMMANDS['info'] = lambda args: os.write(2, b'native library says hello\\n') and 0\n"
            "raise SystemExit(cli.main(['info', 'x']))")
    result = run_python(code)
    assert result.returncode == 0 and result.stderr == ""
    native = log_dir() / "native.log"
    assert "native library says hello" in native.read_text(encoding="utf-8")
    assert Path(native).read_text(encoding="utf-8").startswith("--- ")


def test_the_windows_tensorflow_import_writes_its_native_chatter_to_native_log_only_while_it_runs() -> None:
    """The window's terminal keeps Qt's messages before and after; what native code writes meanwhile is logged."""
    code = ("import os, sys\nfrom cnnstudio.core import logs\nlogs.setup_logging(debug=False)\n"
            "os.write(2, b'before\\n')\n"
            "with logs.native_output_to_log():\n"
            "    os.write(2, b'native library chatter\\n')\n"
            "    print('python meanwhile', file=sys.stderr)\n"
            "os.write(2, b'after\\n')\n")
    result = run_python(code)
    assert result.returncode == 0 and result.stderr == "before\nafter\n", result.stderr
    native = (log_dir() / "native.log").read_text(encoding="utf-8")
    assert "native library chatter\npython meanwhile\n" in native
    debug = run_python(code, env={logs.DEBUG_VARIABLE: "1"})  # debugging leaves the terminal as it is
    assert debug.stderr == "before\nnative library chatter\npython meanwhile\nafter\n", debug.stderr


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP"])
def test_a_command_ended_by_sigterm_or_sighup_stops_as_ctrl_c_does(signal_name) -> None:
    """``kill``, ``timeout`` and a closed terminal interrupt a command the same way Ctrl-C does: one line, exit 130."""
    code = ("import os, signal, time, cnnstudio.cli as cli\n"
            "def command(args):\n"
            f"    os.kill(os.getpid(), signal.{signal_name})\n"
            "    time.sleep(60)\n"
            "    return 0\n"
            "cli.COMMANDS['info'] = command\n"
            "raise SystemExit(cli.main(['info', 'x']))")
    result = run_python(code, timeout=60)
    assert (result.returncode, result.stderr) == (130, "cnnstudio info: interrupted\n"), result


@pytest.mark.parametrize("raised", ["MemoryError()", "tensorflow.errors.ResourceExhaustedError(None, None, 'OOM when "
                                                     "allocating tensor with shape[4294967296,65536]')"])
def test_running_out_of_memory_is_the_users_to_change_not_an_internal_error(raised) -> None:
    code = ("import cnnstudio.cli as cli\n"
            "def command(args):\n"
            "    import tensorflow  # after main() has quieted its start-up lines, as in a real command\n"
            f"    raise {raised}\n"
            "cli.COMMANDS['info'] = command\n"
            "raise SystemExit(cli.main(['info', 'x']))")
    result = run_python(code)
    assert result.returncode == 2 and "internal error" not in result.stderr, result.stderr
    assert result.stderr.startswith("cnnstudio info: not enough memory for this network and batch size")
    assert len(result.stderr.splitlines()) == 1


def test_a_reader_that_stops_reading_ends_a_command_quietly() -> None:
    """`cnnstudio summary | head`: no 'internal error', no traceback, the exit status a shell expects (141)."""
    code = ("import cnnstudio.cli as cli\n"
            "def command(args):\n"
            "    for i in range(200_000):\n"
            "        print('a long table line', i)\n"
            "    return 0\n"
            "cli.COMMANDS['info'] = command\n"
            "raise SystemExit(cli.main(['info', 'x']))")
    base = {name: value for name, value in os.environ.items() if name != logs.DEBUG_VARIABLE}
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=base)
    assert process.stdout.readline().startswith(b"a long table line 0")
    process.stdout.close()  # far more than a pipe holds is still to come
    _out, err = process.communicate(timeout=120)
    assert (process.returncode, err.decode()) == (141, "")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX thing")
def test_a_named_pipe_where_the_logs_go_costs_the_logs_not_the_command(tmp_path) -> None:
    """Opening a FIFO for writing waits for a reader for ever: every command, even `summary`, hung silently."""
    (tmp_path / "logs").mkdir()
    for name in (logs.LOG_NAME, logs.NATIVE_LOG_NAME):
        os.mkfifo(tmp_path / "logs" / name)
    done = subprocess.run([sys.executable, "-m", "cnnstudio", "summary", "--dataset", "digits"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "CNNSTUDIO_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("layer ") and done.stderr == ""

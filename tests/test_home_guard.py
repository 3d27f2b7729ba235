"""The test run's isolation from the real user's files, and the check that fails the run when they change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import home_guard
import pytest


def test_snapshot_comparison_detects_each_kind_of_change(tmp_path) -> None:
    data = tmp_path / "data"
    (data / "runs").mkdir(parents=True)
    (data / "runs" / "a.json").write_text("{}")
    (data / "settings.conf").write_text("x=1")
    missing = tmp_path / "not-yet"
    before = home_guard.snapshot([data, missing])
    assert home_guard.changes(before, home_guard.snapshot([data, missing])) == []

    (data / "runs" / "b.json").write_text("{}")  # a new run record
    (data / "settings.conf").write_text("x=1\ny=2")  # settings rewritten
    os.utime(data / "runs" / "a.json", ns=(1, 1))  # touched, same size
    missing.mkdir()  # a folder that did not exist
    (data / "runs" / "models").mkdir()
    after = home_guard.snapshot([data, missing])
    assert set(home_guard.changes(before, after)) == {
        f"created: {data / 'runs' / 'b.json'}",
        f"modified (size 3 → 7 bytes): {data / 'settings.conf'}",
        f"modified (size 2 → 2 bytes): {data / 'runs' / 'a.json'}",
        f"created: {missing}",
        f"created: {data / 'runs' / 'models'}",
    }

    (data / "runs" / "b.json").unlink()
    assert f"deleted: {data / 'runs' / 'b.json'}" in home_guard.changes(after, home_guard.snapshot([data, missing]))


def test_user_folders_follow_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "someone"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("CNNSTUDIO_HOME", str(tmp_path / "studio"))
    folders = {str(folder) for folder in home_guard.user_folders()}
    assert {str(tmp_path / "keras"), str(tmp_path / "studio")} <= folders
    if sys.platform.startswith("linux"):
        assert {str(tmp_path / "data" / "cnnstudio"), str(tmp_path / "config" / "CNN Studio")} <= folders


def test_the_real_folders_are_not_the_session_ones() -> None:
    session = home_guard.session_home
    assert session is not None and session.is_dir()
    assert home_guard.real_folders and not any(session in folder.parents for folder in home_guard.real_folders)


def _inside(path: str | Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


def test_every_user_location_is_temporary(tmp_path_factory) -> None:
    from cnnstudio.core.data.datasets import keras_cache_dir
    from cnnstudio.core.paths import data_dir, log_dir

    session, per_test = home_guard.session_home, tmp_path_factory.getbasetemp()
    assert _inside(Path.home(), session) and _inside(os.environ["MPLCONFIGDIR"], session)
    for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        assert _inside(os.environ[name], session), name
    for path in (data_dir(), log_dir(), keras_cache_dir(), os.environ["XDG_CONFIG_HOME"]):
        assert _inside(path, per_test), path
    assert not keras_cache_dir().exists()  # tests that expect no downloaded datasets find none


def test_qt_settings_are_temporary() -> None:
    pytest.importorskip("PySide6")
    from PySide6.QtCore import QSettings

    from cnnstudio.ui.settings import Settings

    store = Settings().store
    assert _inside(store.fileName(), Path(os.environ["XDG_CONFIG_HOME"])), store.fileName()
    assert _inside(QSettings(QSettings.IniFormat, QSettings.UserScope, "CNN Studio", "x").fileName(),
                   Path(os.environ["XDG_CONFIG_HOME"]))


def test_subprocesses_inherit_the_isolated_environment() -> None:
    code = ("import json, os, pathlib; print(json.dumps({'home': str(pathlib.Path.home()), "
            "'studio': os.environ['CNNSTUDIO_HOME'], 'config': os.environ['XDG_CONFIG_HOME']}))")
    seen = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                                     check=True).stdout)
    assert seen == {"home": str(Path.home()), "studio": os.environ["CNNSTUDIO_HOME"],
                    "config": os.environ["XDG_CONFIG_HOME"]}


def test_a_run_that_changes_the_real_folders_fails(tmp_path) -> None:
    """A whole pytest run with this conftest, for a made-up user whose data folder a careless test writes into."""
    user = tmp_path / "user"
    leak = user / ".local" / "share" / "cnnstudio" / "runs" / "leak.json"
    careless = tmp_path / "careless" / "test_careless.py"
    careless.parent.mkdir()
    careless.write_text("import pathlib\n\n\ndef test_writes_into_the_real_folder():\n"
                        f"    target = pathlib.Path({str(leak)!r})\n"
                        "    target.parent.mkdir(parents=True)\n    target.write_text('{}')\n")
    tests = Path(__file__).parent
    env = {name: value for name, value in os.environ.items()
           if name not in ("CNNSTUDIO_HOME", "KERAS_HOME", "MPLCONFIGDIR", "APPDATA", "LOCALAPPDATA")
           and not name.startswith("XDG_")}
    env.update(HOME=str(user), USERPROFILE=str(user), PYTHONPATH=os.pathsep.join([str(tests), env.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider",
               f"--basetemp={tmp_path / 'basetemp'}", str(careless)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=careless.parent)
    assert leak.is_file(), result.stdout[-3000:]
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout[-3000:]
    assert "1 passed" in result.stdout and "the real user's files changed during the test run" in result.stdout
    assert f"created: {user / '.local' / 'share' / 'cnnstudio'}" in result.stdout

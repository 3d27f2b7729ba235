"""``cnnstudio --smoke-test``: the real window trains, saves and reopens a model, then exits 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_smoke_mode_exits_zero() -> None:
    """The run, its record, its log and the window's settings land in this test's private folders."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}  # the test's environment now: its private folders
    env.pop("DISPLAY", None)
    result = subprocess.run([sys.executable, "-m", "cnnstudio", "--smoke-test"], capture_output=True, text=True,
                            timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "smoke test passed" in result.stdout and "saved and reopened" in result.stdout
    chatter = [line for line in result.stderr.splitlines() if re.match(r"[IWEF]\d{4} ", line)]
    assert not chatter, chatter  # TensorFlow's start-up lines (oneDNN, CUDA drivers, cuInit) go to native.log
    home = Path(env["CNNSTUDIO_HOME"])
    assert len(list((home / "runs").glob("*.json"))) == 1
    assert "starting the window" in (home / "logs" / "cnnstudio.log").read_text(encoding="utf-8")
    if sys.platform.startswith("linux"):  # Qt keeps settings in an INI file under XDG_CONFIG_HOME there
        assert (Path(env["XDG_CONFIG_HOME"]) / "CNN Studio" / "cnnstudio.conf").is_file()

"""``cnnstudio --smoke-test``: the real window trains, saves and reopens a model, then exits 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_smoke_mode_exits_zero() -> None:
    """The window trains, saves and reopens; its log lands in this test's private folders, and the user's
    settings (options, recent models) and run history are left as they were."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}  # the test's environment now: its private folders
    env.pop("DISPLAY", None)
    conf = Path(env["XDG_CONFIG_HOME"]) / "CNN Studio" / "cnnstudio.conf"  # where Qt keeps them on Linux
    conf.parent.mkdir(parents=True, exist_ok=True)
    users = "[files]\nrecent_models=/data/mine.keras\n\n[window]\nsketch_hint=1\n"
    conf.write_text(users, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "cnnstudio", "--smoke-test"], capture_output=True, text=True,
                            timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "smoke test passed" in result.stdout and "saved and reopened" in result.stdout
    chatter = [line for line in result.stderr.splitlines() if re.match(r"[IWEF]\d{4} ", line)]
    assert not chatter, chatter  # TensorFlow's start-up lines (oneDNN, CUDA drivers, cuInit) go to native.log
    home = Path(env["CNNSTUDIO_HOME"])
    assert "starting the window" in (home / "logs" / "cnnstudio.log").read_text(encoding="utf-8")
    assert list((home / "runs").glob("*.json")) == []  # the self-test's run is not the user's
    assert conf.read_text(encoding="utf-8") == users

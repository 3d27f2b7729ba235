"""``cnnstudio --smoke-test``: the real window trains, saves and reopens a model, then exits 0."""

from __future__ import annotations

import os
import subprocess
import sys


def test_smoke_mode_exits_zero() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("DISPLAY", None)
    result = subprocess.run([sys.executable, "-m", "cnnstudio", "--smoke-test"], capture_output=True, text=True,
                            timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "smoke test passed" in result.stdout and "saved and reopened" in result.stdout

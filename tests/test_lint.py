"""The tree stays ruff-clean (ruff comes with the dev extra)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install -e '.[dev]' brings it)")
    result = subprocess.run([ruff, "check", str(REPO)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]

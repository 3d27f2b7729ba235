"""The layering of the tree, enforced: import-linter contracts (pyproject.toml) and import-time checks.

import-linter sees every import, lazy ones too. What it cannot see is *when* a module is imported:
the window must appear before TensorFlow loads and ``cnnstudio summary`` must stay instant, so
those are checked by importing the modules in a fresh interpreter.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cnnstudio

PACKAGE = Path(cnnstudio.__file__).parent
REPO = PACKAGE.parent


def _modules(folder: str) -> list[str]:
    root = PACKAGE / folder
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _loaded_after_importing(modules: list[str], then: str = "") -> set[str]:
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"{then}\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    return set(out.stdout.strip().splitlines()[-1].split())


def test_import_linter_contracts_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(lint).exists():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]' brings it)")
    result = subprocess.run([lint, "--config", str(REPO / "pyproject.toml")], capture_output=True, text=True,
                            timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "0 broken" in result.stdout and "4 kept" in result.stdout, result.stdout[-2000:]


def test_core_modules_are_found_in_every_sub_package() -> None:
    core = _modules("core")
    for package in ("network", "data", "training", "files", "experiments"):
        assert sum(m.startswith(f"cnnstudio.core.{package}.") for m in core) >= 2, package


def test_importing_every_core_module_loads_no_qt() -> None:
    loaded = _loaded_after_importing(_modules("core"))
    assert not loaded & {"PySide6", "PyQt5", "PyQt6", "shiboken6"}


def test_gui_modules_load_no_tensorflow_when_imported() -> None:
    """The window must appear before TensorFlow is loaded behind it."""
    loaded = _loaded_after_importing(_modules("ui") + ["cnnstudio.app"])
    assert "PySide6" in loaded
    assert not loaded & {"tensorflow", "keras"}


def test_shape_table_config_and_data_readers_load_no_tensorflow() -> None:
    """`cnnstudio summary` stays instant: shapes come from layer specs, not from Keras."""
    loaded = _loaded_after_importing(
        ["cnnstudio.core.config", "cnnstudio.core.network.shape_table", "cnnstudio.core.data.datasets",
         "cnnstudio.core.data.idx_format", "cnnstudio.core.data.digit_preprocessing"],
        then=("from cnnstudio.core.config import ModelOptions\n"
              "from cnnstudio.core.network.shape_table import shape_table\n"
              "shape_table(ModelOptions(), (28, 28, 1), 10)"))
    assert not loaded & {"tensorflow", "keras"}

"""cnnstudio.core must never import Qt: the CLI and tests run it without a display."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import cnnstudio.core

CORE = Path(cnnstudio.core.__file__).parent
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "PySide2", "qtpy", "shiboken6", "matplotlib.backends.backend_qt")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_no_core_module_imports_qt() -> None:
    offenders = [
        f"{path.name}: {name}"
        for path in sorted(CORE.rglob("*.py"))
        for name in _imports(path)
        if name.startswith(FORBIDDEN)
    ]
    assert len(list(CORE.rglob("*.py"))) > 5
    assert offenders == []


def test_importing_every_core_module_loads_no_qt() -> None:
    modules = [f"cnnstudio.core.{p.stem}" for p in sorted(CORE.glob("*.py")) if p.stem != "__init__"]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'shiboken6')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"

"""Prints the reliability suite's counts per family at the end of a session that ran it."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    module = next((m for name, m in sys.modules.items() if name.endswith("test_reliability")), None)
    if module is None or not getattr(module, "COUNTS", None):
        return
    table = module.counts_table()
    terminalreporter.write_sep("-", "reliability suite: inputs per family")
    terminalreporter.write_line(table)
    if target := os.environ.get("CNNSTUDIO_RELIABILITY_COUNTS"):
        Path(target).write_text(table + "\n", encoding="utf-8")

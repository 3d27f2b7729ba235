"""Entry script of the PyInstaller bundle: the same ``cnnstudio`` command as the installed one."""

import os
import sys

if getattr(sys, "frozen", False):
    # PyInstaller's matplotlib runtime hook points MPLCONFIGDIR at a new temporary folder on every
    # start, so matplotlib rebuilds its font cache each time (over a second). Keep one instead.
    from cnnstudio.core.paths import data_dir

    cache = data_dir() / "matplotlib"
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["MPLCONFIGDIR"] = str(cache)

from cnnstudio.cli import main  # noqa: E402

raise SystemExit(main())

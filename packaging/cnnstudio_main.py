"""Entry script of the PyInstaller bundle: the same ``cnnstudio`` command as the installed one."""

from cnnstudio.cli import main

raise SystemExit(main())

"""``python -m cnnstudio`` runs the command-line entry point."""

from cnnstudio.cli import main

raise SystemExit(main())

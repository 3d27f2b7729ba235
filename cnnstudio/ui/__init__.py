"""Qt user interface (PySide6); a thin layer over :mod:`cnnstudio.core`."""

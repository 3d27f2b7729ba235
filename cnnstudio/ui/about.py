"""Help → About: versions, device, and where the app keeps its files (cache, runs, settings, log)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

from cnnstudio import __version__
from cnnstudio.core.data.datasets import keras_cache_dir
from cnnstudio.core.logs import log_file


def show_about(parent: QWidget, runtime: Any, history_folder: Path, settings_file: str) -> None:
    versions = (f"TensorFlow {runtime.tensorflow}, Keras {runtime.keras}<br>Device: {runtime.device}"
                if runtime else "TensorFlow is still loading.")
    QMessageBox.about(parent, "About CNN Studio",
                      f"<h3>CNN Studio {__version__}</h3><p>Learn and experiment with convolutional networks.</p>"
                      f"<p>{versions}</p><p>Dataset cache: {keras_cache_dir()}<br>Run history: {history_folder}<br>"
                      f"Settings: {settings_file}<br>Log file (for reporting problems): {log_file()}</p>")

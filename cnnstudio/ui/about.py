"""Help → About: versions, devices, and where the app keeps its files (cache, runs, settings, log)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

from cnnstudio import __version__
from cnnstudio.core.data.datasets import keras_cache_dir
from cnnstudio.core.logs import log_file

XLA_TEXT = {None: "automatic (Keras decides)", True: "on", False: "off"}


def _unbroken(text: str) -> str:
    """``text`` as HTML whose names stay beside their versions ("cuDNN 9" never wraps between the two)."""
    return escape(text).replace(" ", "&nbsp;").replace(",&nbsp;", ", ").replace(":&nbsp;", ": ")


def runtime_text(runtime: Any, execution: Any = None, notices: Sequence[str] = ()) -> str:
    """The versions and devices paragraph (HTML): TensorFlow's devices, the chosen execution, CUDA, notices."""
    if not runtime:
        return "TensorFlow is still loading."
    cuda = getattr(runtime, "cuda", "")
    if cuda and not runtime.gpus:  # a CUDA build says nothing of a GPU: without one it is not used
        cuda += ", unused: no GPU found"
    lines = [f"TensorFlow {escape(runtime.tensorflow)}, Keras {escape(runtime.keras)}"
             + (f" (built with {_unbroken(cuda)})" if cuda else ""),
             f"Devices TensorFlow sees: {escape(runtime.device)}"]
    if getattr(runtime, "cpu_kernels", ""):
        lines.append(f"CPU kernels: {escape(runtime.cpu_kernels)}")
    if execution is not None:
        lines += [f"Training runs on: {escape(execution.describe())}",
                  f"Replicas: {execution.plan.replicas} · precision policy: {escape(execution.policy)} · "
                  f"XLA: {XLA_TEXT[execution.xla]}"]
    lines += [f"Note: {escape(notice)}" for notice in notices]
    return "<br>".join(lines)


def show_about(parent: QWidget, runtime: Any, history_folder: Path, settings_file: str, execution: Any = None,
               notices: Sequence[str] = ()) -> None:
    QMessageBox.about(parent, "About CNN Studio",
                      f"<h3>CNN Studio {__version__}</h3><p>Learn and experiment with convolutional networks.</p>"
                      f"<p>{runtime_text(runtime, execution, notices)}</p><p>Dataset cache: {escape(str(keras_cache_dir()))}<br>"
                      f"Run history: {escape(str(history_folder))}<br>Settings: {escape(str(settings_file))}<br>"
                      f"Log file (for reporting problems): {escape(str(log_file()))}</p>")

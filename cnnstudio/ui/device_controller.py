"""Keeps the "Runs on" choice, the settings and the status bar's device label in step, and reports
whether TensorFlow loaded.

The choice is restored from the settings and saved on every change; the label shows the execution
of the current choice and batch once TensorFlow has loaded; every notice (a missing GPU, float16
refused, memory growth not enabled) becomes a status-bar message when the choice is made and when
a run starts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

from cnnstudio.core.training.execution import Execution
from cnnstudio.ui.background import Task
from cnnstudio.ui.device_choice import DeviceChoice
from cnnstudio.ui.settings import Settings

NOTICE_MS = 15_000
STATUS_LIMIT = 160  # characters of notices the status bar shows; About has them all


def status_text(notices: list[str], lead: str = "", limit: int = STATUS_LIMIT) -> str:
    """``lead`` ("Training…") and the notices on one status-bar line, cut to ``limit`` with a pointer to About."""
    text = "; ".join(notices)
    if len(text) > limit:
        text = text[:limit].rstrip(" ;,:(") + "… (all of it in Help → About)"
    return " — ".join(part for part in (lead, text) if part)


def load_backend(_task: Task) -> Any:
    """Import TensorFlow (GPU memory growth first, before any operation) and the training code, then list the devices.

    The runtime's notices say why an NVIDIA GPU present here is unusable, when one is.
    """
    from cnnstudio.core.logs import native_output_to_log

    with native_output_to_log():  # TensorFlow's start-up chatter goes to native.log, not the terminal
        from cnnstudio.core.training.devices import list_devices
        from cnnstudio.core.training.gpu_check import prepare_gpus

        problems = prepare_gpus()
        import cnnstudio.core.experiments.runner  # noqa: F401 - the import is the point
        from cnnstudio.core.training.runtime import runtime_info

        return runtime_info(list_devices(), problems)


class DeviceController(QObject):
    message = Signal(str, int)  # status-bar text, milliseconds
    ready = Signal()  # TensorFlow has loaded: the devices are listed, the label and any notice shown
    unavailable = Signal(str, str, str)  # TensorFlow could not be loaded: title, one-line reason, details

    def __init__(self, choice: DeviceChoice, settings: Settings, batch_size: Callable[[], int], label: QLabel,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.choice, self.settings, self.batch_size, self.label = choice, settings, batch_size, label
        self.runtime: Any = None  # RuntimeInfo once TensorFlow has loaded
        choice.set_choice(settings.device(), settings.mixed_precision(), settings.xla())
        choice.changed.connect(self._changed)

    def execution(self) -> Execution:
        return self.choice.execution()

    def notices(self) -> list[str]:
        """What could not be done as asked: the devices' problems, then the choice's."""
        return [*(self.runtime.notices if self.runtime else ()), *self.execution().notices]

    def loaded(self, runtime: Any) -> None:
        """TensorFlow has loaded (``runtime``: its RuntimeInfo): say so, list its devices, show the label and
        any notice over "Ready.", then signal ``ready``."""
        self.message.emit("Ready.", 4000)
        self.runtime = runtime
        self.choice.set_devices(runtime.devices)
        self.update_label()
        self._announce()
        self.ready.emit()

    def load_failed(self, reason: str, details: str) -> None:
        """TensorFlow could not be imported: the label says so and ``unavailable`` explains what to do."""
        self.label.setText("TensorFlow unavailable")
        self.unavailable.emit(
            "TensorFlow could not be loaded",
            f"TensorFlow could not be imported, so networks cannot be built or trained: {reason}. "
            "Try reinstalling it in this environment (pip install --force-reinstall 'tensorflow>=2.21'); "
            "on Windows also install the Microsoft Visual C++ Redistributable.", details)

    def update_label(self, *_args: object) -> None:
        if self.runtime is not None:
            self.label.setText(f"{self.execution().describe(self.batch_size())} · TensorFlow {self.runtime.tensorflow}"
                               f" · Keras {self.runtime.keras}")

    def run_starting(self, what: str, notices: bool = True) -> Execution:
        """The execution for a run about to start; ``what`` ("Training…") is shown, with its notices."""
        execution = self.execution()
        self.message.emit(status_text(self.notices() if notices else [], what), 0)
        return execution

    def _changed(self) -> None:
        choice = self.choice
        self.settings.set_device(choice.choice())
        self.settings.set_mixed_precision(choice.mixed_precision())
        self.settings.set_xla(choice.xla_choice())
        self.update_label()
        self._announce()

    def _announce(self) -> None:
        if notices := self.notices():
            self.message.emit(status_text(notices), NOTICE_MS)

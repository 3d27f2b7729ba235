"""What the app remembers between sessions (``QSettings``): geometry, last options, recent files, devices."""

from __future__ import annotations

import json

from PySide6.QtCore import QByteArray, QSettings

from cnnstudio.core.config import Experiment
from cnnstudio.core.errors import ConfigError
from cnnstudio.core.json_input import parse_json
from cnnstudio.core.training.devices import parse_device

MAX_RECENT = 8
XLA_TEXT = {None: "auto", True: "on", False: "off"}
GUI_DEVICE_KINDS = ("auto", "cpu", "gpu", "all-gpus")  # the command line's other forms are not remembered here


class Settings:
    def __init__(self, store: QSettings | None = None):
        self.store = store or QSettings("CNN Studio", "cnnstudio")

    def geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def set_geometry(self, value: QByteArray) -> None:
        self.store.setValue("window/geometry", value)

    def experiment(self) -> Experiment | None:
        """The options last used, or None when absent or unreadable."""
        text = self.store.value("experiment/last")
        try:
            return Experiment.from_dict(parse_json(text)) if isinstance(text, str) else None
        except (ValueError, ConfigError):
            return None

    def set_experiment(self, experiment: Experiment) -> None:
        self.store.setValue("experiment/last", json.dumps(experiment.to_dict()))

    def recent_models(self) -> list[str]:
        value = self.store.value("files/recent_models", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])][:MAX_RECENT]

    def add_recent_model(self, path: str) -> None:
        recent = [path] + [p for p in self.recent_models() if p != path]
        self.store.setValue("files/recent_models", recent[:MAX_RECENT])

    def device(self) -> str:
        """The device asked for (``auto``, ``cpu``, ``gpu:N``, ``all-gpus``); ``auto`` when absent, unreadable or
        not one the GUI offers."""
        try:
            request = parse_device(self.store.value("devices/device", "auto"))
        except ValueError:
            return "auto"
        return str(request) if request.kind in GUI_DEVICE_KINDS else "auto"

    def set_device(self, device: str) -> None:
        self.store.setValue("devices/device", str(parse_device(device)))

    def mixed_precision(self) -> bool:
        return str(self.store.value("devices/mixed_precision", "false")).lower() == "true"

    def set_mixed_precision(self, on: bool) -> None:
        self.store.setValue("devices/mixed_precision", "true" if on else "false")

    def xla(self) -> bool | None:
        """XLA forced on (True), off (False) or left to Keras (None)."""
        value = str(self.store.value("devices/xla", "auto"))
        return next((key for key, text in XLA_TEXT.items() if text == value), None)

    def set_xla(self, xla: bool | None) -> None:
        self.store.setValue("devices/xla", XLA_TEXT[xla])

    def ray_address(self) -> str | None:
        """The Ray address studies run on, or None when they run on this computer."""
        value = self.store.value("study/ray_address")
        return value if isinstance(value, str) and value.strip() and self.store.value("study/on_ray") == "true" else None

    def last_ray_address(self) -> str:
        value = self.store.value("study/ray_address", "local")
        return value.strip() if isinstance(value, str) and value.strip() else "local"

    def set_study_run_on(self, on_ray: bool, address: str) -> None:
        self.store.setValue("study/on_ray", "true" if on_ray else "false")
        self.store.setValue("study/ray_address", address.strip() or "local")

    def sync(self) -> None:
        self.store.sync()

"""What the app remembers between sessions (``QSettings``): geometry, last options, recent files."""

from __future__ import annotations

import json

from PySide6.QtCore import QByteArray, QSettings

from cnnstudio.core.config import Experiment
from cnnstudio.core.errors import ConfigError

MAX_RECENT = 8


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
            return Experiment.from_dict(json.loads(text)) if isinstance(text, str) else None
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

    def sync(self) -> None:
        self.store.sync()

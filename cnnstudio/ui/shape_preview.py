"""Keeps the Architecture tab's shape table in step with the options, reading unknown datasets behind."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from cnnstudio.core.data.datasets import Dataset
from cnnstudio.core.errors import ConfigError
from cnnstudio.core.network.architectures import architecture
from cnnstudio.core.network.shape_table import shape_table
from cnnstudio.core.workspace import Workspace
from cnnstudio.ui.architecture_view import ArchitectureView
from cnnstudio.ui.background import start_task
from cnnstudio.ui.config_panel import ConfigPanel


class ShapePreview(QObject):
    config_ok_changed = Signal(bool)  # whether the options make a buildable network on a readable dataset
    dataset_failed = Signal(str, str)  # one-line reason, details
    dataset_read = Signal(str)  # a description of the dataset just read

    def __init__(self, panel: ConfigPanel, view: ArchitectureView, workspace: Workspace, parent: QObject | None = None):
        super().__init__(parent)
        self.panel, self.view, self.workspace = panel, view, workspace
        self.config_ok = False
        self._pending: set[str] = set()
        panel.changed.connect(self.refresh)

    def _set_ok(self, ok: bool) -> None:
        self.config_ok = ok
        self.config_ok_changed.emit(ok)

    def refresh(self) -> None:
        try:
            experiment = self.panel.experiment()
        except ConfigError as exc:
            self.view.show_problem("Options", str(exc))
            self._set_ok(False)
            return
        name = experiment.dataset
        shown = Path(name).name or name  # a dataset folder or file by its name; the panel's tooltip has the path
        title = f"<b>{architecture(experiment.model.arch).title}</b> on <i>{shown}</i>"
        shape = self.workspace.datasets.shape(name)
        if shape is None:
            self.view.show_pending(title, f"Reading dataset {name}…")
            self._set_ok(False)
            if name not in self._pending:
                self._pending.add(name)
                datasets = self.workspace.datasets
                start_task(lambda _t: datasets.get(name), succeeded=self._read, failed=self._failed,
                           name="read-dataset")
            return
        try:
            table = shape_table(experiment.model, *shape)
        except ConfigError as exc:
            self.view.show_problem(title, str(exc))
            self._set_ok(False)
        else:
            self.view.show_table(title, table)
            self._set_ok(True)

    def _read(self, dataset: Dataset) -> None:
        self._pending.clear()
        self.dataset_read.emit(dataset.describe())
        self.refresh()

    def _failed(self, reason: str, details: str) -> None:
        self._pending.clear()
        self.view.show_problem("Dataset", reason)
        self._set_ok(False)
        self.dataset_failed.emit(reason, details)

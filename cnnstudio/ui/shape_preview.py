"""Keeps the Architecture tab (picture, shape table, cost) and the Design tab's per-layer results in step with
the options, reading unknown datasets behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from cnnstudio.core.config import Experiment, ModelOptions
from cnnstudio.core.data.datasets import KNOWN_TRAIN_IMAGES, Dataset
from cnnstudio.core.errors import ConfigError
from cnnstudio.core.network.architectures import architecture
from cnnstudio.core.network.design_analysis import Analysis, analyse
from cnnstudio.core.network.shape_table import ShapeTable, rows_before_problem, shape_table
from cnnstudio.core.workspace import Workspace
from cnnstudio.ui.architecture_view import ArchitectureView
from cnnstudio.ui.background import start_task
from cnnstudio.ui.config_panel import USE_DESIGN_TEXT, ConfigPanel
from cnnstudio.ui.design_view import DesignView


def cost_line(table: ShapeTable, experiment: Experiment, train_images: int | None, calibration: Any) -> tuple[str, str]:
    """The network's cost as rich text for the views, and its warning ('' when none)."""
    from cnnstudio.core.network.cost import duration, network_cost

    validation = round(train_images * experiment.train.validation_split) if train_images else 0
    cost = network_cost(table, train_images - validation if train_images else None, validation, calibration)
    parts = [f"<b>{cost.params:,}</b> parameters", f"<b>{cost.macs:,}</b> multiply-accumulates per image "
             f"({2 * cost.macs / 1e6:,.1f} MFLOPs)", f"{cost.activation_bytes / 1e6:,.2f} MB of activations per image"]
    if cost.seconds_per_epoch is not None:
        how = f"estimate for {cost.calibration.device}" if cost.calibrated else "rough estimate, not calibrated"
        parts.append(f"about {duration(cost.seconds_per_epoch)} per epoch ({how})")
    return " · ".join(parts), cost.warning or ""


class ShapePreview(QObject):
    config_ok_changed = Signal(bool)  # whether the options make a buildable network on a readable dataset
    dataset_failed = Signal(str, str)  # one-line reason, details
    dataset_read = Signal(str)  # a description of the dataset just read

    def __init__(self, panel: ConfigPanel, view: ArchitectureView, workspace: Workspace, parent: QObject | None = None,
                 design_view: DesignView | None = None):
        super().__init__(parent)
        self.panel, self.view, self.workspace, self.design_view = panel, view, workspace, design_view
        self.config_ok = False
        self.problem: str | None = "the options are being checked"  # why they cannot be trained now (None when ok)
        self._pending: set[str] = set()
        self._unreadable: tuple[str, str] | None = None  # the dataset that failed to read, and why: not retried
        self._calibration: Any = None
        self._calibration_read = False
        panel.changed.connect(self.refresh)
        panel.dataset_chosen.connect(self.retry_dataset)

    def calibration(self) -> Any:
        """This machine's cached speed calibration (read once), or None."""
        if not self._calibration_read:
            from cnnstudio.core.network.cost import cached_calibration

            self._calibration_read = True
            self._calibration = cached_calibration()[0]
        return self._calibration

    def train_images(self, name: str) -> int | None:
        dataset = self.workspace.datasets.cached(name)
        return len(dataset.x_train) if dataset is not None else KNOWN_TRAIN_IMAGES.get(name)

    def refresh_design(self) -> None:
        """The Design tab's per-layer results for its layers under the panel's options and dataset."""
        if self.design_view is None:
            return
        shape = self.workspace.datasets.shape(self.panel.dataset_name())
        try:
            options = self.panel.global_options()
        except ConfigError:
            options = ModelOptions()
        input_shape, classes = shape if shape is not None else (None, 10)
        layers = self.design_view.layers
        if not layers:  # nothing wrong yet: how to start, not an error
            note = ("No layers yet: pick a preset above and press Start From to copy its layers, or pick a kind of "
                    "layer and press Add.")
            if self.panel.uses_design():
                note += " Train needs at least one layer."
            self.design_view.show_analysis(Analysis(None, ()), note)
            return
        analysis = analyse(layers, self.design_view.design_name(), options, input_shape, classes)
        note = "" if shape is not None else "The dataset is being read: shapes follow."
        if not self.panel.uses_design():
            note = (f"Not in use: tick \u201c{USE_DESIGN_TEXT}\u201d in the experiment panel on the left "
                    "(any edit here ticks it) to train these layers.")
        self.design_view.show_analysis(analysis, note)

    def _set_ok(self, ok: bool, problem: str | None = None) -> None:
        self.config_ok, self.problem = ok, None if ok else (problem or "the options cannot be trained")
        self.config_ok_changed.emit(ok)

    def refresh(self) -> None:
        self.refresh_design()
        try:
            experiment = self.panel.experiment()
        except ConfigError as exc:
            self.view.show_problem("Options", str(exc))
            self._set_ok(False, str(exc))
            return
        name = experiment.dataset
        shown = Path(name).name or name  # a dataset folder or file by its name; the panel's tooltip has the path
        model = experiment.model
        what = f"Design '{model.design.name}'" if model.design is not None else architecture(model.arch).title
        title = f"<b>{what}</b> on <i>{shown}</i>"
        shape = self.workspace.datasets.shape(name)
        if shape is None and self._unreadable is not None and self._unreadable[0] == name:
            self._show_unreadable(title, self._unreadable[1])  # said once; other edits do not read it again
            return
        if shape is None:
            self.view.show_pending(title, f"Reading dataset {name}…")
            self._set_ok(False, f"the dataset {shown} is being read")
            if name not in self._pending:
                self._pending.add(name)
                datasets = self.workspace.datasets
                start_task(lambda _t: datasets.get(name), succeeded=self._read,
                           failed=lambda reason, details: self._failed(name, title, reason, details),
                           name="read-dataset")
            return
        try:
            table = shape_table(experiment.model, *shape)
        except ConfigError as exc:
            self.view.show_problem(title, str(exc), partial=rows_before_problem(experiment.model, *shape))
            self._set_ok(False, str(exc))
        else:
            self.view.show_table(title, table)
            cost, warning = cost_line(table, experiment, self.train_images(name), self.calibration())
            self.view.show_cost(cost, warning)
            if self.design_view is not None and model.design is not None:
                self.design_view.show_note(cost + (f"<br><span style='color:#b00020'>Warning: {warning}</span>"
                                                   if warning else ""))
            self._set_ok(True)

    def _read(self, dataset: Dataset) -> None:
        self._pending.clear()
        self.dataset_read.emit(dataset.describe())
        self.refresh()

    def _failed(self, name: str, title: str, reason: str, details: str) -> None:
        self._pending.clear()
        self._unreadable = (name, reason)
        self._show_unreadable(title, reason)
        self.dataset_failed.emit(reason, details)

    def _show_unreadable(self, title: str, reason: str) -> None:
        self.view.show_problem(title, reason, prefix="This dataset cannot be used: ")
        self._set_ok(False, f"this dataset cannot be used: {reason}")

    def retry_dataset(self) -> None:
        """The user chose a dataset again (perhaps mended): read it again, even the one that failed."""
        self._unreadable = None
        self.refresh()

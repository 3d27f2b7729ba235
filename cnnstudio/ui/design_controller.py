"""The Design tab's part of the window: its layers put in use, Start From a preset, designs opened or
shown with a model, and Edit → Undo/Redo over its edits."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenuBar, QTabWidget

from cnnstudio.core.config import Experiment
from cnnstudio.core.network.design import Design, DesignError
from cnnstudio.core.network.design_presets import preset_design
from cnnstudio.core.workspace import Workspace
from cnnstudio.ui.config_panel import ConfigPanel
from cnnstudio.ui.design_view import DesignView


class DesignController(QObject):
    """Connects the Design tab with the experiment panel and the File and Edit menus."""

    message = Signal(str, int)  # status-bar text, milliseconds

    def __init__(self, view: DesignView, panel: ConfigPanel, workspace: Workspace, tabs: QTabWidget,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view, self.panel, self.workspace, self.tabs = view, panel, workspace, tabs
        view.layers_changed.connect(self._edited)
        view.start_from_requested.connect(self.start_from)
        panel.use_design.clicked.connect(self._use_design_clicked)  # the user's click only, not set_experiment

    def _use_design_clicked(self, checked: bool) -> None:
        """Say what Train builds now: what the status bar said before the click may be the opposite."""
        if not checked:
            self.message.emit(f"Train now builds the {self.panel.arch.currentText()} preset (the Design tab keeps its "
                              "layers)", 5000)
        elif self.view.layers:
            self.message.emit(f"Train now builds the design '{self.view.design_name()}'", 5000)
        else:
            self.message.emit("The design has no layers yet: start from a preset or add layers in the Design tab",
                              5000)

    def build_edit_menu(self, bar: QMenuBar) -> None:
        """Undo and Redo of the Design tab's edits, with the standard shortcuts."""
        menu = bar.addMenu("&Edit")
        self.undo_action = self.view.undo_stack.createUndoAction(bar, "&Undo")
        self.undo_action.setShortcut(QKeySequence.Undo)
        self.redo_action = self.view.undo_stack.createRedoAction(bar, "&Redo")
        self.redo_action.setShortcut(QKeySequence.Redo)
        menu.addAction(self.undo_action)
        menu.addAction(self.redo_action)

    def edited_design(self) -> Design:
        """The Design tab's layers as a design (``DesignError`` when they make none)."""
        return Design(self.view.design_name(), self.view.layers)

    def _edited(self) -> None:
        """Every edit of the Design tab puts its layers in use (Train stays off while they make no network);
        an edit or undo that leaves no layers gives Train back the panel's preset (an empty design trains nothing)."""
        if not self.view.layers:
            self.panel.drop_design()
            return
        try:
            design = self.edited_design()
        except DesignError as exc:
            self.panel.set_design(None, str(exc))
        else:
            self.panel.set_design(design)

    def start_from(self, preset: str) -> None:
        """Replace the Design tab's layers by ``preset``'s for the current dataset's images (undoable); a
        learning rate not chosen by the user becomes the preset's own (AlexNet's layers need 0.0001)."""
        self.panel.follow_default_rate(preset)
        shape = self.workspace.datasets.shape(self.panel.dataset_name())
        design = preset_design(preset, shape[0] if shape is not None else (28, 28, 1))
        name = f"my_{design.name}"
        self.view.show_design(Design(name, design.layers, design.description), f"start from {preset}")
        self.tabs.setCurrentWidget(self.view)
        self.message.emit(f"Train now builds the design '{name}' (untick \u201cUse the Design tab's layers\u201d "
                          "to train a preset again)", 10000)

    def open_design(self, design: Design, text: str) -> None:
        self.view.show_design(design, text)
        self.tabs.setCurrentWidget(self.view)

    def show_experiment(self, experiment: Experiment) -> None:
        """Show ``experiment`` in the panel, and its design (if any) in the Design tab with a fresh history."""
        self.panel.set_experiment(experiment)
        if experiment.model.design is not None and experiment.model.design.layers != self.view.layers:
            self.view.show_design(experiment.model.design, "", undoable=False)

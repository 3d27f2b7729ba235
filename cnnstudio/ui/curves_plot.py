"""Overlaid validation curves of several runs, with a legend that names what differs."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.backends.backend_qtagg import NavigationToolbar2QT
from matplotlib.figure import Figure
from PySide6.QtWidgets import QVBoxLayout, QWidget

from cnnstudio.core.experiments.curves import EMPTY_TEXT, plot_runs
from cnnstudio.core.experiments.run_history import RunEntry
from cnnstudio.ui.figure_canvas import FigureCanvas


class CurvesPlot(QWidget):
    def __init__(self, parent: QWidget | None = None, empty_text: str = EMPTY_TEXT):
        super().__init__(parent)
        self.empty_text = empty_text  # what the empty plot says
        self.figure = Figure(figsize=(7, 3.2), layout="constrained")  # the labels and the legend always fit
        self.loss_axes, self.accuracy_axes = self.figure.subplots(1, 2)
        self.canvas = FigureCanvas(self.figure)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(NavigationToolbar2QT(self.canvas, self))
        layout.addWidget(self.canvas, 1)
        self.labels: list[str] = []
        self.show_runs([])

    def show_runs(self, entries: Sequence[RunEntry], xs: Sequence[Sequence[float] | None] | None = None) -> None:
        """Overlay the runs' curves; ``xs`` optionally gives each run's x positions (default epochs 1..n)."""
        self.labels = plot_runs(self.loss_axes, self.accuracy_axes, entries, xs, empty_text=self.empty_text)
        self.canvas.draw_idle()

"""Overlaid validation curves of several runs, with a legend that names what differs."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT
from matplotlib.figure import Figure
from PySide6.QtWidgets import QVBoxLayout, QWidget

from cnnstudio.core.experiments.run_history import RunEntry
from cnnstudio.core.experiments.study import differing_options, run_label


class CurvesPlot(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.figure = Figure(figsize=(7, 3.2))
        self.figure.subplots_adjust(left=0.08, right=0.98, top=0.88, bottom=0.16, wspace=0.22)
        self.loss_axes, self.accuracy_axes = self.figure.subplots(1, 2)
        self.canvas = FigureCanvasQTAgg(self.figure)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(NavigationToolbar2QT(self.canvas, self))
        layout.addWidget(self.canvas, 1)
        self.labels: list[str] = []
        self.show_runs([])

    def show_runs(self, entries: Sequence[RunEntry]) -> None:
        keys = differing_options([e.experiment for e in entries])
        self.labels = [run_label(e.experiment, keys) for e in entries]
        for axes, metric, title in ((self.loss_axes, "loss", "Loss"), (self.accuracy_axes, "accuracy", "Accuracy")):
            axes.clear()
            axes.grid(True, alpha=0.3)
            axes.set_xlabel("epoch")
            axes.set_title(f"Validation {metric}" if any(e.history.get(f"val_{metric}") for e in entries) else title)
            for entry, label in zip(entries, self.labels):
                values = entry.history.get(f"val_{metric}") or entry.history.get(metric, [])
                axes.plot(range(1, len(values) + 1), values, "o-", label=label, markersize=3)
            if entries:
                axes.legend(fontsize="small")
            else:
                axes.text(0.5, 0.5, "Select runs to compare", ha="center", va="center", transform=axes.transAxes,
                          color="gray")
        self.canvas.draw_idle()

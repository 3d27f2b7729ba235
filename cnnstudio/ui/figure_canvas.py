"""The window's matplotlib canvas: it draws only while it can be seen."""

from __future__ import annotations

from typing import Any

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg


class FigureCanvas(FigureCanvasQTAgg):
    """``FigureCanvasQTAgg`` whose ``draw_idle`` waits while the canvas is hidden (another tab, a window not shown
    yet) and draws once it is shown: the window appears without first drawing every tab's figures, and a live
    plot in a hidden tab costs nothing until it is looked at."""

    _stale_while_hidden = False

    def draw_idle(self) -> None:
        if self.isVisible():
            super().draw_idle()
        else:
            self._stale_while_hidden = True

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if self._stale_while_hidden:
            self._stale_while_hidden = False
            super().draw_idle()

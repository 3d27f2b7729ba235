"""The network's picture (core/network/diagram.py) on a canvas, redrawn shortly after the network or the size changes."""

from __future__ import annotations

from matplotlib.figure import Figure
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from cnnstudio.core.network.diagram import draw_network, drawn_blocks
from cnnstudio.core.network.shape_table import ShapeTable
from cnnstudio.ui.figure_canvas import FigureCanvas

REDRAW_MS = 60  # edits in quick succession (typing a number, undo held down) draw once


class NetworkDiagramView(QWidget):
    """Shows a :class:`ShapeTable` as a block diagram; *Export…* asks for the picture as PNG or SVG."""

    export_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.figure = Figure(figsize=(8, 2.6))
        self.canvas = FigureCanvas(self.figure)
        self.canvas.setMinimumHeight(170)
        self.canvas.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save this picture of the network as a PNG image or an SVG drawing.")
        self.export_button.clicked.connect(self.export_requested)
        self.export_button.setEnabled(False)
        self.table: ShapeTable | None = None
        self.drawn: list[str] = []  # 'maps:<name>' / 'vector:<name>' of what is drawn, left to right
        self.draw_count = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw)
        self.canvas.mpl_connect("resize_event", lambda _event: self._timer.start())
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(buttons)
        self._redraw()

    def show_table(self, table: ShapeTable) -> None:
        """Draw ``table``'s network (shortly: several changes in a row draw once)."""
        self.table = table
        self.export_button.setEnabled(True)
        self._timer.start()

    def clear(self) -> None:
        """No network to show (an impossible configuration, a dataset still being read)."""
        self.table = None
        self.export_button.setEnabled(False)
        self._timer.start()

    def redraw_now(self) -> None:
        """Draw a pending change at once (tests, screenshots)."""
        if self._timer.isActive():
            self._timer.stop()
            self._redraw()

    def _redraw(self) -> None:
        if self.table is None:
            self.figure.clear()
            self.figure.text(0.5, 0.5, "No picture: these options make no network yet.", ha="center", va="center",
                             color="#888888", fontsize=10)
            self.drawn = []
        else:
            draw_network(self.table, self.figure)
            self.drawn = drawn_blocks(self.figure)
        self.draw_count += 1
        self.canvas.draw_idle()

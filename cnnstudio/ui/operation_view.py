"""The operation explorer window: click a cell of a conv or pooling map, see how it was computed.

Beside the clicked map it shows the input image with the cell's receptive field, the previous
layer's map with the window (padding outside the map hatched, an explicit zero border hatched
inside it, the max/min winner outlined), the window's numbers, and the arithmetic in words. With a
second model open for comparison (e.g. min instead of max pooling), the same cell of the same
layer is shown through both, one row each. All numbers come from
:class:`cnnstudio.core.explain.operation.OperationExplorer`; this module only draws them.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.errors import CnnStudioError
from cnnstudio.core.explain.operation import CellOperation, OperationExplorer
from cnnstudio.core.inspection import unit_scaled
from cnnstudio.ui.class_labels import display_name
from cnnstudio.ui.images import gray_pixmap, heat_pixmap

PICTURE_PIXELS = 190  # each picture is scaled to about this many pixels across
GRID_CELL_WIDTH, GRID_SHOWN = 60, 7  # the numbers grid shows up to 7×7 cells without scrolling
WINDOW_COLOUR, WINNER_COLOUR, CELL_COLOUR, FIELD_COLOUR = QColor(230, 30, 30), QColor(255, 200, 0), \
    QColor(255, 255, 255), QColor(255, 60, 60)
PADDING_BRUSH = QBrush(QColor(120, 120, 120, 200), Qt.BDiagPattern)


class MapPicture(QWidget):
    """A 2-D map drawn cell by cell with a margin of padding cells around it, and outlined boxes on top.

    ``boxes`` are (top, left, bottom, right, colour) in map cells (bottom/right exclusive; may reach
    into the margin). A click on a cell of the map emits ``cell_clicked(row, col)``.
    """

    cell_clicked = Signal(int, int)

    def __init__(self, clickable: bool = False):
        super().__init__()
        self.pixmap, self.scale, self.margin, self.shape = None, 1, 0, (0, 0)
        self.boxes: list[tuple[int, int, int, int, QColor]] = []
        self.hatched: list[tuple[int, int]] = []  # cells (row, col) of an explicit zero border to hatch
        if clickable:
            self.setCursor(Qt.CrossCursor)
            self.setToolTip("Click a cell to see how it was computed")

    def show_map(self, pixmap: Any, shape: tuple[int, int], scale: int, margin: int = 0,
                 boxes: list[tuple[int, int, int, int, QColor]] | None = None,
                 hatched: list[tuple[int, int]] | None = None) -> None:
        self.pixmap, self.shape, self.scale, self.margin = pixmap, shape, scale, margin
        self.boxes, self.hatched = boxes or [], hatched or []
        self.setFixedSize(self.sizeHint())
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize((self.shape[1] + 2 * self.margin) * self.scale + 1, (self.shape[0] + 2 * self.margin) * self.scale + 1)

    def _rect(self, top: int, left: int, bottom: int, right: int) -> QRect:
        s, m = self.scale, self.margin
        return QRect((left + m) * s, (top + m) * s, (right - left) * s, (bottom - top) * s)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        if self.pixmap is None:
            return
        painter = QPainter(self)
        if self.margin:
            painter.fillRect(self.rect(), QColor(235, 235, 235))
            painter.fillRect(self.rect(), PADDING_BRUSH)
        painter.drawPixmap(self.margin * self.scale, self.margin * self.scale, self.pixmap)
        for row, col in self.hatched:
            painter.fillRect(self._rect(row, col, row + 1, col + 1), PADDING_BRUSH)
        for top, left, bottom, right, colour in self.boxes:
            painter.setPen(QPen(colour, 2))
            painter.drawRect(self._rect(top, left, bottom, right).adjusted(0, 0, -1, -1))

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.pixmap is None:
            return
        row = int(event.position().y()) // self.scale - self.margin
        col = int(event.position().x()) // self.scale - self.margin
        if 0 <= row < self.shape[0] and 0 <= col < self.shape[1]:
            self.cell_clicked.emit(row, col)


def _scale(side: int) -> int:
    return max(2, min(24, PICTURE_PIXELS // max(side, 1)))


def _number(value: float) -> str:
    return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


def describe(op: CellOperation) -> str:
    """The computation in words (rich text): what the window held and how the value came out."""
    row, col, channel = op.cell
    head = f"<b>{html.escape(display_name(op.layer))}</b>, cell ({row}, {col}) of channel {channel}: "
    padding = int(op.implicit.sum())
    border = int(op.border.sum())
    notes = []
    if border:
        notes.append(f"{border} cell{'s' * (border != 1)} of the explicit zero border (hatched) count as zeros")
    if op.kind == "conv":
        if padding:
            notes.append(f"{padding} cell{'s' * (padding != 1)} of 'same' padding (hatched, outside the map) count as zeros")
        k, channels = op.values.shape[0], op.values.shape[2]
        text = (f"{k}×{k}×{channels} = {op.products.size} inputs × weights, summed: {_number(op.products.sum())}, "
                f"plus the bias {_number(op.bias)} = {_number(op.total)}")
        if op.activation:
            text += f", through {html.escape(op.activation)} = <b>{_number(op.result)}</b>"
        else:
            text += f" = <b>{_number(op.result)}</b>"
    else:
        real = op.values.size - padding
        if padding:
            notes.append(f"{padding} cell{'s' * (padding != 1)} of 'same' padding (hatched) are ignored")
        if op.kind == "avg":
            text = f"the mean of {real} cells = <b>{_number(op.result)}</b>"
        else:
            word = "largest" if op.kind == "max" else "smallest"
            r, c = op.winner
            text = (f"the {word} of {real} cells is at ({op.window.top + r}, {op.window.left + c}) of "
                    f"{html.escape(display_name(op.source))} (outlined in yellow) = <b>{_number(op.result)}</b>")
            ties = int(np.sum(op.values[~op.implicit] == op.result))
            if ties > 1:
                text += f" ({ties} cells share it; the first in reading order is outlined)"
    text = head + text + ". The layer itself computed " + _number(op.output) + "."
    if notes:
        text += "<br>" + "; ".join(notes) + "."
    return text


class OperationPanel(QWidget):
    """One model's view of one cell: output map, input with field, source window, numbers, words."""

    cell_clicked = Signal(int, int)

    def __init__(self, title: str, explorer: OperationExplorer, image: np.ndarray):
        super().__init__()
        self.explorer, self.image = explorer, np.asarray(image, dtype=np.float32)
        self.op: CellOperation | None = None
        self.output_picture = MapPicture(clickable=True)
        self.input_picture, self.source_picture = MapPicture(), MapPicture()
        self.output_picture.cell_clicked.connect(self.cell_clicked)
        self.source_channel = QComboBox()
        self.source_channel.setToolTip("A convolution sums over every input channel; pick the one to show")
        self.source_channel.currentIndexChanged.connect(self._draw_source)
        self.grid_choice = QComboBox()
        self.grid_choice.addItems(["inputs", "weights", "inputs × weights"])
        self.grid_choice.currentIndexChanged.connect(self._draw_source)
        self.grid = QTableWidget()
        self.grid.setEditTriggers(QTableWidget.NoEditTriggers)
        self.grid.horizontalHeader().setDefaultSectionSize(GRID_CELL_WIDTH)
        self.grid.verticalHeader().setDefaultSectionSize(22)
        self.words = QLabel()
        self.words.setWordWrap(True)
        self.words.setTextFormat(Qt.RichText)  # built from escaped names only (see describe)
        self.captions = [QLabel() for _ in range(3)]
        pictures = QHBoxLayout()
        for caption, picture in zip(self.captions, (self.output_picture, self.input_picture, self.source_picture)):
            caption.setWordWrap(True)
            caption.setFixedWidth(PICTURE_PIXELS + 10)
            caption.setMinimumHeight(2 * caption.fontMetrics().height() + 4)  # two lines, wrapped or not
            column = QVBoxLayout()
            column.addWidget(caption)
            column.addWidget(picture, 0, Qt.AlignLeft)
            column.addStretch(1)
            pictures.addLayout(column)
        controls = QGridLayout()
        controls.addWidget(QLabel("Channel"), 0, 0)
        controls.addWidget(self.source_channel, 0, 1)
        self.show_label = QLabel("Show")
        controls.addWidget(self.show_label, 1, 0)
        controls.addWidget(self.grid_choice, 1, 1)
        controls.addWidget(self.grid, 2, 0, 1, 2)
        controls.setRowStretch(3, 1)
        pictures.addLayout(controls)
        pictures.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"<b>{html.escape(display_name(title, 60))}</b>"))
        layout.addLayout(pictures)
        layout.addWidget(self.words)
        self.words.setMinimumHeight(3 * self.words.fontMetrics().height())  # up to three lines of words

    def show_cell(self, layer: str, row: int, col: int, channel: int) -> None:
        """Explain (row, col, channel) of ``layer``; a failure is shown as the panel's words."""
        try:
            op = self.explorer.explain(self.image, layer, row, col, channel)
        except CnnStudioError as exc:
            self.op = None
            self.words.setText(html.escape(str(exc)))
            return
        self.op = op
        out = op.output_map[..., channel]
        scale = _scale(max(out.shape))
        self.output_picture.show_map(heat_pixmap(unit_scaled(out), scale), out.shape, scale,
                                     boxes=[(row, col, row + 1, col + 1, CELL_COLOUR)])
        kind = "convolution" if op.kind == "conv" else f"{op.kind} pooling"
        self.captions[0].setText(f"{html.escape(display_name(layer))}, channel {channel} ({kind}): click any cell")
        self._draw_input()
        conv = op.kind == "conv"
        self.source_channel.blockSignals(True)
        self.source_channel.clear()
        if conv:
            sums = np.abs(op.products.sum(axis=(0, 1)))
            self.source_channel.addItems([f"{c}" for c in range(op.values.shape[2])])
            self.source_channel.setCurrentIndex(int(np.argmax(sums)))
        else:
            self.source_channel.addItem(str(channel))
        self.source_channel.blockSignals(False)
        self.grid_choice.setVisible(conv)
        self.show_label.setVisible(conv)
        self._draw_source()
        self.words.setText(describe(op))

    def _draw_input(self) -> None:
        op, image = self.op, self.image
        scale = _scale(max(image.shape[:2]))
        boxes = [] if op.field is None else [(*op.field, FIELD_COLOUR)]
        self.input_picture.show_map(gray_pixmap(image, scale), image.shape[:2], scale, boxes=boxes)
        self.captions[1].setText("input: the pixels the cell depends on" if op.field else
                                 "input (the receptive field is not traced for this model)")

    def _draw_source(self) -> None:
        op = self.op
        if op is None:
            return
        channel = max(self.source_channel.currentIndex(), 0) if op.kind == "conv" else op.cell[2]
        source = op.source_map[..., channel]
        w = op.window
        margin = max(0, -w.top, -w.left, w.bottom - source.shape[0], w.right - source.shape[1])
        scale = _scale(max(source.shape) + 2 * margin)
        boxes = [(w.top, w.left, w.bottom, w.right, WINDOW_COLOUR)]
        if op.winner is not None:
            r, c = w.top + op.winner[0], w.left + op.winner[1]
            boxes.append((r, c, r + 1, c + 1, WINNER_COLOUR))
        hatched = [(w.top + r, w.left + c) for r, c in zip(*np.nonzero(op.border))]
        self.source_picture.show_map(heat_pixmap(unit_scaled(source), scale), source.shape, scale, margin, boxes, hatched)
        self.captions[2].setText(f"{html.escape(display_name(op.source))}, channel {channel}: the window it read")
        self._fill_grid(channel)

    def _fill_grid(self, channel: int) -> None:
        op = self.op
        if op.kind == "conv":
            values = (op.values, op.kernel, op.products)[self.grid_choice.currentIndex()][..., channel]
        else:
            values = op.values
        k = values.shape[0]
        self.grid.clear()
        self.grid.setRowCount(k)
        self.grid.setColumnCount(k)
        self.grid.setHorizontalHeaderLabels([str(op.window.left + c) for c in range(k)])
        self.grid.setVerticalHeaderLabels([str(op.window.top + r) for r in range(k)])
        shown = min(k, GRID_SHOWN)
        frame = 2 * self.grid.frameWidth() + (16 if k > GRID_SHOWN else 0)  # room for the scroll bars past 7×7
        self.grid.setFixedSize(shown * GRID_CELL_WIDTH + self.grid.verticalHeader().sizeHint().width() + frame + 4,
                               shown * 22 + self.grid.horizontalHeader().sizeHint().height() + frame + 4)
        for r in range(k):
            for c in range(k):
                implicit, border = bool(op.implicit[r, c]), bool(op.border[r, c])
                shown = "pad" if implicit and op.kind != "conv" else _number(float(values[r, c]))
                item = QTableWidgetItem(shown)
                item.setTextAlignment(Qt.AlignCenter)
                if implicit or border:
                    item.setBackground(QColor(215, 215, 215))
                    item.setToolTip("'same' padding: outside the map" if implicit else "explicit zero border")
                if op.winner == (r, c):
                    item.setBackground(WINNER_COLOUR)
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.grid.setItem(r, c, item)


class OperationDialog(QDialog):
    """The explorer for one layer and channel, through one model or two (one panel each, cells in step)."""

    def __init__(self, parent: QWidget | None, layer: str, channel: int, cell: tuple[int, int],
                 models: list[tuple[str, OperationExplorer]], image: np.ndarray):
        super().__init__(parent)
        self.setWindowTitle(f"How {display_name(layer)} computes each value")
        self.layer, self.channel = layer, channel
        self.panels = [OperationPanel(title, explorer, image) for title, explorer in models]
        layout = QVBoxLayout(self)
        layout.setSizeConstraint(QLayout.SetFixedSize)  # as big as the pictures need: never squeezed over them
        for panel in self.panels:
            panel.cell_clicked.connect(self.show_cell)
            layout.addWidget(panel)
        self.show_cell(*cell)

    def show_cell(self, row: int, col: int) -> None:
        for panel in self.panels:
            panel.show_cell(self.layer, row, col, self.channel)
        self.adjustSize()  # pictures and grids change size with the layer and the window

"""The sketch pad: draw a digit, see what the network receives and what it predicts, probe shifts."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen, QResizeEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.data.datasets import DIGIT_SHAPE
from cnnstudio.core.data.digit_preprocessing import mnist_style, read_gray
from cnnstudio.core.errors import CnnStudioError
from cnnstudio.core.experiments.curves import placeholder
from cnnstudio.core.inspection import probabilities, shift_probe
from cnnstudio.ui.class_labels import MAX_CLASS_ROWS, TOP_CLASSES, ClassNames, output_count, plot_text
from cnnstudio.ui.figure_canvas import FigureCanvas
from cnnstudio.ui.images import gray_pixmap

CANVAS = 280  # the drawing's own size in pixels: what the network's input is made from
LARGEST_CANVAS = 2 * CANVAS  # on screen the canvas grows with the window up to this side
PEN_WIDTH = 20  # in the drawing's pixels
DEBOUNCE_MS = 120
PROBE_HINT = "Draw a digit, then press Shift Probe"


class SketchCanvas(QWidget):
    """A white square for a 280×280 drawing; strokes are smooth, thick, antialiased and can be undone.

    On screen it is 280 to 560 pixels a side: the view asks for a side from the room it has (the
    size hint), while the minimum stays 280, so a large canvas never keeps the window from shrinking.
    Strokes are kept in the drawing's 280×280 coordinates: what the network receives does not depend on it.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(CANVAS, CANVAS)
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred)
        self._side = CANVAS  # the side the view asks for
        self.setCursor(Qt.CrossCursor)
        self.strokes: list[list[QPointF]] = []
        self.background: QImage | None = None  # an opened image file, drawn under the strokes

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(self._side, self._side)

    def set_side(self, side: int) -> None:
        """Ask to be ``side`` pixels wide and high (kept within 280…560)."""
        side = max(CANVAS, min(LARGEST_CANVAS, side))
        if side != self._side:
            self._side = side
            self.updateGeometry()

    def side(self) -> int:
        """The drawing's side on screen: the largest square the widget holds, at its top left."""
        return min(self.width(), self.height())

    def _scale(self) -> float:
        return self.side() / CANVAS

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.LeftButton:
            self.strokes.append([event.position() / self._scale()])
            self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.buttons() & Qt.LeftButton and self.strokes:
            self.strokes[-1].append(event.position() / self._scale())
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.LeftButton and self.strokes:
            self.changed.emit()

    def clear(self) -> None:
        self.strokes.clear()
        self.background = None
        self.update()
        self.changed.emit()

    def undo(self) -> None:
        if self.strokes:
            self.strokes.pop()
            self.update()
            self.changed.emit()

    def set_image(self, gray: np.ndarray) -> None:
        """Show an image file's pixels (scaled to fit) instead of strokes."""
        self.strokes.clear()
        pixels = np.ascontiguousarray(np.clip(gray, 0, 255).astype(np.uint8))
        image = QImage(pixels.data, pixels.shape[1], pixels.shape[0], pixels.shape[1], QImage.Format_Grayscale8).copy()
        # kept at the largest canvas's resolution: drawn smooth at any size, not a 280-px copy enlarged
        self.background = image.scaled(LARGEST_CANVAS, LARGEST_CANVAS, Qt.KeepAspectRatio, Qt.SmoothTransformation)
        self.update()
        self.changed.emit()

    def _paint(self, painter: QPainter) -> None:
        painter.fillRect(0, 0, CANVAS, CANVAS, Qt.white)
        if self.background is not None:  # centred in the drawing's 280×280, its aspect kept
            fit = CANVAS / max(self.background.width(), self.background.height())
            width, height = self.background.width() * fit, self.background.height() * fit
            painter.setRenderHint(QPainter.SmoothPixmapTransform)
            painter.drawImage(QRectF((CANVAS - width) / 2, (CANVAS - height) / 2, width, height), self.background)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setPen(QPen(QColor("black"), PEN_WIDTH, Qt.SolidLine, Qt.RoundCap, Qt.RoundJoin))
        for stroke in self.strokes:
            if len(stroke) == 1:
                painter.drawPoint(stroke[0])
                continue
            path = QPainterPath(stroke[0])
            for a, b in zip(stroke[1:], stroke[2:]):  # quadratic curves through midpoints: smooth strokes
                path.quadTo(a, (a + b) / 2)
            path.lineTo(stroke[-1])
            painter.drawPath(path)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.save()
        painter.scale(self._scale(), self._scale())
        self._paint(painter)
        painter.restore()
        painter.setPen(QPen(QColor("#999999"), 1))
        painter.drawRect(0, 0, self.side() - 1, self.side() - 1)

    def image(self) -> QImage:
        image = QImage(CANVAS, CANVAS, QImage.Format_Grayscale8)
        painter = QPainter(image)
        self._paint(painter)
        painter.end()
        return image

    def to_array(self) -> np.ndarray:
        """The drawing as 280×280 gray values (0 ink … 255 paper)."""
        image = self.image()
        data = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.bytesPerLine() * CANVAS)
        return data.reshape(CANVAS, image.bytesPerLine())[:, :CANVAS].astype(np.float32)

    def is_empty(self) -> bool:
        return not self.strokes and self.background is None


class SketchPadView(QWidget):
    send_to_feature_maps = Signal(object, str)  # 28×28×1 pixels, label
    predicted = Signal(object)  # probabilities

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.class_names = ClassNames(10)  # the model's classes, shown safely (see class_labels)
        self.blocked_reason: str | None = None
        self.processed: np.ndarray | None = None
        self.last_call_ms = float("nan")

        self.canvas = SketchCanvas()
        self.clear_button = QPushButton("Clear")
        self.undo_button = QPushButton("Undo Stroke")
        self.open_button = QPushButton("Open Image…")
        self.save_button = QPushButton("Save PNG…")
        self.probe_button = QPushButton("Shift Probe")
        self.probe_button.setToolTip("Move the processed digit by −6…+6 pixels and plot the confidence in the "
                                     "prediction: how translation-invariant the network is (compare pooling types)")
        self.maps_button = QPushButton("Show Feature Maps")
        self.left_column = left = QVBoxLayout()
        left.addWidget(QLabel("Draw a digit (left mouse button):"))
        left.addWidget(self.canvas)
        row = QHBoxLayout()
        for button in (self.clear_button, self.undo_button):
            row.addWidget(button)
        left.addLayout(row)
        row = QHBoxLayout()
        for button in (self.open_button, self.save_button):
            row.addWidget(button)
        left.addLayout(row)

        self.preview = QLabel()
        self.preview.setFixedSize(28 * 5, 28 * 5)
        self.preview.setStyleSheet("border: 1px solid #999;")
        self.preview_caption = QLabel("What the network receives: the ink cropped, scaled into a 20×20 box and "
                                      "centred by its centre of mass in 28×28, as MNIST was made.")
        self.preview_caption.setWordWrap(True)
        self.top = QLabel("–")
        self.top.setTextFormat(Qt.PlainText)  # class names come from files: never rich text
        self.top.setStyleSheet("font-size: 28px; font-weight: bold;")
        self.bars_note = QLabel()  # says when only the most probable classes have bars
        self.bars_note.setVisible(False)
        self.bars = QGridLayout()
        self.bar_widgets: list[QProgressBar] = []
        self.bar_labels: list[QLabel] = []
        self.status = QLabel()
        self._status_is_problem = False
        self.trained_on: str | None = None  # the dataset the model learned from, when its record says
        self.status.setWordWrap(True)
        self.figure = Figure(figsize=(4, 2.2), layout="constrained")  # the title and axis labels always fit
        self.probe_axes = self.figure.add_subplot(1, 1, 1)
        self.probe_canvas = FigureCanvas(self.figure)
        # as wide as the drawing above it (its own 4-inch hint would widen the column), the height left below it
        self.probe_canvas.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Expanding)
        self.probe_result: tuple | None = None  # (shifts, predicted class, horizontal, vertical) for probed_input
        self.probed_input: np.ndarray | None = None
        self.clear_probe()

        right = QVBoxLayout()
        top_row = QHBoxLayout()
        top_row.addWidget(self.preview)
        top_row.addWidget(self.preview_caption, 1)
        right.addLayout(top_row)
        prediction = QHBoxLayout()
        prediction.addWidget(QLabel("Prediction:"))
        prediction.addWidget(self.top, 1)
        right.addLayout(prediction)
        right.addWidget(self.bars_note)
        right.addLayout(self.bars)
        buttons = QHBoxLayout()
        buttons.addWidget(self.probe_button)
        buttons.addWidget(self.maps_button)
        right.addLayout(buttons)
        right.addStretch(1)
        right.addWidget(self.status)
        self.probe_canvas.setMinimumHeight(160)
        left.addWidget(self.probe_canvas, 1)  # under the drawing it probes: as wide as the canvas, the room below it
        layout = QHBoxLayout(self)
        layout.addLayout(left)
        layout.addLayout(right, 1)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.predict)
        self.canvas.changed.connect(self._debounce.start)
        self.canvas.changed.connect(self._edit_buttons)
        self.clear_button.clicked.connect(self.canvas.clear)
        self.undo_button.clicked.connect(self.canvas.undo)
        self.open_button.clicked.connect(self.open_image)
        self.save_button.clicked.connect(self.save_png)
        self.probe_button.clicked.connect(self.run_shift_probe)
        self.maps_button.clicked.connect(self._send)
        self._make_bars()
        self._update_state()
        self._edit_buttons()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        """The canvas takes the height it has, up to 45% of the width (the prediction needs the rest)."""
        super().resizeEvent(event)
        margins = self.layout().contentsMargins()
        # the rest of its column: the caption, the buttons and the shift probe's plot at its usual height
        rest = self.left_column.sizeHint().height() - self.canvas.sizeHint().height()
        room = self.height() - rest - margins.top() - margins.bottom()
        self.canvas.set_side(min(room, int(self.width() * 0.45)))

    @property
    def ranked(self) -> bool:
        """True when there are too many classes for a bar each: the bars show the most probable ones."""
        return len(self.class_names) > MAX_CLASS_ROWS

    def _make_bars(self) -> None:
        """One bar per class, or :data:`TOP_CLASSES` bars for the most probable classes when there are many."""
        for widget in self.bar_widgets + self.bar_labels:
            widget.deleteLater()
        self.bar_widgets, self.bar_labels = [], []
        count = TOP_CLASSES if self.ranked else len(self.class_names)
        self.bars_note.setText(f"The {TOP_CLASSES} most probable of {len(self.class_names):,} classes:")
        self.bars_note.setVisible(self.ranked)
        for i in range(count):
            label, bar = QLabel("" if self.ranked else self.class_names[i]), QProgressBar()
            label.setTextFormat(Qt.PlainText)
            bar.setRange(0, 1000)
            bar.setFormat("%p%")
            bar.setMaximumHeight(16)
            self.bars.addWidget(label, i, 0)
            self.bars.addWidget(bar, i, 1)
            self.bar_labels.append(label)
            self.bar_widgets.append(bar)

    def set_model(self, model: Any, class_names: list[str] | None, trained_on: str | None = None) -> None:
        """Read drawings with ``model``; ``trained_on`` (its record's dataset) decides what the pad advises."""
        self.model, self.trained_on = model, trained_on
        self.clear_probe()  # even the same model object may have been trained further
        self._status_is_problem = True  # show the advice for this model once it is usable
        count = output_count(model) if model is not None else 0
        names = ClassNames(count, class_names)
        if names.first() != self.class_names.first() or len(names) != len(self.class_names):
            self.class_names = names
            self._make_bars()
        self._update_state()
        self.predict()

    def set_blocked(self, reason: str | None) -> None:
        self.blocked_reason = reason
        if reason:
            self.clear_probe()  # the model is about to change
        self._update_state()
        if not reason:
            self.predict()

    def ready_text(self) -> str:
        """What the status line says when the model can read a drawing."""
        if self.trained_on == "digits":
            return ("This model learned from the small built-in 'digits' set (1,797 images): it will read sketches "
                    "poorly. Train on MNIST (the default dataset) for a model that reads your drawings well; "
                    "offline, pick a folder of MNIST's IDX files with Open… → Folder in the Data box.")
        return "Draw a digit with the mouse: the model reads it as you draw."

    def _usable(self) -> str | None:
        """Why prediction cannot run now, or None."""
        if self.blocked_reason:
            return self.blocked_reason
        if self.model is None:
            return "Train or open a model to test it on your drawing."
        shape = getattr(self.model, "input_shape", None)
        if not isinstance(shape, tuple) or tuple(shape[1:]) != DIGIT_SHAPE or len(self.class_names) < 1:
            return (f"This model takes {shape} inputs; the sketch pad feeds 28×28 gray digits to an image "
                    "classifier (train on digits, mnist or another 28×28 gray set).")
        return None

    def _update_state(self) -> None:
        problem = self._usable()
        for button in (self.probe_button, self.maps_button):
            button.setEnabled(problem is None and self.processed is not None)
        if problem:
            self.status.setText(problem)
        elif self._status_is_problem:  # the reason no longer holds (e.g. training ended): say what to do
            self.status.setText(self.ready_text())
        self._status_is_problem = problem is not None

    def predict(self) -> None:
        """Preprocess the drawing like MNIST, show it, and run the model on it (a direct call)."""
        self.processed = None
        if self.canvas.is_empty():
            self._clear_prediction()
            if self._usable() is None:  # no stale "model call" time once the drawing is gone
                self.status.setText(self.ready_text())
            self._update_state()
            return
        try:
            digit = mnist_style(self.canvas.to_array())
        except CnnStudioError as exc:  # e.g. an opened image with no ink: nothing of the last drawing stays
            self._clear_prediction()
            self._update_state()
            self.status.setText(str(exc))
            return
        self.processed = digit.astype(np.float32)[..., np.newaxis]
        if self.probed_input is not None and not np.array_equal(self.probed_input, self.processed):
            self.clear_probe()  # the plot described another drawing
        self.preview.setPixmap(gray_pixmap(digit, 5))
        problem = self._usable()
        if problem is not None:
            self._update_state()
            return
        started = time.perf_counter()
        probs = probabilities(self.model, self.processed[np.newaxis])[0]
        self.last_call_ms = (time.perf_counter() - started) * 1000
        best = int(np.argmax(probs))
        self.top.setText(f"{self.class_names[best]}  ({probs[best]:.0%})")
        shown = np.argsort(probs)[::-1][: len(self.bar_widgets)] if self.ranked else range(len(self.bar_widgets))
        for bar, label, index in zip(self.bar_widgets, self.bar_labels, shown):
            bar.setValue(int(round(float(probs[index]) * 1000)))
            bar.setFormat(f"{float(probs[index]):.0%}")  # rounded as the prediction above is (Qt's %p truncates)
            if self.ranked:
                label.setText(self.class_names[index])
        self.status.setText(self.ready_text() if self.trained_on == "digits" else f"model call: {self.last_call_ms:.1f} ms")
        self._update_state()
        self.predicted.emit(probs)

    def _clear_prediction(self) -> None:
        """No drawing the network can read: no preview, prediction, bars or shift probe."""
        self.clear_probe()
        self.preview.clear()
        self.top.setText("–")
        for bar in self.bar_widgets:
            bar.setValue(0)
            bar.setFormat("%p%")
        if self.ranked:
            for label in self.bar_labels:
                label.setText("")

    def _edit_buttons(self) -> None:
        """Undo, Clear and Save PNG only when there is something to undo, clear or save."""
        self.undo_button.setEnabled(bool(self.canvas.strokes))
        for button in (self.clear_button, self.save_button):
            button.setEnabled(not self.canvas.is_empty())

    def run_shift_probe(self) -> None:
        if self.processed is None or self._usable():
            return
        shifts, predicted, horizontal, vertical = shift_probe(self.model, self.processed)
        self._remove_legends()
        axes = self.probe_axes
        axes.clear()
        axes.set_axis_on()
        axes.plot(shifts, horizontal, "o-", label="shift left/right")
        axes.plot(shifts, vertical, "s--", label="shift up/down")
        axes.set_ylim(0, 1.05)
        axes.set_xlabel("shift (pixels)")
        axes.set_xticks(range(int(min(shifts)), int(max(shifts)) + 1, 2))  # whole pixels, never "-2.5"
        axes.set_title(f"confidence in '{plot_text(self.class_names[predicted])}'", fontsize="medium")
        axes.grid(True, alpha=0.3)
        self.figure.legend(loc="outside lower center", ncols=2, fontsize="small", frameon=False)  # covers no point
        self.probe_canvas.draw_idle()
        self.probe_result = (shifts, predicted, horizontal, vertical)
        self.probed_input = self.processed.copy()

    def clear_probe(self) -> None:
        """No shift probe shown: the drawing or the model changed since, or there was none."""
        self.probe_result = self.probed_input = None
        self._remove_legends()
        placeholder(self.probe_axes, PROBE_HINT)
        self.probe_canvas.draw_idle()

    def _remove_legends(self) -> None:
        for legend in list(self.figure.legends):
            legend.remove()

    def _send(self) -> None:
        if self.processed is not None:
            self.send_to_feature_maps.emit(self.processed, "your sketch")

    def open_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a digit image", "", "Images (*.png *.jpg *.jpeg *.bmp *.gif)")
        if path:
            try:
                self.canvas.set_image(read_gray(path))
            except CnnStudioError as exc:
                self.status.setText(str(exc))

    def save_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the drawing", "digit.png", "PNG images (*.png)")
        if path and not self.canvas.image().save(path, "PNG"):
            self.status.setText(f"could not write {path}")

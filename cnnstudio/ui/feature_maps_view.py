"""Feature maps and learned filters: what each convolution and pooling layer makes of one image.

Rendering happens on the GUI thread only while no training run owns the model (a LeNet-5 pass
and its pictures take a few milliseconds); during training the view says so and waits.
"""

from __future__ import annotations

import html
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSignalBlocker, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.data import datasets
from cnnstudio.core.data.digit_preprocessing import image_for_model
from cnnstudio.core.errors import CnnStudioError
from cnnstudio.core.explain.operation import OPERATIONS, OperationExplorer
from cnnstudio.core.inspection import (
    FeatureExtractor,
    FeatureMap,
    conv_filters,
    tile,
    tile_columns,
    tile_position,
    tile_unused,
    unit_scaled,
)
from cnnstudio.ui.attribution_view import AttributionView
from cnnstudio.ui.class_labels import MAX_LISTED, ClassNames, display_name
from cnnstudio.ui.images import gray_pixmap, heat_pixmap
from cnnstudio.ui.operation_view import OperationDialog
from cnnstudio.ui.timeline_view import TimelineView

MAP_PIXELS = (140, 200)  # a family's largest map is drawn about this wide: at least, at most (as the width allows)
READABLE_PIXELS = 80  # a family's largest map is never drawn narrower (many channels wrap into more rows instead)
MAX_SCALE = 12  # screen pixels per cell, at most
COMPARE_TEXT, SINGLE_TEXT = "Compare With Model…", "Single Model"  # the compare button's two faces
FAMILY_RATIO = 0.6  # a map below this fraction of its family's first size starts a new family
ADAPTING_KINDS = ("ZeroPadding2D", "Resizing")  # before the first convolution they show the input itself


def map_scales(input_shape: tuple[int, ...], shapes: list[tuple[int, int, int]], kinds: list[str],
               width: int) -> tuple[int, list[int]]:
    """Screen pixels per cell for the input and each map, for a column ``width`` pixels wide.

    Maps are drawn in *families* that share one scale, so that their sizes can be compared: the input,
    the layers that only pad or resize it and every map about as large (the first convolutions) form
    the first; a pooling or strided layer that shrinks the maps well below the family's size starts the
    next. A family's scale draws its largest map about ``width / 4`` wide (within :data:`MAP_PIXELS`)
    and, where it can, fits each of its layers' channels, in :func:`tile_columns` columns, in the width,
    its largest map never narrower than :data:`READABLE_PIXELS` (channels then wrap into more rows).
    """
    width = max(width, 1)
    target = min(max(width // 4, MAP_PIXELS[0]), MAP_PIXELS[1])
    sides = [max(input_shape[0], input_shape[1])] + [max(h, w) for h, w, _c in shapes]
    family, first, adapting = [0], sides[0], True
    for side, kind in zip(sides[1:], kinds):
        adapting = adapting and kind in ADAPTING_KINDS
        if not adapting and not FAMILY_RATIO <= side / first <= 1 / FAMILY_RATIO:
            family.append(family[-1] + 1)
            first = side
        else:
            family.append(family[-1])
    shown = [(input_shape[0], input_shape[1], 1)] + [tuple(shape) for shape in shapes]
    scales = {}
    for f in set(family):
        members = [shown[i] for i in range(len(shown)) if family[i] == f]
        largest = max(max(h, w) for h, w, _c in members)
        scale = target // largest
        for _h, w, c in members:  # each layer's channels in their usual grid (tile_columns) across the width
            scale = min(scale, (width + 1) // ((w + 1) * tile_columns(c)))
        scales[f] = max(1, min(MAX_SCALE, max(scale, -(-READABLE_PIXELS // largest))))
    per_map = [scales[f] for f in family]
    return per_map[0], per_map[1:]


def _padding_of(model: Any, name: str) -> tuple[int, int, int, int] | None:
    """A ZeroPadding2D layer's (top, bottom, left, right) padding, or None where it cannot be read."""
    try:
        (top, bottom), (left, right) = model.get_layer(name).padding
        return int(top), int(bottom), int(left), int(right)
    except (AttributeError, TypeError, ValueError):
        return None


class _Tiles(QWidget):
    """An H×W×C array's channels side by side (:func:`tile`), in as many columns as its width holds
    (at most ``max_columns``) and as many rows as that takes: a narrow view wraps them instead of
    cutting them off."""

    def __init__(self, values: np.ndarray, scale: int, max_columns: int, colormap: str = "viridis",
                 value_range: tuple[float, float] | None = None):
        super().__init__()
        self.values, self.scale, self.colormap = values, scale, colormap
        self.value_range = value_range  # one scale for every channel (see tile), else each on its own
        self.max_columns = max(1, min(max_columns, values.shape[2]))
        self.columns = self.max_columns
        self._pixmap: QPixmap | None = None
        policy = QSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def columns_for(self, width: int) -> int:
        """As many columns as fit ``width``, evened out over the rows that takes (16 in 12: two rows of 8)."""
        step = (self.values.shape[1] + 1) * self.scale  # a channel and its one-pixel gap
        fit = max(1, min(self.max_columns, (width + self.scale) // step))
        rows = -(-self.values.shape[2] // fit)
        return -(-self.values.shape[2] // rows)

    def _size(self, columns: int) -> QSize:
        height, width, channels = self.values.shape
        rows = -(-channels // columns)
        return QSize((columns * (width + 1) - 1) * self.scale, (rows * (height + 1) - 1) * self.scale)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return self._size(self.max_columns)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(self.values.shape[1] * self.scale, self.values.shape[0] * self.scale)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._size(self.columns_for(width)).height()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        columns = self.columns_for(event.size().width())
        if columns != self.columns:
            self.columns, self._pixmap = columns, None
        super().resizeEvent(event)

    def set_scale(self, scale: int) -> None:
        """Draw each cell ``scale`` pixels wide (the columns follow the width it then gets)."""
        if scale != self.scale:
            self.scale, self._pixmap = scale, None
            self.columns = self.columns_for(self.width()) if self.width() > 0 else self.max_columns
            self.updateGeometry()
            self.update()

    def pixmap(self) -> QPixmap:
        if self._pixmap is None:
            self._pixmap = heat_pixmap(tile(self.values, self.columns, value_range=self.value_range), self.scale,
                                       self.colormap, tile_unused(self.values.shape, self.columns))
        return self._pixmap

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        QPainter(self).drawPixmap(0, 0, self.pixmap())


class _MapLabel(_Tiles):
    """A tiled picture of one layer's channels; a click tells which channel and cell were hit."""

    channel_clicked = Signal(object, int, int, int)  # feature, channel, row, column

    def __init__(self, feature: FeatureMap, columns: int, scale: int, colormap: str = "viridis",
                 border: tuple[int, int, int, int] | None = None):
        super().__init__(feature.values, scale, columns, colormap)
        self.feature = feature
        self.border = border  # a padding layer's (top, bottom, left, right): outlined inside each map
        self.setCursor(Qt.PointingHandCursor)
        tip = "Click a cell to see how it was computed" if feature.kind in OPERATIONS else "Click a map to enlarge it"
        if border:
            tip = "The dashed line is the edge of the unpadded map; outside it, the zeros added by padding.\n" + tip
        self.setToolTip(tip)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self.pixmap())
        if not self.border:
            painter.end()
            return
        top, bottom, left, right = self.border
        height, width, channels = self.feature.shape
        painter.setPen(QPen(QColor(255, 160, 40), 1, Qt.DashLine))
        s = self.scale
        for channel in range(channels):
            row, column = divmod(channel, self.columns)
            x, y = column * (width + 1) * s, row * (height + 1) * s
            painter.drawRect(x + left * s, y + top * s, (width - left - right) * s - 1, (height - top - bottom) * s - 1)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        x, y = int(event.position().x()) // self.scale, int(event.position().y()) // self.scale
        channel = tile_position(self.feature.shape, self.columns, x, y)
        if channel is not None:
            height, width = self.feature.shape[:2]
            self.channel_clicked.emit(self.feature, channel, y % (height + 1), x % (width + 1))


class FeatureMapsView(QWidget):
    rendered = Signal(float)  # milliseconds for the last full render
    sketch_requested = Signal()  # show the sketch pad's drawing here
    compare_requested = Signal()  # pick a second model to show beside this one
    read_requested = Signal()  # the user agrees to read the test images the model's record names

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.compare_model: Any = None
        self.model_name = self.compare_name = ""  # as the window names them (a file, a run)
        self.images: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.class_names = ClassNames(0)  # the test images' classes, shown safely (see class_labels)
        self.current: np.ndarray | None = None
        self.current_label = ""
        self._extractors: weakref.WeakKeyDictionary[Any, FeatureExtractor] = weakref.WeakKeyDictionary()
        self._explorers: weakref.WeakKeyDictionary[Any, OperationExplorer] = weakref.WeakKeyDictionary()
        self.blocked_reason: str | None = None

        self.index = QSpinBox()
        self.index.setToolTip("Which test image (of the chosen class) to show; '—' while another image is shown")
        self.index.setSpecialValueText("—")  # shown at the minimum, -1: the image shown is not a picked test image
        self.class_filter = QComboBox()
        self.class_filter.setToolTip("Only test images of this class")
        # filled after it is first shown: its width follows its entries ("any class" at least), never clipped
        self.class_filter.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.class_filter.setMinimumContentsLength(len("any class"))
        self.sketch_button = QPushButton("Use Sketch")
        self.sketch_button.setToolTip("Show the drawing from the sketch pad, as the network receives it")
        self.open_button = QPushButton("Open Image…")
        self.open_button.setToolTip("An image file, prepared the way the model expects (MNIST-style for digit models)")
        # one button that reads "Single Model" while a second model is shown: the row keeps its width (two
        # buttons made the tab area scroll sideways at 1024 px once a model was compared)
        self.compare_button = QPushButton(COMPARE_TEXT)
        self.compare_button.setMinimumWidth(max(self.compare_button.fontMetrics().horizontalAdvance(text)
                                                for text in (COMPARE_TEXT, SINGLE_TEXT)) + 24)
        controls = QHBoxLayout()
        for widget in (QLabel("Test image"), self.class_filter, self.index, self.sketch_button, self.open_button,
                       self.compare_button):
            controls.addWidget(widget)
        controls.addStretch(1)
        self.message = QLabel()
        self.message.setTextFormat(Qt.PlainText)  # it names files and classes: never rich text
        self.message.setWordWrap(True)
        self.read_button = QPushButton("Read Test Images…")
        self.read_button.setToolTip("Read the test images of the dataset this model's file names (you are asked "
                                    "first): to pick a test image here")
        self.read_button.setVisible(False)  # only while the test images wait for the user's agreement
        self.read_button.clicked.connect(self.read_requested)
        self.timing = QLabel()
        self.timing.setStyleSheet("color: gray;")

        self.maps_area = QScrollArea()
        self.maps_area.setWidgetResizable(True)
        self.maps_area.viewport().installEventFilter(self)  # a wider view draws larger maps (map_scales)
        self.filters_area = QScrollArea()
        self.filters_area.setWidgetResizable(True)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.maps_area, "Feature maps")
        self.tabs.addTab(self.filters_area, "Filters")
        self.attribution = AttributionView()
        self.tabs.addTab(self.attribution, "Explain")
        self.timeline = TimelineView()
        self.tabs.addTab(self.timeline, "Timeline")
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        message_row = QHBoxLayout()
        message_row.addWidget(self.message, 1)
        message_row.addWidget(self.read_button, 0, Qt.AlignRight | Qt.AlignTop)  # its own width, at the right
        layout.addLayout(message_row)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.timing)
        self.render_ms: float | None = None
        self.tabs.currentChanged.connect(self._show_timing)
        self.tabs.currentChanged.connect(self._show_message)
        self.attribution.explained.connect(self._show_timing)

        self.index.valueChanged.connect(self.show_test_image)
        self.class_filter.currentIndexChanged.connect(self._class_changed)
        self.sketch_button.clicked.connect(self.sketch_requested)
        self.compare_button.clicked.connect(self._compare_clicked)
        self.open_button.clicked.connect(self.open_image)
        self.digit_like = True
        self.map_labels: dict[str, list[_MapLabel]] = {}
        self.input_labels: dict[str, QLabel] = {}
        self._captions: list[QLabel] = []
        self.enlarged: QDialog | None = None
        self._refresh_controls()
        self.render()

    # inputs ----------------------------------------------------------------------------
    def set_model(self, model: Any, name: str = "", digit_like: bool | None = None) -> None:
        """Show ``model``; ``digit_like``: whether image files get MNIST preprocessing (None: the core's
        rule, :func:`datasets.digit_like`, applied to the model's input shape and class count)."""
        if digit_like is None and model is not None:
            shape = model.input_shape
            digit_like = isinstance(shape, tuple) and datasets.digit_like(tuple(shape[1:]), int(model.output_shape[-1]))
        self.model, self.model_name, self.digit_like = model, name, bool(digit_like)
        self.read_button.setVisible(False)  # a new model: its notice (if any) says again whether it is needed
        self._show_message()
        self._extractors.clear()
        self._explorers.clear()
        self._explained_models()
        self.render()
        self.render_filters()

    def set_compare_model(self, model: Any, name: str) -> None:
        self.compare_model, self.compare_name = model, name
        self._explained_models()
        self._refresh_controls()
        self.render()

    def set_blocked(self, reason: str | None) -> None:
        """While training owns the model nothing is computed here."""
        self.blocked_reason = reason
        self._show_message()
        self.attribution.set_blocked(reason)
        self._refresh_controls()
        if not reason:
            self.render()
            self.render_filters()
        else:
            self.message.setText(reason)

    def show_notice(self, text: str, readable: bool = False) -> None:
        """A note about the inputs (e.g. why the test images are missing), in the view's message line;
        ``readable``: the test images can be read once the user agrees (the Read Test Images button)."""
        self.message.setText(text)
        self.read_button.setVisible(readable)

    def test_images_agreed(self) -> None:
        """The user agreed to read the test images: they are on their way (or their problem will be said)."""
        self.read_button.setVisible(False)

    def set_test_images(self, images: np.ndarray, labels: np.ndarray, class_names: list[str]) -> None:
        """The test images to pick from; the class filter lists at most :data:`MAX_LISTED` classes."""
        self.images, self.labels, self.class_names = images, labels, ClassNames(len(class_names), class_names)
        self.read_button.setVisible(False)
        self._explained_models()
        with QSignalBlocker(self.class_filter):
            self.class_filter.clear()
            self.class_filter.addItem("any class", -1)
            for i, name in enumerate(self.class_names.first(MAX_LISTED)):
                self.class_filter.addItem(name, i)
        self._class_changed()

    def _candidates(self) -> np.ndarray:
        if self.labels is None:
            return np.arange(0)
        wanted = self.class_filter.currentData()
        return np.arange(len(self.labels)) if wanted in (None, -1) else np.flatnonzero(self.labels == wanted)

    def _class_changed(self) -> None:
        with QSignalBlocker(self.index):
            self.index.setRange(-1, max(0, len(self._candidates()) - 1))
            self.index.setValue(0)
        self._refresh_controls()
        self.show_test_image()

    def show_test_image(self) -> None:
        candidates = self._candidates()
        if self.images is None or not len(candidates) or self.index.value() < 0:
            return
        i = int(candidates[min(self.index.value(), len(candidates) - 1)])
        name = self.class_names[self.labels[i]]
        self._show(self.images[i], f"test image #{i} (class {name})")

    def open_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", "", "Images (*.png *.jpg *.jpeg *.bmp *.gif)")
        if path and self.model is not None:
            try:
                pixels = image_for_model(path, tuple(self.model.input_shape[1:]), self.digit_like)
            except CnnStudioError as exc:
                self.message.setText(str(exc))
                return
            self.show_image(pixels, Path(path).name)

    def show_image(self, pixels: np.ndarray, label: str) -> None:
        """Show an image that was not picked with the test-image controls (the sketch, a file, a gallery image)."""
        with QSignalBlocker(self.index):
            self.index.setValue(-1)  # the picker says "—": it does not describe this image
        self._show(pixels, label)

    def _show(self, pixels: np.ndarray, label: str) -> None:
        self.current, self.current_label = np.asarray(pixels, dtype=np.float32), label
        self.attribution.set_image(self.current, label)
        self.render()

    @property
    def titles(self) -> tuple[str, str]:
        """The two models' column titles, never equal: a second copy of the same file would take the first's
        place wherever the views are keyed by title (its maps drawn over the first's)."""
        first, second = self.model_name or "model", self.compare_name or "second model"
        return first, (f"{second} (second model)" if second == first else second)

    def _explained_models(self) -> None:
        """The Explain tab shows the model and, when it takes the same images, the second model."""
        first, second = self.titles
        models = [(first, self.model)]
        other = self.compare_model
        if self.model is not None and other is not None and other.input_shape[1:] == self.model.input_shape[1:]:
            models.append((second, other))
        self.attribution.set_models(models if self.model is not None else [], self.class_names)

    def _refresh_controls(self) -> None:
        free = not self.blocked_reason
        self.index.setEnabled(free and self.images is not None)
        self.class_filter.setEnabled(free and self.images is not None)
        self.sketch_button.setEnabled(free and self.model is not None)
        self.open_button.setEnabled(free and self.model is not None)
        self.compare_button.setEnabled(free and self.model is not None)
        comparing = self.compare_model is not None
        self.compare_button.setText(SINGLE_TEXT if comparing else COMPARE_TEXT)
        self.compare_button.setToolTip(f"Back to {display_name(self.model_name or 'the model', 60)} alone" if comparing else
                                       "Open a second model to see the same input through its layers side by side "
                                       "(e.g. max vs min pooling)")

    def _compare_clicked(self) -> None:
        if self.compare_model is None:
            self.compare_requested.emit()
        else:
            self.set_compare_model(None, "")

    # rendering -------------------------------------------------------------------------
    def _extract(self, model: Any) -> list[FeatureMap]:
        if model not in self._extractors:  # weak keys: a dead model's extractor goes with it
            self._extractors[model] = FeatureExtractor(model)
        pixels = self.current
        expected = tuple(model.input_shape[1:])
        if pixels.shape != expected:
            raise CnnStudioError(f"this model takes {expected} images, not {pixels.shape}")
        return self._extractors[model](pixels)

    def render(self) -> None:
        self._refresh_controls()
        if self.blocked_reason or self.model is None or self.current is None:
            self.message.setText(self.blocked_reason or ("Train or open a model to see its feature maps."
                                                         if self.model is None else "Pick a test image, or use the sketch."))
            if self.model is None:
                self.maps_area.setWidget(QLabel())
            return
        started = time.perf_counter()
        first, second = self.titles
        columns = [(first, self.model)]
        if self.compare_model is not None:
            columns.append((second, self.compare_model))
        grid = QWidget()
        layout = QGridLayout(grid)
        self.map_labels, self.input_labels, self._captions = {}, {}, []
        try:
            for col, (title, model) in enumerate(columns):
                features = self._extract(model)
                layout.addWidget(QLabel(f"<b>{html.escape(display_name(title, 60))}</b>"), 0, 2 * col, 1, 2)
                shape = "×".join(str(n) for n in self.current.shape)  # as every layer's row says its own
                self._captions.append(QLabel(f"<b>input</b><br>Input<br>{shape}"))
                layout.addWidget(self._captions[-1], 1, 2 * col)
                self.input_labels[title] = QLabel()
                layout.addWidget(self.input_labels[title], 1, 2 * col + 1, Qt.AlignLeft | Qt.AlignTop)
                self.map_labels[title] = []
                adapting = True  # padding and resizing before the first convolution: the input itself, in grey
                for row, feature in enumerate(features, start=2):
                    h, w, c = feature.shape
                    adapting = adapting and feature.kind in ADAPTING_KINDS
                    caption = QLabel(f"<b>{html.escape(display_name(feature.name))}</b><br>{feature.kind}<br>{h}×{w}×{c}")
                    border = _padding_of(model, feature.name) if feature.kind == "ZeroPadding2D" else None
                    # as many columns as the width holds, up to one row of all channels: a wide view fills
                    # its width rather than leaving it empty beside a usual grid of big maps
                    label = _MapLabel(feature, c, 1, "gray" if adapting else "viridis", border)
                    label.channel_clicked.connect(self._map_clicked)
                    self.map_labels[title].append(label)
                    self._captions.append(caption)
                    layout.addWidget(caption, row, 2 * col, Qt.AlignTop)
                    layout.addWidget(label, row, 2 * col + 1, Qt.AlignTop)  # as wide as its column: it wraps to fit
                layout.setColumnStretch(2 * col + 1, 1)  # two models share the width equally
        except CnnStudioError as exc:
            self.message.setText(str(exc))
            self.maps_area.setWidget(QLabel())
            return
        layout.setRowStretch(layout.rowCount(), 1)  # rows stay together at the top
        self._grid_layout, self._scales_width = layout, None
        self._rescale()
        self.maps_area.setWidget(grid)
        elapsed = (time.perf_counter() - started) * 1000
        self.message.setText(f"{self.current_label}: the input as the network sees it (after padding and resizing), "
                             "then every convolution and pooling layer; each channel is scaled to its own range.")
        self.render_ms = elapsed
        self._show_timing()
        self.rendered.emit(elapsed)

    def _column_width(self) -> int:
        """The width each model's maps have: the view's, less the captions (and a scroll bar, shown or not,
        so that a scroll bar appearing never changes the scale back)."""
        area = self.maps_area
        models = max(1, len(self.map_labels))
        captions = max((label.sizeHint().width() for label in self._captions), default=0)
        grid = self._grid_layout
        spacing = max(grid.horizontalSpacing(), 0) + 2
        margins = grid.contentsMargins().left() + grid.contentsMargins().right()
        usable = area.width() - 2 * area.frameWidth() - area.verticalScrollBar().sizeHint().width() - margins
        return max(1, (usable - spacing * (models - 1)) // models - captions - spacing)

    def _rescale(self) -> None:
        """Give the input and every map the scale :func:`map_scales` picks for the view's present width."""
        if self.current is None or not self.map_labels:
            return
        width = self._column_width()
        if width == getattr(self, "_scales_width", None):
            return
        self._scales_width = width
        for title, labels in self.map_labels.items():
            input_scale, scales = map_scales(self.current.shape, [m.feature.shape for m in labels],
                                             [m.feature.kind for m in labels], width)
            picture = self.input_labels[title]
            if picture.property("scale") != input_scale:
                picture.setPixmap(gray_pixmap(self.current, input_scale))
                picture.setProperty("scale", input_scale)
            for label, scale in zip(labels, scales):
                label.set_scale(scale)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Resize and watched is self.maps_area.viewport():
            self._rescale()
        return super().eventFilter(watched, event)

    def _show_message(self, *_args: Any) -> None:
        """The message line is about the maps (and what blocks the view): the other sub-tabs say their own."""
        own_words = self.tabs.currentWidget() is not self.maps_area  # the filters do not depend on the input
        self.message.setVisible(not own_words or bool(self.blocked_reason) or self.model is None)

    def _show_timing(self, *_args: Any) -> None:
        """The time of what the current sub-tab shows: the feature maps' render, the explanation's computation."""
        shown = self.tabs.currentWidget()
        if shown is self.maps_area and self.render_ms is not None:
            self.timing.setText(f"rendered in {self.render_ms:.0f} ms")
        elif shown is self.attribution and self.attribution.elapsed_ms is not None:
            self.timing.setText(f"explained in {self.attribution.elapsed_ms:.0f} ms")
        else:
            self.timing.setText("")

    def render_filters(self) -> None:
        if self.model is None or self.blocked_reason:
            self.filters_area.setWidget(QLabel())
            return
        try:
            filters = conv_filters(self.model)
        except CnnStudioError as exc:
            self.filters_area.setWidget(QLabel(str(exc)))
            return
        grid = QWidget()
        layout = QGridLayout(grid)
        self.filter_tiles: list[_Tiles] = []
        for row, (name, kernels, inputs) in enumerate(filters):
            k = kernels.shape[0]
            largest = float(np.nanmax(np.abs(kernels))) if kernels.size else 0.0
            largest = largest if np.isfinite(largest) and largest > 0 else 1.0
            averaged = f"<br>(mean of {inputs} input channels)" if inputs > 1 else ""
            caption = (f"<b>{html.escape(display_name(name))}</b><br>{kernels.shape[2]} filters of {k}×{k}{averaged}<br>"
                       f"<span style='color:#b2182b'>red +</span>, white 0, "
                       f"<span style='color:#2166ac'>blue −</span> (±{largest:.3g})")
            layout.addWidget(QLabel(caption), row, 0, Qt.AlignTop)
            # one scale for the layer's kernels, centred on zero: white is a zero weight, and kernels compare
            tiles = _Tiles(kernels, max(2, 72 // k), kernels.shape[2], "RdBu_r", (-largest, largest))
            self.filter_tiles.append(tiles)
            layout.addWidget(tiles, row, 1, Qt.AlignTop)
        layout.setColumnStretch(1, 1)
        layout.setRowStretch(len(filters), 1)  # rows stay together at the top
        self.filters_area.setWidget(grid)

    def _map_clicked(self, feature: FeatureMap, channel: int, row: int, col: int) -> None:
        if feature.kind in OPERATIONS:
            self.explore(feature.name, channel, row, col)
        else:
            self.enlarge(feature, channel)

    def _explorer(self, model: Any) -> OperationExplorer:
        if model not in self._explorers:
            self._explorers[model] = OperationExplorer(model)
        return self._explorers[model]

    def explore(self, layer: str, channel: int, row: int, col: int) -> None:
        """Open the operation explorer on a cell of ``layer``; a second model with the same layer is shown too."""
        if self.model is None or self.current is None or self.blocked_reason:
            return
        first, second = self.titles
        models = [(first, self._explorer(self.model))]
        other = self.compare_model
        if other is not None and layer in self._explorer(other).explorable() \
                and tuple(other.input_shape[1:]) == self.current.shape:
            models.append((second, self._explorer(other)))
        self.enlarged = OperationDialog(self, layer, channel, (row, col), models, self.current)
        self.enlarged.open()

    def enlarge(self, feature: FeatureMap, channel: int) -> None:
        values = feature.values[..., channel]
        low, high = float(values.min()), float(values.max())
        dialog = QDialog(self)
        dialog.setWindowTitle(f"{feature.name}, channel {channel}")
        layout = QVBoxLayout(dialog)
        layout.addWidget(QLabel(pixmap=heat_pixmap(unit_scaled(values), max(1, 320 // max(values.shape)))))
        layout.addWidget(QLabel(f"{feature.name} ({feature.kind}) channel {channel}: {values.shape[0]}×{values.shape[1]}, "
                                f"values from {low:.4g} to {high:.4g}"))
        self.enlarged = dialog
        dialog.open()

"""The training timeline: scrub (or play) the epochs of a run to watch the first filters form.

Shows one :class:`Snapshot` at a time: the first convolution's kernels (averaged over their input
channels, on one symmetric scale over all epochs so that change is visible) and its feature maps
for the fixed test image. Everything happens on the GUI thread from a finished record.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from cnnstudio.core.inspection import tile, tile_columns
from cnnstudio.core.timeline import Snapshot, Timeline
from cnnstudio.ui.images import heat_pixmap

EMPTY_TEXT = ("Train a model to record how its first filters form; "
              "models saved before this version have no timeline.")
PLAY_INTERVAL_MS = 300
KERNEL_PIXELS = 60  # each kernel is scaled up to about this many pixels across
MAP_PIXELS = 120  # each feature map likewise


def epoch_text(epoch: float) -> str:
    """1.0 → "1", 2.34 → "2.34"."""
    return str(int(epoch)) if epoch == int(epoch) else f"{epoch:.3g}"


def symmetric_tile(kernels: np.ndarray, bound: float, columns: int) -> np.ndarray:
    """k×k×F kernels in a :func:`tile` grid on one scale: -bound → 0, 0 → 0.5, +bound → 1 (NaN gaps)."""
    bound = max(float(bound), 1e-12)
    return tile(kernels, columns, value_range=(-bound, bound))


class TimelineView(QWidget):
    """An epoch slider, a Play button and the selected snapshot's kernels and maps."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.timeline: Timeline | None = None
        self._bound = 1.0
        self.note = QLabel(wordWrap=True, textFormat=Qt.PlainText)
        self.kernels_caption = QLabel(textFormat=Qt.PlainText)
        self.kernels = QLabel(alignment=Qt.AlignLeft | Qt.AlignTop)
        self.maps_caption = QLabel(textFormat=Qt.PlainText)
        self.maps = QLabel(alignment=Qt.AlignLeft | Qt.AlignTop)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setPageStep(1)
        self.slider.valueChanged.connect(self._show)
        self.epoch_label = QLabel(textFormat=Qt.PlainText)
        self.epoch_label.setMinimumWidth(self.epoch_label.fontMetrics().horizontalAdvance("epoch 00.00 of 000.00"))
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._play)
        self.timer = QTimer(self)
        self.timer.setInterval(PLAY_INTERVAL_MS)
        self.timer.timeout.connect(self._step)

        controls = QHBoxLayout()
        controls.addWidget(self.play_button)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.epoch_label)
        self.content = QWidget()
        content = QVBoxLayout(self.content)
        content.setContentsMargins(0, 0, 0, 0)
        content.addLayout(controls)
        for widget in (self.kernels_caption, self.kernels, self.maps_caption, self.maps):
            if widget is self.maps_caption:
                content.addSpacing(8)
            content.addWidget(widget)
        content.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.content)
        layout.addStretch(1)  # the empty state's sentence stays at the top
        self.set_timeline(None)

    def set_timeline(self, timeline: Timeline | None, note: str = "") -> None:
        """Show ``timeline`` from its last epoch (None or empty: say why there is nothing); ``note`` goes above."""
        self.play_button.setChecked(False)
        self.timeline = timeline if timeline is not None and timeline.snapshots else None
        self.note.setText(note if self.timeline is not None else " ".join(filter(None, (note, EMPTY_TEXT))))
        self.note.setVisible(bool(self.note.text()))
        self.content.setVisible(self.timeline is not None)
        if self.timeline is None:
            self.slider.setRange(0, 0)
            self.kernels.clear()
            self.maps.clear()
            return
        self._bound = max(float(np.abs(s.kernels.mean(axis=2)).max()) for s in self.timeline.snapshots)
        last = self.timeline.snapshots[-1]
        k_h, k_w, inputs, filters = last.kernels.shape
        averaged = ", averaged over its input channels" if inputs > 1 else ""
        self.kernels_caption.setText(f"Kernels of {self.timeline.layer}: {filters} filters of {k_h}×{k_w}{averaged} "
                                     f"(blue negative, red positive; one scale, ±{self._bound:.3g}, for all epochs)")
        height, width = last.maps.shape[:2]
        self.maps_caption.setText(f"Its feature maps of test image {self.timeline.image_index} "
                                  f"({height}×{width}, each map on its own scale)")
        self.slider.setRange(0, len(self.timeline.snapshots) - 1)
        if self.slider.value() == self.slider.maximum():
            self._show(self.slider.maximum())
        else:
            self.slider.setValue(self.slider.maximum())

    @property
    def snapshot(self) -> Snapshot | None:
        """The snapshot shown now."""
        return None if self.timeline is None else self.timeline.snapshots[self.slider.value()]

    def _show(self, index: int) -> None:
        if self.timeline is None:
            return
        snapshot = self.timeline.snapshots[index]
        self.epoch_label.setText(f"epoch {epoch_text(snapshot.epoch)} of {epoch_text(self.timeline.snapshots[-1].epoch)}")
        kernels = snapshot.kernels.mean(axis=2)
        count = kernels.shape[2]
        self.kernels.setPixmap(heat_pixmap(symmetric_tile(kernels, self._bound, count), max(2, KERNEL_PIXELS // max(
            kernels.shape[:2])), "RdBu_r"))
        maps = snapshot.maps.astype(np.float32)
        channels = maps.shape[2]
        columns = -(-channels // -(-channels // tile_columns(channels)))  # rows evened out: 6 maps in 2 rows of 3
        self.maps.setPixmap(heat_pixmap(tile(maps, columns), max(1, MAP_PIXELS // max(maps.shape[:2]))))
        low, high = zip(*snapshot.map_ranges)
        self.maps.setToolTip(f"map values from {min(low):.3g} to {max(high):.3g}")

    def _play(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if not playing:
            self.timer.stop()
            return
        if self.slider.value() == self.slider.maximum():
            self.slider.setValue(0)  # play again from the start
        self.timer.start()

    def _step(self) -> None:
        if self.slider.value() >= self.slider.maximum():
            self.play_button.setChecked(False)  # stops the timer
        else:
            self.slider.setValue(self.slider.value() + 1)

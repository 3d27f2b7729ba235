"""Evaluation: test accuracy and loss, per-class accuracy, and a confusion matrix whose cells open
a gallery of those test images (most confident first); a gallery image goes to the feature maps."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.errors import printable
from cnnstudio.core.experiments.curves import placeholder
from cnnstudio.core.inspection import Evaluation
from cnnstudio.ui.class_labels import MAX_CLASS_ROWS, MAX_LISTED, ClassNames, plot_text
from cnnstudio.ui.figure_canvas import FigureCanvas
from cnnstudio.ui.images import gray_pixmap
from cnnstudio.ui.widgets import read_only_table, stacked

MATRIX_HINT = "The confusion matrix appears here\nafter evaluating on the test set"


class EvaluationView(QWidget):
    evaluate_requested = Signal()
    image_chosen = Signal(object, str)  # pixels, label

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.evaluation: Evaluation | None = None
        self.images: np.ndarray | None = None
        self.class_names = ClassNames(0)  # shown safely: bounded, elided, escaped (see class_labels)
        self.cell_indices: np.ndarray = np.arange(0)

        self.run_button = QPushButton("Evaluate on the Test Set")
        self.progress = QProgressBar()
        self.progress.setFormat("no confusion matrix yet")
        self.summary = QLabel("Train or open a model, then evaluate it.")
        top = QHBoxLayout()
        top.addWidget(self.run_button)
        top.addWidget(self.progress, 1)

        self.per_class = read_only_table(["Class", "Images", "Accuracy"], stretch_last=False)
        self.per_class.setMinimumWidth(200)
        self.per_class.setMaximumWidth(240)
        self.figure = Figure(figsize=(5, 5))
        self.figure.subplots_adjust(left=0.14, right=0.98, top=0.92, bottom=0.12)
        self.axes = self.figure.add_subplot(1, 1, 1)
        placeholder(self.axes, MATRIX_HINT)
        self.canvas = FigureCanvas(self.figure)
        self.canvas.setMinimumSize(340, 340)
        self.canvas.mpl_connect("button_press_event", self._clicked)
        self.gallery_title = QLabel("Click a cell of the confusion matrix to see its images.")
        self.gallery_title.setTextFormat(Qt.PlainText)  # class names come from files: never rich text
        self.gallery_title.setWordWrap(True)
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListView.IconMode)
        self.gallery.setIconSize(QSize(56, 56))
        self.gallery.setResizeMode(QListView.Adjust)
        self.gallery.setMovement(QListView.Static)
        self.gallery.setSpacing(4)
        self.gallery.itemClicked.connect(self._gallery_clicked)
        gallery_box = stacked(self.gallery_title, self.gallery)

        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(self.per_class)
        splitter.addWidget(self.canvas)
        splitter.addWidget(gallery_box)
        splitter.setStretchFactor(1, 2)
        splitter.setStretchFactor(2, 1)
        splitter.setSizes([210, 420, 330])
        splitter.setChildrenCollapsible(False)
        self.canvas.setMinimumWidth(200)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(splitter, 1)
        self.run_button.clicked.connect(self.evaluate_requested)
        self.set_enabled_reason("Train or open a model, then evaluate it.")

    def set_enabled_reason(self, reason: str | None) -> None:
        """None: evaluation may run; otherwise the reason it cannot (shown)."""
        self.run_button.setEnabled(reason is None)
        if reason:
            self.summary.setText(reason)
        elif self.evaluation is None:  # a reason shown before no longer holds
            self.summary.setText("Press Evaluate for the confusion matrix and the accuracy of each class on the "
                                 "model's test images.")

    def clear(self) -> None:
        self.evaluation = None
        placeholder(self.axes, MATRIX_HINT)
        self.canvas.draw_idle()
        self.per_class.setRowCount(0)
        self.gallery.clear()
        self.progress.setValue(0)
        self.progress.setFormat("no confusion matrix yet")

    def show_failure(self, reason: str) -> None:
        self.progress.setFormat("failed")
        self.summary.setText(f"Evaluation failed: {reason}")

    def on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"{done:,} / {total:,} test images")

    def show_evaluation(self, evaluation: Evaluation, images: np.ndarray, class_names: list[str],
                        dataset: str = "") -> None:
        """Show an evaluation on ``dataset``'s test images; with many classes the table stops at :data:`MAX_LISTED` rows and the
        matrix has no per-cell numbers or class labels beyond :data:`MAX_CLASS_ROWS` classes."""
        matrix = evaluation.confusion
        n = len(matrix)
        names = ClassNames(n, class_names)
        self.evaluation, self.images, self.class_names = evaluation, images, names
        self.progress.setFormat("done")
        of = f" of {html.escape(printable(dataset, 80))}" if dataset else ""  # rich text: a path may hold <
        listed = f" (the table lists the first {MAX_LISTED:,} of {n:,} classes)" if n > MAX_LISTED else ""
        self.summary.setText(f"Test accuracy <b>{evaluation.accuracy:.4f}</b> · test loss {evaluation.loss:.4f} "
                             f"on {len(evaluation.labels):,} test images{of}{listed}")
        per_class = evaluation.per_class_accuracy
        rows = names.first(MAX_LISTED)
        self.per_class.setRowCount(len(rows))
        for i, name in enumerate(rows):
            cells = (name, f"{matrix[i].sum():,}", "–" if np.isnan(per_class[i]) else f"{per_class[i]:.3f}")
            for j, text in enumerate(cells):
                self.per_class.setItem(i, j, QTableWidgetItem(text))
        axes = self.axes
        axes.clear()
        axes.set_axis_on()
        axes.imshow(np.log1p(matrix), cmap="Blues")
        if n <= MAX_CLASS_ROWS:  # numbers and names only while they can be read
            for t in range(n):
                for p in range(n):
                    if matrix[t, p]:
                        axes.text(p, t, str(matrix[t, p]), ha="center", va="center", fontsize=7 if n > 10 else 8,
                                  color="white" if t == p else "black")
            labels = [plot_text(name) for name in names.first(n)]
            axes.set_xticks(range(n), labels, rotation=90 if max(map(len, labels), default=0) > 2 else 0, fontsize=8)
            axes.set_yticks(range(n), labels, fontsize=8)
        axes.set_xlabel("predicted" if n <= MAX_CLASS_ROWS else "predicted (class number)")
        axes.set_ylabel("true" if n <= MAX_CLASS_ROWS else "true (class number)")
        axes.set_title("Confusion matrix (click a cell)")
        self.canvas.draw_idle()

    def _clicked(self, event: Any) -> None:
        if self.evaluation is None or event.inaxes is not self.axes or event.xdata is None:
            return
        n = len(self.evaluation.confusion)
        true, predicted = int(round(event.ydata)), int(round(event.xdata))
        if 0 <= true < n and 0 <= predicted < n:
            self.show_cell(true, predicted)

    def show_cell(self, true: int, predicted: int) -> None:
        """Fill the gallery with the test images of this (true, predicted) pair, most confident first."""
        assert self.evaluation is not None and self.images is not None
        self.cell_indices = self.evaluation.cell(true, predicted)
        names = self.class_names
        count = len(self.cell_indices)
        how = {0: "none of the test images", 1: "1 image (click it for its feature maps)"}.get(
            count, f"{count:,} images (most confident first; click one for its feature maps)")
        self.gallery_title.setText(f"true {names[true]}, predicted {names[predicted]}: {how}")
        self.gallery.clear()
        for index in self.cell_indices[:400]:
            confidence = self.evaluation.probabilities[index, predicted]
            item = QListWidgetItem(QIcon(gray_pixmap(self.images[index], 2)), f"pred {names[predicted]} {confidence:.0%}")
            item.setToolTip(f"test image #{index}: predicted {names[predicted]} ({confidence:.1%}), true {names[true]}")
            item.setData(Qt.UserRole, int(index))
            item.setData(Qt.UserRole + 1, f"test image #{index} (class {names[true]}, predicted {names[predicted]} "
                                          f"{confidence:.0%})")
            self.gallery.addItem(item)

    def _gallery_clicked(self, item: QListWidgetItem) -> None:
        """Its feature maps, under a title that says what it is and what the model made of it."""
        self.image_chosen.emit(self.images[int(item.data(Qt.UserRole))], str(item.data(Qt.UserRole + 1)))

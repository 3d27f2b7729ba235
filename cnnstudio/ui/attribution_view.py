"""The Explain tab: which pixels of the shown image a prediction depends on (Grad-CAM, saliency,
SmoothGrad, occlusion), through the model and, when one is open for comparison, a second model.

The maps come from :mod:`cnnstudio.core.explain.attribution` on a worker thread (occlusion takes
a second or more and reports progress); a new request stops an occlusion still running. The
figure is redrawn with ``draw_idle`` on the GUI thread only.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from matplotlib.backends.backend_qtagg import NavigationToolbar2QT
from matplotlib.figure import Figure
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.explain.attribution import Attribution, conv_layer_names, explain
from cnnstudio.core.explain.heat_image import draw_heat
from cnnstudio.ui.background import Task, start_task
from cnnstudio.ui.class_labels import MAX_LISTED, ClassNames, plot_text
from cnnstudio.ui.figure_canvas import FigureCanvas

METHODS = {"gradcam": "Grad-CAM", "saliency": "Saliency (gradient)", "smoothgrad": "SmoothGrad",
           "occlusion": "Occlusion"}
SCORES = {"logit": "its logit", "probability": "its probability"}
MODEL_TITLE_CHARS = 40  # a model's name over its heat map: "run 2026-11-27 08:41:41 (Runs tab)" whole


class AttributionView(QWidget):
    """Heat maps for the image the Feature Maps tab shows; settings apply to every model shown."""

    explained = Signal(object)  # the list of Attribution results drawn (one per model)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.models: list[tuple[str, Any]] = []
        self.image: np.ndarray | None = None
        self.image_label = ""
        self.class_names = ClassNames(0)
        self.blocked_reason: str | None = None
        self.results: list[Attribution] = []
        self.elapsed_ms: float | None = None  # how long the drawn explanation took to compute (all models)
        self._task: Task | None = None
        self._stop = threading.Event()
        self._stale = True

        self.method = QComboBox()
        for key, text in METHODS.items():
            self.method.addItem(text, key)
        self.target = QComboBox()
        self.target.setToolTip("The class to explain: the predicted one, or any other")
        self.layer = QComboBox()
        self.layer.setToolTip("Grad-CAM looks at this convolution layer's maps (the last one by default)")
        self.patch, self.stride = QSpinBox(), QSpinBox()
        for spin, value, tip in ((self.patch, 4, "Side of the grey square slid over the image, in pixels"),
                                 (self.stride, 2, "Pixels between neighbouring square positions")):
            spin.setRange(1, 4096)
            spin.setValue(value)
            spin.setToolTip(tip)
        self.layer_label, self.patch_label, self.stride_label = QLabel("Layer"), QLabel("Patch"), QLabel("Stride")
        controls = QHBoxLayout()
        for widget in (QLabel("Method"), self.method, QLabel("Class"), self.target, self.layer_label, self.layer,
                       self.patch_label, self.patch, self.stride_label, self.stride):
            controls.addWidget(widget)
        controls.addStretch(1)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(200)
        self.progress.setVisible(False)
        controls.addWidget(self.progress)
        self.message = QLabel()
        self.message.setTextFormat(Qt.PlainText)
        self.message.setWordWrap(True)
        # "compressed": the square picture and its colour bar stay together, centred in the canvas
        # ("constrained" keeps the bar at the far right and leaves the spare width on the picture's left)
        self.figure = Figure(figsize=(7, 3.4), layout="compressed")
        self.canvas = FigureCanvas(self.figure)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.message)
        layout.addWidget(NavigationToolbar2QT(self.canvas, self))
        layout.addWidget(self.canvas, 1)
        for combo in (self.method, self.target, self.layer):
            combo.currentIndexChanged.connect(self._settings_changed)
        for spin in (self.patch, self.stride):
            spin.valueChanged.connect(self._settings_changed)
        self._refresh_controls()

    # inputs ----------------------------------------------------------------------------
    def set_models(self, models: list[tuple[str, Any]], class_names: ClassNames) -> None:
        """The model (and a second one to compare) whose answers are explained."""
        self.models, self.class_names = [(t, m) for t, m in models if m is not None], class_names
        self._fill_choices()
        self._changed()

    def set_image(self, pixels: np.ndarray | None, label: str) -> None:
        self.image, self.image_label = None if pixels is None else np.asarray(pixels, np.float32), label
        self._changed()

    def set_blocked(self, reason: str | None) -> None:
        """While training owns the model nothing is computed here."""
        self.blocked_reason = reason
        if reason:
            self._stop.set()
        self._changed()

    def _fill_choices(self) -> None:
        classes = int(self.models[0][1].output_shape[-1]) if self.models else 0
        names = self.class_names if len(self.class_names) == classes else ClassNames(classes)
        layers = conv_layer_names(self.models[0][1]) if self.models else []
        for combo in (self.target, self.layer):
            combo.blockSignals(True)
            combo.clear()
        self.target.addItem("predicted class", None)
        for i, name in enumerate(names.first(MAX_LISTED)):
            self.target.addItem(f"{i}: {name}", i)
        for name in reversed(layers):  # the last convolution first: Grad-CAM's usual choice
            self.layer.addItem(name, name)
        side = min(self.models[0][1].input_shape[1:3]) if self.models else 4096
        for spin in (self.patch, self.stride):
            spin.setMaximum(max(1, int(side)))
        for combo in (self.target, self.layer):
            combo.blockSignals(False)

    def _settings_changed(self) -> None:
        self._refresh_controls()
        self._changed()

    def _refresh_controls(self) -> None:
        method = self.method.currentData()
        for widget in (self.layer_label, self.layer):
            widget.setVisible(method == "gradcam")
        for widget in (self.patch_label, self.patch, self.stride_label, self.stride):
            widget.setVisible(method == "occlusion")

    def _changed(self) -> None:
        self._stale = True
        if self.isVisible():
            self.compute()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if self._stale:
            self.compute()

    # computing -------------------------------------------------------------------------
    def request(self) -> dict[str, Any]:
        """The settings of the next computation."""
        return {"method": self.method.currentData(), "class_index": self.target.currentData(),
                "layer": self.layer.currentData() if self.method.currentData() == "gradcam" else None,
                "patch": self.patch.value(), "stride": self.stride.value()}

    def compute(self) -> None:
        """Explain the shown image with the current settings (after a running computation has stopped)."""
        if self.blocked_reason or not self.models or self.image is None:
            self.message.setText(self.blocked_reason or ("Train or open a model to explain its answers."
                                                         if not self.models else "Pick a test image, or use the sketch."))
            self._clear_figure()
            return
        if self._task is not None:  # one at a time: stop it; its end starts the next
            self._stop.set()
            return
        self._stale = False
        self._stop = stop = threading.Event()
        request, image, models = self.request(), self.image, list(self.models)
        label = self.image_label

        def work(task: Task) -> tuple[list[Attribution] | None, str, float]:
            started = time.perf_counter()
            results = []
            for i, (_title, model) in enumerate(models):
                def progress(done: int, total: int, i: int = i) -> None:
                    task.progress.emit((i * total + done, len(models) * total))
                settings = dict(request)
                if settings["layer"] not in conv_layer_names(model):  # a second model names its layers its own way
                    settings["layer"] = None
                result = explain(model, image, progress=progress, stop=stop.is_set, **settings)
                if result is None:
                    return None, label, 0.0
                results.append(result)
            return results, label, (time.perf_counter() - started) * 1000

        self.progress.setValue(0)
        self.progress.setVisible(request["method"] == "occlusion")
        self.message.setText(f"Explaining {label}…")
        self._task = start_task(work, succeeded=self._finished, failed=self._failed, progress=self._progress,
                                name="explain")

    def _progress(self, value: tuple[int, int]) -> None:
        done, total = value
        self.progress.setMaximum(total)
        self.progress.setValue(done)

    def _finished(self, outcome: tuple[list[Attribution] | None, str, float]) -> None:
        self._task = None
        self.progress.setVisible(False)
        results, label, elapsed = outcome
        if results is not None and not self._stale:
            self.elapsed_ms = elapsed
            self._draw(results, label)
        if self._stale:
            self.compute()

    def _failed(self, reason: str, _details: str) -> None:
        self._task = None
        self.progress.setVisible(False)
        self.message.setText(f"Could not explain this image: {reason}")
        self._clear_figure()
        if self._stale:
            self.compute()

    # drawing ---------------------------------------------------------------------------
    def _clear_figure(self) -> None:
        self.results, self.elapsed_ms = [], None
        self.figure.clear()
        self.canvas.draw_idle()

    def _draw(self, results: list[Attribution], label: str) -> None:
        self.results = results
        self.figure.clear()
        axes = self.figure.subplots(1, len(results), squeeze=False)[0]
        names = self.class_names if len(self.class_names) == int(self.models[0][1].output_shape[-1]) \
            else ClassNames(int(self.models[0][1].output_shape[-1]))
        # side by side, both maps share one colour scale: equal colours mean equal values
        limits = (min(float(r.heat.min()) for r in results), max(float(r.heat.max()) for r in results)) \
            if len(results) > 1 else None
        for ax, (title, _model), result in zip(axes, self.models, results):
            name = plot_text(names[result.class_index])
            named = "" if name == str(result.class_index) else f" ({name})"  # "class 7", not "class 7 (7)"
            draw_heat(self.figure, ax, self.image, result.heat,
                      f"{plot_text(title, MODEL_TITLE_CHARS)}\n{METHODS[result.method]}: class {result.class_index}{named}, "
                      f"{result.class_probability:.1%}", limits)
        self.canvas.draw_idle()
        what = "the drop in the class probability when a grey square covers each pixel" \
            if results[0].method == "occlusion" else f"how strongly each pixel moves the class score ({SCORES[results[0].score]})"
        shared = " (one scale for both models)" if len(results) > 1 else ""
        self.message.setText(f"{label}: red marks the pixels that matter most; the colour bar shows {what}{shared}.")
        self.explained.emit(results)

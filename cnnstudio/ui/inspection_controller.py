"""Feeds the inspection views (feature maps, sketch pad, evaluation) from the workspace.

Test images and evaluations are computed on worker threads; evaluations are cached in the
workspace per model version, so a second click on Evaluate is instant until the model changes.
A dataset path that only the model file named is read once the user agrees (Read Test Images… and Evaluate ask).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from cnnstudio.core.data.datasets import Dataset
from cnnstudio.core.errors import CnnStudioError, one_line
from cnnstudio.core.logs import log
from cnnstudio.core.workspace import Workspace
from cnnstudio.ui.background import Task, start_task
from cnnstudio.ui.evaluation_view import EvaluationView
from cnnstudio.ui.feature_maps_view import FeatureMapsView
from cnnstudio.ui.sketch_pad import SketchPadView


class InspectionController(QObject):
    busy_changed = Signal(bool)
    failed = Signal(str, str, str)  # title, one-line reason, details
    show_view = Signal(QObject)  # bring this view to the front

    def __init__(self, workspace: Workspace, feature_view: FeatureMapsView, sketch_view: SketchPadView,
                 evaluation_view: EvaluationView, chosen_dataset: Callable[[], str], ask_open_path: Callable[[], str],
                 parent: QObject | None = None, ask_read_dataset: Callable[[str], bool] = lambda _dataset: False):
        super().__init__(parent)
        self.workspace = workspace
        self.feature_view, self.sketch_view, self.evaluation_view = feature_view, sketch_view, evaluation_view
        self._chosen_dataset, self._ask_open_path = chosen_dataset, ask_open_path
        self._ask_read_dataset = ask_read_dataset
        workspace.model_changed.connect(lambda _w: self.model_changed())
        evaluation_view.evaluate_requested.connect(self.evaluate)
        evaluation_view.image_chosen.connect(self.show_feature_maps_of)
        sketch_view.send_to_feature_maps.connect(self.show_feature_maps_of)
        feature_view.sketch_requested.connect(self.feature_maps_of_sketch)
        feature_view.compare_requested.connect(self.choose_compare_model)
        feature_view.read_requested.connect(self.read_test_images)

    def model_changed(self) -> None:
        """Point the views at the current model and load its test images behind."""
        workspace = self.workspace
        model, record = workspace.model, workspace.record
        name = workspace.file_state.display_name  # the file's name, the run's, or "untitled model"
        self.feature_view.set_model(model, name, record.digit_like if record else None)
        self.feature_view.timeline.set_timeline(record.timeline if record is not None and model is not None else None)
        self.sketch_view.set_model(model, record.class_names if record else None,
                                   record.experiment.dataset if record else None)
        self.evaluation_view.clear()
        if model is not None:
            dataset = workspace.inspected_dataset(self._chosen_dataset())
            if workspace.needs_consent(dataset):
                self.feature_view.show_notice(f"This model was trained on {dataset}: its test images are read once "
                                              "you agree (Read Test Images…, or Evaluate); the sketch pad works "
                                              "meanwhile.", readable=True)
            else:
                self._load_test_images(dataset)

    def read_test_images(self) -> None:
        """The Feature Maps view's Read Test Images: ask, then read (as Evaluate does)."""
        if self.workspace.model is not None and self.may_read(self.workspace.inspected_dataset(self._chosen_dataset())):
            self.feature_view.test_images_agreed()

    def _load_test_images(self, dataset: str) -> None:
        datasets = self.workspace.datasets
        start_task(lambda _t: datasets.get(dataset), succeeded=self._test_images_loaded,
                   failed=self._test_images_failed, name="test-images")

    def may_read(self, dataset: str) -> bool:
        """Whether ``dataset`` may be read now: asks first when only the model file named it."""
        if not self.workspace.needs_consent(dataset):
            return True
        if not self._ask_read_dataset(dataset):
            return False
        self.workspace.confirm_dataset(dataset)
        if self.workspace.model is not None:
            self._load_test_images(dataset)
        return True

    def _test_images_loaded(self, dataset: Dataset) -> None:
        model = self.workspace.model
        if model is not None and tuple(model.input_shape[1:]) == dataset.input_shape:
            self.feature_view.set_test_images(dataset.x_test, dataset.y_test, dataset.class_names)

    def _test_images_failed(self, reason: str, _details: str) -> None:
        self.feature_view.show_notice(f"The test images could not be read ({reason}); use the sketch pad instead.")

    def show_feature_maps_of(self, pixels: Any, label: str) -> None:
        self.feature_view.show_image(pixels, label)
        self.show_view.emit(self.feature_view)

    def feature_maps_of_sketch(self) -> None:
        if self.sketch_view.processed is not None:
            self.show_feature_maps_of(self.sketch_view.processed, "your sketch")
        else:
            self.show_view.emit(self.sketch_view)

    def choose_compare_model(self) -> None:
        path = self._ask_open_path()
        if not path:
            return
        from cnnstudio.core.files.persistence import load_model

        self.busy_changed.emit(True)
        start_task(lambda _t: (path, *load_model(path)), succeeded=self._compare_model_loaded,
                   failed=self._compare_failed, name="open-compare-model")

    def _compare_model_loaded(self, result: tuple[str, Any, Any]) -> None:
        path, model, _record = result
        self.busy_changed.emit(False)
        try:
            self.feature_view.set_compare_model(model, Path(path).name)
        except Exception as exc:  # noqa: BLE001 - a model the view cannot show is a message, not a stuck view
            log.exception("showing the second model failed")
            details = traceback.format_exc()
            self.feature_view.set_compare_model(None, "")
            self.failed.emit("Could not compare", f"{Path(path).name} could not be shown: {one_line(exc)}", details)

    def _compare_failed(self, reason: str, details: str) -> None:
        self.busy_changed.emit(False)
        self.failed.emit("File problem", reason, details)

    # evaluation ------------------------------------------------------------------------
    def evaluate(self) -> None:
        """Evaluate the current model on its test set off the GUI thread (cached per model version)."""
        workspace = self.workspace
        model, version = workspace.model, workspace.version
        if model is None:
            return
        name = workspace.inspected_dataset(self._chosen_dataset())
        if not self.may_read(name):
            self.evaluation_view.show_failure(f"not evaluated: {name} was not read")
            return
        cached = workspace.evaluation(name)
        if cached is not None:
            self.evaluation_view.show_evaluation(*cached, dataset=name)
            return
        datasets = workspace.datasets
        self.busy_changed.emit(True)

        def work(task: Task) -> Any:
            from cnnstudio.core.inspection import evaluate_details

            dataset = datasets.get(name)
            if tuple(model.input_shape[1:]) != dataset.input_shape:
                raise CnnStudioError(f"the model takes {tuple(model.input_shape[1:])} images but {name} "
                                     f"has {dataset.input_shape}")
            evaluation = evaluate_details(model, dataset.x_test, dataset.y_test,
                                          progress=lambda done, total: task.progress.emit((done, total)))
            return model, version, name, (evaluation, dataset.x_test, dataset.class_names)

        start_task(work, succeeded=self._evaluated, failed=self._evaluation_failed,
                   progress=self._evaluation_progress, name="evaluate")

    def _evaluation_progress(self, item: tuple[int, int]) -> None:
        self.evaluation_view.on_progress(*item)

    def _evaluated(self, result: tuple[Any, int, str, tuple]) -> None:
        model, version, name, shown = result
        self.workspace.store_evaluation(model, version, name, shown)
        self.busy_changed.emit(False)
        if model is self.workspace.model:
            try:
                self.evaluation_view.show_evaluation(*shown, dataset=name)
            except Exception as exc:  # noqa: BLE001 - the window stays usable whatever the figures hold
                log.exception("showing the evaluation failed")
                self.evaluation_view.show_failure(one_line(exc))
                self.failed.emit("Evaluation failed", f"the results could not be shown: {one_line(exc)}",
                                 traceback.format_exc())

    def _evaluation_failed(self, reason: str, details: str) -> None:
        self.busy_changed.emit(False)
        self.evaluation_view.show_failure(reason)
        self.failed.emit("Evaluation failed", reason, details)

"""Single views built directly (no main window, no training): Runs, Study, experiment panel, feature maps, sketch pad."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtWidgets import QLabel  # noqa: E402

from cnnstudio.core.config import (  # noqa: E402
    ACTIVATIONS,
    LR_SCHEDULES,
    OPTIMIZERS,
    POOLING_TYPES,
    Experiment,
    ModelOptions,
    TrainOptions,
)
from cnnstudio.core.data.datasets import BUILTIN_NAMES, DESCRIPTIONS  # noqa: E402
from cnnstudio.core.experiments.run_history import RunEntry, RunHistory  # noqa: E402
from cnnstudio.core.network.architectures import ARCHITECTURES  # noqa: E402


def fake_entry(pooling: str, padding: str, accuracy: float | None, params: int, created: str,
               dataset: str = "digits", model_path: str | None = "model.keras") -> RunEntry:
    experiment = Experiment(ModelOptions(pooling=pooling, padding=padding), TrainOptions(epochs=3), dataset).to_dict()
    curve = [0.5, 0.7, 0.8 if accuracy is None else accuracy]
    history = {"loss": [1.2, 0.8, 0.6], "val_loss": [1.3, 0.9, 0.7], "accuracy": curve, "val_accuracy": curve}
    return RunEntry(experiment=experiment, history=history, seconds_per_epoch=[1.5, 1.0, 1.0], test_accuracy=accuracy,
                    test_loss=None if accuracy is None else round(1 - accuracy, 3), params=params, macs=params * 7,
                    model_path=model_path, created=created, id=f"run-{pooling}-{padding}")


ENTRIES = [fake_entry("max", "valid", 0.97, 61_706, "2024-05-01 10:00:00"),
           fake_entry("min", "same", 0.95, 136_586, "2024-05-01 11:00:00", dataset="mnist"),
           fake_entry("avg", "valid", None, 61_706, "2024-05-01 12:00:00", model_path=None)]


@pytest.fixture
def runs_view(qtbot, tmp_path):
    from cnnstudio.ui.runs_view import RunsView

    history = RunHistory(tmp_path / "runs")
    for entry in ENTRIES:
        history.add(entry)
    view = RunsView(history)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    qtbot.waitExposed(view)
    return view


def _column(view, title: str) -> list[str]:
    from cnnstudio.ui.runs_view import COLUMNS

    col = COLUMNS.index(title)
    return [view.proxy.index(i, col).data() for i in range(view.proxy.rowCount())]


def _click_header(qtbot, view, title: str) -> None:
    from cnnstudio.ui.runs_view import COLUMNS

    header = view.table.horizontalHeader()
    col = COLUMNS.index(title)
    x = header.sectionViewportPosition(col) + header.sectionSize(col) // 2
    qtbot.mouseClick(header.viewport(), Qt.LeftButton, pos=QPoint(x, header.height() // 2))


def test_runs_view_lists_every_run_newest_first(runs_view) -> None:
    assert runs_view.loaded and runs_view.proxy.rowCount() == 3
    assert _column(runs_view, "Pooling") == ["avg", "min", "max"]
    assert _column(runs_view, "Test accuracy") == ["–", "0.9500", "0.9700"]
    assert _column(runs_view, "Parameters")[1] == "136,586" and _column(runs_view, "s / epoch")[0] == "1.17"
    assert _column(runs_view, "Dataset") == ["digits", "mnist", "digits"] and runs_view.count.text() == "3 runs"


def test_clicking_a_header_sorts_by_value_not_text(qtbot, runs_view) -> None:
    _click_header(qtbot, runs_view, "Parameters")
    first = _column(runs_view, "Parameters")
    _click_header(qtbot, runs_view, "Parameters")
    second = _column(runs_view, "Parameters")
    assert sorted([first, second]) == [["136,586", "61,706", "61,706"], ["61,706", "61,706", "136,586"]]
    _click_header(qtbot, runs_view, "Test accuracy")
    order = _column(runs_view, "Test accuracy")
    assert order in (["–", "0.9500", "0.9700"], ["0.9700", "0.9500", "–"])  # a missing value sorts below any number


def test_filter_box_keeps_rows_with_every_word_in_any_column(qtbot, runs_view) -> None:
    qtbot.keyClicks(runs_view.filter, "SAME min")
    assert _column(runs_view, "Pooling") == ["min"] and runs_view.count.text() == "1 of 3 runs"
    runs_view.filter.setText("valid")
    assert sorted(_column(runs_view, "Pooling")) == ["avg", "max"]
    runs_view.filter.setText("digits 0.97")
    assert _column(runs_view, "Pooling") == ["max"]
    runs_view.filter.setText("min max")  # no run has both
    assert runs_view.proxy.rowCount() == 0
    runs_view.filter.setText("(")  # taken literally, not as a pattern
    assert runs_view.proxy.rowCount() == 0
    runs_view.filter.clear()
    assert runs_view.proxy.rowCount() == 3


def test_selection_drives_plot_buttons_and_signals(qtbot, runs_view) -> None:
    assert not runs_view.delete_button.isEnabled() and runs_view.plot.labels == []
    runs_view.table.selectAll()
    assert [e.id for e in runs_view.selected()] == [e.id for e in ENTRIES]
    assert runs_view.plot.labels == ["pooling=max, padding=valid", "pooling=min, padding=same",
                                     "pooling=avg, padding=valid"]
    assert runs_view.delete_button.isEnabled() and not runs_view.open_button.isEnabled()
    runs_view.filter.setText("min")  # filtered-out runs leave the selection
    assert [e.id for e in runs_view.selected()] == ["run-min-same"] and runs_view.open_button.isEnabled()
    with qtbot.waitSignal(runs_view.open_requested) as opened:
        runs_view.open_button.click()
    with qtbot.waitSignal(runs_view.export_requested) as exported:
        runs_view.export_button.click()
    assert opened.args[0].id == exported.args[0].id == "run-min-same"


def test_delete_removes_the_selected_run_from_the_history(runs_view) -> None:
    runs_view.filter.setText("avg")
    runs_view.table.selectRow(0)
    runs_view.delete_button.click()
    assert sorted(e.id for e in runs_view.history.entries()[0]) == ["run-max-valid", "run-min-same"]
    assert runs_view.proxy.rowCount() == 0 and runs_view.count.text() == "0 of 2 runs"


def test_runs_view_reports_damaged_entries(qtbot, tmp_path) -> None:
    from cnnstudio.ui.runs_view import RunsView

    history = RunHistory(tmp_path / "runs")
    history.add(ENTRIES[0])
    (history.folder / "damaged.json").write_text("{")
    view = RunsView(history)
    qtbot.addWidget(view)
    view.refresh()
    assert "skipped damaged.json" in view.warnings.text() and view.proxy.rowCount() == 1


@pytest.fixture
def study_view(qtbot):
    from cnnstudio.ui.study_view import StudyView

    view = StudyView()
    qtbot.addWidget(view)
    view.resize(1000, 800)
    return view


def test_study_results_highlight_the_core_best_values(study_view) -> None:
    from cnnstudio.core.experiments.study import best_values, study_rows

    study_view.entries = list(ENTRIES)
    study_view.show_results()
    table = study_view.table
    labels = [table.item(i, 0).text() for i in range(table.rowCount())]
    assert labels == ["pooling=max, padding=valid", "pooling=min, padding=same", "pooling=avg, padding=valid"]
    assert [table.item(i, 1).text() for i in range(3)] == ["0.9700", "0.9500", "–"]
    best = study_view.best_cells()
    assert best["Test accuracy"] == best["Test loss"] == "pooling=max, padding=valid"
    assert best["Parameters"] == "pooling=avg, padding=valid"  # tied with the first run: both bold
    assert table.item(0, 3).font().bold() and table.item(2, 3).font().bold() and not table.item(1, 3).font().bold()
    assert set(best_values(study_rows(ENTRIES))) == {"test_accuracy", "test_loss", "params", "macs",
                                                    "mean_seconds_per_epoch"}
    assert study_view.plot.labels == labels


def test_a_single_study_run_has_nothing_to_highlight(study_view) -> None:
    study_view.entries = ENTRIES[:1]
    study_view.show_results()
    assert study_view.best_cells() == {}


def test_study_choices_come_from_the_core(study_view) -> None:
    assert tuple(study_view.pooling) == POOLING_TYPES and tuple(study_view.activation) == ACTIVATIONS
    assert list(study_view.padding) == ["valid", "same", "explicit"]
    study_view.set_base(Experiment(train=TrainOptions(epochs=2)), True)
    assert len(study_view.experiments()) == 6 and study_view.count.text() == "6 runs × 2 epochs"
    study_view.padding["explicit"].setChecked(True)
    study_view.activation["tanh"].setChecked(True)
    assert {e.model.padding for e in study_view.experiments()} == {"valid", "same", "2"}
    assert {e.model.activation for e in study_view.experiments()} == {"tanh"}


def test_panel_choices_come_from_the_core(qtbot) -> None:
    from cnnstudio.ui.config_panel import ConfigPanel

    panel = ConfigPanel()
    qtbot.addWidget(panel)

    def values(combo) -> list:
        return [combo.itemData(i) for i in range(combo.count())]

    assert values(panel.arch) == list(ARCHITECTURES) and values(panel.pooling) == list(POOLING_TYPES)
    assert values(panel.activation) == list(ACTIVATIONS) and values(panel.optimizer) == list(OPTIMIZERS)
    assert values(panel.lr_schedule) == list(LR_SCHEDULES) and values(panel.padding) == ["valid", "same", "explicit"]
    assert values(panel.dataset) == list(BUILTIN_NAMES)
    assert [panel.dataset.itemData(i, Qt.ToolTipRole) for i in range(panel.dataset.count())] == [
        DESCRIPTIONS[name] for name in BUILTIN_NAMES]


def test_panel_shows_an_experiment_with_one_change_signal(qtbot) -> None:
    from cnnstudio.ui.config_panel import ConfigPanel

    panel = ConfigPanel()
    qtbot.addWidget(panel)
    experiment = Experiment(ModelOptions(arch="alexnet_cifar", pooling="min", padding="3", activation="tanh", dropout=0.25),
                            TrainOptions(epochs=7, optimizer="sgd", lr_schedule="constant", seed=5), "cifar10")
    changes = []
    panel.changed.connect(lambda: changes.append(1))
    panel.set_experiment(experiment)
    assert changes == [1] and panel.experiment() == experiment
    assert panel.padding_px.isEnabled()
    panel.epochs.setValue(8)  # signals flow again afterwards
    assert changes == [1, 1]


@pytest.fixture
def feature_view(qtbot):
    from cnnstudio.ui.feature_maps_view import FeatureMapsView

    view = FeatureMapsView()
    qtbot.addWidget(view)
    return view


def test_enlarged_channel_uses_the_core_scaling(feature_view) -> None:
    from cnnstudio.core.inspection import FeatureMap, unit_scaled
    from cnnstudio.ui.images import heat_pixmap

    values = np.random.default_rng(0).normal(size=(8, 8, 3)).astype(np.float32) * 40 + 10
    feature_view.enlarge(FeatureMap("c1", "Conv2D", values), 2)
    dialog = feature_view.enlarged
    assert dialog is not None and dialog.windowTitle() == "c1, channel 2"
    shown = next(label.pixmap() for label in dialog.findChildren(QLabel) if not label.pixmap().isNull())
    assert shown.toImage() == heat_pixmap(unit_scaled(values[..., 2]), 320 // 8).toImage()
    dialog.close()


def test_test_image_choices_follow_the_class_filter(qtbot, feature_view) -> None:
    images = np.zeros((6, 28, 28, 1), np.uint8)
    labels = np.array([0, 1, 1, 2, 1, 0])
    with qtbot.assertNotEmitted(feature_view.class_filter.currentIndexChanged):
        feature_view.set_test_images(images, labels, ["a", "b", "c"])
    assert [feature_view.class_filter.itemText(i) for i in range(4)] == ["any class", "a", "b", "c"]
    assert feature_view.index.maximum() == 5 and "test image #0 (class a)" == feature_view.current_label
    feature_view.index.setValue(4)
    feature_view.class_filter.setCurrentIndex(2)  # class b: images 1, 2 and 4
    assert feature_view.index.maximum() == 2 and feature_view.index.value() == 0
    assert feature_view.current_label == "test image #1 (class b)"
    feature_view.show_image(np.full((28, 28, 1), 255, np.float32), "your sketch")
    assert feature_view.index.text() == "—" and feature_view.current_label == "your sketch"  # no stale index
    feature_view.index.stepUp()  # picking a test image again shows it
    assert feature_view.index.value() == 0 and feature_view.current_label == "test image #1 (class b)"


def _fake_model(input_shape: tuple, classes: int) -> SimpleNamespace:
    return SimpleNamespace(input_shape=(None, *input_shape), output_shape=(None, classes), layers=[])


@pytest.mark.parametrize(("shape", "classes", "given", "expected"), [
    ((28, 28, 1), 10, None, True), ((28, 28, 1), 26, None, False), ((32, 32, 3), 10, None, False),
    ((28, 28, 1), 10, False, False), ((32, 32, 3), 10, True, True)])
def test_feature_view_digit_preprocessing_follows_the_core_rule(feature_view, shape, classes, given, expected) -> None:
    feature_view.set_model(_fake_model(shape, classes), "fake", given)
    assert feature_view.digit_like is expected


def test_sketch_pad_refuses_models_that_do_not_take_digit_images(qtbot) -> None:
    from cnnstudio.ui.sketch_pad import SketchPadView

    pad = SketchPadView()
    qtbot.addWidget(pad)
    pad.set_model(_fake_model((32, 32, 3), 10), None)
    assert "28×28 gray" in pad.status.text() and not pad.probe_button.isEnabled()
    pad.set_model(_fake_model((28, 28, 1), 10), None)
    assert pad._usable() is None

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
STUDY_ENTRIES = [fake_entry("max", "valid", 0.97, 61_706, "2024-05-01 10:00:00"),
                 fake_entry("min", "same", 0.95, 136_586, "2024-05-01 11:00:00"),
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
    with qtbot.waitSignal(view.refreshed):  # the first showing lists the runs on a worker thread
        view.show()
    qtbot.waitExposed(view)
    return view


def _column(view, key: str) -> list[str]:
    from cnnstudio.ui.runs_view import KEYS

    col = KEYS.index(key)
    return [view.proxy.index(i, col).data() for i in range(view.proxy.rowCount())]


def _click_header(qtbot, view, key: str) -> None:
    from cnnstudio.ui.runs_view import KEYS

    header = view.table.horizontalHeader()
    col = KEYS.index(key)
    x = header.sectionViewportPosition(col) + header.sectionSize(col) // 2
    qtbot.mouseClick(header.viewport(), Qt.LeftButton, pos=QPoint(x, header.height() // 2))


def test_runs_view_lists_every_run_newest_first(runs_view) -> None:
    assert runs_view.loaded and runs_view.proxy.rowCount() == 3
    assert _column(runs_view, "pooling") == ["avg", "min", "max"]
    assert _column(runs_view, "test_accuracy") == ["–", "0.9500", "0.9700"]
    assert _column(runs_view, "params")[1] == "136,586"
    assert _column(runs_view, "steady_seconds_per_epoch")[0] == "1.00"  # 1.5, 1.0, 1.0: the first epoch left out
    assert _column(runs_view, "dataset") == ["digits", "mnist", "digits"] and runs_view.count.text() == "3 runs"


def test_clicking_a_header_sorts_by_value_not_text(qtbot, runs_view) -> None:
    _click_header(qtbot, runs_view, "params")
    first = _column(runs_view, "params")
    _click_header(qtbot, runs_view, "params")
    second = _column(runs_view, "params")
    assert sorted([first, second]) == [["136,586", "61,706", "61,706"], ["61,706", "61,706", "136,586"]]
    _click_header(qtbot, runs_view, "test_accuracy")
    order = _column(runs_view, "test_accuracy")
    assert order in (["–", "0.9500", "0.9700"], ["0.9700", "0.9500", "–"])  # a missing value sorts below any number


def test_filter_box_keeps_rows_with_every_word_in_any_column(qtbot, runs_view) -> None:
    qtbot.keyClicks(runs_view.filter, "SAME min")
    assert _column(runs_view, "pooling") == ["min"] and runs_view.count.text() == "1 of 3 runs"
    runs_view.filter.setText("valid")
    assert sorted(_column(runs_view, "pooling")) == ["avg", "max"]
    runs_view.filter.setText("digits 0.97")
    assert _column(runs_view, "pooling") == ["max"]
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
    assert runs_view.plot.labels == ["pooling=max, padding=valid, dataset=digits",
                                     "pooling=min, padding=same, dataset=mnist",
                                     "pooling=avg, padding=valid, dataset=digits"]
    assert runs_view.delete_button.isEnabled() and not runs_view.open_button.isEnabled()
    runs_view.filter.setText("min")  # filtered-out runs leave the selection
    assert [e.id for e in runs_view.selected()] == ["run-min-same"] and runs_view.open_button.isEnabled()
    with qtbot.waitSignal(runs_view.open_requested) as opened:
        runs_view.open_button.click()
    with qtbot.waitSignal(runs_view.export_requested) as exported:
        runs_view.export_button.click()
    assert opened.args[0].id == exported.args[0].id == "run-min-same"


def test_delete_removes_the_selected_run_from_the_history(qtbot, runs_view) -> None:
    asked, answers = [], [False, True]
    runs_view.confirm = lambda question: asked.append(question) or answers.pop(0)
    runs_view.filter.setText("avg")
    runs_view.table.selectRow(0)
    runs_view.delete_button.click()  # the user cancels: nothing goes
    assert len(runs_view.history.entries()[0]) == 3 and asked[0].startswith("Delete 1 run")
    assert "cannot be undone" in asked[0]
    with qtbot.waitSignal(runs_view.refreshed):
        runs_view.delete_button.click()
    assert sorted(e.id for e in runs_view.history.entries()[0]) == ["run-max-valid", "run-min-same"]
    assert runs_view.proxy.rowCount() == 0 and runs_view.count.text() == "0 of 2 runs"


def test_the_delete_question_names_the_model_copies_that_go_with_the_runs(tmp_path) -> None:
    from cnnstudio.ui.runs_view import delete_question

    history = RunHistory(tmp_path / "runs")
    kept = [fake_entry("max", "valid", 0.9, 1, "2024-05-01 10:00:00"), fake_entry("min", "same", 0.9, 1, "2024-05-01")]
    for entry in kept:
        entry.model_path = str(history.models / f"{entry.id}.keras")  # a copy only the history holds
    saved = fake_entry("avg", "valid", 0.9, 1, "2024-05-01", model_path=str(tmp_path / "mine.keras"))
    assert delete_question(kept + [saved], history).startswith(
        "Delete 3 runs and 2 model copies kept only in the run history (never saved elsewhere)? This cannot be undone.")
    assert delete_question(kept[:1], history).startswith("Delete 1 run and its model copy kept only in the run history")
    assert delete_question([saved], history) == ("Delete 1 run from the run history? This cannot be undone; "
                                                 "models saved elsewhere stay.")


def test_runs_view_reports_damaged_entries(qtbot, tmp_path) -> None:
    from cnnstudio.ui.runs_view import RunsView

    history = RunHistory(tmp_path / "runs")
    history.add(ENTRIES[0])
    (history.folder / "damaged.json").write_text("{")
    view = RunsView(history)
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.refreshed):
        view.refresh()
    assert "skipped damaged.json" in view.warnings.text() and view.proxy.rowCount() == 1


@pytest.fixture
def study_view(qtbot):
    from cnnstudio.ui.study_view import StudyView

    view = StudyView()
    qtbot.addWidget(view)
    view.resize(1000, 800)
    return view


def test_an_empty_study_says_how_to_fill_it_not_the_runs_tabs_words(study_view) -> None:
    texts = [t.get_text() for t in study_view.plot.loss_axes.texts]
    assert texts == ["Run a study to see its runs' curves here"]


def test_study_results_highlight_the_core_best_values(study_view) -> None:
    from cnnstudio.core.experiments.study import best_values, study_rows

    study_view.entries = STUDY_ENTRIES  # one study: the same dataset and training for every run
    study_view.show_results()
    table = study_view.table
    labels = [table.item(i, 0).text() for i in range(table.rowCount())]
    assert labels == ["pooling=max, padding=valid", "pooling=min, padding=same", "pooling=avg, padding=valid"]
    assert [table.item(i, 1).text() for i in range(3)] == ["0.9700", "0.9500", "–"]
    best = study_view.best_cells()
    assert best["Test accuracy"] == best["Test loss"] == "pooling=max, padding=valid"
    assert best["Parameters"] == "pooling=avg, padding=valid"  # tied with the first run: both bold
    assert table.item(0, 3).font().bold() and table.item(2, 3).font().bold() and not table.item(1, 3).font().bold()
    assert set(best_values(study_rows(STUDY_ENTRIES))) == {"test_accuracy", "test_loss", "params", "macs"}
    assert "s / epoch" not in best  # every run took the same time: nothing is best there
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


def test_the_learning_rate_follows_the_architecture_until_the_user_sets_one(qtbot) -> None:
    """AlexNet stays at chance at Adam 0.002 and learns at 0.0001: choosing it moves a default rate, not a chosen one."""
    from cnnstudio.ui.config_panel import ConfigPanel

    panel = ConfigPanel()
    qtbot.addWidget(panel)

    def _select(combo, value) -> None:  # as a user picks an entry
        combo.setCurrentIndex(combo.findData(value))

    changes = []
    panel.changed.connect(lambda: changes.append(panel.experiment().train.learning_rate))
    assert panel.experiment().train.learning_rate == 0.002
    _select(panel.arch, "alexnet")
    assert panel.experiment().train.learning_rate == 0.0001 and changes == [0.0001]  # one change, already moved
    _select(panel.arch, "alexnet_cifar")
    assert panel.experiment().train.learning_rate == 0.002
    panel.learning_rate.setValue(0.005)  # the user's own choice stays
    _select(panel.arch, "alexnet")
    assert panel.experiment().train.learning_rate == 0.005
    # a shown experiment's rate is kept, and is the starting point of the next change
    panel.set_experiment(Experiment(ModelOptions(arch="alexnet"), TrainOptions(learning_rate=0.0001)))
    _select(panel.arch, "lenet5")
    assert panel.experiment().train.learning_rate == 0.002
    panel.set_experiment(Experiment(ModelOptions(arch="vgg_small"), TrainOptions(learning_rate=0.003)))
    _select(panel.arch, "alexnet")
    assert panel.experiment().train.learning_rate == 0.003


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


# layout: what a new user sees at the default window size (the tab is about 840×700) -------------------

TAB_SIZE = (840, 700)  # the main window's default 1220×780 less the experiment panel


def _shown(qtbot, widget, size=TAB_SIZE):
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _listed(qtbot, view):
    """A shown Runs view once its listing (read on a worker thread) is in the table."""
    qtbot.waitUntil(lambda: view.loaded and not view.refreshing)
    return view


def _renderer(canvas):
    canvas.draw()  # a full draw: the layout engine places every label and legend
    return canvas.get_renderer()


def _inside(extent, box) -> bool:
    return box.x0 <= extent.x0 and extent.x1 <= box.x1 and box.y0 <= extent.y0 and extent.y1 <= box.y1


def test_training_legend_sits_below_both_plots_and_covers_no_data(qtbot) -> None:
    from cnnstudio.core.training.progress import BatchProgress, EpochResult
    from cnnstudio.ui.training_view import TrainingView

    view = _shown(qtbot, TrainingView())
    for step in range(1, 11):
        view.on_batch(BatchProgress(0, 1, step, 10, {"loss": 2.0 / step, "accuracy": 0.1 * step}, 0.1 * step))
    view.on_epoch(EpochResult(0, 1, {"loss": 0.3, "accuracy": 0.95, "val_loss": 0.35, "val_accuracy": 0.93}, 1.0, 10, 10))
    view.redraw()
    renderer = _renderer(view.canvas)
    assert view.loss_axes.get_legend() is None and view.accuracy_axes.get_legend() is None
    assert view.figure.legends == [view.legend] and len(view.legend.get_texts()) == 3  # with the per-batch line
    legend = view.legend.get_window_extent(renderer)
    assert _inside(legend, view.figure.bbox)
    for axes in (view.loss_axes, view.accuracy_axes):
        assert not legend.overlaps(axes.bbox)
        assert _inside(axes.xaxis.label.get_window_extent(renderer), view.figure.bbox)
        low, high = axes.get_xlim()
        assert low <= 0.1 and high >= 1.0 + 0.5 - 1e-9  # one epoch, with room after its end


def test_training_plots_before_a_run_show_only_the_hint(qtbot) -> None:
    from cnnstudio.ui.training_view import TrainingView

    view = _shown(qtbot, TrainingView())
    view.redraw()
    assert view.placeholder.get_visible() and not view.legend.get_visible()
    assert not view.loss_axes.get_visible() and not view.accuracy_axes.get_visible()
    assert view.placeholder.get_text() == "Press Train to see the curves"
    view.start_run(None)  # a run has begun, no batch drawn yet: the hint says the curves are coming
    view.redraw()
    assert view.placeholder.get_visible() and view.placeholder.get_text().startswith("Training: the curves appear")
    view.clear()
    view.redraw()
    assert view.placeholder.get_text() == "Press Train to see the curves"


def test_a_records_stopped_epochs_are_noted_in_the_log(qtbot) -> None:
    """A stopped run's partial epochs keep their note when the log is rebuilt from the record."""
    from cnnstudio.core.files.model_record import ModelRecord
    from cnnstudio.ui.training_view import TrainingView

    view = _shown(qtbot, TrainingView())
    history = {"loss": [0.5, 0.4, 0.3, 0.2], "accuracy": [0.8, 0.85, 0.9, 0.95]}
    record = ModelRecord(Experiment(), ["0", "1"], (28, 28, 1), history=history, seconds_per_epoch=[1.5, 0.5, 1.4, 0.2],
                         epoch_ends=[1.0, 1.34, 2.34, 2.5], test_accuracy=0.9)  # stopped in 2, continued, stopped in 4
    view.show_record(record)
    assert view.status.text() == "2.5 epochs trained · test accuracy 0.9000"  # not the 4 epochs logged
    lines = view.log.toPlainText().splitlines()
    assert len(lines) == 4 and "stopped" not in lines[0] and "stopped" not in lines[2]
    assert lines[1].endswith("(epoch 2 stopped after 34% of its batches)")
    assert lines[3].endswith("(epoch 4 stopped after 16% of its batches)")  # numbered as logged, as live
    view.redraw()  # a reopened model has no per-batch line: the legend names only the lines drawn
    assert [t.get_text() for t in view.legend.get_texts()] == ["training (epoch)", "validation (epoch)"]
    assert view.figure.legends == [view.legend]


def _one_epoch_entry(pooling: str, accuracy: float, seconds: float, created: str) -> RunEntry:
    experiment = Experiment(ModelOptions(pooling=pooling), TrainOptions(epochs=1), "mnist").to_dict()
    history = {"loss": [0.4], "val_loss": [0.3], "accuracy": [accuracy], "val_accuracy": [accuracy]}
    return RunEntry(experiment=experiment, history=history, seconds_per_epoch=[seconds], test_accuracy=accuracy,
                    test_loss=1 - accuracy, params=61_706, macs=416_520, created=created, id=f"one-{pooling}")


def test_one_epoch_study_curves_have_whole_epoch_ticks_room_and_unclipped_labels(qtbot) -> None:
    from cnnstudio.ui.study_view import StudyView

    view = _shown(qtbot, StudyView())
    view.entries = [_one_epoch_entry(p, a, s, f"2024-05-01 10:0{i}:00")
                    for i, (p, a, s) in enumerate([("max", 0.95, 9.3), ("min", 0.93, 3.1), ("avg", 0.94, 3.0)])]
    view.show_results()
    figure = view.plot.figure
    renderer = _renderer(view.plot.canvas)
    legends = figure.legends
    assert len(legends) == 1 and legends[0].get_title().get_text() == "pooling"  # names once what differs
    assert [t.get_text() for t in legends[0].get_texts()] == ["max", "min", "avg"]
    assert view.plot.labels == ["pooling=max", "pooling=min", "pooling=avg"]
    for axes in (view.plot.loss_axes, view.plot.accuracy_axes):
        low, high = axes.get_xlim()
        assert low <= 0.5 and high >= 1.5  # not 0.96..1.04 around a single point
        ticks = [t for t in axes.get_xticks() if low <= t <= high]
        assert ticks == [1.0]  # whole epochs only
        assert _inside(axes.xaxis.label.get_window_extent(renderer), figure.bbox)
        assert _inside(axes.title.get_window_extent(renderer), figure.bbox)
        assert not legends[0].get_window_extent(renderer).overlaps(axes.bbox)


def test_study_seconds_per_epoch_leave_out_the_warm_up_epoch(study_view) -> None:
    from cnnstudio.core.experiments.study import RESULT_COLUMNS

    slow_start, steady = fake_entry("max", "valid", 0.97, 61_706, "2024-05-01 10:00:00"), \
        fake_entry("min", "valid", 0.95, 61_706, "2024-05-01 11:00:00")
    slow_start.seconds_per_epoch = [9.0, 1.0, 1.0]  # the first run paid TensorFlow's set-up
    steady.seconds_per_epoch = [2.0, 1.5, 1.5]
    study_view.entries = [slow_start, steady]
    study_view.show_results()
    column = [key for key, _title in RESULT_COLUMNS].index("steady_seconds_per_epoch")
    assert [study_view.table.item(i, column).text() for i in range(2)] == ["1.00", "1.50"]
    assert study_view.best_cells()["s / epoch"] == "pooling=max"
    assert "after the first epoch" in study_view.table.horizontalHeaderItem(column).toolTip()


LONG_PATH = "/home/someone/datasets/handwriting/mnist-idx"  # a folder dataset: only its name is shown


def _many_runs(history: RunHistory, count: int) -> None:
    for i in range(count):
        entry = fake_entry(POOLING_TYPES[i % 3], ("valid", "same")[i % 2], 0.9 + i / 200, 61_706,
                           f"2024-05-01 10:{i:02d}:00", dataset=("digits", "mnist", LONG_PATH)[i % 3])
        entry.id, entry.study = f"run{i:02d}", ("study 2024-05-01 10:00:00" if i < 6 else None)
        history.add(entry)


def test_runs_table_fits_the_tab_without_sideways_scrolling(qtbot, tmp_path) -> None:
    from cnnstudio.ui.runs_view import COLUMNS, KEYS, RunsView

    history = RunHistory(tmp_path / "runs")
    _many_runs(history, 16)
    view = _listed(qtbot, _shown(qtbot, RunsView(history)))
    table = view.table
    assert view.proxy.rowCount() == 16
    assert table.horizontalScrollBar().maximum() == 0  # every shown column is in view
    header = table.horizontalHeader()
    assert sum(header.sectionSize(i) for i in range(len(KEYS)) if not table.isColumnHidden(i)) <= \
        table.viewport().width()
    last_visible = table.rowAt(table.viewport().height() - 1)
    assert last_visible == -1 or last_visible >= 12  # most runs in view, not six
    for i in range(len(COLUMNS)):  # a short header explains itself on hover
        assert view.runs_model.headerData(i, Qt.Horizontal, Qt.ToolTipRole)
    column = KEYS.index("dataset")
    shown = {view.proxy.index(row, column).data(): view.proxy.index(row, column).data(Qt.ToolTipRole)
             for row in range(view.proxy.rowCount())}
    assert shown["…/mnist-idx"] == LONG_PATH  # a folder is told apart from a built-in dataset of the same name
    assert "macs" not in view.shown_columns()
    view.set_column_shown("macs", True)
    assert "macs" in view.shown_columns()


def test_runs_legend_names_every_setting_that_differs(qtbot, tmp_path) -> None:
    from cnnstudio.ui.runs_view import RunsView

    history = RunHistory(tmp_path / "runs")
    short = fake_entry("max", "valid", 0.97, 61_706, "2024-05-01 10:00:00")
    longer = fake_entry("max", "valid", 0.98, 61_706, "2024-05-01 11:00:00")
    longer.id = "run-longer"
    longer.experiment = Experiment(ModelOptions(), TrainOptions(epochs=5, learning_rate=0.01), "digits").to_dict()
    for entry in (short, longer):
        history.add(entry)
    view = _listed(qtbot, _shown(qtbot, RunsView(history)))
    view.table.selectAll()
    assert view.plot.labels == ["epochs=3, learning_rate=0.002", "epochs=5, learning_rate=0.01"]
    (legend,) = view.plot.figure.legends
    assert legend.get_title().get_text() == "epochs, learning_rate"
    assert [t.get_text() for t in legend.get_texts()] == ["3, 0.002", "5, 0.01"]


def _fake_conv(name: str, kernel: np.ndarray):
    return type("Conv2D", (), {"name": name, "kernel": kernel})()


def test_filters_wrap_to_the_width_and_keep_their_rows_together(qtbot, feature_view) -> None:
    rng = np.random.default_rng(0)
    model = _fake_model((28, 28, 1), 10)
    model.layers = [_fake_conv("c1", rng.normal(size=(5, 5, 1, 6))), _fake_conv("c3", rng.normal(size=(5, 5, 6, 16)))]
    feature_view.set_model(model, "fake")
    feature_view.tabs.setCurrentIndex(1)
    _shown(qtbot, feature_view, (700, 700))
    c1, c3 = feature_view.filter_tiles
    area = feature_view.filters_area
    assert area.horizontalScrollBar().maximum() == 0
    assert c3.columns < 16 and c3.x() + c3.pixmap().width() <= area.viewport().width()  # wrapped, nothing cut off
    rows = -(-16 // c3.columns)
    assert c3.columns == -(-16 // rows)  # evened out over the rows: no row of leftovers
    assert c3.height() == c3.pixmap().height() and c3.pixmap().height() > c1.pixmap().height()
    spacing = area.widget().layout().verticalSpacing()
    assert c3.y() - (c1.y() + c1.height()) <= spacing  # no gap between the layers' rows
    feature_view.resize(1800, 700)
    qtbot.waitUntil(lambda: c3.columns == 16)  # room for one row again
    captions = [area.widget().layout().itemAtPosition(row, 0).widget().text() for row in (0, 1)]
    assert "(mean of" not in captions[0] and "(mean of 6 input channels)" in captions[1]  # what c3's squares are
    assert not feature_view.message.isVisibleTo(feature_view)  # the maps' caption is not about the filters


def test_filters_share_one_scale_centred_on_zero_and_are_parted_by_a_visible_gap(qtbot, feature_view) -> None:
    """Each kernel was stretched to its own range, so white meant "this kernel's middle", not zero, and the
    light gap vanished against white weights: kernels read as one strip."""
    kernel = np.zeros((5, 5, 1, 3))
    kernel[..., 0, 1] = 0.5  # all positive
    kernel[..., 0, 2] = -0.25  # all negative, half as strong
    model = _fake_model((28, 28, 1), 10)
    model.layers = [_fake_conv("c1", kernel)]
    feature_view.set_model(model, "fake")
    feature_view.tabs.setCurrentIndex(1)
    _shown(qtbot, feature_view, (1000, 600))
    (tiles,) = feature_view.filter_tiles
    image, scale = tiles.pixmap().toImage(), tiles.scale
    zero, positive, negative = (image.pixelColor(scale * (6 * k + 2), scale * 2) for k in range(3))
    gap = image.pixelColor(scale * 5, scale * 2)
    assert min(zero.red(), zero.green(), zero.blue()) > 230  # a zero weight is white
    assert positive.red() > 2 * max(positive.green(), positive.blue())  # red
    assert negative.blue() > negative.red() + 50  # blue
    assert negative.red() > 100 > positive.red() / 2  # -0.25 on the ±0.5 scale: a paler blue than +0.5's dark red
    assert max(gap.red(), gap.green(), gap.blue()) < 215  # the gap stands out from white weights (above 230)
    assert "(±0.5)" in feature_view.filters_area.widget().layout().itemAtPosition(0, 0).widget().text()


def _lenet_maps(_model) -> list:
    from cnnstudio.core.inspection import FeatureMap

    rng = np.random.default_rng(1)
    shapes = [("input_pad", "ZeroPadding2D", (32, 32, 1)), ("c1", "Conv2D", (28, 28, 6)),
              ("s2", "MaxPooling2D", (14, 14, 6)), ("c3", "Conv2D", (10, 10, 16)), ("s4", "MaxPooling2D", (5, 5, 16))]
    return [FeatureMap(name, kind, rng.random(shape).astype(np.float32)) for name, kind, shape in shapes]


def test_compare_with_model_fits_both_columns_in_the_tab(qtbot, feature_view, monkeypatch) -> None:
    monkeypatch.setattr(feature_view, "_extract", _lenet_maps)  # the layout is under test, not Keras
    feature_view.set_model(_fake_model((28, 28, 1), 10), "LeNet-5 max")
    feature_view.show_image(np.zeros((28, 28, 1)), "blank")
    feature_view.set_compare_model(_fake_model((28, 28, 1), 10), "LeNet-5 min")
    _shown(qtbot, feature_view)
    area = feature_view.maps_area
    assert area.horizontalScrollBar().maximum() == 0
    first, second = feature_view.map_labels["LeNet-5 max"], feature_view.map_labels["LeNet-5 min"]
    for left, right in zip(first, second):
        assert left.x() + left.pixmap().width() < right.x()  # side by side, never overlapping
        assert right.x() + right.pixmap().width() <= area.viewport().width()


def test_a_second_copy_of_the_same_file_gets_its_own_column(qtbot, feature_view, monkeypatch) -> None:
    """Both columns were keyed by the file's name: the copy's maps replaced the first model's, which were left
    as a strip of thumbnails under a second heading of the same name."""
    monkeypatch.setattr(feature_view, "_extract", _lenet_maps)
    feature_view.set_model(_fake_model((28, 28, 1), 10), "model.keras")
    feature_view.show_image(np.zeros((28, 28, 1)), "blank")
    feature_view.set_compare_model(_fake_model((28, 28, 1), 10), "model.keras")
    _shown(qtbot, feature_view)
    assert list(feature_view.map_labels) == ["model.keras", "model.keras (second model)"]
    first, second = feature_view.map_labels.values()
    assert [m.scale for m in first] == [m.scale for m in second]  # both laid out as one of two columns
    assert all(left.x() + left.pixmap().width() < right.x() for left, right in zip(first, second))
    assert [title for title, _model in feature_view.attribution.models] == list(feature_view.map_labels)


class _ConfidentNine:
    """A stand-in digit model: always 82 % sure of '9'."""

    input_shape, output_shape, layers = (None, 28, 28, 1), (None, 10), []

    def __call__(self, images, training=False):
        return np.tile(np.array([0.02] * 9 + [0.82], dtype=np.float32), (len(images), 1))


def _probe_text(pad) -> list[str]:
    return [t.get_text() for t in pad.probe_axes.texts] + [pad.probe_axes.get_title()]


def test_empty_plots_show_a_hint_not_bare_axes(qtbot) -> None:
    from cnnstudio.ui.evaluation_view import MATRIX_HINT, EvaluationView
    from cnnstudio.ui.sketch_pad import PROBE_HINT, SketchPadView

    pad, evaluation = _shown(qtbot, SketchPadView()), _shown(qtbot, EvaluationView())
    assert not pad.probe_axes.axison and _probe_text(pad) == [PROBE_HINT, ""]
    assert not evaluation.axes.axison and [t.get_text() for t in evaluation.axes.texts] == [MATRIX_HINT]
    evaluation.clear()
    assert not evaluation.axes.axison and [t.get_text() for t in evaluation.axes.texts] == [MATRIX_HINT]
    for canvas, figure in ((pad.probe_canvas, pad.figure), (evaluation.canvas, evaluation.figure)):
        renderer = _renderer(canvas)
        assert all(_inside(t.get_window_extent(renderer), figure.bbox) for t in figure.axes[0].texts)


def _draw_stroke(qtbot, pad, points) -> None:
    qtbot.mousePress(pad.canvas, Qt.LeftButton, pos=QPoint(*points[0]))
    for x, y in points[1:]:
        qtbot.mouseMove(pad.canvas, QPoint(x, y))
    qtbot.mouseRelease(pad.canvas, Qt.LeftButton, pos=QPoint(*points[-1]))
    pad.predict()  # what the debounce timer does a moment later


def test_the_shift_probe_is_drawn_under_the_drawing_it_probes(qtbot) -> None:
    """It was squeezed under ten bars on the right (115 px of axes at 1024×700, its legend a third of the width)."""
    from cnnstudio.ui.sketch_pad import SketchPadView

    pad = _shown(qtbot, SketchPadView(), (663, 613))  # the tab's room in a 1024×700 window
    pad.set_model(_ConfidentNine(), None)
    _draw_stroke(qtbot, pad, [(140, 40), (140, 240)])
    pad.probe_button.click()
    canvas, probe = pad.canvas, pad.probe_canvas
    assert probe.x() == canvas.x() and abs(probe.width() - canvas.side()) <= 2
    assert probe.y() > canvas.y() + canvas.side() and probe.height() >= 160
    assert [int(t) for t in pad.probe_axes.get_xticks()] == [-6, -4, -2, 0, 2, 4, 6]
    (legend,) = pad.figure.legends
    probe.draw()  # the constrained layout is applied when drawn
    assert legend.get_window_extent().y1 < pad.probe_axes.get_window_extent().y0  # below the axes, not beside


def test_an_opened_image_is_drawn_smooth_on_a_large_canvas(qtbot) -> None:
    """It was scaled to 280 px once and then enlarged: blocks of 2×2 equal pixels at 560 px."""
    from cnnstudio.ui.sketch_pad import LARGEST_CANVAS, SketchPadView

    pad = _shown(qtbot, SketchPadView(), (1800, 1000))
    qtbot.waitUntil(lambda: pad.canvas.side() == LARGEST_CANVAS)
    checks = np.indices((4, 4)).sum(axis=0) % 2 * 255.0  # 4×4 black and white squares: steep ramps between
    pad.canvas.set_image(checks)
    shown = pad.canvas.grab().toImage()
    side = LARGEST_CANVAS - 2  # inside the border
    gray = np.array([[shown.pixelColor(x, y).red() for x in range(1, side, 3)] for y in range(1, side, 3)])
    blocks = np.array([[shown.pixelColor(x, y).red() == shown.pixelColor(x + 1, y).red()
                        for x in range(2, side - 2, 2)] for y in range(2, side - 2, 16)])
    assert gray.min() < 40 and gray.max() > 215  # the image fills the canvas
    assert blocks.mean() < 0.9  # neighbours differ: resampled at this size, not pixels doubled


def test_a_blank_image_opened_after_a_drawing_leaves_no_prediction_behind(qtbot) -> None:
    """The blank image's one-line reason showed, but the last drawing's preview, prediction and bars stayed,
    and Shift Probe and Show Feature Maps stayed on without anything to work on."""
    from cnnstudio.ui.sketch_pad import SketchPadView

    pad = _shown(qtbot, SketchPadView())
    pad.set_model(_ConfidentNine(), None)
    _draw_stroke(qtbot, pad, [(140, 40), (140, 240)])
    assert pad.top.text() == "9  (82%)" and pad.bar_widgets[9].text() == "82%" and pad.probe_button.isEnabled()
    pad.canvas.set_image(np.full((28, 28), 255.0))  # white paper, no ink
    pad.predict()
    assert pad.status.text().startswith("the image is blank")
    assert pad.top.text() == "–" and pad.preview.pixmap().isNull()
    assert all(bar.value() == 0 for bar in pad.bar_widgets) and pad.processed is None
    assert not pad.probe_button.isEnabled() and not pad.maps_button.isEnabled()


def test_the_sketch_canvas_grows_with_the_window_and_keeps_the_drawing_the_network_gets(qtbot) -> None:
    """The canvas stayed 280 px at 1920×1080; now it takes the room it has (280…560 px), and a stroke drawn at
    twice the size lands on the same pixels of the 280×280 drawing."""
    from cnnstudio.ui.sketch_pad import CANVAS, LARGEST_CANVAS, SketchPadView

    pad = _shown(qtbot, SketchPadView())
    pad.resize(620, 613)
    qtbot.waitUntil(lambda: pad.canvas.side() == CANVAS)  # never smaller than the drawing
    _draw_stroke(qtbot, pad, [(140, 40), (140, 240)])
    small = pad.canvas.to_array()
    pad.canvas.clear()
    pad.resize(1800, 1000)
    qtbot.waitUntil(lambda: pad.canvas.side() == LARGEST_CANVAS)
    _draw_stroke(qtbot, pad, [(280, 80), (280, 480)])  # the same stroke, twice the size on screen
    assert pad.canvas.to_array().shape == (CANVAS, CANVAS)
    np.testing.assert_allclose(pad.canvas.to_array(), small, atol=1)
    pad.resize(620, 613)  # and back: the canvas gives the room back (it never holds the window wide)
    qtbot.waitUntil(lambda: pad.canvas.side() == CANVAS)


def test_shift_probe_is_cleared_when_the_drawing_or_the_model_changes(qtbot) -> None:
    from cnnstudio.ui.sketch_pad import PROBE_HINT, SketchPadView

    pad = _shown(qtbot, SketchPadView())
    model = _ConfidentNine()
    pad.set_model(model, None)

    def probe() -> None:
        pad.probe_button.click()
        assert pad.probe_result is not None and pad.probe_axes.get_title() == "confidence in '9'"
        assert pad.probe_axes.axison and len(pad.figure.legends) == 1
        renderer = _renderer(pad.probe_canvas)
        assert not pad.figure.legends[0].get_window_extent(renderer).overlaps(pad.probe_axes.bbox)

    _draw_stroke(qtbot, pad, [(140, 40 + 10 * i) for i in range(20)])
    probe()
    pad.clear_button.click()
    pad.predict()
    assert pad.probe_result is None and _probe_text(pad) == [PROBE_HINT, ""]
    _draw_stroke(qtbot, pad, [(100, 60), (180, 60), (120, 220)])
    probe()
    pad.predict()  # the same drawing read again: the probe still describes it
    assert pad.probe_result is not None
    _draw_stroke(qtbot, pad, [(60, 200), (220, 200)])  # another stroke: a new drawing
    assert pad.probe_result is None and _probe_text(pad) == [PROBE_HINT, ""]
    probe()
    pad.set_model(model, None)  # e.g. the same model trained further
    assert pad.probe_result is None and _probe_text(pad) == [PROBE_HINT, ""] and pad.figure.legends == []

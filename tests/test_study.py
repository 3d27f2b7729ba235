"""Studies, the run history, reports and reproducible scripts."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
from cnnstudio.core.errors import ModelFileError
from cnnstudio.core.experiments.report import write_report
from cnnstudio.core.experiments.run_history import RunHistory
from cnnstudio.core.experiments.script_export import export_run, keras_script
from cnnstudio.core.experiments.study import differing_options, run_label, run_study, study_grid, study_rows
from cnnstudio.core.network.shape_table import shape_table
from cnnstudio.core.training.progress import StopFlag

BASE = Experiment(ModelOptions(arch="lenet5"), TrainOptions(epochs=1, batch_size=32, seed=7), "small")


def test_grid_has_exactly_the_requested_runs_with_labels() -> None:
    grid = study_grid(BASE, ["max", "avg", "min"], ["valid", "same", "2"])
    assert [(e.model.pooling, e.model.padding) for e in grid] == [
        (p, d) for p in ("max", "avg", "min") for d in ("valid", "same", "2")]
    keys = differing_options(grid)
    assert keys == ["pooling", "padding"]
    assert run_label(grid[5], keys) == "pooling=avg, padding=2"
    assert all(e.train == BASE.train and e.dataset == BASE.dataset for e in grid)  # only the compared options differ
    with_activation = study_grid(BASE, ["max"], ["same"], ["relu", "tanh"])
    assert differing_options(with_activation) == ["activation"]
    # a choice given twice, in any spelling, trains once
    assert [(e.model.pooling, e.model.padding) for e in study_grid(BASE, ["max", "avg", "max", "average"],
                                                                    ["2", "02"])] == [("max", "2"), ("avg", "2")]


def test_study_runs_share_data_split_and_seed_and_stop_keeps_finished_runs(small, tmp_path) -> None:
    history = RunHistory(tmp_path / "runs")
    stop = StopFlag()
    grid = study_grid(BASE, ["max", "min"], ["valid", "same"])
    outcomes = run_study(grid, small, history=history, stop=stop, on_run_done=lambda i, _o: i == 1 and stop.request())
    assert len(outcomes) == 2  # stopped after the second run: the rest never started
    entries, warnings = history.entries()
    assert warnings == [] and len(entries) == 2
    assert len({e.study for e in entries}) == 1 and entries[0].study
    trains = [e.experiment["train"] for e in entries]
    assert trains[0] == trains[1] and trains[0]["seed"] == 7
    assert {e.experiment["dataset"] for e in entries} == {"small"}
    rows = study_rows(entries)
    assert [r["label"] for r in rows] == ["padding=valid", "padding=same"]
    assert rows[0]["params"] == 61_706 and rows[0]["macs"] > 0 and rows[0]["epochs"] == 1


def test_a_run_saved_under_a_relative_name_records_where_it_really_is(small, tmp_path, monkeypatch) -> None:
    """``train --out m.keras`` run in one folder: the Runs tab, started elsewhere, must still find the model."""
    from cnnstudio.core.experiments.runner import run_experiment

    monkeypatch.chdir(tmp_path)
    history = RunHistory(tmp_path / "runs")
    run_experiment(BASE, small, checkpoint="m.keras", history=history)
    (entry,), _warnings = history.entries()
    assert entry.model_path == str(tmp_path / "m.keras")


def test_damaged_history_entries_are_skipped_with_a_warning(small, tmp_path) -> None:
    history = RunHistory(tmp_path / "runs")
    run_study(study_grid(BASE, ["max"], ["valid"]), small, history=history)
    (history.folder / "broken.json").write_text("{not json")
    (history.folder / "foreign.json").write_text(json.dumps({"format": "other"}))
    (history.folder / "bad-settings.json").write_text(json.dumps({"format": "cnnstudio-run", "experiment": 5}))
    entries, warnings = history.entries()
    assert len(entries) == 1 and len(warnings) == 3
    history.delete(entries[0].id)
    assert history.entries()[0] == []


def test_report_marks_the_best_values(small, tmp_path) -> None:
    history = RunHistory(tmp_path / "runs")
    run_study(study_grid(BASE, ["max", "avg"], ["valid"]), small, history=history)
    path = write_report(history.entries()[0], tmp_path / "report.md")
    text = path.read_text()
    assert "| pooling=max |" in text and "| pooling=avg |" in text
    assert "61,706" in text and "**61,706**" not in text  # max and avg pooling have the same size: no best there
    assert (tmp_path / "report-curves.png").read_bytes()[:4] == b"\x89PNG"


def test_a_report_of_one_run_says_so_instead_of_comparing_nothing(tmp_path) -> None:
    one = write_report([fake_entry("max", 0.9, 100)], tmp_path / "one.md").read_text()
    assert "One run, so nothing is compared. Seed 0, 2 epochs, batch 64, adam at" in one
    assert "Compared" not in one and "in bold" not in one and "**" not in one
    two = write_report([fake_entry("max", 0.9, 100), fake_entry("min", 0.8, 100)], tmp_path / "two.md").read_text()
    assert "Compared: pooling. Same data, split and seed (0), 2 epochs, batch 64, adam at" in two
    assert "for every run. Best value per column in bold." in two and "**0.9000**" in two


@pytest.mark.parametrize("options", [ModelOptions(pooling="min", padding="2", batch_norm=True, augment=True),
                                     ModelOptions(arch="alexnet_cifar", pooling="avg", padding="same")])
def test_exported_script_rebuilds_the_same_network(tmp_path, options) -> None:
    shape = (32, 32, 3) if options.arch == "alexnet_cifar" else (28, 28, 1)
    script = tmp_path / "experiment.py"
    script.write_text(keras_script(Experiment(options), shape, 10, script.name))
    result = subprocess.run([sys.executable, str(script), "--build-only"], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    built = json.loads(result.stdout.strip().splitlines()[-1])
    table = shape_table(options, shape, 10)
    assert built["params"] == table.params
    assert [(layer["name"], tuple(layer["output_shape"])) for layer in built["layers"]] == [
        (row.name, row.output_shape) for row in table.rows]
    assert "cnnstudio" not in script.read_text().split('"""', 2)[2].replace("CNN Studio", "")


def test_export_run_writes_record_and_script(small, tmp_path) -> None:
    history = RunHistory(tmp_path / "runs")
    run_study(study_grid(BASE, ["min"], ["same"]), small, history=history)
    entry = history.entries()[0][0]
    record, script = export_run(entry, small.input_shape, small.num_classes, tmp_path)
    data = json.loads(record.read_text())
    assert data["experiment"]["model"]["pooling"] == "min" and data["versions"]["keras"]
    assert data["device"] and data["seconds_per_epoch"] and "lenet5" in script.read_text()
    assert sorted(p.name for p in tmp_path.glob("*run-*")) == [record.name, script.name]  # no temporary left
    with pytest.raises(ModelFileError, match=f"could not export the run: the folder {tmp_path / 'gone'} does not exist"):
        export_run(entry, small.input_shape, small.num_classes, tmp_path / "gone")
    assert entry.precision == "float32" and data["precision"] == "float32"  # what the run computed in

    entry.precision = "mixed_bfloat16"  # a run trained in mixed precision: its script computes in it too
    _, script = export_run(entry, small.input_shape, small.num_classes, tmp_path)
    result = subprocess.run([sys.executable, str(script), "--build-only"], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    layers = json.loads(result.stdout.strip().splitlines()[-1])["layers"]
    assert {layer["precision"] for layer in layers[:-1]} == {"mixed_bfloat16"} and layers[-1]["precision"] == "float32"


def test_a_run_records_precision_is_one_keras_knows() -> None:
    from cnnstudio.core.experiments.run_history import RunEntry

    stored = {**fake_entry("max", 0.9, 100).to_json(), "precision": "mixed_float16"}
    assert RunEntry.from_json(stored).precision == "mixed_float16"
    assert RunEntry.from_json({k: v for k, v in stored.items() if k != "precision"}).precision == "float32"  # older
    with pytest.raises(ValueError, match="precision must be one of float32, mixed_float16, mixed_bfloat16"):
        RunEntry.from_json({**stored, "precision": "float64"})


def test_cli_study_json_on_digits() -> None:
    result = subprocess.run([sys.executable, "-m", "cnnstudio", "study", "--arch", "lenet5", "--pooling", "max,min",
                             "--padding", "valid,same", "--dataset", "digits", "--epochs", "1", "--json"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    assert [(r["pooling"], r["padding"]) for r in rows] == [("max", "valid"), ("max", "same"), ("min", "valid"),
                                                            ("min", "same")]
    assert all({"test_accuracy", "params", "seconds_per_epoch"} <= set(r) for r in rows)
    assert rows[0]["params"] == 61_706 and rows[1]["params"] == 136_586


# Shared helpers of the study table, the report and the curve plots (no training) -----------------

def fake_entry(pooling: str, accuracy: float | None, params: int, history: dict | None = None,
               seconds: list[float] | None = None):
    from cnnstudio.core.experiments.run_history import RunEntry

    experiment = Experiment(ModelOptions(pooling=pooling), TrainOptions(epochs=2), "digits").to_dict()
    history = history if history is not None else {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7],
                                                   "accuracy": [0.6, 0.8], "val_accuracy": [0.5, 0.75]}
    return RunEntry(experiment=experiment, history=history, seconds_per_epoch=[2.0, 2.0] if seconds is None else seconds,
                    test_accuracy=accuracy, test_loss=None if accuracy is None else 1 - accuracy, params=params,
                    macs=params * 10)


def test_best_values_need_two_runs_and_share_ties() -> None:
    from cnnstudio.core.experiments.study import best_values

    rows = [{"test_accuracy": 0.9, "test_loss": 0.3, "params": 10}, {"test_accuracy": 0.95, "test_loss": None, "params": 10},
            {"test_accuracy": None, "test_loss": None, "params": 12}]
    best = best_values(rows, {"test_accuracy": max, "test_loss": min, "params": min})
    assert best == {"test_accuracy": 0.95, "params": 10}  # one loss alone is not "best"
    assert best_values(rows[:1]) == {}
    assert best_values([{"test_accuracy": 0.5}, {"test_accuracy": 0.7}], {"test_accuracy": min}) == {"test_accuracy": 0.5}
    same = [{"params": 61_706, "test_accuracy": 0.9}, {"params": 61_706, "test_accuracy": 0.8}]
    assert best_values(same, {"params": min, "test_accuracy": max}) == {"test_accuracy": 0.9}  # nothing to pick in a tie


def test_values_that_read_the_same_are_best_together() -> None:
    """1.876 s and 1.884 s both read 1.88 in the table: both are highlighted, not only the smaller."""
    from cnnstudio.core.experiments.study import best_values, is_best

    key = "mean_seconds_per_epoch"
    rows = [{key: 1.884}, {key: 1.876}, {key: 2.5}, {key: 1.5, "stopped": True}]
    best = best_values(rows, {key: min})
    assert [is_best(row, key, best) for row in rows] == [True, True, False, False]  # a stopped run takes no part
    assert best_values([{key: 1.876}, {key: 1.884}], {key: min}) == {}  # as shown they are all equal: no best


def test_cell_text() -> None:
    from cnnstudio.core.experiments.study import cell_text

    assert cell_text("params", 61706) == "61,706" and cell_text("test_accuracy", 0.98765) == "0.9877"
    assert cell_text("mean_seconds_per_epoch", 1.234) == "1.23" and cell_text("test_loss", None) == "–"
    assert cell_text("label", "pooling=max") == "pooling=max"


def test_markdown_table_bolds_the_best_of_each_column() -> None:
    from cnnstudio.core.experiments.report import markdown_table

    table = markdown_table([fake_entry("max", 0.9, 100), fake_entry("min", 0.95, 120), fake_entry("avg", None, 100, seconds=[])])
    lines = table.splitlines()
    assert lines[0].startswith("| Run | Test accuracy |") and len(lines) == 5
    assert lines[2] == "| pooling=max | 0.9000 | 0.1000 | **100** | **1,000** | 2.00 |"  # ties share the best
    assert lines[3] == "| pooling=min | **0.9500** | **0.0500** | 120 | 1,200 | 2.00 |"  # all equal: no best
    assert lines[4] == "| pooling=avg | – | – | **100** | **1,000** | – |"


def _figure_axes():
    from matplotlib.figure import Figure

    return Figure().subplots(1, 2)


def test_curves_prefer_validation_and_default_to_epochs_from_one() -> None:
    from cnnstudio.core.experiments.curves import plot_curves

    loss, accuracy = _figure_axes()
    plot_curves(loss, accuracy, [{"loss": [3, 2, 1], "val_loss": [4, 3, 2], "accuracy": [0.1, 0.2, 0.3]}], ["a"])
    (line,) = loss.get_lines()
    assert list(line.get_xdata()) == [1, 2, 3] and list(line.get_ydata()) == [4, 3, 2]
    assert loss.get_title() == "Validation loss" and accuracy.get_title() == "Accuracy"  # no validation accuracy
    assert list(accuracy.get_lines()[0].get_ydata()) == [0.1, 0.2, 0.3]
    assert loss.get_legend() is None  # one legend for both plots, below them
    assert [[t.get_text() for t in legend.get_texts()] for legend in loss.figure.legends] == [["a"]]


def test_curves_take_explicit_x_positions_per_run() -> None:
    from cnnstudio.core.experiments.curves import plot_curves

    loss, accuracy = _figure_axes()
    histories = [{"loss": [3, 2, 1]}, {"loss": [5, 4]}, {"loss": [1, 1, 1]}]
    plot_curves(loss, accuracy, histories, ["fractional", "default", "too few x"], [[0.5, 1.5, 2.0], None, [1, 2]])
    xs = [list(line.get_xdata()) for line in loss.get_lines()]
    assert xs == [[0.5, 1.5, 2.0], [1, 2], [1, 2]]  # a value without an x position is left out
    with pytest.raises(ValueError, match="3 runs but 2 labels"):
        plot_curves(loss, accuracy, histories, ["a", "b"])


def test_recorded_runs_are_plotted_at_their_own_epoch_ends() -> None:
    """A run stopped at 1.17 epochs and its continuation (to 2.17) are drawn where they ended, not at 1, 2, 3."""
    from cnnstudio.core.experiments.curves import plot_runs

    stopped, continued = fake_entry("max", 0.9, 100), fake_entry("min", 0.95, 100)
    stopped.epoch_ends = [1.0, 1.17]
    continued.history = {key: [*values, values[-1]] for key, values in continued.history.items()}
    continued.epoch_ends = [1.0, 1.17, 2.17]
    loss, accuracy = _figure_axes()
    plot_runs(loss, accuracy, [stopped, continued, fake_entry("avg", 0.9, 100)])
    for axes in (loss, accuracy):
        assert [list(line.get_xdata()) for line in axes.get_lines()] == [[1.0, 1.17], [1.0, 1.17, 2.17], [1.0, 2.0]]


def test_forty_runs_each_get_their_own_look_beyond_the_ten_colours() -> None:
    from matplotlib.colors import to_hex

    from cnnstudio.core.experiments.curves import plot_curves

    loss, accuracy = _figure_axes()
    plot_curves(loss, accuracy, [{"loss": [1.0, 0.5]}] * 41, [f"run {i}" for i in range(41)])
    looks = [(to_hex(line.get_color()), line.get_marker(), line.get_linestyle()) for line in loss.get_lines()]
    assert len(set(looks[:40])) == 40  # the 11th run is not drawn like the 1st
    assert looks[40] == looks[0] and looks[10][0] == looks[0][0] and looks[10][1:] != looks[0][1:]


def test_curves_of_no_runs_say_so_and_replotting_clears() -> None:
    from cnnstudio.core.experiments.curves import plot_curves

    loss, accuracy = _figure_axes()
    plot_curves(loss, accuracy, [{"loss": [1, 2]}], ["a"])
    plot_curves(loss, accuracy, [], [], empty_text="nothing yet")
    assert loss.get_lines() == [] and [t.get_text() for t in loss.texts] == ["nothing yet"]


def test_report_and_plot_label_runs_by_what_differs() -> None:
    from cnnstudio.core.experiments.curves import plot_runs
    from cnnstudio.core.experiments.report import curves_figure

    entries = [fake_entry("max", 0.9, 100), fake_entry("min", 0.8, 100)]
    loss, accuracy = _figure_axes()
    assert plot_runs(loss, accuracy, entries) == ["pooling=max", "pooling=min"]
    figure_loss = curves_figure(entries).axes[0]
    assert [line.get_label() for line in figure_loss.get_lines()] == ["pooling=max", "pooling=min"]
    assert [list(line.get_ydata()) for line in figure_loss.get_lines()] == [[1.1, 0.7], [1.1, 0.7]]


def test_seconds_per_epoch_leave_out_the_first_epoch() -> None:
    """The first epoch also pays TensorFlow's tracing and compiling: it would make the first run look slow."""
    from cnnstudio.core.experiments.report import markdown_table
    from cnnstudio.core.experiments.study import STEADY_SECONDS_NOTE, steady_seconds_per_epoch

    assert steady_seconds_per_epoch([9.0, 3.0, 3.5]) == 3.25
    assert steady_seconds_per_epoch([4.0]) == 4.0 and steady_seconds_per_epoch([]) is None
    warm_up, steady = fake_entry("max", 0.9, 100, seconds=[9.0, 1.0]), fake_entry("min", 0.9, 100, seconds=[2.0, 1.5])
    rows = study_rows([warm_up, steady])
    assert [r["steady_seconds_per_epoch"] for r in rows] == [1.0, 1.5]
    assert markdown_table([warm_up, steady]).splitlines()[2].endswith("| **1.00** |")
    assert "after the first epoch" in STEADY_SECONDS_NOTE


def _entry_with(experiment: Experiment, created: str):
    entry = fake_entry("max", 0.9, 100)
    entry.experiment, entry.created = experiment.to_dict(), created
    return entry


def test_run_labels_name_every_setting_that_differs() -> None:
    from cnnstudio.core.experiments.study import differing_fields, run_labels

    grid = study_grid(BASE, ["max", "min"], ["valid", "same"])
    study = [_entry_with(e, f"2024-05-01 10:0{i}:00") for i, e in enumerate(grid)]
    assert run_labels(study) == ["pooling=max, padding=valid", "pooling=max, padding=same",
                                 "pooling=min, padding=valid", "pooling=min, padding=same"]  # a study's labels
    longer = dataclasses.replace(BASE, train=dataclasses.replace(BASE.train, epochs=3))
    other_data = dataclasses.replace(BASE, dataset="mnist")
    assert run_labels([_entry_with(BASE, "a"), _entry_with(longer, "b")]) == ["epochs=1", "epochs=3"]
    assert differing_fields([BASE, other_data, longer]) == ["dataset", "epochs"]
    assert run_labels([_entry_with(BASE, "2024-05-01 10:00:00"), _entry_with(BASE, "2024-05-02 09:00:00")]) == [
        "lenet5 (2024-05-01 10:00:00)", "lenet5 (2024-05-02 09:00:00)"]  # the same settings: told apart by time
    older = BASE.to_dict()
    del older["train"]["steps_per_execution"]  # a record from before that option: its default, not a difference
    assert differing_fields([older, BASE]) == []


def test_labels_say_where_a_run_stopped_and_name_a_dataset_folder_by_its_name() -> None:
    """The legend of a run stopped at 1.86 of 3 epochs says so (not just '3'); a folder reads '…/mnist', as in
    the Runs table, not as the built-in 'mnist' or a full path."""
    from cnnstudio.core.experiments.curves import legend_entries
    from cnnstudio.core.experiments.study import run_labels
    from cnnstudio.core.training.stop_reason import StopReason

    longer = dataclasses.replace(BASE, train=dataclasses.replace(BASE.train, epochs=3))
    stopped = _entry_with(longer, "b")
    stopped.stop_reason, stopped.epoch_ends = StopReason.REQUESTED.value, [1.0, 1.86]
    entries = [_entry_with(BASE, "a"), stopped]
    assert run_labels(entries) == ["epochs=1", "epochs=3 (stopped at 1.86)"]
    assert legend_entries(entries) == ("epochs", ["1", "3 (stopped at 1.86)"])
    folder = _entry_with(dataclasses.replace(BASE, dataset="/data/sets/mnist"), "c")
    assert run_labels([_entry_with(dataclasses.replace(BASE, dataset="mnist"), "d"), folder]) == [
        "dataset=mnist", "dataset=…/mnist"]


def test_one_epoch_report_curves_have_room_whole_epoch_ticks_and_every_label_inside() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from cnnstudio.core.experiments.report import curves_figure

    one = {"loss": [0.5], "val_loss": [0.4], "accuracy": [0.8], "val_accuracy": [0.85]}
    figure = curves_figure([fake_entry("max", 0.9, 100, one, [3.0]), fake_entry("min", 0.8, 100, one, [3.0])])
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    (legend,) = figure.legends
    box = figure.bbox
    for axes in figure.axes:
        low, high = axes.get_xlim()
        assert low <= 0.5 and high >= 1.5 and [t for t in axes.get_xticks() if low <= t <= high] == [1.0]
        for text in (axes.xaxis.label, axes.title, legend):
            extent = text.get_window_extent(renderer)
            assert box.x0 <= extent.x0 and extent.x1 <= box.x1 and box.y0 <= extent.y0 and extent.y1 <= box.y1
        assert not legend.get_window_extent(renderer).overlaps(axes.bbox)


def test_a_long_legend_goes_beside_the_plots_and_a_short_one_below() -> None:
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from cnnstudio.core.experiments.curves import plot_runs

    grid = study_grid(BASE, ["max", "avg", "min"], ["valid", "same", "2"], ["relu", "tanh", "sigmoid"])
    entries = [_entry_with(e, f"2024-05-01 10:{i:02d}:00") for i, e in enumerate(grid)]
    for count, beside in ((27, True), (6, False)):
        figure = Figure(figsize=(7.8, 2.9), layout="constrained")  # about the Study view's plot at the default size
        loss, accuracy = figure.subplots(1, 2)
        plot_runs(loss, accuracy, entries[:count])
        renderer = FigureCanvasAgg(figure).get_renderer()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. "constrained_layout not applied because axes sizes collapsed"
            figure.draw(renderer)
        (legend,) = figure.legends
        assert len(legend.get_texts()) == count and legend.get_title().get_text() in ("pooling, padding, activation",
                                                                                     "padding, activation")
        extent = legend.get_window_extent(renderer)
        if beside:
            assert extent.x0 >= accuracy.bbox.x1 and extent.y0 >= figure.bbox.y0
        else:
            assert extent.y1 <= min(loss.bbox.y0, accuracy.bbox.y0) and extent.x1 <= figure.bbox.x1
        for axes in (loss, accuracy):
            assert axes.bbox.width >= figure.bbox.width / 4 and axes.bbox.height >= figure.bbox.height / 3


def test_a_stopped_runs_epochs_are_shown_as_trained() -> None:
    from cnnstudio.core.experiments.study import cell_text, study_rows

    stopped = fake_entry("max", 0.9, 100)
    stopped.epoch_ends = [1.0, 1.86]
    whole = fake_entry("min", 0.9, 100)
    rows = study_rows([stopped, whole])
    assert [row["epochs"] for row in rows] == [1.86, 2]
    assert [cell_text("epochs", row["epochs"]) for row in rows] == ["1.86", "2"]


def test_a_run_the_user_stopped_is_marked_and_left_out_of_the_best_values() -> None:
    from cnnstudio.core.experiments.study import best_values, study_rows
    from cnnstudio.core.training.stop_reason import StopReason

    stopped, early, whole = fake_entry("max", 0.99, 10), fake_entry("avg", 0.2, 100), fake_entry("min", 0.9, 200)
    stopped.stop_reason = StopReason.REQUESTED.value
    early.stop_reason = StopReason.EARLY_STOPPING.value  # ended by its own rule: compared
    rows = study_rows([stopped, early, whole])
    assert [row["stopped"] for row in rows] == [True, False, False]
    best = best_values(rows)
    assert best["test_accuracy"] == 0.9 and best["params"] == 100  # neither the stopped run's 0.99 nor its 10

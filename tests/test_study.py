"""Studies, the run history, reports and reproducible scripts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
from cnnstudio.core.data.datasets import Dataset
from cnnstudio.core.experiments.report import write_report
from cnnstudio.core.experiments.run_history import RunHistory
from cnnstudio.core.experiments.script_export import export_run, keras_script
from cnnstudio.core.experiments.study import differing_options, run_label, run_study, study_grid, study_rows
from cnnstudio.core.network.shape_table import shape_table
from cnnstudio.core.training.progress import StopFlag


@pytest.fixture(scope="module")
def small(digits) -> Dataset:
    return Dataset("small", digits.x_train[:256], digits.y_train[:256], digits.x_test[:64], digits.y_test[:64],
                   digits.class_names, digit_like=True)


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
    assert "| pooling=max |" in text and "| pooling=avg |" in text and "**61,706**" in text
    assert (tmp_path / "report-curves.png").read_bytes()[:4] == b"\x89PNG"


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

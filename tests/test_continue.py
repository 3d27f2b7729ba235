"""Continue (and ``train --resume``): the record says what really trained each stretch of epochs."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from training_helpers import Recorder as Listener
from training_helpers import experiment as base_experiment

from cnnstudio.core.errors import ModelFileError
from cnnstudio.core.experiments.run_history import RunEntry, RunHistory
from cnnstudio.core.experiments.runner import run_experiment, why_fresh_optimizer
from cnnstudio.core.files.model_record import MAX_SEGMENTS, ModelRecord, TrainingSegment
from cnnstudio.core.files.persistence import load_model, read_record, save_model
from cnnstudio.core.training.progress import StopFlag

STEPS = math.ceil(288 / 16)  # batches per epoch of the small set (320 images, 10% held out, batch 16)


def experiment(epochs: int = 1, **train):
    """A constant learning rate unless a test asks otherwise (cosine always starts a fresh optimizer)."""
    return base_experiment(epochs, **{"lr_schedule": "constant", **train})


@pytest.fixture(scope="module")
def trained(small, tmp_path_factory):
    """One epoch with Adam at a constant 0.002, saved: each test continues its own loaded copy."""
    outcome = run_experiment(experiment(), small)
    return save_model(outcome.model, tmp_path_factory.mktemp("trained") / "adam.keras", outcome.record)


def test_continue_with_another_optimizer_recompiles_and_says_so(small, trained) -> None:
    model, record = load_model(trained)
    assert type(model.optimizer).__name__ == "Adam" and int(model.optimizer.iterations) == STEPS
    weights = [np.asarray(w) for w in model.weights]
    sgd = experiment(optimizer="sgd", learning_rate=0.01)
    assert why_fresh_optimizer(model, record, sgd.train) == "the optimizer, learning rate or schedule changed"
    outcome = run_experiment(sgd, small, model=model, record=record)
    assert type(outcome.model.optimizer).__name__ == "SGD"
    assert float(outcome.model.optimizer.learning_rate) == pytest.approx(0.01)
    assert int(outcome.model.optimizer.iterations) == STEPS  # a fresh optimizer: its steps count from zero
    assert not all(np.array_equal(a, np.asarray(b)) for a, b in zip(weights, outcome.model.weights))  # it trained
    assert outcome.record.segments == [
        TrainingSegment("adam", 0.002, "constant", 16, "small", 0.0, 1.0, "fresh"),
        TrainingSegment("sgd", 0.01, "constant", 16, "small", 1.0, 1.0, "fresh"),
    ]
    assert outcome.record.experiment.train.optimizer == "sgd" and outcome.record.epochs_trained == 2


@pytest.mark.parametrize("change", [{"learning_rate": 0.001}, {"lr_schedule": "cosine"}])
def test_continue_with_another_rate_or_schedule_gets_a_fresh_optimizer(small, trained, change) -> None:
    model, record = load_model(trained)
    assert why_fresh_optimizer(model, record, experiment(**change).train) == (
        "a cosine schedule starts over on every continuation" if "lr_schedule" in change
        else "the optimizer, learning rate or schedule changed")
    outcome = run_experiment(experiment(**change), small, model=model, record=record)
    assert int(outcome.model.optimizer.iterations) == STEPS
    assert outcome.record.segments[-1].optimizer_state == "fresh"
    assert outcome.record.segments[-1].learning_rate == change.get("learning_rate", 0.002)
    assert outcome.record.segments[-1].lr_schedule == change.get("lr_schedule", "constant")


def test_continue_with_the_same_optimizer_keeps_its_state_even_with_another_batch_size(small, trained) -> None:
    model, record = load_model(trained)
    moments = [np.asarray(v) for v in model.optimizer.variables]
    optimizer = model.optimizer
    assert why_fresh_optimizer(model, record, experiment(batch_size=32).train) is None
    outcome = run_experiment(experiment(batch_size=32), small, model=model, record=record)
    assert outcome.model.optimizer is optimizer  # not recompiled: moments and step count carry on
    assert int(optimizer.iterations) == STEPS + math.ceil(288 / 32)
    assert any(not np.array_equal(a, np.asarray(b)) for a, b in zip(moments, optimizer.variables))
    assert [(s.batch_size, s.optimizer_state) for s in outcome.record.segments] == [(16, "fresh"), (32, "kept")]


def test_a_reopened_mixed_precision_model_continues_with_a_fresh_optimizer_and_says_so(small, tmp_path) -> None:
    """Keras saves the loss-scaled optimizer of a float16 model (as a GPU trains it; placed on this CPU
    here), loads a plain one and skips its variables: its moments and step count are lost, so the
    record must not claim them kept."""
    from cnnstudio.core.training.devices import DevicePlan
    from cnnstudio.core.training.execution import Execution

    on_gpu = Execution(DevicePlan("gpu", ("/gpu:0",), None, True, ("a GPU",)), mixed_precision=True)
    first = run_experiment(experiment(), small, execution=on_gpu)
    assert first.model.dtype_policy.name == "mixed_float16" and int(first.model.optimizer.iterations) == STEPS
    model, record = load_model(save_model(first.model, tmp_path / "mixed.keras", first.record))
    assert int(model.optimizer.iterations) == 0  # nothing of its state came back
    assert why_fresh_optimizer(model, record, experiment().train).startswith("the saved optimizer holds no state")
    outcome = run_experiment(experiment(), small, model=model, record=record)
    assert [s.optimizer_state for s in outcome.record.segments] == ["fresh", "fresh"]
    assert int(outcome.model.optimizer.iterations) == STEPS


def test_a_continued_cosine_segment_starts_its_own_schedule(small) -> None:
    first = run_experiment(experiment(lr_schedule="cosine", learning_rate=0.01), small)
    assert float(first.model.optimizer.learning_rate) == pytest.approx(0.0005, rel=1e-3)  # ended at its 5% floor
    model = first.model
    rates = []
    listener = Listener(lambda _p: rates.append((int(model.optimizer.iterations), float(model.optimizer.learning_rate))))
    outcome = run_experiment(experiment(epochs=2, lr_schedule="cosine", learning_rate=0.01), small, model=model,
                             record=first.record, listener=listener)
    assert rates[0][0] == 1 and rates[0][1] == pytest.approx(0.01, rel=0.01)  # restarted, not at the floor
    assert rates[-1] == (2 * STEPS, pytest.approx(0.0005, rel=1e-3))  # decayed over its own two planned epochs
    assert [s.optimizer_state for s in outcome.record.segments] == ["fresh", "fresh"]


def test_a_stopped_epoch_counts_by_its_batches_and_continuing_goes_on_from_there(small, tmp_path) -> None:
    stop = StopFlag()
    listener = Listener(lambda p: p.epoch == 1 and stop.request())  # an epoch's first batch is always reported
    stopped = run_experiment(experiment(epochs=3), small, listener=listener, stop=stop)
    done = listener.epochs[-1].steps_done
    assert listener.epochs[-1].partial and 1 <= done < STEPS
    assert stopped.record.epoch_ends == pytest.approx([1.0, 1 + done / STEPS])
    path = save_model(stopped.model, tmp_path / "stopped.keras", stopped.record)

    model, record = load_model(path)
    assert record.epoch_ends == stopped.record.epoch_ends and record.epochs_trained == pytest.approx(1 + done / STEPS)
    more = Listener()
    continued = run_experiment(experiment(epochs=2), small, model=model, record=record, listener=more)
    assert [(r.epoch, r.epoch_start, r.epoch_end) for r in more.epochs] == [
        (2, pytest.approx(1 + done / STEPS), pytest.approx(2 + done / STEPS)),
        (3, pytest.approx(2 + done / STEPS), pytest.approx(3 + done / STEPS))]
    assert continued.record.epoch_ends == pytest.approx([1.0, 1 + done / STEPS, 2 + done / STEPS, 3 + done / STEPS])
    assert len(continued.record.history["loss"]) == 4 and continued.record.epochs_trained == pytest.approx(3 + done / STEPS)
    first, second = continued.record.segments
    assert (first.first_epoch, first.epochs) == (0.0, pytest.approx(1 + done / STEPS))
    assert (second.first_epoch, second.epochs, second.optimizer_state) == (first.epochs, pytest.approx(2.0), "kept")


def test_older_record_without_segments_continues_only_with_a_matching_optimizer(small, trained) -> None:
    model, record = load_model(trained)
    data = record.to_json()
    del data["segments"], data["epoch_ends"]
    older = ModelRecord.from_json(data)
    assert older.segments == [] and older.epoch_ends == [1.0]
    outcome = run_experiment(experiment(), small, model=model, record=older)
    assert [s.optimizer_state for s in outcome.record.segments] == ["kept"]  # what trained before is unknown
    # a record that claims settings the model was not compiled with (older Continue stored the new ones)
    model, record = load_model(trained)
    data["experiment"]["train"]["learning_rate"] = 0.05
    claimed = ModelRecord.from_json(data)
    outcome = run_experiment(experiment(learning_rate=0.05), small, model=model, record=claimed)
    assert outcome.record.segments[-1].optimizer_state == "fresh"
    assert float(outcome.model.optimizer.learning_rate) == pytest.approx(0.05)


def _segment(**change) -> dict:
    return {**TrainingSegment("adam", 0.002, "cosine", 64, "digits", 0.0, 1.5, "fresh").to_json(), **change}


def test_record_json_keeps_segments_epoch_ends_and_not_evaluated(trained) -> None:
    record = read_record(trained)
    record.segments.append(TrainingSegment("sgd", 0.01, "constant", 32, "digits", 1.0, 0.25, "kept"))
    record.history = {key: values * 2 for key, values in record.history.items()}
    record.epoch_ends = [1.0, 1.25]
    record.test_loss = record.test_accuracy = None
    again = ModelRecord.from_json(json.loads(json.dumps(record.to_json())))
    assert again == record and again.epochs_trained == 1.25 and not again.evaluated
    assert again.to_json()["test"]["evaluated"] is False


@pytest.mark.parametrize("change", [
    {"segments": [_segment(batch_size=True)]}, {"segments": [_segment(batch_size=1.5)]},
    {"segments": [_segment(learning_rate="0.1")]}, {"segments": [_segment(epochs=math.inf)]},
    {"segments": [_segment(first_epoch=-1)]}, {"segments": [_segment(optimizer="lion")]},
    {"segments": [_segment(optimizer_state="warm")]}, {"segments": [_segment(dataset=3)]},
    {"segments": [{k: v for k, v in _segment().items() if k != "epochs"}]}, {"segments": {"a": 1}},
    {"segments": [_segment()] * (MAX_SEGMENTS + 1)}, {"epoch_ends": [1.0, 2.0]}, {"epoch_ends": ["1"]},
])
def test_damaged_segments_or_epoch_ends_are_refused(trained, change) -> None:
    data = {**read_record(trained).to_json(), **change}
    with pytest.raises(ModelFileError, match="damaged"):
        ModelRecord.from_json(data)


def test_run_history_keeps_segments_and_reads_older_entries(small, tmp_path) -> None:
    history = RunHistory(tmp_path / "runs")
    outcome = run_experiment(experiment(), small, history=history)
    (entry,), warnings = history.entries()
    assert warnings == [] and entry.segments == outcome.record.segments and entry.epoch_ends == [1.0]
    data = entry.to_json()
    older = {k: v for k, v in data.items() if k not in ("segments", "epoch_ends")}
    assert RunEntry.from_json(older).segments == [] and RunEntry.from_json(older).epoch_ends == [1.0]
    (history.folder / "bad-segment.json").write_text(json.dumps({**data, "id": "x", "segments": [_segment(epochs="1")]}))
    (history.folder / "bad-ends.json").write_text(json.dumps({**data, "id": "y", "epoch_ends": [2.0, 1.0]}))
    entries, warnings = history.entries()
    assert len(entries) == 1 and len(warnings) == 2


# train --resume ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def colour_npz(tmp_path_factory):
    """A tiny 32×32 colour dataset with 3 classes: nothing like the built-in digits."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("colour") / "colour.npz"
    np.savez(path, x_train=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), y_train=np.arange(40) % 3,
             x_test=rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8), y_test=np.arange(12) % 3)
    return path


def _cli_train(*argv: str):
    from cnnstudio import cli

    return cli.cmd_train(cli.build_parser().parse_args(["train", *argv]))


def test_resume_reads_a_dataset_path_named_in_the_model_only_when_given(colour_npz, tmp_path, capsys) -> None:
    from cnnstudio.core.errors import CnnStudioError

    model_path = tmp_path / "colour.keras"
    assert _cli_train("--dataset", str(colour_npz), "--epochs", "1", "--batch-size", "8", "--lr-schedule", "constant",
                      "--validation-split", "0", "--out", str(model_path)) == 0
    capsys.readouterr()
    with pytest.raises(CnnStudioError, match=r"trained on '.*colour\.npz'.*pass --dataset"):  # a path from a file
        _cli_train("--resume", str(model_path), "--epochs", "1", "--out", str(model_path), "--json")
    assert _cli_train("--resume", str(model_path), "--dataset", str(colour_npz), "--epochs", "1", "--out",
                      str(model_path), "--json") == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["dataset"] == str(colour_npz) and summary["epochs"] == 2 and summary["evaluated"]
    assert [s["dataset"] for s in summary["segments"]] == [str(colour_npz)] * 2
    assert [s["optimizer_state"] for s in summary["segments"]] == ["fresh", "kept"]  # the settings it had carry on
    model, record = load_model(model_path)
    assert record.experiment.dataset == str(colour_npz) and record.experiment.train.batch_size == 8
    assert int(model.optimizer.iterations) == 2 * math.ceil(40 / 8)  # both epochs on the 40 colour images


def test_resume_on_a_dataset_of_another_shape_is_one_line_and_exit_2(colour_npz, tmp_path) -> None:
    model_path = tmp_path / "colour.keras"
    assert _cli_train("--dataset", str(colour_npz), "--epochs", "1", "--out", str(model_path)) == 0
    result = subprocess.run([sys.executable, "-m", "cnnstudio", "train", "--resume", str(model_path), "--dataset", "digits",
                             "--epochs", "1"], capture_output=True, text=True, timeout=300)
    lines = [line for line in result.stderr.splitlines() if not line.startswith(("E0000", "W0000", "I0000"))]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "colour.keras takes 32×32×3 images in 3 classes, but digits has 28×28×1 images in 10 classes" in lines[0]


def test_epoch_ends_that_do_not_match_the_history_say_both_counts() -> None:
    from cnnstudio.core.files.model_record import epoch_ends_from_json

    with pytest.raises(ValueError, match=r"^the history logs 0 epochs but the record has 1 epoch ends: they must match$"):
        epoch_ends_from_json([1.0], 0)
    with pytest.raises(ValueError, match=r"logs 1 epoch but the record has epoch ends as a dict"):
        epoch_ends_from_json({}, 1)


def test_a_model_at_its_records_limits_is_refused_before_it_trains() -> None:
    """Continuing it trained to the end, then the record could not be saved: 'not saved … would not open again'."""
    from cnnstudio.core.config import Experiment
    from cnnstudio.core.files.model_record import MAX_EPOCH_END, MAX_EPOCHS_LOGGED, ModelRecord

    def record(**fields):
        return ModelRecord(Experiment(), [str(i) for i in range(10)], (28, 28, 1), **fields)

    assert record(history={"loss": [0.5, 0.4]}).room_problem(10) is None
    full = record(history={"loss": [0.1] * MAX_EPOCHS_LOGGED})
    assert full.room_problem(1) == (f"its record already logs {MAX_EPOCHS_LOGGED:,} epochs; 1 more would pass the "
                                    f"{MAX_EPOCHS_LOGGED:,} a model file keeps: train a new model")
    old = record(history={"loss": [0.1]}, epoch_ends=[MAX_EPOCH_END])
    assert old.room_problem(1).startswith("it has trained 1,000,000,000 epochs; 1 more would pass the 1,000,000,000")

"""Diverged training keeps its last finite weights; strict JSON output; bounded live training curves."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from training_helpers import Recorder, experiment

from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
from cnnstudio.core.data.datasets import Dataset
from cnnstudio.core.experiments.run_history import RunHistory
from cnnstudio.core.experiments.runner import run_experiment
from cnnstudio.core.files.persistence import load_model, read_record
from cnnstudio.core.json_output import dumps, json_safe
from cnnstudio.core.training.progress import BatchProgress
from cnnstudio.core.training.stop_reason import StopReason
from cnnstudio.core.training.trainer import new_model


def _finite(model) -> bool:
    return all(np.isfinite(w).all() for w in model.get_weights())


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def tiny(digits) -> Dataset:
    """16 training images: one batch of 16 is a whole epoch, so each epoch is one update."""
    return Dataset("tiny", digits.x_train[:16], digits.y_train[:16], digits.x_test[:32], digits.y_test[:32],
                   digits.class_names, digit_like=True)


def test_a_diverging_run_keeps_its_last_finite_epoch(tiny, tmp_path) -> None:
    # vgg_small with SGD at rate 10: the loss grows a thousandfold per update until it turns NaN
    options = TrainOptions(epochs=12, batch_size=16, optimizer="sgd", learning_rate=10.0, lr_schedule="constant",
                           validation_split=0.0, steps_per_execution=1)
    exp = Experiment(ModelOptions(arch="vgg_small", padding="same"), options, "tiny")
    model = new_model(exp, tiny)
    recorder, kept = Recorder(), {}
    recorder.on_epoch = lambda result: kept.update({result.epoch_end: model.get_weights()})
    path = tmp_path / "n.keras"
    history = RunHistory(tmp_path / "runs")
    outcome = run_experiment(exp, tiny, listener=recorder, checkpoint=path, model=model, history=history)
    end = outcome.result.end
    assert end.reason is StopReason.NON_FINITE and "diverged" in end.message
    good = outcome.record.epochs_trained
    assert 1 <= good < 12 and outcome.result.kept_epoch == good  # the diverged epoch is not logged
    assert f"the weights after epoch {int(good)} were kept" in end.message
    assert all(math.isfinite(v) for v in outcome.record.history["loss"])
    assert _finite(outcome.model) and _same(outcome.model.get_weights(), kept[good])
    assert outcome.record.test_loss is not None and math.isfinite(outcome.record.test_loss)
    saved, _record = load_model(path)
    assert _finite(saved) and _same(saved.get_weights(), kept[good])  # the checkpoint is the last finite epoch
    assert read_record(path).epochs_trained == good
    [entry] = history.entries()[0]
    assert entry.stop_reason == "non_finite" and entry.kept_epoch == good and "were kept" in entry.stop_message


def test_weights_broken_while_the_loss_looks_finite_are_caught_at_the_epoch_end(small, tmp_path) -> None:
    # an overflowing update leaves the weights non-finite after the last batch's loss was computed:
    # the loss the epoch reports is finite, only the weights tell
    exp = experiment(epochs=3, validation_split=0.0)
    model = new_model(exp, small)
    after_first, iterations = {}, {}

    def break_weights_in_second_epoch(progress: BatchProgress) -> None:
        if progress.epoch == 1 and progress.step == progress.steps:
            kernel = model.trainable_weights[0]
            kernel.assign(np.full(kernel.shape, np.inf, dtype="float32"))

    def on_epoch(result) -> None:
        recorder.epochs.append(result)
        if result.epoch == 0:
            after_first["weights"] = model.get_weights()
            iterations["first"] = int(model.optimizer.iterations)

    recorder = Recorder(break_weights_in_second_epoch)
    recorder.on_epoch = on_epoch
    path = tmp_path / "ckpt.keras"
    outcome = run_experiment(exp, small, listener=recorder, checkpoint=path, model=model)
    assert all(math.isfinite(b.logs["loss"]) for b in recorder.batches)  # nothing but the weights was wrong
    end = outcome.result.end
    assert end.reason is StopReason.NON_FINITE
    assert "weights became NaN or infinite in epoch 2" in end.message and "after epoch 1 were kept" in end.message
    assert [r.epoch for r in recorder.epochs] == [0] and outcome.record.epoch_ends == [1.0]
    assert outcome.result.kept_epoch == 1.0 and len(outcome.record.history["loss"]) == 1
    assert _same(outcome.model.get_weights(), after_first["weights"])
    assert int(outcome.model.optimizer.iterations) == iterations["first"]  # the optimizer is put back too
    assert _same(load_model(path)[0].get_weights(), after_first["weights"])
    assert outcome.record.test_loss is not None and math.isfinite(outcome.record.test_loss)


def test_diverging_in_the_first_epoch_keeps_the_starting_weights(small, tmp_path) -> None:
    exp = Experiment(ModelOptions(arch="vgg_small", padding="same"),
                     TrainOptions(epochs=2, batch_size=16, optimizer="sgd", learning_rate=10.0, steps_per_execution=1),
                     "small")
    model = new_model(exp, small)
    start = model.get_weights()
    outcome = run_experiment(exp, small, model=model, checkpoint=tmp_path / "n.keras")
    assert outcome.result.end.reason is StopReason.NON_FINITE and outcome.result.kept_epoch == 0.0
    assert "the untrained starting weights were kept" in outcome.result.end.message
    assert _same(outcome.model.get_weights(), start) and outcome.record.epochs_trained == 0
    assert len(outcome.record.segments) == 1 and outcome.record.segments[0].epochs == 0  # the run is still named
    assert read_record(tmp_path / "n.keras").segments[0].learning_rate == 10.0


def test_a_finite_run_is_not_touched(small) -> None:
    outcome = run_experiment(experiment(epochs=2), small)
    assert outcome.result.end.reason is StopReason.FINISHED and outcome.result.kept_epoch is None
    assert outcome.record.epochs_trained == 2


@pytest.mark.parametrize(("value", "expected"), [
    (math.nan, None), (math.inf, None), (-math.inf, None), (np.float32("nan"), None), (np.float64(0.5), 0.5),
    (np.int64(3), 3), (np.bool_(True), True), ([1.0, math.nan], [1.0, None]), ((math.inf,), [None]),
    ({"a": {"b": [np.float16("inf")]}}, {"a": {"b": [None]}}), (np.array([1.0, np.nan]), [1.0, None]),
    ("NaN", "NaN"), (None, None), (True, True), (7, 7),
])
def test_json_safe_turns_non_finite_numbers_into_null(value, expected) -> None:
    assert json_safe(value) == expected
    assert json.loads(dumps(value)) == expected  # strict JSON that any reader accepts


def test_dumps_never_writes_nan() -> None:
    text = dumps({"loss": float("nan"), "probabilities": np.array([np.inf, 0.25], dtype="float32")})
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON")) == {
        "loss": None, "probabilities": [None, 0.25]}


# the live training curves over long runs ---------------------------------------------------------

def test_the_batch_curve_stays_bounded_over_100000_updates(qtbot) -> None:
    pytest.importorskip("pytestqt")
    from cnnstudio.ui.training_view import MAX_BATCH_POINTS, TrainingView

    view = TrainingView()
    qtbot.addWidget(view)
    steps, longest = 50, 0
    for i in range(100_000):
        epoch, step = divmod(i, steps)
        view.on_batch(BatchProgress(epoch, 2000, step + 1, steps, {"loss": 1.0 / (1 + i), "accuracy": 0.5},
                                    1.0, float(epoch)))
        longest = max(longest, len(view.batch_x))
    assert longest <= MAX_BATCH_POINTS + 1
    assert len(view.batch_x) == len(view.batch_loss) == len(view.batch_accuracy) >= MAX_BATCH_POINTS // 2
    xs, losses, _accuracies = view.batch_points()
    assert xs[0] < 5 and xs[-1] > 1995 and losses[-1] < 1e-4  # the whole run, up to its latest updates
    gaps = np.diff([x for x in xs if not math.isnan(x)])
    assert (gaps > 0).all() and gaps.max() < 3 * np.median(gaps)  # in order and evenly spread, old and new alike
    view.redraw()
    assert len(view.lines["batch_loss"].get_xdata()) == len(xs)


def test_short_runs_keep_every_batch_point_and_the_epoch_breaks(qtbot) -> None:
    pytest.importorskip("pytestqt")
    from cnnstudio.ui.training_view import TrainingView

    view = TrainingView()
    qtbot.addWidget(view)
    for i in range(20):
        epoch, step = divmod(i, 10)
        view.on_batch(BatchProgress(epoch, 2, step + 1, 10, {"loss": float(i), "accuracy": 0.5}, 1.0, float(epoch)))
    assert len(view.batch_x) == 21 and math.isnan(view.batch_x[10]) and view.batch_loss[-1] == 19.0


def test_merging_pairs_and_striding() -> None:
    from cnnstudio.ui.training_view import merge_pairs, strided

    xs, ys = [1.0, 2.0, math.nan, 3.0, math.nan, math.nan, 6.0], [10.0, 20.0, math.nan, 30.0, math.nan, math.nan, 60.0]
    merge_pairs((xs, ys))
    assert xs[:2] == [1.5, 3.0] and math.isnan(xs[2]) and xs[3] == 6.0 and ys[:2] == [15.0, 30.0] and len(ys) == 4
    drawn_x, drawn_y = strided(list(range(10_000)), [float(i) for i in range(10_000)], limit=100)
    assert len(drawn_x) <= 101 and drawn_x[-1] == 9999 and drawn_y[0] == 0.0

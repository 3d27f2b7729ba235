"""Training: stop requests, NaN, checkpoints, seeds, continuing with optimizer state, speed options."""

from __future__ import annotations

import math
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
from cnnstudio.core.data.datasets import Dataset
from cnnstudio.core.experiments.runner import run_experiment
from cnnstudio.core.files.persistence import load_model, read_record, save_model
from cnnstudio.core.network.shape_table import shape_table
from cnnstudio.core.training.callbacks import StudioCallback
from cnnstudio.core.training.progress import RunState, StopFlag
from cnnstudio.core.training.stop_reason import StopReason
from cnnstudio.core.training.trainer import steps_per_execution_for, validation_split


@pytest.fixture(scope="module")
def small(digits) -> Dataset:
    return Dataset("small", digits.x_train[:320], digits.y_train[:320], digits.x_test[:64], digits.y_test[:64],
                   digits.class_names, digit_like=True)


def experiment(epochs: int = 1, **train) -> Experiment:
    options = {"epochs": epochs, "batch_size": 16, "steps_per_execution": 1, **train}
    return Experiment(ModelOptions(), TrainOptions(**options), "small")


class Recorder:
    def __init__(self, on_batch=None):
        self.batches, self.epochs, self._on_batch = [], [], on_batch

    def on_batch(self, progress):
        self.batches.append(progress)
        if self._on_batch:
            self._on_batch(progress)

    def on_epoch(self, result):
        self.epochs.append(result)


def test_stop_request_ends_the_run_after_the_current_batch(small) -> None:
    stop = StopFlag()
    seen = []

    def request_in_second_epoch(progress):
        seen.append(progress.epoch * progress.steps + progress.step)
        if progress.epoch == 1:
            stop.request()

    recorder = Recorder(request_in_second_epoch)
    outcome = run_experiment(experiment(epochs=3), small, listener=recorder, stop=stop)
    assert outcome.result.end.reason is StopReason.REQUESTED
    assert int(outcome.model.optimizer.iterations) == seen[-1]  # not one batch more
    assert seen[-1] < 2 * recorder.batches[-1].steps
    assert len(outcome.result.seconds_per_epoch) == 2  # stopped early in the second epoch


def test_stop_from_another_thread(small) -> None:
    stop, started = StopFlag(), threading.Event()
    recorder = Recorder(lambda progress: started.set())
    box = {}
    worker = threading.Thread(target=lambda: box.update(out=run_experiment(
        experiment(epochs=50), small, listener=recorder, stop=stop)))
    worker.start()
    assert started.wait(120)
    stop.request()
    worker.join(120)
    assert not worker.is_alive()
    assert box["out"].result.end.reason is StopReason.REQUESTED
    assert box["out"].record.epochs_trained < 50


def test_nan_loss_stops_with_a_message() -> None:
    state = RunState()
    callback = StudioCallback(None, None, state, epochs=1)
    callback.set_model(SimpleNamespace(stop_training=False))
    callback.set_params({"steps": 10, "epochs": 1})
    callback.on_epoch_begin(0)
    callback.on_train_batch_end(4, {"loss": math.nan})
    assert callback.model.stop_training
    assert state.end.reason is StopReason.NON_FINITE
    assert "loss became nan at epoch 1, batch 5" in state.end.message and "learning rate" in state.end.message


def test_progress_is_throttled_but_every_epoch_end_is_reported(small) -> None:
    recorder = Recorder()
    run_experiment(experiment(epochs=2), small, listener=recorder)
    steps = math.ceil(288 / 16)
    assert len(recorder.epochs) == 2
    assert all(b.steps == steps for b in recorder.batches)
    assert [b.step for b in recorder.batches].count(steps) == 2  # the last batch of each epoch is always sent
    assert len(recorder.batches) < 2 * steps
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(recorder.epochs[-1].metrics)


def test_checkpoint_after_every_epoch_carries_the_history(small, tmp_path) -> None:
    path = tmp_path / "ckpt.keras"
    on_disk = []
    recorder = Recorder()
    recorder.on_epoch = lambda result: on_disk.append(read_record(path).epochs_trained)
    outcome = run_experiment(experiment(epochs=3), small, listener=recorder, checkpoint=path)
    assert on_disk == [1, 2, 3]
    assert read_record(path).test_accuracy == pytest.approx(outcome.record.test_accuracy)


def _weights(model) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.weights]


def test_same_seed_same_run(small) -> None:
    first = run_experiment(experiment(epochs=1, seed=3), small)
    second = run_experiment(experiment(epochs=1, seed=3), small)
    other = run_experiment(experiment(epochs=1, seed=4), small)
    assert first.record.history == second.record.history
    for a, b in zip(_weights(first.model), _weights(second.model)):
        np.testing.assert_array_equal(a, b)
    assert first.record.history != other.record.history


def test_loaded_model_continues_with_its_optimizer_state(small, tmp_path) -> None:
    first = run_experiment(experiment(epochs=1, seed=1), small)
    path = save_model(first.model, tmp_path / "one.keras", first.record)
    model, record = load_model(path)
    done = int(model.optimizer.iterations)
    assert done == int(first.model.optimizer.iterations) > 0
    for saved, live in zip(model.optimizer.variables, first.model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(live))  # Adam moments restored

    continued = run_experiment(experiment(epochs=1, seed=1), small, model=model, record=record)
    in_memory = run_experiment(experiment(epochs=1, seed=1), small, model=first.model, record=first.record)
    assert continued.record.epochs_trained == 2
    assert continued.record.history["loss"][0] == first.record.history["loss"][0]
    assert int(continued.model.optimizer.iterations) == 2 * done
    for a, b in zip(_weights(continued.model), _weights(in_memory.model)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_validation_split_depends_only_on_the_seed(small) -> None:
    (x1, _), (v1, _) = validation_split(small, 0.25, seed=9)
    (x2, _), (v2, _) = validation_split(small, 0.25, seed=9)
    np.testing.assert_array_equal(v1, v2)
    assert len(v1) == 80 and len(x1) == 240


def test_steps_per_execution_is_large_for_small_nets_and_one_for_big_ones() -> None:
    lenet = shape_table(ModelOptions(arch="lenet5"), (28, 28, 1), 10)
    alexnet = shape_table(ModelOptions(arch="alexnet", padding="same"), (28, 28, 1), 10)
    assert steps_per_execution_for(lenet, 64) > 1
    assert steps_per_execution_for(alexnet, 64) == 1

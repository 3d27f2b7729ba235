"""The exported standalone script trains the way CNN Studio does, and really trains."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from cnnstudio.core.config import LR_SCHEDULES, OPTIMIZERS, Experiment, ModelOptions, TrainOptions
from cnnstudio.core.experiments.runner import run_experiment
from cnnstudio.core.experiments.script_export import keras_script
from cnnstudio.core.training import trainer


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    """The exported script imported as a module (its ``main`` only runs as a program)."""
    path = tmp_path_factory.mktemp("script") / "experiment.py"
    path.write_text(keras_script(Experiment(), (28, 28, 1), 10, path.name))
    spec = importlib.util.spec_from_file_location("exported_experiment", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _train(**options) -> tuple[TrainOptions, dict]:
    train = TrainOptions(**options)
    return train, Experiment(train=train).to_dict()["train"]


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("schedule", LR_SCHEDULES)
def test_script_optimizer_is_the_trainers(script, optimizer: str, schedule: str) -> None:
    options, train = _train(optimizer=optimizer, lr_schedule=schedule, learning_rate=0.01, epochs=3)
    ours, theirs = trainer.make_optimizer(options, 7), script.make_optimizer(train, 7)
    assert type(theirs) is type(ours)
    config, script_config = ours.get_config(), theirs.get_config()
    del config["name"], script_config["name"]  # Keras numbers the names of optimizers made in one process
    assert script_config == config  # rate or schedule (steps, floor), momentum, epsilon, …


def test_script_loss_metrics_and_early_stopping_are_the_trainers(script) -> None:
    loss, metrics = script.loss_and_metrics()
    assert type(loss) is type(trainer.make_loss()) and loss.get_config() == trainer.make_loss().get_config()
    assert [(type(m), m.get_config()) for m in metrics] == [(type(m), m.get_config()) for m in trainer.make_metrics()]
    for patience in (0, 3):
        for validated in (True, False):
            options, train = _train(early_stopping_patience=patience)
            ours, theirs = trainer.early_stopping(options, validated), script.make_callbacks(train, validated)
            if ours is None:
                assert theirs == []
                continue
            (theirs,) = theirs
            assert (type(theirs), theirs.monitor, theirs.patience, theirs.restore_best_weights, theirs.min_delta) == (
                type(ours), ours.monitor, ours.patience, ours.restore_best_weights, ours.min_delta)


@pytest.mark.parametrize(("fraction", "seed"), [(0.0, 0), (0.1, 0), (0.25, 9), (0.9, 1)])  # 0.9: the largest split allowed
def test_script_validation_split_is_the_trainers(script, small, fraction: float, seed: int) -> None:
    options, train = _train(validation_split=fraction, seed=seed)
    (x, y), validation = trainer.validation_split(small, options.validation_split, options.seed)
    (sx, sy), script_validation = script.split_validation(small.x_train, small.y_train, train)
    np.testing.assert_array_equal(sx, x)
    np.testing.assert_array_equal(sy, y)
    assert (validation is None) == (script_validation is None)
    if validation is not None:
        for ours, theirs in zip(validation, script_validation):
            np.testing.assert_array_equal(theirs, ours)


def test_exported_script_trains_like_cnn_studio(small, tmp_path) -> None:
    """``python script.py --npz DATA`` trains and tests on its own, giving CNN Studio's own numbers."""
    experiment = Experiment(ModelOptions(), TrainOptions(epochs=1, batch_size=32, seed=3), "small")
    data = tmp_path / "small.npz"
    np.savez(data, x_train=small.x_train, y_train=small.y_train, x_test=small.x_test, y_test=small.y_test)
    path = tmp_path / "experiment.py"
    path.write_text(keras_script(experiment, small.input_shape, small.num_classes, path.name))
    result = subprocess.run([sys.executable, str(path), "--npz", str(data)], capture_output=True, text=True,
                            timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    exported = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(exported["history"]["loss"]) == 1

    studio = run_experiment(experiment, small).record
    assert exported["params"] == 61_706
    assert set(exported["history"]) == set(studio.history)
    for key, values in studio.history.items():
        np.testing.assert_allclose(exported["history"][key], values, rtol=1e-4, atol=1e-6, err_msg=key)
    assert exported["test_accuracy"] == pytest.approx(studio.test_accuracy, abs=1e-6)
    assert exported["test_loss"] == pytest.approx(studio.test_loss, rel=1e-4)

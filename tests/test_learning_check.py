"""A run whose loss stays at chance level is told it did not learn, with which way to move the learning rate."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from cnnstudio.core.training.learning_check import not_learning

CHANCE = math.log(10)
# AlexNet on MNIST at Adam 0.002 (docs/gpu-checks/h200-2026-11-26.json): the loss never left ln 10
ALEXNET = {"loss": [2.4207, 2.3012, 2.3007], "accuracy": [0.1051, 0.1112, 0.1120]}


def test_alexnet_at_chance_is_told_to_lower_its_rate():
    line = not_learning(ALEXNET, 10, 0.002)
    assert line == ("the network did not learn: after 3 epochs its training loss is 2.30, chance level "
                    "(ln 10 = 2.30), and its accuracy 11.2%; try a lower learning rate than 0.002 "
                    "(AlexNet trains at 0.0001)")


def test_a_rate_already_low_is_told_to_rise():
    assert not_learning(ALEXNET, 10, 1e-5).endswith("try a higher learning rate than 1e-05, or another optimizer")


@pytest.mark.parametrize("history", [
    {"loss": [2.31], "accuracy": [0.10]},  # one epoch: maybe a slow start
    {"loss": [2.31, 1.90], "accuracy": [0.10, 0.35]},  # it started learning
    {"loss": [2.31, 2.30], "accuracy": [0.10, 0.25]},  # loss near chance, but better than chance
    {"loss": [2.31, float("nan")], "accuracy": [0.10, 0.10]},  # diverged: said elsewhere
    {"loss": [2.31, 2.30], "accuracy": [0.10]},  # no accuracy for the last epoch
    {},
])
def test_runs_that_learn_or_cannot_be_judged_get_no_warning(history):
    assert not_learning(history, 10, 0.002) is None


def test_chance_depends_on_the_classes():
    two_classes = {"loss": [0.70, 0.69], "accuracy": [0.50, 0.55]}
    assert not_learning(two_classes, 2, 0.002) is not None  # ln 2 = 0.69, 55% ≤ 60%
    assert not_learning(two_classes, 10, 0.002) is None
    assert not_learning({"loss": [CHANCE] * 2, "accuracy": [0.1] * 2}, 1, 0.002) is None


def test_the_cli_warns_after_a_run_that_stayed_at_chance(tmp_path):
    """LeNet-5 with SGD at 0.00001 on the built-in digits: two epochs at ln 10, and a one-line warning."""
    done = subprocess.run([sys.executable, "-m", "cnnstudio", "train", "--dataset", "digits", "--epochs", "2",
                           "--optimizer", "sgd", "--learning-rate", "0.00001", "--lr-schedule", "constant"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: the network did not learn")]
    assert len(warnings) == 1 and warnings[0].endswith("try a higher learning rate than 1e-05, or another optimizer")

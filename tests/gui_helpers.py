"""Helpers for the GUI tests (the fixtures live in conftest.py)."""

from __future__ import annotations

WAIT_MS = 180_000


def set_options(window, epochs: int = 1, **model) -> None:
    from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions

    window.panel.set_experiment(Experiment(ModelOptions(**model), TrainOptions(epochs=epochs, batch_size=64), "digits"))


def train_and_wait(qtbot, window, button=None) -> None:
    with qtbot.waitSignal(window.training_finished, timeout=WAIT_MS):
        (button or window.train_button).click()



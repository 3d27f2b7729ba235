"""Helpers for the training tests: small experiments and a listener that records progress."""

from __future__ import annotations

from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions


def experiment(epochs: int = 1, **train) -> Experiment:
    """LeNet-5 on the ``small`` dataset (conftest), one batch per compiled call so every batch is seen."""
    options = {"epochs": epochs, "batch_size": 16, "steps_per_execution": 1, **train}
    return Experiment(ModelOptions(), TrainOptions(**options), "small")


class Recorder:
    """A TrainingListener that keeps what it is told; ``on_batch`` may also call back."""

    def __init__(self, on_batch=None):
        self.batches, self.epochs, self._on_batch = [], [], on_batch

    def on_batch(self, progress):
        self.batches.append(progress)
        if self._on_batch:
            self._on_batch(progress)

    def on_epoch(self, result):
        self.epochs.append(result)

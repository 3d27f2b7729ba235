"""Training: compile with overhead-cutting options, fit with progress and stop support, evaluate.

Qt-free. ``run_experiment`` is the one call the CLI and the GUI worker make; it reports through
a :class:`TrainingListener` and honours a :class:`StopFlag` after the batch in progress.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np

from cnnstudio.core.config import Experiment, TrainOptions
from cnnstudio.core.data.datasets import Dataset
from cnnstudio.core.network.model_builder import build_model
from cnnstudio.core.network.shape_table import ShapeTable, shape_table
from cnnstudio.core.training.callbacks import StudioCallback
from cnnstudio.core.training.progress import RunState, StopFlag, TrainingListener
from cnnstudio.core.training.stop_reason import RunEnd, StopReason

TARGET_SECONDS_PER_EXECUTION = 0.1  # progress and stop checks several times a second
ASSUMED_CPU_FLOPS = 2.0e10


@dataclass
class TrainingResult:
    history: dict[str, list[float]]
    seconds_per_epoch: list[float]
    end: RunEnd = field(default_factory=RunEnd)
    test_loss: float | None = None
    test_accuracy: float | None = None

    @property
    def epochs(self) -> int:
        return len(self.seconds_per_epoch)


def steps_per_execution_for(table: ShapeTable, batch_size: int, flops_per_second: float = ASSUMED_CPU_FLOPS) -> int:
    """Batches per compiled call, so that each call takes about 0.1 s: small nets get many, big ones 1.

    Fewer Python round trips per epoch make small nets faster; bounding the call time keeps
    progress flowing and stop requests prompt.
    """
    seconds_per_batch = 6 * table.macs * batch_size / flops_per_second  # forward + backward ≈ 3× forward
    return int(min(32, max(1, math.floor(TARGET_SECONDS_PER_EXECUTION / max(seconds_per_batch, 1e-9)))))


def make_optimizer(options: TrainOptions, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The optimizer; with the cosine schedule the rate falls to 5% by the last planned step."""
    kinds = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    extra = {"momentum": 0.9} if options.optimizer == "sgd" else {}
    rate: float | keras.optimizers.schedules.LearningRateSchedule = options.learning_rate
    if options.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            options.learning_rate, decay_steps=max(1, options.epochs * steps_per_epoch), alpha=0.05)
    return kinds[options.optimizer](learning_rate=rate, **extra)


def compile_model(model: keras.Model, options: TrainOptions, steps_per_execution: int, steps_per_epoch: int) -> None:
    model.compile(
        optimizer=make_optimizer(options, steps_per_epoch),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        steps_per_execution=steps_per_execution,
    )


def validation_count(images: int, fraction: float) -> int:
    """How many training images a validation split holds out (0 when it would leave none to train on)."""
    count = max(1, int(round(images * fraction))) if fraction > 0 else 0
    return count if count < images else 0


def validation_split(dataset: Dataset, fraction: float, seed: int) -> tuple[tuple, tuple | None]:
    """A seeded split of the training images: the same seed always holds out the same images."""
    n_val = validation_count(len(dataset.x_train), fraction)
    if n_val == 0:
        return (dataset.x_train, dataset.y_train), None
    order = np.random.default_rng(seed).permutation(len(dataset.x_train))
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (dataset.x_train[train], dataset.y_train[train]), (dataset.x_train[val], dataset.y_train[val])


def new_model(experiment: Experiment, dataset: Dataset) -> keras.Model:
    """Build and compile the experiment's network with its seed, ready to train."""
    keras.utils.set_random_seed(experiment.train.seed)
    model = build_model(experiment.model, dataset.input_shape, dataset.num_classes)
    table = shape_table(experiment.model, dataset.input_shape, dataset.num_classes)
    spe = experiment.train.steps_per_execution or steps_per_execution_for(table, experiment.train.batch_size)
    train_images = len(dataset.x_train) - validation_count(len(dataset.x_train), experiment.train.validation_split)
    compile_model(model, experiment.train, spe, math.ceil(train_images / experiment.train.batch_size))
    return model


def fit(model: keras.Model, dataset: Dataset, options: TrainOptions, *, listener: TrainingListener | None = None,
        stop: StopFlag | None = None, initial_epoch: int = 0, epochs: int | None = None,
        after_epoch: Callable[[RunState], None] | None = None) -> TrainingResult:
    """Train ``model`` (compiled) for ``epochs`` more epochs; returns history and timings.

    ``initial_epoch`` lets a loaded model continue its epoch count and optimizer state;
    ``after_epoch`` is called with the run's state after each epoch (checkpoints).
    """
    epochs = options.epochs if epochs is None else epochs
    (x, y), validation = validation_split(dataset, options.validation_split, options.seed)
    state = RunState()
    total = initial_epoch + epochs
    callbacks: list[keras.callbacks.Callback] = [
        StudioCallback(listener, stop, state, total, after_epoch=after_epoch)
    ]
    monitor = "val_loss" if validation else "loss"
    if options.early_stopping_patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, patience=options.early_stopping_patience,
            restore_best_weights=True))
    keras.utils.set_random_seed(options.seed + initial_epoch)
    model.fit(
        x, y, batch_size=options.batch_size, epochs=total, initial_epoch=initial_epoch,
        validation_data=validation, shuffle=True, callbacks=callbacks, verbose=0,
    )
    if state.end is None and len(state.seconds_per_epoch) < epochs:
        watched = "validation loss" if monitor == "val_loss" else "training loss"
        state.end = RunEnd(StopReason.EARLY_STOPPING, f"early stopping: the {watched} stopped improving for "
                           f"{options.early_stopping_patience} epochs (the best epoch's weights were kept)")
    return TrainingResult(state.history, state.seconds_per_epoch, state.end or RunEnd())


def evaluate(model: keras.Model, dataset: Dataset, batch_size: int = 256) -> tuple[float, float]:
    """Test loss and accuracy."""
    loss, accuracy = model.evaluate(dataset.x_test, dataset.y_test, batch_size=batch_size, verbose=0)
    return float(loss), float(accuracy)

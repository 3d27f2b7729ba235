"""Training: compile with overhead-cutting options, fit with progress and stop support, evaluate.

Qt-free. ``run_experiment`` is the one call the CLI and the GUI worker make; it reports through
a :class:`TrainingListener` and honours a :class:`StopFlag` after the batch in progress.

The training set-up (optimizer, schedule, loss, metrics, validation split, early stopping) is
defined here once; the exported standalone script is checked against these functions.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from cnnstudio.core.config import Experiment, TrainOptions
from cnnstudio.core.data.datasets import Dataset
from cnnstudio.core.errors import ConfigError
from cnnstudio.core.inspection import evaluate_details
from cnnstudio.core.network.cost import ASSUMED, Calibration
from cnnstudio.core.network.model_builder import build_model
from cnnstudio.core.network.shape_table import ShapeTable, shape_table
from cnnstudio.core.training.callbacks import StudioCallback
from cnnstudio.core.training.devices import allowed_steps_per_execution
from cnnstudio.core.training.execution import Execution, building, placed, replicas_of, strategy_scope
from cnnstudio.core.training.progress import RunState, StopFlag, TrainingListener
from cnnstudio.core.training.stop_reason import RunEnd, StopReason
from cnnstudio.core.training.timeline import Timeline, TimelineCallback

TARGET_SECONDS_PER_EXECUTION = 0.1  # progress and stop checks several times a second
MIN_UPDATES_PER_EPOCH = 8  # a small dataset's epoch still draws a live curve, not one point at its end
# A small network on a GPU is bound by its kernel launches, not by arithmetic: the app's LeNet-5 at
# batch 64 took 1.3 ms a step on an H100, about 5e10 MAC/s (docs/benchmarks.md, "On a GPU"). On the
# CPU the app assumes the cost estimate's own guess, ``cost.ASSUMED``.
ASSUMED_GPU = Calibration("GPU (not calibrated)", 5.0e10, 0.0, "", "assumed from LeNet-5 on an H100")
MOST_STEPS_PER_EXECUTION = 32  # on the CPU
MOST_STEPS_PER_EXECUTION_GPU = 128  # measured on the H100: 64 steps a call trained 20% faster than 12
COSINE_FLOOR = 0.05  # the cosine schedule ends at 5% of the learning rate
SGD_MOMENTUM = 0.9
EVALUATION_BATCH = 256
PROBE_IMAGES = 64  # training images that weights kept after divergence must map to finite outputs
TIMELINE_IMAGE = 0  # the test image whose first feature maps the training timeline keeps


@dataclass
class TrainingResult:
    history: dict[str, list[float]]
    seconds_per_epoch: list[float]
    end: RunEnd = field(default_factory=RunEnd)
    test_loss: float | None = None  # None: not evaluated (a second stop request skipped it)
    test_accuracy: float | None = None
    epoch_ends: list[float] = field(default_factory=list)  # epochs trained after each of this run's epochs
    kept_epoch: float | None = None  # a diverged run: the epochs trained by the finite weights that were put back
    timeline: Timeline | None = None  # the first convolution after each epoch (None: the model has no Conv2D)

    @property
    def epochs(self) -> int:
        """Epochs this run logged, a partial last one included."""
        return len(self.seconds_per_epoch)

    @property
    def evaluated(self) -> bool:
        return self.test_accuracy is not None


def steps_per_execution_for(table: ShapeTable, batch_size: int, speed: Calibration = ASSUMED,
                            most: int = MOST_STEPS_PER_EXECUTION) -> int:
    """Batches per compiled call (1 to ``most``), so that each call takes about 0.1 s: small nets get many, big ones 1.

    Fewer Python round trips per epoch make small nets faster; bounding the call time keeps
    progress flowing and stop requests prompt. ``speed`` is the device's calibration (measured by
    ``cnnstudio summary --calibrate``) or an assumed one (see ``assumed_speed``).
    """
    seconds_per_batch = speed.seconds_per_image(table.macs) * batch_size
    return int(min(most, max(1, math.floor(TARGET_SECONDS_PER_EXECUTION / max(seconds_per_batch, 1e-9)))))


def assumed_speed(execution: Execution | None) -> tuple[Calibration, int]:
    """The speed to assume and the most steps per call, for an execution's devices without a calibration."""
    on_gpu = execution is not None and execution.plan.on_gpu
    return (ASSUMED_GPU, MOST_STEPS_PER_EXECUTION_GPU) if on_gpu else (ASSUMED, MOST_STEPS_PER_EXECUTION)


def make_optimizer(options: TrainOptions, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """A fresh optimizer; with the cosine schedule the rate falls to 5% by the last planned step."""
    kinds = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    extra = {"momentum": SGD_MOMENTUM} if options.optimizer == "sgd" else {}
    rate: float | keras.optimizers.schedules.LearningRateSchedule = options.learning_rate
    if options.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            options.learning_rate, decay_steps=max(1, options.epochs * steps_per_epoch), alpha=COSINE_FLOOR)
    return kinds[options.optimizer](learning_rate=rate, **extra)


def make_loss() -> keras.losses.Loss:
    return keras.losses.SparseCategoricalCrossentropy()


def make_metrics() -> list[keras.metrics.Metric]:
    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


def compile_model(model: keras.Model, options: TrainOptions, steps_per_execution: int, steps_per_epoch: int,
                  jit_compile: bool | str = "auto") -> None:
    """Compile with a fresh optimizer (its step count and moments start from zero)."""
    model.compile(optimizer=make_optimizer(options, steps_per_epoch), loss=make_loss(), metrics=make_metrics(),
                  steps_per_execution=steps_per_execution, jit_compile=jit_compile)


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


def validation_batch(batch_size: int) -> int:
    """Images per validation step (per replica): the larger of the training batch and ``EVALUATION_BATCH``.

    Validation only runs forward, so larger batches cost no memory for gradients and run faster
    on a CPU (fewer calls); the figures are the same means over the same images.
    """
    return max(batch_size, EVALUATION_BATCH)


def steps_per_epoch(dataset: Dataset, options: TrainOptions, replicas: int = 1) -> int:
    """Batches in one epoch over the training images that the validation split leaves.

    With several replicas each step takes a global batch of ``batch_size × replicas`` images.
    """
    images = len(dataset.x_train) - validation_count(len(dataset.x_train), options.validation_split)
    return math.ceil(images / (options.batch_size * replicas))


def early_stopping(options: TrainOptions, validated: bool) -> keras.callbacks.EarlyStopping | None:
    """Early stopping on the validation loss (the training loss without validation), or None when off."""
    if not options.early_stopping_patience:
        return None
    return keras.callbacks.EarlyStopping(monitor="val_loss" if validated else "loss",
                                         patience=options.early_stopping_patience, restore_best_weights=True)


def device_calibration(execution: Execution | None) -> Calibration | None:
    """This machine's cached speed calibration when it was measured on the execution's device, else None."""
    from cnnstudio.core.network.cost import cached_calibration

    calibration, _problem = cached_calibration()
    if calibration is None:
        return None
    plan = execution.plan if execution is not None else None
    if plan is None or plan.kind == "cpu":
        device = "CPU"
    else:
        device = f"GPU: {plan.descriptions[0]}" if plan.descriptions else ""
    return calibration if calibration.device == device else None


def _steps_per_execution(model: keras.Model | None, experiment: Experiment, dataset: Dataset,
                         execution: Execution | None = None, replicas: int = 1) -> int:
    if experiment.train.steps_per_execution:
        return allowed_steps_per_execution(replicas, experiment.train.steps_per_execution)
    try:
        table = shape_table(experiment.model, dataset.input_shape, dataset.num_classes)
    except ConfigError:  # a model opened without its settings: keep what it was compiled with
        return allowed_steps_per_execution(replicas, int(getattr(model, "steps_per_execution", 1) or 1))
    assumed, most = assumed_speed(execution)
    wanted = steps_per_execution_for(table, experiment.train.batch_size, device_calibration(execution) or assumed, most)
    wanted = min(wanted, max(1, steps_per_epoch(dataset, experiment.train, replicas) // MIN_UPDATES_PER_EPOCH))
    return allowed_steps_per_execution(replicas, wanted)


def new_model(experiment: Experiment, dataset: Dataset, execution: Execution | None = None) -> keras.Model:
    """Build and compile the experiment's network with its seed, ready to train (on ``execution``'s devices)."""
    keras.utils.set_random_seed(experiment.train.seed)
    with building(execution):
        model = build_model(experiment.model, dataset.input_shape, dataset.num_classes)
        replicas = replicas_of(model)
        compile_model(model, experiment.train, _steps_per_execution(None, experiment, dataset, execution, replicas),
                      steps_per_epoch(dataset, experiment.train, replicas),
                      execution.jit_compile if execution is not None else "auto")
    return model


def fresh_optimizer(model: keras.Model, experiment: Experiment, dataset: Dataset,
                    execution: Execution | None = None) -> None:
    """Recompile a trained ``model`` for ``experiment``'s training options: weights stay, the optimizer starts anew.

    A cosine schedule then spans this run's own planned steps. The model keeps the strategy (and
    precision) it was made with; ``execution`` only decides XLA.
    """
    replicas = replicas_of(model)
    with strategy_scope(model):
        compile_model(model, experiment.train, _steps_per_execution(model, experiment, dataset, execution, replicas),
                      steps_per_epoch(dataset, experiment.train, replicas),
                      execution.jit_compile if execution is not None else "auto")


def optimizer_matches(model: Any, options: TrainOptions) -> bool:
    """Whether ``model`` is compiled with ``options``' optimizer at a constant rate equal to its learning rate."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(model, "compiled", False):
        return False
    if type(optimizer).__name__.lower() != options.optimizer:
        return False
    rate = optimizer.get_config().get("learning_rate")  # a dict when it is a schedule
    return isinstance(rate, float) and math.isclose(rate, options.learning_rate, rel_tol=1e-6)


@contextlib.contextmanager
def forgetting_traced_gradients() -> Iterator[None]:
    """Drop the custom-gradient entries a training run's tracing left in TensorFlow's global registry.

    TensorFlow keeps every traced ``@tf.custom_gradient`` in a process-wide registry forever
    (tensorflow/tensorflow#97697, fixed after 2.21); each entry holds a whole training graph, so
    every Train leaked 12-15 MB (docs/soak.md). The entries are only read while that trace builds
    its gradients, which is over when ``fit`` returns. Without the private registry, nothing is done.
    """
    try:
        from tensorflow.python.framework import ops

        registry = ops._gradient_registry._registry
    except (ImportError, AttributeError):
        yield
        return
    before = set(registry)
    try:
        yield
    finally:
        for key in list(registry):
            if key not in before and str(key).startswith("CustomGradient-"):
                registry.pop(key, None)


def fit(model: keras.Model, dataset: Dataset, options: TrainOptions, *, listener: TrainingListener | None = None,
        stop: StopFlag | None = None, initial_epoch: int = 0, first_epoch: float | None = None,
        epochs: int | None = None, after_epoch: Callable[[RunState], None] | None = None,
        timeline: Timeline | None = None, execution: Execution | None = None) -> TrainingResult:
    """Train ``model`` (compiled) for ``epochs`` more epochs; returns history and timings.

    ``initial_epoch`` (the number of epochs already logged) lets a loaded model continue its epoch
    count; ``first_epoch`` is the epochs it has trained (fractional after a stop, default
    ``initial_epoch``). ``after_epoch`` is called with the run's state after each epoch (checkpoints).

    When training diverges (the loss or the weights become NaN or infinite) the run ends with
    :attr:`StopReason.NON_FINITE`, the model holds the last finite weights again (those after
    ``result.kept_epoch`` epochs) and the diverged epoch is neither logged nor checkpointed.

    A snapshot of the first convolution (kernels, and its maps for test image ``TIMELINE_IMAGE``)
    is added to ``timeline`` (in place; None starts a new one) at the start and after every logged
    epoch, before ``after_epoch`` sees it; ``result.timeline`` is the timeline.

    ``options.batch_size`` is per replica: a model made under a strategy of several replicas
    trains on global batches of ``batch_size × replicas``. ``execution`` places the run.
    """
    epochs = options.epochs if epochs is None else epochs
    first_epoch = float(initial_epoch) if first_epoch is None else first_epoch
    (x, y), validation = validation_split(dataset, options.validation_split, options.seed)
    state = RunState()
    total = initial_epoch + epochs
    recorder = TimelineCallback(dataset.x_test[TIMELINE_IMAGE], TIMELINE_IMAGE, timeline, state=state,
                                first_epoch=first_epoch) if len(dataset.x_test) > TIMELINE_IMAGE else None

    def epoch_logged(logged: RunState) -> None:
        if recorder is not None:
            recorder.sync()  # before a checkpoint is written
        if after_epoch is not None:
            after_epoch(logged)

    callbacks: list[keras.callbacks.Callback] = [StudioCallback(
        listener, stop, state, total, after_epoch=epoch_logged, first_epoch=first_epoch, probe=x[:PROBE_IMAGES])]
    if recorder is not None:  # after StudioCallback: a diverged epoch has been undone when it syncs
        callbacks.append(recorder)
    stopper = early_stopping(options, validation is not None)
    if stopper is not None:
        callbacks.append(stopper)
    keras.utils.set_random_seed(options.seed + initial_epoch)
    replicas = replicas_of(model)
    with forgetting_traced_gradients(), placed(execution):
        model.fit(
            x, y, batch_size=options.batch_size * replicas, epochs=total, initial_epoch=initial_epoch,
            validation_data=validation, validation_batch_size=validation_batch(options.batch_size) * replicas,
            shuffle=True, callbacks=callbacks, verbose=0,
        )
    if state.end is None and len(state.seconds_per_epoch) < epochs:
        watched = "validation loss" if validation is not None else "training loss"
        state.end = RunEnd(StopReason.EARLY_STOPPING, f"early stopping: the {watched} stopped improving for "
                           f"{options.early_stopping_patience} epochs (the best epoch's weights were kept)")
    return TrainingResult(state.history, state.seconds_per_epoch, state.end or RunEnd(), epoch_ends=state.epoch_ends,
                          kept_epoch=state.kept_epoch, timeline=recorder.timeline if recorder is not None else timeline)


def evaluate(model: keras.Model, dataset: Dataset, batch_size: int = EVALUATION_BATCH, *,
             progress: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> tuple[float, float] | None:
    """Test loss and accuracy (the computation the Evaluation view uses too).

    ``progress(done, total)`` follows the test images; when ``should_stop()`` turns True the
    rest is skipped and the answer is None.
    """
    evaluation = evaluate_details(model, dataset.x_test, dataset.y_test, batch_size, progress, should_stop)
    return None if evaluation is None else (evaluation.loss, evaluation.accuracy)

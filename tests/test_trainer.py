"""Training: stop requests, NaN, checkpoints, seeds, continuing with optimizer state, speed options."""

from __future__ import annotations

import math
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from training_helpers import Recorder, experiment

from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
from cnnstudio.core.data.datasets import Dataset
from cnnstudio.core.experiments.runner import run_experiment
from cnnstudio.core.files.persistence import load_model, read_record, save_model
from cnnstudio.core.network.shape_table import shape_table
from cnnstudio.core.training.callbacks import StudioCallback
from cnnstudio.core.training.progress import RunState, StopFlag
from cnnstudio.core.training.stop_reason import StopReason
from cnnstudio.core.training.trainer import steps_per_execution_for, validation_split


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
    # the stopped epoch is logged, but counts only by the batches it trained
    steps, done = recorder.batches[-1].steps, seen[-1] - recorder.batches[-1].steps
    last = recorder.epochs[-1]
    assert (last.epoch, last.steps_done, last.steps, last.partial) == (1, done, steps, True)
    assert not recorder.epochs[0].partial and recorder.epochs[0].epoch_end == 1.0
    assert outcome.record.epoch_ends == pytest.approx([1.0, 1 + done / steps]) == [1.0, last.epoch_end]
    assert outcome.record.epochs_trained == pytest.approx(1 + done / steps) and len(outcome.record.history["loss"]) == 2
    assert outcome.record.segments[-1].epochs == pytest.approx(1 + done / steps)
    assert outcome.record.evaluated  # one stop request: training stops, the test set is still evaluated


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
    first = run_experiment(experiment(epochs=1, seed=1, lr_schedule="constant"), small)
    path = save_model(first.model, tmp_path / "one.keras", first.record)
    model, record = load_model(path)
    done = int(model.optimizer.iterations)
    assert done == int(first.model.optimizer.iterations) > 0
    for saved, live in zip(model.optimizer.variables, first.model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(live))  # Adam moments restored

    same = experiment(epochs=1, seed=1, lr_schedule="constant")
    continued = run_experiment(same, small, model=model, record=record)
    in_memory = run_experiment(same, small, model=first.model, record=first.record)
    assert continued.record.epochs_trained == 2
    assert [s.optimizer_state for s in continued.record.segments] == ["fresh", "kept"]
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


def test_a_gpu_gets_longer_compiled_calls_than_the_cpu_without_a_calibration() -> None:
    """On an H100 LeNet-5 at batch 64 took 1.3 ms a step: 11 or 12 steps a call (the CPU's assumption) left it
    under-fed, 64 trained 20% faster (docs/benchmarks.md). A GPU plan assumes that speed; big nets stay at 1."""
    import dataclasses

    from cnnstudio.core.training.execution import Execution
    from cnnstudio.core.training.trainer import MOST_STEPS_PER_EXECUTION_GPU, assumed_speed

    cpu = Execution()
    gpu = Execution(dataclasses.replace(cpu.plan, kind="gpu", devices=("/gpu:0",), descriptions=("NVIDIA H100",)))
    mirrored = Execution(dataclasses.replace(cpu.plan, kind="mirrored", devices=("/gpu:0", "/gpu:1")))
    two_cpus = Execution(dataclasses.replace(cpu.plan, kind="mirrored", devices=("/cpu:0", "/cpu:1")))
    assert assumed_speed(None) == assumed_speed(cpu) == assumed_speed(two_cpus)
    assert assumed_speed(gpu) == assumed_speed(mirrored)
    assert assumed_speed(gpu)[0].macs_per_second > assumed_speed(cpu)[0].macs_per_second
    lenet = shape_table(ModelOptions(arch="lenet5"), (28, 28, 1), 10)
    alexnet = shape_table(ModelOptions(arch="alexnet", padding="same"), (28, 28, 1), 10)

    def steps(table, batch: int, execution: Execution) -> int:
        speed, most = assumed_speed(execution)
        return steps_per_execution_for(table, batch, speed, most)

    assert (steps(lenet, 64, cpu), steps(lenet, 64, gpu)) == (11, 62)  # about the 64 measured best
    assert steps(lenet, 1, gpu) == MOST_STEPS_PER_EXECUTION_GPU  # bounded even when a step is almost free
    assert steps(alexnet, 256, gpu) < 8


def test_batch_count_never_passes_the_epochs_steps_with_several_steps_per_call(small) -> None:
    """Keras reports the last step of each call: 18 steps in calls of 4 end at "step 20" unless clamped."""
    recorder = Recorder()
    outcome = run_experiment(experiment(epochs=2, steps_per_execution=4), small, listener=recorder)
    steps = math.ceil(288 / 16)
    assert {b.steps for b in recorder.batches} == {steps}
    assert all(1 <= b.step <= b.steps for b in recorder.batches)
    assert [b.step for b in recorder.batches].count(steps) == 2
    assert [(r.steps_done, r.steps, r.partial) for r in recorder.epochs] == [(steps, steps, False)] * 2
    assert outcome.record.epoch_ends == [1.0, 2.0]


def test_callback_clamps_a_call_that_runs_past_the_epoch() -> None:
    recorder, state = Recorder(), RunState()
    callback = StudioCallback(recorder, None, state, epochs=1, first_epoch=2.5)
    callback.set_model(SimpleNamespace(stop_training=False))
    callback.set_params({"steps": 21, "epochs": 1})
    callback.on_epoch_begin(0)
    callback.on_train_batch_end(23, {"loss": 0.5})  # a call of 8 steps starting at step 16
    callback.on_epoch_end(0, {"loss": 0.5})
    assert (recorder.batches[-1].step, recorder.batches[-1].steps, recorder.batches[-1].epoch_start) == (21, 21, 2.5)
    assert (recorder.epochs[-1].steps_done, recorder.epochs[-1].partial) == (21, False)
    assert state.epoch_ends == [3.5]


@pytest.mark.parametrize(("validation", "watched"), [(0.1, "validation loss"), (0.0, "training loss")])
def test_early_stopping_names_the_loss_it_watched(small, validation: float, watched: str) -> None:
    # a rate too small to move a float32 weight: the watched loss cannot improve (beyond rounding)
    options = experiment(epochs=30, validation_split=validation, early_stopping_patience=1, learning_rate=1e-12,
                         lr_schedule="constant")
    outcome = run_experiment(options, small)
    end, history = outcome.result.end, outcome.record.history
    assert end.reason is StopReason.EARLY_STOPPING
    assert f"the {watched} stopped improving for 1 epochs" in end.message
    assert ("val_loss" in history) is (validation > 0)
    monitored = history["val_loss" if validation else "loss"]
    assert 2 <= len(monitored) < 30 and outcome.record.epochs_trained == len(monitored)
    assert min(monitored[:-1]) <= monitored[-1]  # the last epoch did not improve on the best one before it
    assert outcome.record.evaluated


def test_cosine_schedule_decays_within_a_run(small) -> None:
    from cnnstudio.core.training.trainer import fit, new_model

    options = experiment(epochs=2, learning_rate=0.01)
    model = new_model(options, small)
    rates: list[tuple[int, float]] = []

    class Rates(Recorder):
        def on_batch(self, progress):
            rates.append((int(model.optimizer.iterations), float(model.optimizer.learning_rate)))

    fit(model, small, options.train, listener=Rates())
    steps = 2 * math.ceil(288 / 16)
    iterations, values = zip(*rates)
    assert iterations[0] == 1 and iterations[-1] == steps  # first and last batches are always reported
    assert values[0] == pytest.approx(0.01, rel=0.01)
    assert all(later < earlier for earlier, later in zip(values, values[1:]))
    assert values[-1] == pytest.approx(0.01 * 0.05, rel=1e-3)  # down to the 5% floor at the last planned step


def test_training_with_augmentation_and_the_saved_model_reloads(small, tmp_path) -> None:
    options = Experiment(ModelOptions(augment=True), TrainOptions(epochs=1, batch_size=16, steps_per_execution=1), "small")
    outcome = run_experiment(options, small, checkpoint=tmp_path / "augmented.keras")
    assert outcome.result.end.reason is StopReason.FINISHED and math.isfinite(outcome.record.history["loss"][0])
    images = small.x_test[:8].astype("float32")
    model, record = load_model(tmp_path / "augmented.keras")
    assert record.experiment.model.augment
    # the random distortions act in training only: predictions are deterministic and survive saving
    np.testing.assert_allclose(np.asarray(model(images, training=False)), np.asarray(outcome.model(images, training=False)),
                               rtol=1e-5, atol=1e-6)
    augment = outcome.model.get_layer("augment")
    assert not np.allclose(np.asarray(augment(images, training=True)), images)
    np.testing.assert_array_equal(np.asarray(augment(images, training=False)), images)


def test_stop_flag_counts_requests_from_many_threads() -> None:
    stop = StopFlag()
    assert (stop.requested, stop.skip_evaluation) == (False, False)
    stop.request()
    assert (stop.count, stop.requested, stop.skip_evaluation) == (1, True, False)
    threads = [threading.Thread(target=lambda: [stop.request() for _ in range(1000)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stop.count == 4001 and stop.skip_evaluation


class Evaluations(Recorder):
    def __init__(self, on_batch=None, on_evaluate=None):
        super().__init__(on_batch)
        self.evaluated, self._on_evaluate = [], on_evaluate

    def on_evaluate(self, done, total):
        self.evaluated.append((done, total))
        if self._on_evaluate:
            self._on_evaluate(done, total)


@pytest.fixture(scope="module")
def many_tests(digits) -> Dataset:
    """Small training data with all 359 test images: the evaluation runs in two batches of 256."""
    assert len(digits.x_test) == 359
    return Dataset("many_tests", digits.x_train[:160], digits.y_train[:160], digits.x_test, digits.y_test,
                   digits.class_names, digit_like=True)


def test_evaluation_after_training_reports_its_progress(many_tests) -> None:
    listener = Evaluations()
    outcome = run_experiment(experiment(epochs=1), many_tests, listener=listener)
    assert listener.evaluated == [(0, 359), (256, 359), (359, 359)]
    assert outcome.record.evaluated and outcome.result.evaluated


def test_second_stop_request_skips_the_evaluation(many_tests, tmp_path) -> None:
    stop = StopFlag()
    listener = Evaluations(on_batch=lambda _progress: (stop.request(), stop.request()))
    path = tmp_path / "stopped.keras"
    outcome = run_experiment(experiment(epochs=3), many_tests, listener=listener, stop=stop, checkpoint=path)
    assert outcome.result.end.reason is StopReason.REQUESTED and outcome.record.epochs_trained < 1
    assert listener.evaluated == []
    assert (outcome.result.test_loss, outcome.result.test_accuracy, outcome.result.evaluated) == (None, None, False)
    saved = read_record(path)
    assert not saved.evaluated and saved.test_accuracy is None
    assert saved.to_json()["test"] == {"loss": None, "accuracy": None, "evaluated": False}


def test_second_stop_request_during_the_evaluation_skips_the_rest(many_tests, tmp_path) -> None:
    from cnnstudio.core.experiments.run_history import RunHistory

    stop = StopFlag()
    stop.request()  # Stop once: the run ends after its first batch, then the test set is evaluated …
    listener = Evaluations(on_evaluate=lambda done, total: done == 256 and stop.request())  # … until Stop again
    history = RunHistory(tmp_path / "runs")
    outcome = run_experiment(experiment(epochs=1), many_tests, listener=listener, stop=stop, history=history)
    assert listener.evaluated == [(0, 359), (256, 359)]
    assert not outcome.record.evaluated and outcome.record.test_loss is None
    (entry,), warnings = history.entries()
    assert warnings == [] and not entry.evaluated and entry.test_accuracy is None


def test_a_first_stop_during_the_evaluation_of_a_finished_run_skips_the_rest(many_tests) -> None:
    stop = StopFlag()
    listener = Evaluations(on_evaluate=lambda done, total: done == 256 and stop.request())  # the only Stop
    outcome = run_experiment(experiment(epochs=1), many_tests, listener=listener, stop=stop)
    assert outcome.result.end.reason is not StopReason.REQUESTED and outcome.record.epochs_trained == 1
    assert listener.evaluated == [(0, 359), (256, 359)] and not outcome.record.evaluated
    assert not stop.in_evaluation  # over once the run is


def test_the_evaluation_window_of_the_stop_flag() -> None:
    stop = StopFlag()
    with stop.evaluating():
        assert stop.in_evaluation and not stop.skip_evaluation
        stop.request()
        assert stop.skip_evaluation
    assert not stop.in_evaluation and not stop.skip_evaluation  # one request outside an evaluation: training only
    with stop.evaluating():  # the next run of a study: that earlier request does not skip its test
        assert not stop.skip_evaluation
    stop.request()
    assert stop.skip_evaluation  # two requests: always


def test_run_figures_and_the_evaluation_view_share_one_computation(small) -> None:
    from cnnstudio.core.inspection import evaluate_details

    outcome = run_experiment(experiment(epochs=1), small)
    details = evaluate_details(outcome.model, small.x_test, small.y_test)
    assert (outcome.record.test_loss, outcome.record.test_accuracy) == (details.loss, details.accuracy)
    keras_loss, keras_accuracy = outcome.model.evaluate(small.x_test, small.y_test, verbose=0)  # what it used to be
    assert details.loss == pytest.approx(keras_loss, rel=1e-5) and details.accuracy == pytest.approx(keras_accuracy)


def test_training_leaves_no_traced_gradients_behind(small) -> None:
    """Each new model used to leave its traced training graph in TensorFlow's gradient registry (soak: 12-15 MB a Train)."""
    from tensorflow.python.framework import ops

    registry = ops._gradient_registry._registry
    run_experiment(experiment(), small)
    before = len(registry)
    first = run_experiment(experiment(), small)
    run_experiment(experiment(epochs=1), small, model=first.model, record=first.record)  # Continue, too
    assert len(registry) == before


def test_a_small_dataset_gets_enough_calls_an_epoch_for_a_live_curve(digits) -> None:
    """Batches per call follow the network's size, but a small epoch still reports at least 8 times."""
    from cnnstudio.core.training.trainer import MIN_UPDATES_PER_EPOCH, new_model, steps_per_epoch

    options = TrainOptions(batch_size=64)
    steps = steps_per_epoch(digits, options)
    assert steps < 11 * MIN_UPDATES_PER_EPOCH  # 21 batches: LeNet-5's 11 a call would report twice an epoch
    small_data = new_model(Experiment(ModelOptions(), options, digits.name), digits)
    assert int(small_data.steps_per_execution) == steps // MIN_UPDATES_PER_EPOCH
    images = np.zeros((64 * 200, 28, 28, 1), np.uint8)
    labels = np.arange(64 * 200) % 10
    large = Dataset("large", images, labels, images[:64], labels[:64], digits.class_names, digit_like=True)
    large_data = new_model(Experiment(ModelOptions(), options, large.name), large)
    table = shape_table(ModelOptions(), large.input_shape, large.num_classes)
    assert int(large_data.steps_per_execution) == steps_per_execution_for(table, 64) == 11  # the size's own choice

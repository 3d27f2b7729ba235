"""``run_experiment``: build (or continue) a model, train it, test it, keep it saved.

The single entry point for training that the CLI and the GUI worker share.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnstudio.core.config import Experiment, TrainOptions
from cnnstudio.core.data.datasets import Dataset
from cnnstudio.core.errors import ConfigError, ModelFileError
from cnnstudio.core.experiments.run_history import RunEntry, RunHistory, versions
from cnnstudio.core.files.model_record import ModelRecord, TrainingSegment
from cnnstudio.core.files.persistence import save_model
from cnnstudio.core.logs import log
from cnnstudio.core.network.shape_table import shape_table
from cnnstudio.core.training.execution import Execution, device_text, model_policy, placed
from cnnstudio.core.training.learning_check import not_learning
from cnnstudio.core.training.memory import check_training_memory
from cnnstudio.core.training.progress import RunState, StopFlag, TrainingListener
from cnnstudio.core.training.stop_reason import StopReason
from cnnstudio.core.training.timeline import continued_timeline
from cnnstudio.core.training.trainer import (
    TIMELINE_IMAGE,
    TrainingResult,
    evaluate,
    fit,
    fresh_optimizer,
    new_model,
    optimizer_matches,
)


@dataclass
class RunOutcome:
    model: Any
    record: ModelRecord
    result: TrainingResult  # this run only; ``record`` holds the whole history
    entry: RunEntry | None = None  # its run-history record, when one was written
    warnings: list[str] = field(default_factory=list)  # one line each, e.g. why the run was not recorded
    device: str = ""  # where it trained, e.g. "CPU, batch 64, float32" (Execution.describe)
    fresh_optimizer: str | None = None  # a continued model's: why its optimizer started afresh (None: it carried on)


def _merge(old: dict[str, list[float]], new: dict[str, list[float]]) -> dict[str, list[float]]:
    return {key: old.get(key, []) + new.get(key, []) for key in {*old, *new}}


def why_fresh_optimizer(model: Any, record: ModelRecord | None, options: TrainOptions) -> str | None:
    """Why continuing ``model`` with ``options`` starts a fresh optimizer, in a few words; None when its
    state (moments, step count, rate) carries on.

    It carries on only when the optimizer, learning rate and schedule are those of the segment that
    trained it last (of the record's settings, for records older than segments) and the model is
    compiled with them. A cosine schedule never carries on: it would continue at its 5% floor, so a
    cosine segment always gets a fresh schedule over its own planned steps. An optimizer that has
    taken no step has no state to keep: Keras saves a mixed-precision model's loss-scaled
    optimizer but loads a plain one and skips its variables.
    """
    if record is None:
        return "a new network"
    if options.lr_schedule == "cosine":
        return "a cosine schedule starts over on every continuation"
    if record.segments:
        same = record.segments[-1].same_optimizer(options)
    else:
        old = record.experiment.train
        same = (old.optimizer, float(old.learning_rate), old.lr_schedule) == (
            options.optimizer, float(options.learning_rate), options.lr_schedule)
    if not same:
        return "the optimizer, learning rate or schedule changed"
    if not optimizer_matches(model, options):
        return "the saved model's optimizer is not the one its record names"
    if int(model.optimizer.iterations) == 0:
        return "the saved optimizer holds no state (Keras does not restore a mixed-precision one's)"
    return None


def run_experiment(experiment: Experiment, dataset: Dataset, *, listener: TrainingListener | None = None,
                   stop: StopFlag | None = None, checkpoint: str | Path | None = None,
                   model: Any = None, record: ModelRecord | None = None, history: RunHistory | None = None,
                   study: str | None = None, execution: Execution | None = None) -> RunOutcome:
    """Train ``experiment`` on ``dataset`` and evaluate it on the test split.

    With ``model`` and its ``record`` the run continues that model: epoch count and history carry
    on, and so does the optimizer's state when the optimizer, learning rate and schedule are
    unchanged (see :func:`why_fresh_optimizer`); otherwise the model is recompiled with a fresh
    optimizer. The record's ``segments`` say which happened. With ``checkpoint`` the model is
    saved there, atomically, after every epoch. With ``history`` the run is recorded there
    (``study`` names the study it belongs to).

    After training the test set is evaluated, reported to ``listener.on_evaluate(done, total)``
    where the listener has it; a second stop request skips (the rest of) it and the record then
    has no test figures (``record.evaluated`` is False).

    The record's training timeline (the first convolution after each epoch) carries on from the
    continued record's when the model is trained on the same dataset (else it starts anew).

    A run history that cannot be written (checked before training, and again when recording)
    never costs the trained model: the run goes unrecorded and ``outcome.warnings`` says why.

    ``execution`` chooses the devices, precision and XLA of a new model; a continued model keeps
    the strategy and precision it was made with (its replicas set the global batch).
    ``outcome.device`` says where the run trained.
    """
    warnings: list[str] = []
    if history is not None and (problem := history.check_writable()) is not None:
        warnings.append(f"this run is not recorded in the run history: {problem}")
        history = None
    if model is None:
        check_training_memory(shape_table(experiment.model, dataset.input_shape, dataset.num_classes),
                              experiment.train.batch_size)  # before building: too much could crash the process
        model = new_model(experiment, dataset, execution)
        record, why_fresh = None, "a new network"
    elif record is not None and (full := record.room_problem(experiment.train.epochs)) is not None:
        raise ConfigError(f"this model cannot be continued: {full}")  # before training, not when saving after it
    elif tuple(model.input_shape[1:]) != dataset.input_shape or model.output_shape[-1] != dataset.num_classes:
        raise ConfigError(
            f"this model takes {tuple(model.input_shape[1:])} images and {model.output_shape[-1]} classes, "
            f"but {dataset.name} has {dataset.input_shape} images and {dataset.num_classes} classes")
    elif (why_fresh := why_fresh_optimizer(model, record, experiment.train)) is not None:
        fresh_optimizer(model, experiment, dataset, execution)
    optimizer_state = "kept" if why_fresh is None else "fresh"
    previous = record or ModelRecord(experiment, list(dataset.class_names), dataset.input_shape, dataset.digit_like)
    first_epoch = previous.epochs_trained
    same_image = previous.experiment.dataset == experiment.dataset
    live = ModelRecord(experiment, list(dataset.class_names), dataset.input_shape, dataset.digit_like,
                       dict(previous.history), list(previous.seconds_per_epoch), epoch_ends=list(previous.epoch_ends),
                       segments=list(previous.segments),
                       timeline=continued_timeline(previous.timeline if same_image else None, model, TIMELINE_IMAGE))

    def keep_record(state: RunState, save: bool = True) -> None:
        live.history = _merge(previous.history, state.history)
        live.seconds_per_epoch = previous.seconds_per_epoch + state.seconds_per_epoch
        live.epoch_ends = previous.epoch_ends + state.epoch_ends
        trained = state.epoch_ends[-1] - first_epoch if state.epoch_ends else 0.0
        live.segments = previous.segments + [
            TrainingSegment.of(experiment.train, experiment.dataset, first_epoch, trained, optimizer_state)]
        if checkpoint is not None and save:
            save_model(model, checkpoint, live)

    result = fit(model, dataset, experiment.train, listener=listener, stop=stop, initial_epoch=previous.epochs_logged,
                 first_epoch=first_epoch, after_epoch=keep_record, timeline=live.timeline, execution=execution)
    live.timeline = result.timeline
    if result.end.reason is not StopReason.NON_FINITE:  # a diverged run says so itself
        if (stuck := not_learning(result.history, dataset.num_classes, experiment.train.learning_rate)) is not None:
            warnings.append(stuck)
    if not result.epoch_ends:  # nothing logged (it diverged in its first epoch): the record still names this run
        keep_record(RunState(), save=False)
    on_evaluate = getattr(listener, "on_evaluate", None)
    skip = (lambda: stop.skip_evaluation) if stop is not None else None
    with placed(execution), stop.evaluating() if stop is not None else contextlib.nullcontext():
        if on_evaluate is not None and not (skip and skip()):
            on_evaluate(0, len(dataset.x_test))
        scores = evaluate(model, dataset, progress=on_evaluate, should_stop=skip)
    live.test_loss, live.test_accuracy = scores if scores is not None else (None, None)
    result.test_loss, result.test_accuracy = live.test_loss, live.test_accuracy
    if checkpoint is not None:
        save_model(model, checkpoint, live)
    outcome = RunOutcome(model, live, result, warnings=warnings,
                         device=device_text(execution, model, experiment.train.batch_size), fresh_optimizer=why_fresh)
    if history is not None:
        record_run(outcome, history, dataset, checkpoint, study)
    for warning in outcome.warnings:
        log.warning("%s", warning)
    return outcome


def record_run(outcome: RunOutcome, history: RunHistory, dataset: Dataset, checkpoint: str | Path | None,
               study: str | None) -> None:
    """Add the run to ``history`` (with a copy of the model when it has no checkpoint); on failure only a warning."""
    entry = history_entry(outcome, dataset, checkpoint, study)
    try:
        if checkpoint is None:  # keep a copy so the run can be reopened from the history
            entry.model_path = str(save_model(outcome.model, history.model_path(entry), outcome.record))
        history.add(entry)
    except (OSError, ModelFileError) as exc:
        outcome.warnings.append(f"this run is not recorded in the run history {history.folder}: "
                                f"{' '.join(str(exc).split())[:200]}")
        return
    outcome.entry = entry


def history_entry(outcome: RunOutcome, dataset: Dataset, model_path: str | Path | None, study: str | None) -> RunEntry:
    """The run record of a finished run."""
    from cnnstudio.core.training.runtime import runtime_info

    experiment = outcome.record.experiment
    try:
        macs = shape_table(experiment.model, dataset.input_shape, dataset.num_classes).macs
    except ConfigError:
        macs = 0
    return RunEntry(
        experiment=experiment.to_dict(), history=outcome.record.history,
        epoch_ends=list(outcome.record.epoch_ends), segments=list(outcome.record.segments),
        seconds_per_epoch=outcome.record.seconds_per_epoch, test_accuracy=outcome.record.test_accuracy,
        test_loss=outcome.record.test_loss, params=int(outcome.model.count_params()), macs=macs,
        device=outcome.device or runtime_info().device, versions=versions(),
        model_path=str(Path(model_path).absolute()) if model_path else None,  # reopened later from another folder
        stop_reason=outcome.result.end.reason.value, stop_message=outcome.result.end.message,
        kept_epoch=outcome.result.kept_epoch, study=study, precision=model_policy(outcome.model) or "float32")

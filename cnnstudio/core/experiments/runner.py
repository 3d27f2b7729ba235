"""``run_experiment``: build (or continue) a model, train it, test it, keep it saved.

The single entry point for training that the CLI and the GUI worker share.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnstudio.core.config import Experiment
from cnnstudio.core.data.datasets import Dataset
from cnnstudio.core.errors import ConfigError
from cnnstudio.core.experiments.run_history import RunEntry, RunHistory, versions
from cnnstudio.core.files.model_record import ModelRecord
from cnnstudio.core.files.persistence import save_model
from cnnstudio.core.network.shape_table import shape_table
from cnnstudio.core.training.progress import RunState, StopFlag, TrainingListener
from cnnstudio.core.training.trainer import TrainingResult, evaluate, fit, new_model


@dataclass
class RunOutcome:
    model: Any
    record: ModelRecord
    result: TrainingResult  # this run only; ``record`` holds the whole history
    entry: RunEntry | None = None  # its run-history record, when one was written


def _merge(old: dict[str, list[float]], new: dict[str, list[float]]) -> dict[str, list[float]]:
    return {key: old.get(key, []) + new.get(key, []) for key in {*old, *new}}


def run_experiment(experiment: Experiment, dataset: Dataset, *, listener: TrainingListener | None = None,
                   stop: StopFlag | None = None, checkpoint: str | Path | None = None,
                   model: Any = None, record: ModelRecord | None = None, history: RunHistory | None = None,
                   study: str | None = None) -> RunOutcome:
    """Train ``experiment`` on ``dataset`` and evaluate it on the test split.

    With ``model`` and its ``record`` the run continues that model (optimizer state, epoch count
    and history carry on). With ``checkpoint`` the model is saved there, atomically, after every epoch.
    With ``history`` the run is recorded there (``study`` names the study it belongs to).
    """
    if model is None:
        model = new_model(experiment, dataset)
        record = None
    elif tuple(model.input_shape[1:]) != dataset.input_shape or model.output_shape[-1] != dataset.num_classes:
        raise ConfigError(
            f"this model takes {tuple(model.input_shape[1:])} images and {model.output_shape[-1]} classes, "
            f"but {dataset.name} has {dataset.input_shape} images and {dataset.num_classes} classes")
    previous = record or ModelRecord(experiment, list(dataset.class_names), dataset.input_shape, dataset.digit_like)
    live = ModelRecord(experiment, list(dataset.class_names), dataset.input_shape, dataset.digit_like,
                       dict(previous.history), list(previous.seconds_per_epoch))

    def keep_record(state: RunState) -> None:
        live.history = _merge(previous.history, state.history)
        live.seconds_per_epoch = previous.seconds_per_epoch + state.seconds_per_epoch
        if checkpoint is not None:
            save_model(model, checkpoint, live)

    result = fit(model, dataset, experiment.train, listener=listener, stop=stop,
                 initial_epoch=previous.epochs_trained, after_epoch=keep_record)
    live.test_loss, live.test_accuracy = evaluate(model, dataset)
    result.test_loss, result.test_accuracy = live.test_loss, live.test_accuracy
    if checkpoint is not None:
        save_model(model, checkpoint, live)
    outcome = RunOutcome(model, live, result)
    if history is not None:
        outcome.entry = entry = history_entry(outcome, dataset, checkpoint, study)
        if checkpoint is None:  # keep a copy so the run can be reopened from the history
            entry.model_path = str(save_model(model, history.model_path(entry), live))
        history.add(entry)
    return outcome


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
        seconds_per_epoch=outcome.record.seconds_per_epoch, test_accuracy=outcome.record.test_accuracy,
        test_loss=outcome.record.test_loss, params=int(outcome.model.count_params()), macs=macs,
        device=runtime_info().device, versions=versions(), model_path=str(model_path) if model_path else None,
        stop_reason=outcome.result.end.reason.value, stop_message=outcome.result.end.message, study=study)

"""Studies: the same experiment over a grid of options, run one after another, fairly.

A study on a design varies the global options: every layer of the design that follows them
(pooling type, padding, activation) changes with each run; pinned layers keep their own choice.

Every run of a study uses the same dataset, validation split, seed, epochs and training options;
only the compared options change.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

from cnnstudio.core.config import Experiment
from cnnstudio.core.data.datasets import Dataset, dataset_label
from cnnstudio.core.errors import ConfigError, shown_epochs
from cnnstudio.core.experiments.run_history import RunEntry, RunHistory
from cnnstudio.core.network.design_text import format_layers
from cnnstudio.core.training.progress import StopFlag, TrainingListener
from cnnstudio.core.training.stop_reason import StopReason

COMPARED = ("arch", "pooling", "padding", "activation", "pool_size", "pool_stride", "dropout", "batch_norm", "augment")
RESULT_COLUMNS = (("label", "Run"), ("test_accuracy", "Test accuracy"), ("test_loss", "Test loss"),
                  ("params", "Parameters"), ("macs", "MACs / image"), ("steady_seconds_per_epoch", "s / epoch"))
BEST = {"test_accuracy": max, "test_loss": min, "params": min, "macs": min, "steady_seconds_per_epoch": min}
STEADY_SECONDS_NOTE = ("Seconds per epoch after the first epoch, which also pays TensorFlow's one-time set-up "
                       "(tracing and compiling the model); a one-epoch run shows its only epoch")


def study_grid(base: Experiment, poolings: Sequence[str], paddings: Sequence[str],
               activations: Sequence[str] | None = None) -> list[Experiment]:
    """One experiment per distinct combination ("max,max" or "avg,average" trains once); everything else is taken
    from ``base``."""
    grid: list[Experiment] = []
    for pooling, padding, activation in itertools.product(poolings, paddings, activations or [base.model.activation]):
        model = dataclasses.replace(base.model, pooling=pooling, padding=padding, activation=activation)  # validated
        experiment = Experiment(model, dataclasses.replace(base.train), base.dataset)
        if experiment not in grid:
            grid.append(experiment)
    if not grid:
        raise ConfigError("a study needs at least one pooling and one padding choice")
    return grid


def differing_options(experiments: Sequence[Experiment | dict[str, Any]]) -> list[str]:
    """The model options whose values differ between the experiments (training options never should)."""
    dicts = [e.to_dict() if isinstance(e, Experiment) else e for e in experiments]
    return [key for key in COMPARED if len({repr(d["model"].get(key)) for d in dicts}) > 1]


def flat_settings(experiment: Experiment | dict[str, Any]) -> dict[str, Any]:
    """Every setting by its name: model options, then the dataset, then training options (defaults filled in).

    A design is given by its layers in the inline text form (``design``: None for a preset).
    """
    if not isinstance(experiment, Experiment):
        experiment = Experiment.from_dict(experiment)  # older records lack newer options: their defaults
    data = experiment.to_dict()
    design = experiment.model.design
    model = {**data["model"], "design": format_layers(design) if design is not None else None}
    return {**model, "dataset": data["dataset"], **data["train"]}


def differing_fields(experiments: Sequence[Experiment | dict[str, Any]]) -> list[str]:
    """Every setting (model option, dataset, training option) whose value differs between the experiments."""
    flat = [flat_settings(e) for e in experiments]
    return [key for key in (flat[0] if flat else {}) if len({repr(f.get(key)) for f in flat}) > 1]


def run_label(experiment: Experiment | dict[str, Any], keys: Sequence[str], stopped_at: float | None = None) -> str:
    """'pooling=min, padding=same' for the differing ``keys`` (the architecture when nothing differs).

    ``stopped_at``: where a run that ended early stopped (its epochs trained), shown beside the planned epochs.
    """
    settings = flat_settings(experiment)
    return ", ".join(f"{key}={shown_setting(settings, key, stopped_at)}" for key in keys) or str(settings["arch"])


def stopped_at(entry: RunEntry) -> float | None:
    """The epochs trained by a run that ended early (stopped, diverged…); None for one that finished."""
    try:
        early = StopReason(entry.stop_reason).early
    except ValueError:
        early = False
    return entry.epochs_trained if early else None


def shown_setting(settings: dict[str, Any], key: str, stopped: float | None = None) -> str:
    """``settings[key]`` as labels show it: None (chosen by the architecture) as 'auto', a dataset read from
    disk as '…/its name', and the planned epochs of a run that stopped early as '3 (stopped at 1.86)'."""
    value = settings[key]
    if key == "dataset" and isinstance(value, str):
        return dataset_label(value)
    if key == "epochs" and stopped is not None:
        return f"{value} (stopped at {shown_epochs(stopped)})"
    return setting_text(value)


def setting_text(value: Any) -> str:
    """A setting as labels show it: None (chosen by the architecture) as 'auto'."""
    return "auto" if value is None else str(value)


def told_apart(entries: Sequence[RunEntry], labels: Sequence[str]) -> list[str]:
    """``labels`` with the time the run was made added where two runs would share a label."""
    return [f"{label} ({entry.created})" if labels.count(label) > 1 else label for entry, label in zip(entries, labels)]


def run_labels(entries: Sequence[RunEntry]) -> list[str]:
    """Each run's :func:`run_label`, naming every setting that differs between these runs.

    A study's runs differ only in the compared model options, so those are named; runs from
    anywhere (the Runs view) may differ in the dataset or training options too. Runs with the
    same settings are told apart by when they were made.
    """
    keys = differing_fields([e.experiment for e in entries])
    return told_apart(entries, [run_label(e.experiment, keys, stopped_at(e)) for e in entries])


def steady_seconds_per_epoch(seconds: Sequence[float]) -> float | None:
    """A run's typical seconds per epoch: the mean without the first epoch, which also pays TensorFlow's
    one-time tracing and compiling (the only epoch when there is one; None when there is none)."""
    steady = list(seconds[1:]) or list(seconds)
    return sum(steady) / len(steady) if steady else None


def run_study(experiments: Sequence[Experiment], dataset: Dataset, *, history: RunHistory | None = None,
              stop: StopFlag | None = None, listener: TrainingListener | None = None,
              on_run_start: Callable[[int, Experiment], None] | None = None,
              on_run_done: Callable[[int, Any], None] | None = None, execution: Any = None) -> list[Any]:
    """Run each experiment in turn; a stop request ends the current run and skips the rest.

    Finished runs are recorded in ``history`` (with a shared study name) as they finish.
    ``execution`` (an :class:`~cnnstudio.core.training.execution.Execution`) places every run.
    """
    from cnnstudio.core.experiments.runner import run_experiment

    name = time.strftime("study %Y-%m-%d %H:%M:%S")
    outcomes = []
    for index, experiment in enumerate(experiments):
        if stop is not None and stop.requested:
            break
        if on_run_start is not None:
            on_run_start(index, experiment)
        outcome = run_experiment(experiment, dataset, listener=listener, stop=stop, history=history, study=name,
                                 execution=execution)
        outcomes.append(outcome)
        if on_run_done is not None:
            on_run_done(index, outcome)
    return outcomes


def study_rows(entries: Sequence[RunEntry]) -> list[dict[str, Any]]:
    """One summary per run: its options and the compared figures."""
    rows = []
    for entry, label in zip(entries, run_labels(entries)):
        model = entry.experiment["model"]
        seconds = entry.seconds_per_epoch
        rows.append({
            "label": label, "arch": model["arch"], "pooling": model["pooling"],
            "padding": model["padding"], "activation": model["activation"],
            "test_accuracy": entry.test_accuracy, "test_loss": entry.test_loss, "params": entry.params,
            "macs": entry.macs, "flops": 2 * entry.macs, "seconds_per_epoch": seconds,
            "mean_seconds_per_epoch": sum(seconds) / len(seconds) if seconds else None,
            "steady_seconds_per_epoch": steady_seconds_per_epoch(seconds),
            "epochs": shown_epochs(entry.epochs_trained),
            "stop_reason": entry.end.message if entry.end.reason.early else None, "id": entry.id,
            "stopped": entry.end.reason is StopReason.REQUESTED,  # cut short by the user: no fair comparison
        })
    return rows


def best_values(rows: Sequence[dict[str, Any]], picks: dict[str, Callable] | None = None) -> dict[str, Any]:
    """The best value of each column (``BEST``: highest accuracy, lowest loss, size and time).

    A column has a best only where at least two runs have a value in it and they differ as shown
    (runs that all have the same size have no best size); tied runs share it. Runs the user stopped
    take no part.
    """
    best = {}
    for key, pick in (BEST if picks is None else picks).items():
        values = [row[key] for row in rows if row.get(key) is not None and not row.get("stopped")]
        if len(values) > 1 and len({cell_text(key, value) for value in values}) > 1:
            best[key] = pick(values)
    return best


def is_best(row: dict[str, Any], key: str, best: dict[str, Any]) -> bool:
    """Whether ``row``'s ``key`` is highlighted as best: equal to the best *as shown* (1.876 and 1.884 s both
    read 1.88, and both are best), and not a run the user stopped."""
    value = row.get(key)
    return (key in best and value is not None and not row.get("stopped")
            and cell_text(key, value) == cell_text(key, best[key]))


def cell_text(key: str, value: Any) -> str:
    """A study figure as shown in tables: counts with thousands separators, accuracy and loss to 4 places."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4f}" if key.startswith("test_") else f"{value:.2f}"

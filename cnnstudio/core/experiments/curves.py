"""Loss and accuracy curves of several runs, overlaid on two matplotlib Axes (no GUI needed).

The Study and Runs views draw on their canvas's Axes, the report on a plain Figure; all through
:func:`plot_curves`, so the pictures agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cnnstudio.core.experiments.run_history import RunEntry
from cnnstudio.core.experiments.study import run_labels

METRICS = (("loss", "Loss"), ("accuracy", "Accuracy"))
EMPTY_TEXT = "Select runs to compare"


def curve_values(history: Mapping[str, Sequence[float]], metric: str) -> list[float]:
    """A run's validation values of ``metric``, or its training values when it had no validation."""
    return list(history.get(f"val_{metric}") or history.get(metric) or [])


def plot_curves(loss_axes: Any, accuracy_axes: Any, histories: Sequence[Mapping[str, Sequence[float]]],
                labels: Sequence[str], xs: Sequence[Sequence[float] | None] | None = None, *,
                empty_text: str = EMPTY_TEXT, markersize: float = 3) -> None:
    """Clear both Axes and draw one line per run: validation loss on the first, accuracy on the second.

    ``xs`` gives, per run, the x position (in epochs) of each value, e.g. fractional epoch ends;
    None, or None for a run, places its values at epochs 1, 2, … Values beyond the given x
    positions (or positions beyond the values) are left out. Titles say "Validation" when at
    least one run has validation values; with no runs the Axes show ``empty_text``.
    """
    from matplotlib.ticker import MaxNLocator

    if len(labels) != len(histories) or (xs is not None and len(xs) != len(histories)):
        raise ValueError(f"{len(histories)} runs but {len(labels)} labels and {len(xs or [])} x sequences")
    for axes, (metric, title) in zip((loss_axes, accuracy_axes), METRICS):
        axes.clear()
        axes.grid(True, alpha=0.3)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # ticks at whole epochs
        validated = any(history.get(f"val_{metric}") for history in histories)
        axes.set_title(f"Validation {metric}" if validated else title)
        for i, (history, label) in enumerate(zip(histories, labels)):
            values = curve_values(history, metric)
            x = list(xs[i]) if xs is not None and xs[i] is not None else list(range(1, len(values) + 1))
            n = min(len(x), len(values))
            axes.plot(x[:n], values[:n], "o-", label=label, markersize=markersize)
        if histories:
            axes.legend(fontsize="small")
        elif empty_text:
            axes.text(0.5, 0.5, empty_text, ha="center", va="center", transform=axes.transAxes, color="gray")


def plot_runs(loss_axes: Any, accuracy_axes: Any, entries: Sequence[RunEntry],
              xs: Sequence[Sequence[float] | None] | None = None, **options: Any) -> list[str]:
    """:func:`plot_curves` for recorded runs, labelled by what differs between them; returns the labels."""
    labels = run_labels(entries)
    plot_curves(loss_axes, accuracy_axes, [entry.history for entry in entries], labels, xs, **options)
    return labels

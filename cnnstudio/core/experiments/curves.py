"""Loss and accuracy curves of several runs, overlaid on two matplotlib Axes (no GUI needed).

The Study and Runs views draw on their canvas's Axes, the report on a plain Figure; all through
:func:`plot_curves`, so the pictures agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cnnstudio.core.experiments.run_history import RunEntry
from cnnstudio.core.experiments.study import differing_fields, flat_settings, run_labels, shown_setting, stopped_at, told_apart

METRICS = (("loss", "Loss"), ("accuracy", "Accuracy"))
EMPTY_TEXT = "Select runs to compare"
Y_MARGIN = 0.15  # of the value range, above and below


def curve_values(history: Mapping[str, Sequence[float]], metric: str) -> list[float]:
    """A run's validation values of ``metric``, or its training values when it had no validation."""
    return list(history.get(f"val_{metric}") or history.get(metric) or [])


def placeholder(axes: Any, text: str) -> None:
    """Empty ``axes`` showing only ``text`` in gray (nothing when it is empty), without the bare 0..1 frame and ticks."""
    axes.clear()
    axes.set_axis_off()
    if text:
        axes.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=axes.transAxes, color="gray")


LEGEND_SIZES = (("small", 8.3), ("x-small", 6.9))  # matplotlib's names and points at its default 10-point font
ROWS_BELOW = 3  # a longer legend goes beside the plots, in columns, instead of taking their height


def _entry_points(labels: Sequence[str], fontsize_points: float) -> float:
    return (max(map(len, labels)) * 0.6 + 4) * fontsize_points  # the text, the line sample and the gaps


def legend_columns(labels: Sequence[str], width_inches: float, fontsize_points: float = LEGEND_SIZES[0][1]) -> int:
    """Columns for a legend across ``width_inches``: as many as fit, evened out over the rows that takes."""
    if not labels:
        return 1
    fit = max(1, min(len(labels), int(width_inches * 72 * 0.95 // _entry_points(labels, fontsize_points))))
    return -(-len(labels) // -(-len(labels) // fit))


def _add_legend(figure: Any, handles: Sequence[Any], labels: Sequence[str], title: str | None) -> None:
    """One legend for the figure, outside the Axes: below them in up to ``ROWS_BELOW`` rows, else beside them
    in as many columns as the figure's height needs (in a smaller font when that keeps it narrow)."""
    options = {"frameon": False, "title": title or None}
    columns = legend_columns(labels, figure.get_figwidth())
    if -(-len(labels) // columns) <= ROWS_BELOW:
        figure.legend(handles, list(labels), loc="outside lower center", ncol=columns, fontsize="small",
                      title_fontsize="small", **options)
        return
    beside = []  # (font size, columns) for each size; the first narrow enough wins, else the smallest
    for name, points in LEGEND_SIZES:
        rows = max(1, int(figure.get_figheight() * 72 * 0.9 // (points * 1.55)) - (1 if title else 0))
        columns = -(-len(labels) // rows)
        beside.append((name, columns, columns * _entry_points(labels, points) <= figure.get_figwidth() * 72 * 0.4))
    name, columns, _narrow = next((choice for choice in beside if choice[2]), beside[-1])
    figure.legend(handles, list(labels), loc="outside right upper", ncol=columns, fontsize=name, title_fontsize=name,
                  **options)


# matplotlib's ten default colours, then again with other markers and dashes: the 11th run differs from the 1st
_MARKERS = (("o", "-"), ("s", "--"), ("^", ":"), ("D", "-."))


def line_style(index: int) -> dict[str, str]:
    """The colour, marker and line style of the ``index``-th run: 40 runs tell apart, then they repeat."""
    marker, linestyle = _MARKERS[index // 10 % len(_MARKERS)]
    return {"color": f"C{index % 10}", "marker": marker, "linestyle": linestyle}


def plot_curves(loss_axes: Any, accuracy_axes: Any, histories: Sequence[Mapping[str, Sequence[float]]],
                labels: Sequence[str], xs: Sequence[Sequence[float] | None] | None = None, *,
                empty_text: str = EMPTY_TEXT, markersize: float = 3, legend_title: str | None = None,
                legend_labels: Sequence[str] | None = None) -> None:
    """Clear both Axes and draw one line per run: validation loss on the first, accuracy on the second.

    ``xs`` gives, per run, the x position (in epochs) of each value, e.g. fractional epoch ends;
    None, or None for a run, places its values at epochs 1, 2, … Values beyond the given x
    positions (or positions beyond the values) are left out. Titles say "Validation" when at
    least one run has validation values; with no runs the Axes show only ``empty_text``.

    The figure gets constrained layout and one legend outside both Axes (``legend_labels``, else
    ``labels``, under ``legend_title``), replacing any earlier figure legend, so no label is clipped
    and no legend covers a curve. Ticks are whole epochs; runs of a single epoch get one epoch of
    room instead of a point-wide range.
    """
    from matplotlib.ticker import MaxNLocator

    if len(labels) != len(histories) or any(extra is not None and len(extra) != len(histories)
                                            for extra in (xs, legend_labels)):
        raise ValueError(f"{len(histories)} runs but {len(labels)} labels, {len(xs or [])} x sequences and "
                         f"{len(legend_labels or [])} legend labels")
    figure = loss_axes.figure
    figure.set_layout_engine("constrained")
    for legend in list(figure.legends):
        legend.remove()
    handles = []
    for axes, (metric, title) in zip((loss_axes, accuracy_axes), METRICS):
        if not histories:  # the sentence once, in the first plot; the second is left blank
            placeholder(axes, empty_text if axes is loss_axes else "")
            continue
        axes.clear()
        axes.set_axis_on()
        axes.grid(True, alpha=0.3)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # ticks at whole epochs only
        validated = any(history.get(f"val_{metric}") for history in histories)
        axes.set_title(f"Validation {metric}" if validated else title)
        handles = []
        shown: list[float] = []
        for i, (history, label) in enumerate(zip(histories, labels)):
            values = curve_values(history, metric)
            x = list(xs[i]) if xs is not None and xs[i] is not None else list(range(1, len(values) + 1))
            n = min(len(x), len(values))
            handles += axes.plot(x[:n], values[:n], **line_style(i), label=label, markersize=markersize)
            shown += x[:n]
        if shown and max(shown) - min(shown) < 1:  # one epoch: a sensible range around it, not ±4 %
            axes.set_xlim(min(shown) - 0.5, max(shown) + 0.5)
        axes.margins(y=Y_MARGIN)  # markers at the highest and lowest values stay whole
    if histories:
        _add_legend(figure, handles, labels if legend_labels is None else legend_labels, legend_title)


def legend_entries(entries: Sequence[RunEntry]) -> tuple[str, list[str]]:
    """A legend title naming the settings that differ ('pooling, padding') and each run's values
    ('max, same'): :func:`run_labels` without repeating the names in every entry."""
    keys = differing_fields([entry.experiment for entry in entries])
    if not keys:
        return "", run_labels(entries)
    values = [", ".join(shown_setting(flat_settings(entry.experiment), key, stopped_at(entry)) for key in keys)
              for entry in entries]
    return ", ".join(keys), told_apart(entries, values)


def plot_runs(loss_axes: Any, accuracy_axes: Any, entries: Sequence[RunEntry],
              xs: Sequence[Sequence[float] | None] | None = None, **options: Any) -> list[str]:
    """:func:`plot_curves` for recorded runs, the legend naming what differs between them (see
    :func:`legend_entries`); returns each run's :func:`run_labels` label.

    Without ``xs`` each run's values sit at its own epoch ends: a stopped run's last value at its
    share of an epoch (1.17), a continued run's after the epochs it started from.
    """
    labels = run_labels(entries)
    if xs is None:
        xs = [list(entry.epoch_ends) or None for entry in entries]
    title, names = legend_entries(entries)
    plot_curves(loss_axes, accuracy_axes, [entry.history for entry in entries], labels, xs, legend_title=title,
                legend_labels=names, **options)
    return labels

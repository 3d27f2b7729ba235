"""A study report a student can hand in: a Markdown table and a PNG of the overlaid curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cnnstudio.core.errors import ModelFileError, plural
from cnnstudio.core.experiments.curves import plot_runs
from cnnstudio.core.experiments.run_history import RunEntry
from cnnstudio.core.experiments.study import (
    RESULT_COLUMNS,
    STEADY_SECONDS_NOTE,
    best_values,
    cell_text,
    differing_options,
    is_best,
    study_rows,
)


def curves_figure(entries: Sequence[RunEntry]):
    """A matplotlib Figure (no GUI backend) with validation (else training) loss and accuracy per run."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    plot_runs(loss_axes, accuracy_axes, entries)  # one legend outside both plots, every label inside the figure
    return figure


def markdown_table(entries: Sequence[RunEntry]) -> str:
    """One row per run, the best value of each column in bold."""
    rows = study_rows(entries)
    best = best_values(rows)

    def cell(row: dict, key: str) -> str:
        text = cell_text(key, row[key])
        return f"**{text}**" if is_best(row, key, best) else text

    lines = ["| " + " | ".join(title for _key, title in RESULT_COLUMNS) + " |",
             "|---|" + "---:|" * (len(RESULT_COLUMNS) - 1)]
    lines += ["| " + " | ".join(cell(r, key) for key, _title in RESULT_COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def curves_path(report: Path) -> Path:
    """The PNG of the curves that goes beside the Markdown ``report``."""
    return report.with_name(f"{report.stem}-curves.png")


def write_report(entries: Sequence[RunEntry], path: str | Path) -> Path:
    """``path`` (Markdown) and ``<stem>-curves.png`` beside it; best value per column in bold."""
    path = Path(path)
    if not entries:
        raise ModelFileError("there are no runs to report")
    first = entries[0].experiment
    train = first["train"]
    png = curves_path(path)
    recipe = (f"{plural(train['epochs'], 'epoch')}, batch {train['batch_size']}, {train['optimizer']} at "
              f"{train['learning_rate']:g}")
    if len(entries) == 1:  # e.g. a study whose choices were all the same
        intro = f"One run, so nothing is compared. Seed {train['seed']}, {recipe}."
    else:
        compared = ", ".join(differing_options([e.experiment for e in entries])) or "nothing (every setting is the same)"
        intro = (f"Compared: {compared}. Same data, split and seed ({train['seed']}), {recipe} for every run. "
                 "Best value per column in bold.")
    text = "\n".join([
        f"# Study: {first['model']['arch']} on {first['dataset']}", "", intro, "",
        markdown_table(entries), "", f"s / epoch: {STEADY_SECONDS_NOTE}.", "", f"![Validation curves]({png.name})", "",
        f"Device: {entries[0].device}; versions: "
        + ", ".join(f"{k} {v}" for k, v in sorted(entries[0].versions.items())), "",
    ])
    try:
        curves_figure(entries).savefig(png, dpi=120)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ModelFileError(f"could not write the report: {exc.strerror or exc}") from exc
    return path

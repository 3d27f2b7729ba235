"""A study report a student can hand in: a Markdown table and a PNG of the overlaid curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cnnstudio.core.errors import ModelFileError
from cnnstudio.core.experiments.run_history import RunEntry
from cnnstudio.core.experiments.study import differing_options, run_label, study_rows

BEST = {"test_accuracy": max, "test_loss": min, "params": min, "macs": min, "mean_seconds_per_epoch": min}


def curves_figure(entries: Sequence[RunEntry]):
    """A matplotlib Figure (no GUI backend) with validation/training loss and accuracy per run."""
    from matplotlib.figure import Figure

    keys = differing_options([e.experiment for e in entries])
    figure = Figure(figsize=(10, 4))
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for entry in entries:
        label = run_label(entry.experiment, keys)
        for axes, metric in ((loss_axes, "loss"), (accuracy_axes, "accuracy")):
            values = entry.history.get(f"val_{metric}") or entry.history.get(metric, [])
            axes.plot(range(1, len(values) + 1), values, "o-", label=label)
    for axes, title in ((loss_axes, "Validation loss"), (accuracy_axes, "Validation accuracy")):
        axes.set_title(title)
        axes.set_xlabel("epoch")
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize="small")
    figure.tight_layout()
    return figure


def markdown_table(entries: Sequence[RunEntry]) -> str:
    rows = study_rows(entries)
    best = {key: pick(r[key] for r in rows if r[key] is not None) for key, pick in BEST.items()
            if any(r[key] is not None for r in rows)}

    def cell(row: dict, key: str, text: str) -> str:
        return f"**{text}**" if key in best and row[key] == best[key] else text

    lines = ["| run | test accuracy | test loss | parameters | MACs / image | s / epoch |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        cells = [cell(r, "test_accuracy", f"{r['test_accuracy']:.4f}"), cell(r, "test_loss", f"{r['test_loss']:.4f}"),
                 cell(r, "params", f"{r['params']:,}"), cell(r, "macs", f"{r['macs']:,}"),
                 cell(r, "mean_seconds_per_epoch", f"{r['mean_seconds_per_epoch'] or 0:.2f}")]
        lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(entries: Sequence[RunEntry], path: str | Path) -> Path:
    """``path`` (Markdown) and ``<stem>-curves.png`` beside it; best value per column in bold."""
    path = Path(path)
    if not entries:
        raise ModelFileError("there are no runs to report")
    first = entries[0].experiment
    train = first["train"]
    png = path.with_name(f"{path.stem}-curves.png")
    text = "\n".join([
        f"# Study: {first['model']['arch']} on {first['dataset']}", "",
        f"Compared: {', '.join(differing_options([e.experiment for e in entries])) or 'nothing'}. "
        f"Same data, split and seed ({train['seed']}), {train['epochs']} epochs, batch {train['batch_size']}, "
        f"{train['optimizer']} at {train['learning_rate']:g} for every run. Best value per column in bold.", "",
        markdown_table(entries), "", f"![Validation curves]({png.name})", "",
        f"Device: {entries[0].device}; versions: "
        + ", ".join(f"{k} {v}" for k, v in sorted(entries[0].versions.items())), "",
    ])
    try:
        curves_figure(entries).savefig(png, dpi=120)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ModelFileError(f"could not write the report: {exc.strerror or exc}") from None
    return path

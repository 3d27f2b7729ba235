"""The training view: live loss and accuracy curves, progress with ETA, and an epoch log.

Progress arrives as queued signals; it only updates plain lists here. A timer redraws the
matplotlib figure with ``draw_idle()`` a few times a second, so plotting never keeps up the
training thread or floods the event loop. Over long runs the batch points are merged pairwise
whenever a line would pass :data:`MAX_BATCH_POINTS` (:func:`merge_pairs`) and later updates are
averaged in buckets of as many batch updates as each point now stands for, so the whole run
stays evenly drawn while memory and redraw time stay flat over thousands of epochs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_qtagg import NavigationToolbar2QT
from matplotlib.figure import Figure
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QProgressBar, QSplitter, QVBoxLayout, QWidget

from cnnstudio.core.errors import plural, shown_epochs
from cnnstudio.core.files.model_record import ModelRecord
from cnnstudio.core.training.progress import BatchProgress, EpochResult
from cnnstudio.ui.figure_canvas import FigureCanvas
from cnnstudio.ui.widgets import stacked

REDRAW_MS = 250
MAX_BATCH_POINTS = 2000  # per batch line; the older half is merged pairwise when it would grow past this
MAX_EPOCH_POINTS = 2000  # per epoch line drawn (every value stays in the history and the log)


def merge_pairs(columns: Sequence[list[float]]) -> None:
    """Replace equally long point lists by the means of consecutive pairs, in place (an odd last point stays).

    Used on the batch curve's x and y lists together. A pair of NaN line breaks stays a break;
    a break paired with a point gives way to the point.
    """
    paired = len(columns[0]) // 2 * 2
    for column in columns:
        pairs = np.asarray(column[:paired], dtype=float).reshape(-1, 2)
        present = ~np.isnan(pairs)
        counts = present.sum(axis=1)
        sums = np.where(present, pairs, 0.0).sum(axis=1)
        column[:paired] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).tolist()


def strided(xs: Sequence[float], ys: Sequence[float], limit: int = MAX_EPOCH_POINTS) -> tuple[list, list]:
    """At most about ``limit`` evenly spaced points of a line to draw, always with its last one."""
    if len(ys) <= limit:
        return list(xs[:len(ys)]), list(ys)
    step = math.ceil(len(ys) / limit)
    picked = list(range(0, len(ys) - 1, step)) + [len(ys) - 1]
    return [xs[i] for i in picked], [ys[i] for i in picked]


def format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds}s"


def outcome_line(outcome: Any) -> str:
    """'test accuracy 0.9812 · test loss 0.0611', after the reason when the run ended early."""
    record, end = outcome.record, outcome.result.end
    if record.test_accuracy is None or record.test_loss is None:
        line = "not evaluated on the test set"
    else:
        line = f"test accuracy {record.test_accuracy:.4f} · test loss {record.test_loss:.4f}"
    return f"{end.message}; {line}" if end.reason.early else line


IDLE_HINT = "Press Train to see the curves"
RUNNING_HINT = "Training: the curves appear after the first batches"


class TrainingView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.figure = Figure(figsize=(7, 4.5), layout="constrained")  # room for the labels and the legend below
        self.loss_axes, self.accuracy_axes = self.figure.subplots(1, 2)
        self.canvas = FigureCanvas(self.figure)
        self.toolbar = NavigationToolbar2QT(self.canvas, self)
        self.progress = QProgressBar()
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        self.status = QLabel("Not trained yet.")
        self.status.setWordWrap(True)  # a long reason must never widen the window
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setPlaceholderText("Epoch results appear here.")

        plots = stacked(self.toolbar, self.canvas)
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(plots)
        splitter.addWidget(self.log)
        splitter.setChildrenCollapsible(False)
        plots.setMinimumHeight(160)
        self.log.setMinimumHeight(4 * self.log.fontMetrics().lineSpacing() + 12)  # the last epochs, however small
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.redraw_if_needed)
        self._timer.start()
        self.redraws = 0
        self.clear()

    # what is shown -------------------------------------------------------------------------
    def clear(self) -> None:
        """Nothing trained: empty curves and log."""
        self.show_record(None)
        self.status.setText("Not trained yet.")

    def show_record(self, record: ModelRecord | None) -> None:
        """Show a model's whole history as its record holds it (the one source of truth)."""
        self.batch_x: list[float] = []
        self.batch_loss: list[float] = []
        self.batch_accuracy: list[float] = []
        self._bucket = 1  # batch updates per point of the batch lines (doubles each time they are merged)
        self._pending: list[tuple[float, float, float]] = []  # updates of the bucket being filled
        history = record.history if record is not None else {}
        self.epoch_history: dict[str, list[float]] = {k: list(v) for k, v in history.items()}
        self.epoch_x: list[float] = list(record.epoch_ends) if record is not None else []  # fractional after a stop
        self.log.clear()
        self._hint = IDLE_HINT  # what the empty plots say
        seconds = record.seconds_per_epoch if record is not None else []
        for i, x in enumerate(self.epoch_x):
            metrics = {k: v[i] for k, v in self.epoch_history.items() if i < len(v)}
            line = self._epoch_line(x, metrics, seconds[i] if i < len(seconds) else None)
            start = self.epoch_x[i - 1] if i else math.floor(x)
            share = x - start
            if 0 < share < 1 - 1e-9:  # a stopped (partial) epoch, as the live log said
                line += f"   (epoch {i + 1} stopped after {share:.0%} of its batches)"
            self.log.appendPlainText(line)
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        if record is not None and record.test_accuracy is not None:
            epochs = shown_epochs(record.epochs_trained)
            self.status.setText(f"{epochs} epochs trained · test accuracy {record.test_accuracy:.4f}")
        self._dirty = True

    def start_run(self, record: ModelRecord | None) -> None:
        """A run begins: the model's earlier epochs (when continuing) stay, live progress follows."""
        self.show_record(record)
        self._hint = RUNNING_HINT  # until the first batches are drawn
        self.progress.setFormat("starting…")
        self.status.setText("Reading the dataset and building the network…")

    def show_outcome(self, outcome: Any) -> str:
        """A finished run (RunOutcome): its record's curves and a one-line summary, which is returned."""
        self._close_bucket()
        live = self.batch_x, self.batch_loss, self.batch_accuracy  # the run's batch curve stays in view
        self.show_record(outcome.record)
        self.batch_x, self.batch_loss, self.batch_accuracy = live
        end = outcome.result.end
        line = outcome_line(outcome)
        self.progress.setRange(0, 1000)
        if end.reason.early:  # the bar shows how much of the planned run was trained, not a full 100%
            record = outcome.record
            planned = record.experiment.train.epochs
            trained = record.segments[-1].epochs if record.segments else record.epochs_trained
            self.progress.setValue(round(1000 * min(1.0, trained / planned)))
            self.progress.setFormat(f"stopped after {shown_epochs(trained)} of {plural(planned, 'epoch')}")
        else:
            self.progress.setValue(1000)
            self.progress.setFormat("finished")
        self.status.setText(line)
        self.log.appendPlainText(line)
        for warning in outcome.warnings:  # e.g. the run history could not be written
            self.log.appendPlainText(f"warning: {warning}")
        if outcome.warnings:
            line = f"{line} · {outcome.warnings[0]}"
            self.status.setText(line)
        return line

    def show_note(self, progress_text: str, status: str, done: bool = True) -> None:
        """Work shown elsewhere (e.g. a study) began or (``done``) finished: say so, not stale progress."""
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if done else 0)
        self.progress.setFormat(progress_text)
        self.status.setText(status)

    def show_failure(self, reason: str) -> None:
        self.progress.setFormat("failed")
        self.status.setText(f"Training failed: {reason}")

    def epochs_shown(self) -> int:
        return len(self.epoch_history.get("loss", []))

    # live progress ---------------------------------------------------------------------
    def on_batch(self, p: BatchProgress) -> None:
        # Keras reports the running mean over the epoch so far: a smoothed per-batch curve.
        loss, accuracy = p.logs.get("loss", math.nan), p.logs.get("accuracy", math.nan)
        self._add_batch_point(p.epoch_start, p.epoch_start + p.step / max(p.steps, 1), loss, accuracy)
        done = p.epoch * p.steps + p.step
        total = p.epochs * p.steps
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, total))
        self.progress.setFormat(f"epoch {p.epoch + 1}/{p.epochs} · batch {p.step}/{p.steps}")
        self.status.setText(f"loss {loss:.4f} · accuracy {accuracy:.4f} · epoch time left "
                            f"{format_seconds(p.eta_seconds)}")
        self._dirty = True

    def _add_batch_point(self, epoch_start: float, x: float, loss: float, accuracy: float) -> None:
        """One batch update on the batch lines: as a point of its own, or averaged into the current bucket."""
        columns = (self.batch_x, self.batch_loss, self.batch_accuracy)
        if self._bucket == 1:
            if self.batch_x and epoch_start >= self.batch_x[-1]:  # a new epoch: its running mean starts afresh,
                for values in columns:  # so break the line (NaN); merged points no longer show the breaks
                    values.append(math.nan)
            for values, value in zip(columns, (x, loss, accuracy)):
                values.append(value)
        else:
            self._pending.append((x, loss, accuracy))
            if len(self._pending) >= self._bucket:
                self._close_bucket()
        if len(self.batch_x) > MAX_BATCH_POINTS:
            merge_pairs(columns)
            self._bucket *= 2

    def _close_bucket(self) -> None:
        """Add the mean of the pending updates as one point."""
        if self._pending:
            for values, value in zip((self.batch_x, self.batch_loss, self.batch_accuracy), self._mean_pending()):
                values.append(value)
            self._pending = []

    def _mean_pending(self) -> tuple[float, float, float]:
        with np.errstate(invalid="ignore"):
            columns = np.asarray(self._pending, dtype=float)
            present = ~np.isnan(columns)
            sums = np.where(present, columns, 0.0).sum(axis=0)
            counts = present.sum(axis=0)
            means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        return float(means[0]), float(means[1]), float(means[2])

    def batch_points(self) -> tuple[list[float], list[float], list[float]]:
        """The batch lines as drawn: the merged points and, while it fills, the current bucket's mean."""
        if not self._pending:
            return self.batch_x, self.batch_loss, self.batch_accuracy
        x, loss, accuracy = self._mean_pending()
        return self.batch_x + [x], self.batch_loss + [loss], self.batch_accuracy + [accuracy]

    def on_epoch(self, r: EpochResult) -> None:
        for key, value in r.metrics.items():
            self.epoch_history.setdefault(key, []).append(value)
        self.epoch_x.append(r.epoch_end)
        line = self._epoch_line(r.epoch_end, r.metrics, r.seconds)
        if r.partial:
            line += f"   (epoch {r.epoch + 1} stopped after {r.steps_done} of {r.steps} batches)"
        self.log.appendPlainText(line)
        self._dirty = True

    def on_downloading(self, name: str, done: int, total: int) -> None:
        """A first download of a Keras dataset (total -1 when the server did not say)."""
        megabytes = f"{done / 1e6:.1f} of {total / 1e6:.1f} MB" if total > 0 else f"{done / 1e6:.1f} MB"
        self.progress.setRange(0, max(total, 1) if total > 0 else 0)  # 0..0: a busy indicator
        if total > 0:
            self.progress.setValue(min(done, total))
        self.progress.setFormat(f"downloading {name}… {megabytes}")
        self.status.setText(f"Downloading {name} once; Keras keeps it for later runs.")

    def on_evaluating(self, done: int, total: int) -> None:
        if done == 0:  # training is over: its batch line and time left no longer apply
            self.status.setText(f"Training ended; testing the model on {total:,} test images…")
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"evaluating on the test set… {done:,}/{total:,} (Stop skips it)")

    @staticmethod
    def _epoch_line(x: float, metrics: dict[str, float], seconds: float | None = None) -> str:
        parts = [f"epoch {x:>5.2f}" if x != int(x) else f"epoch {int(x):>3}"]
        if seconds is not None:
            parts.append(f"{seconds:6.1f}s")
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            if key in metrics:
                parts.append(f"{key} {metrics[key]:.4f}")
        return "   ".join(parts)

    # drawing ---------------------------------------------------------------------------
    def redraw_if_needed(self) -> None:
        if self._dirty:
            self._dirty = False
            self.redraw()

    def _make_artists(self) -> None:
        """Lines are created once; redraws only update their data (much cheaper than re-plotting)."""
        self.lines: dict[str, object] = {}
        for axes, key, title in ((self.loss_axes, "loss", "Loss"), (self.accuracy_axes, "accuracy", "Accuracy")):
            axes.set_title(title)
            axes.set_xlabel("epoch")
            axes.grid(True, alpha=0.3)
            (self.lines[f"batch_{key}"],) = axes.plot([], [], color="#9ecae1", linewidth=1,
                                                      label="training (running mean within the epoch)")
            (self.lines[key],) = axes.plot([], [], "o-", color="#08519c", label="training (epoch)")
            (self.lines[f"val_{key}"],) = axes.plot([], [], "s--", color="#e6550d", label="validation (epoch)")
        self.legend = None
        self._make_legend(with_batches=True)
        self.placeholder = self.figure.text(0.5, 0.5, IDLE_HINT, ha="center", va="center", color="gray")

    def _make_legend(self, with_batches: bool) -> None:
        """One legend for both plots, below them (inside an Axes it hides the first epochs' points), naming only
        the lines there are: a reopened model has no per-batch line."""
        if self.legend is not None:
            self.legend.remove()
        handles = [self.lines[name] for name in ("batch_accuracy", "accuracy", "val_accuracy")
                   if with_batches or name != "batch_accuracy"]
        self.legend = self.figure.legend(handles, [h.get_label() for h in handles], loc="outside lower center",
                                         ncol=3, fontsize="small", frameon=False)
        self._legend_has_batches = with_batches

    def redraw(self) -> None:
        if not hasattr(self, "lines"):
            self._make_artists()
        batch_x, batch_loss, batch_accuracy = self.batch_points()
        if bool(batch_x) != self._legend_has_batches:
            self._make_legend(with_batches=bool(batch_x))
        for key in ("loss", "accuracy"):
            self.lines[f"batch_{key}"].set_data(batch_x, batch_loss if key == "loss" else batch_accuracy)
            for name in (key, f"val_{key}"):
                values = self.epoch_history.get(name, [])
                self.lines[name].set_data(*strided(self.epoch_x, values))
        shown = batch_x + self.epoch_x
        for axes in (self.loss_axes, self.accuracy_axes):
            axes.relim()
            axes.autoscale_view()
            if shown and max(shown) - min(shown) < 1:  # a single epoch: room around it, not a point-wide axis
                axes.set_xlim(max(0.0, min(shown) - 0.5), max(shown) + 0.5, auto=None)  # autoscaling stays on
        empty = not batch_x and not self.epoch_history.get("loss")
        for artist in (self.loss_axes, self.accuracy_axes, self.legend):  # no bare, meaningless axes before a run
            artist.set_visible(not empty)
        self.placeholder.set_visible(empty)
        self.placeholder.set_text(self._hint)
        self.canvas.draw_idle()
        self.redraws += 1

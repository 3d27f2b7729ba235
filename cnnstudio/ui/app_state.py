"""One explicit application state; every action's enabled state is derived from it in one place.

Plain Python (no Qt) so the rules are unit-tested directly; the window applies :class:`Enabled`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum


class Activity(Enum):
    LOADING_BACKEND = "loading TensorFlow"
    BACKEND_FAILED = "TensorFlow unavailable"
    IDLE = "idle"
    TRAINING = "training"  # a run or a study is using the model
    BUSY = "busy"  # saving, opening, exporting or evaluating


@dataclass(frozen=True)
class AppState:
    activity: Activity = Activity.LOADING_BACKEND
    config_ok: bool = False  # the panel's options make a buildable network on a readable dataset
    has_model: bool = False
    has_record: bool = False  # the model carries its experiment record (history)
    config_problem: str | None = None  # why the options make no such network (None when they do, or unknown yet)

    def with_(self, **changes: object) -> AppState:
        return replace(self, **changes)

    @property
    def busy_reason(self) -> str | None:
        """Why nothing can start now (TensorFlow loading, a run, a file being saved…), or None when idle."""
        return {Activity.LOADING_BACKEND: "TensorFlow is still loading",
                Activity.BACKEND_FAILED: "TensorFlow could not be loaded (see the message it gave)",
                Activity.TRAINING: "a run is in progress",
                Activity.BUSY: "a file is being saved, opened or exported, or the model evaluated"}.get(self.activity)

    @property
    def enabled(self) -> Enabled:
        ready = self.activity is Activity.IDLE
        training = self.activity is Activity.TRAINING
        if training:
            blocked = "A training run is using the model; this view updates when it ends."
        elif self.activity is Activity.BUSY:
            blocked = "Busy…"
        elif not self.has_model:
            blocked = "Train or open a model first."
        else:
            blocked = None
        if self.busy_reason is not None:
            train_blocked = self.busy_reason
        else:
            train_blocked = None if self.config_ok else self.config_problem or "the options are being checked"
        return Enabled(
            train=ready and self.config_ok, train_blocked=train_blocked, stop=training, continue_=ready and self.has_model,
            panel=not training, save=ready and self.has_model, export_history=ready and self.has_record,
            open=ready, study=ready and self.config_ok, runs=not training,
            inspection_blocked=blocked if training else None, evaluation_blocked=blocked,
        )


@dataclass(frozen=True)
class Enabled:
    """What the user may do now (``continue_``: Python reserves the plain word)."""

    train: bool
    train_blocked: str | None  # why Train is unavailable (TensorFlow loading, a run, impossible options…)
    stop: bool
    continue_: bool
    panel: bool
    save: bool  # save, save as, SavedModel and TFLite exports
    export_history: bool
    open: bool  # new, open, recent models
    study: bool
    runs: bool
    inspection_blocked: str | None  # why the feature-map and sketch views wait, or None
    evaluation_blocked: str | None  # why Evaluate is unavailable, or None

"""Every action's enabled state follows from one application state."""

from __future__ import annotations

import itertools

from cnnstudio.ui.app_state import Activity, AppState


def test_nothing_runs_while_tensorflow_loads_or_failed() -> None:
    for activity in (Activity.LOADING_BACKEND, Activity.BACKEND_FAILED):
        enabled = AppState(activity, config_ok=True, has_model=True, has_record=True).enabled
        assert not (enabled.train or enabled.continue_ or enabled.open or enabled.study or enabled.save)


def test_training_allows_only_stop() -> None:
    enabled = AppState(Activity.TRAINING, config_ok=True, has_model=True, has_record=True).enabled
    assert enabled.stop and not enabled.train and not enabled.panel and not enabled.open and not enabled.save
    assert enabled.inspection_blocked and enabled.evaluation_blocked


def test_idle_rules() -> None:
    for config_ok, has_model, has_record in itertools.product((False, True), repeat=3):
        enabled = AppState(Activity.IDLE, config_ok, has_model, has_record).enabled
        assert enabled.train == config_ok == enabled.study
        assert enabled.continue_ == has_model == enabled.save
        assert enabled.export_history == has_record
        assert enabled.open and enabled.panel and not enabled.stop and enabled.inspection_blocked is None
        assert (enabled.evaluation_blocked is None) == has_model


def test_busy_blocks_file_actions_but_not_the_panel() -> None:
    enabled = AppState(Activity.BUSY, True, True, True).enabled
    assert enabled.panel and not enabled.open and not enabled.save and not enabled.train
    assert enabled.evaluation_blocked == "Busy…"


def test_train_says_why_it_is_unavailable() -> None:
    assert AppState(Activity.IDLE, config_ok=True).enabled.train_blocked is None
    assert AppState(Activity.LOADING_BACKEND, config_ok=True).enabled.train_blocked == "TensorFlow is still loading"
    assert AppState(Activity.TRAINING, config_ok=True).enabled.train_blocked == "a run is in progress"
    impossible = AppState(Activity.IDLE, config_ok=False, config_problem="conv4: the map is 0×0")
    assert impossible.enabled.train_blocked == "conv4: the map is 0×0"

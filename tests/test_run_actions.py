"""RunActions on its own: what it asks of the window, through its signals, with no run on a thread."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")
from gui_helpers import WAIT_MS  # noqa: E402
from PySide6.QtWidgets import QLabel, QTabWidget  # noqa: E402

from cnnstudio.core.experiments.run_history import RunHistory  # noqa: E402
from cnnstudio.core.training.progress import StopFlag  # noqa: E402
from cnnstudio.core.workspace import Workspace  # noqa: E402
from cnnstudio.ui.app_state import Activity, AppState  # noqa: E402
from cnnstudio.ui.background import running_threads  # noqa: E402
from cnnstudio.ui.config_panel import ConfigPanel  # noqa: E402
from cnnstudio.ui.device_controller import DeviceController  # noqa: E402
from cnnstudio.ui.run_actions import RunActions  # noqa: E402
from cnnstudio.ui.runs_view import RunsView  # noqa: E402
from cnnstudio.ui.study_view import StudyView  # noqa: E402
from cnnstudio.ui.training_controller import StudyEnd, TrainingController  # noqa: E402
from cnnstudio.ui.training_view import TrainingView  # noqa: E402


class Recorded:
    """Everything RunActions signalled, in order."""

    def __init__(self, actions: RunActions) -> None:
        self.events: list[tuple] = []
        actions.activity_changed.connect(lambda activity: self.events.append(("activity", activity)))
        actions.message.connect(lambda text, ms: self.events.append(("message", text, ms)))
        actions.error.connect(lambda title, reason, details: self.events.append(("error", title, reason, details)))
        actions.notice.connect(lambda title, text, _details: self.events.append(("notice", title, text)))
        actions.ended.connect(lambda: self.events.append(("ended",)))
        actions.listed.connect(lambda: self.events.append(("listed",)))

    def of(self, kind: str) -> list[tuple]:
        return [event for event in self.events if event[0] == kind]


class Answers:
    """The window's answers to RunActions' questions, and the questions asked."""

    def __init__(self) -> None:
        self.replace_model, self.asked = False, []  # False: the user cancelled the ask-to-save dialog

    def may_replace_model(self, _then) -> bool:  # noqa: ANN001 - a callable
        self.asked.append("replace the model?")
        return self.replace_model

    def may_read(self, dataset: str) -> bool:
        self.asked.append(f"read {dataset}?")
        return True


@pytest.fixture
def answers() -> Answers:
    return Answers()


@pytest.fixture
def actions(qtbot, settings, answers):
    history, workspace = RunHistory(), Workspace()
    panel, tabs = ConfigPanel(), QTabWidget()
    training_view, study_view, runs_view = TrainingView(), StudyView(), RunsView(history)
    for widget in (panel, tabs, training_view, study_view, runs_view):
        qtbot.addWidget(widget)
    actions = RunActions(
        TrainingController(workspace, history), workspace, settings, panel,
        DeviceController(panel.device_choice, settings, panel.batch_size.value, QLabel()),
        state=lambda: AppState(activity=Activity.IDLE, config_ok=True),
        may_replace_model=answers.may_replace_model, may_read=answers.may_read,
        tabs=tabs, training_view=training_view, study_view=study_view, runs_view=runs_view)
    yield actions
    actions.trainer.stop_flag = None
    qtbot.waitUntil(lambda: running_threads() == [], timeout=WAIT_MS)  # the Runs tab's listings


def test_stop_pressed_twice_asks_to_skip_the_evaluation(actions) -> None:
    recorded = Recorded(actions)
    actions.stop()  # nothing running: nothing to say
    assert recorded.events == []
    actions.trainer.stop_flag = flag = StopFlag()  # as TrainingController sets it when a run starts
    actions.stop()
    assert flag.requested and recorded.events == [("message", "Stopping after this batch…", 0)]
    actions.stop()
    assert recorded.events[-1] == ("message", "Skipping the test evaluation…", 0)


def test_stop_pressed_once_while_a_finished_run_is_tested_skips_the_test(actions) -> None:
    recorded = Recorded(actions)
    actions.trainer.stop_flag = flag = StopFlag()
    with flag.evaluating():  # as the runner marks the test-set evaluation
        actions.stop()
        assert flag.skip_evaluation
    assert recorded.events == [("message", "Skipping the test evaluation…", 0)]


def test_nothing_starts_while_a_run_is_going_or_the_model_may_not_be_replaced(actions, answers) -> None:
    recorded = Recorded(actions)
    actions.train()  # the model may not be replaced (the user cancelled): no run
    actions.continue_training()  # no model
    actions.start_study([])
    assert answers.asked == ["replace the model?"] and recorded.events == [] and not actions.trainer.running
    actions.trainer.stop_flag = StopFlag()  # a run is going
    answers.replace_model = True
    actions.train()
    actions.start_study([actions.panel.experiment()])
    assert answers.asked == ["replace the model?"] and recorded.events == []


def test_a_failed_run_is_reported_then_the_window_is_told_it_ended(qtbot, actions) -> None:
    recorded = Recorded(actions)
    actions.trainer.failed.emit("the dataset vanished", "Traceback …")
    assert recorded.of("error") == [("error", "Training failed", "the dataset vanished", "Traceback …")]
    assert ("message", "Training failed.", 10000) in recorded.events
    assert actions.training_view.status.text() == "Training failed: the dataset vanished"
    assert actions.study_view.status.text() == "Failed: the dataset vanished"
    with qtbot.waitSignal(actions.listed, timeout=WAIT_MS):  # after the Runs tab's listing being read
        actions.trainer.finished.emit()
    kinds = [event[0] for event in recorded.events]
    assert kinds[-3:] == ["activity", "ended", "listed"] and recorded.events[-3][1] is Activity.IDLE


def test_failed_study_runs_and_a_stopped_study_are_reported(actions) -> None:
    recorded = Recorded(actions)
    actions.trainer.runs_failed.emit("2 runs failed", "all of them")
    actions.trainer.study_finished.emit(1, 3, True)
    assert recorded.of("error") == [("error", "Some study runs failed", "2 runs failed", "all of them")]
    assert ("message", "Study stopped: 1 of 3 runs recorded", 10000) in recorded.events
    assert actions.study_view.status.text() == "Study stopped: 1 of 3 runs recorded"


def test_the_study_runs_warnings_are_shown_once_each(actions) -> None:
    """A study's warnings (an unusable GPU on a Ray node, a run not recorded) reach the user, each line once."""
    recorded = Recorded(actions)
    actions.trainer.stop_flag = StopFlag()
    actions.trainer._total = 2
    actions.trainer._study_succeeded(StudyEnd(2, False, [], ["on node a: an NVIDIA GPU is present, but …",
                                                              "on node a: an NVIDIA GPU is present, but …",
                                                              "this run is not recorded in the run history: disk full"]))
    assert recorded.of("notice") == [("notice", "Notes from the study's runs",
                                      "on node a: an NVIDIA GPU is present, but …\n"
                                      "this run is not recorded in the run history: disk full")]
    assert ("message", "Study finished: 2 runs", 10000) in recorded.events


def test_stopping_to_quit_skips_the_test_at_once(actions) -> None:
    recorded = Recorded(actions)
    actions.stop_to_quit()  # nothing running: nothing to say
    assert recorded.events == []
    actions.trainer.stop_flag = flag = StopFlag()
    actions.stop_to_quit()
    assert flag.requested and flag.skip_evaluation
    assert recorded.events == [("message", "Stopping the run to quit (its test is skipped)…", 0)]

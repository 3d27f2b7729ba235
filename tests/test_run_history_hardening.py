"""The run history under damage: unusable folders, hostile files and malformed entries, and the Runs view."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from training_helpers import experiment

from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
from cnnstudio.core.experiments.run_history import MAX_ENTRY_BYTES, MAX_LIST, RunEntry, RunHistory
from cnnstudio.core.experiments.runner import run_experiment


def good_entry(run_id: str = "good-run", created: str = "2024-05-01 10:00:00", **changes) -> RunEntry:
    exp = Experiment(ModelOptions(), TrainOptions(epochs=2), "digits").to_dict()
    fields = dict(experiment=exp, history={"loss": [1.0, 0.5], "accuracy": [0.5, 0.8]}, seconds_per_epoch=[1.0, 1.0],
                  test_accuracy=0.9, test_loss=0.3, params=10, macs=70, created=created, id=run_id)
    return RunEntry(**{**fields, **changes})


def entry_json(**changes) -> dict:
    data = good_entry(run_id="damaged").to_json()
    data.update(changes)
    return data


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# one line per damaged entry: (file name, how to make it)
DAMAGED = {
    "symlink to /dev/zero": lambda p: p.symlink_to("/dev/zero"),
    "named pipe": lambda p: os.mkfifo(p),
    "folder named .json": lambda p: p.mkdir(),
    "dangling symlink": lambda p: p.symlink_to(p.parent / "nowhere.json"),
    "larger than the limit": lambda p: p.write_bytes(b" " * (MAX_ENTRY_BYTES + 1)),
    "nested too deeply": lambda p: p.write_text(_nested(100_000)),
    "nested too deeply inside a field": lambda p: p.write_text(json.dumps(entry_json())[:-1] + ', "x": '
                                                               + _nested(50_000) + "}"),
    "not UTF-8": lambda p: p.write_bytes(b"\xff\xfe{"),
    "not JSON": lambda p: p.write_text("{"),
    "a list, not an object": lambda p: p.write_text("[1, 2]"),
    "foreign format": lambda p: p.write_text(json.dumps({**entry_json(), "format": "other"})),
    "numeric created": lambda p: p.write_text(json.dumps(entry_json(created=20240501))),
    "numeric id": lambda p: p.write_text(json.dumps(entry_json(id=7))),
    "id with a path separator": lambda p: p.write_text(json.dumps(entry_json(id="../../etc/x"))),
    "id of dots": lambda p: p.write_text(json.dumps(entry_json(id=".."))),
    "text test accuracy": lambda p: p.write_text(json.dumps(entry_json(test_accuracy="0.9"))),
    "boolean params": lambda p: p.write_text(json.dumps(entry_json(params=True))),
    "text params": lambda p: p.write_text(json.dumps(entry_json(params="10"))),
    "negative macs": lambda p: p.write_text(json.dumps(entry_json(macs=-1))),
    "text seconds per epoch": lambda p: p.write_text(json.dumps(entry_json(seconds_per_epoch=["1", "2"]))),
    "history of texts": lambda p: p.write_text(json.dumps(entry_json(history={"loss": ["a", "b"]}))),
    "history not a mapping": lambda p: p.write_text(json.dumps(entry_json(history=[1, 2]))),
    "history of nested lists": lambda p: p.write_text(json.dumps(entry_json(history={"loss": [[1.0], [2.0]]}))),
    "huge history list": lambda p: p.write_text(json.dumps(entry_json(history={"loss": [0] * (MAX_LIST + 1)}))),
    "missing params": lambda p: p.write_text(json.dumps({k: v for k, v in entry_json().items() if k != "params"})),
    "malformed experiment": lambda p: p.write_text(json.dumps(entry_json(experiment={"model": {"arch": 5}}))),
    "experiment not a mapping": lambda p: p.write_text(json.dumps(entry_json(experiment="lenet5"))),
    "text versions": lambda p: p.write_text(json.dumps(entry_json(versions="1.0"))),
    "numeric stop reason": lambda p: p.write_text(json.dumps(entry_json(stop_reason=3))),
    "huge study name": lambda p: p.write_text(json.dumps(entry_json(study="s" * 10_000))),
}


@pytest.mark.parametrize("damage", list(DAMAGED), ids=list(DAMAGED))
def test_a_damaged_entry_is_skipped_with_a_warning(tmp_path, damage) -> None:
    history = RunHistory(tmp_path / "runs")
    history.add(good_entry())
    DAMAGED[damage](history.folder / "damaged.json")
    box: dict = {}
    reader = threading.Thread(target=lambda: box.update(listing=history.entries()), daemon=True)
    reader.start()
    reader.join(60)  # a listing that hangs (a pipe read to its end) fails here instead of hanging the suite
    assert not reader.is_alive(), "listing the run history hung"
    runs, warnings = box["listing"]
    assert [run.id for run in runs] == ["good-run"]
    assert len(warnings) == 1 and warnings[0].startswith("skipped damaged.json: ")


def test_entries_with_nan_figures_and_unknown_fields_still_load(tmp_path) -> None:
    # records of diverged runs written by earlier versions hold NaN; a newer version may add fields
    history = RunHistory(tmp_path / "runs")
    data = good_entry(test_loss=float("nan"), history={"loss": [1.0, float("nan")]}).to_json()
    (history.folder).mkdir(parents=True)
    (history.folder / "old.json").write_text(json.dumps({**data, "added_later": {"x": 1}}))
    runs, warnings = history.entries()
    assert warnings == [] and len(runs) == 1 and runs[0].test_loss != runs[0].test_loss


def test_entries_of_an_unreadable_folder_is_a_warning(tmp_path) -> None:
    (tmp_path / "runs").write_text("a file where the folder should be")
    runs, warnings = RunHistory(tmp_path / "runs").entries()
    assert runs == [] and len(warnings) == 1 and "runs" in warnings[0]


def test_unsafe_ids_never_name_files(tmp_path) -> None:
    history = RunHistory(tmp_path / "runs")
    victim = tmp_path / "victim.json"
    victim.write_text("{}")
    for bad in ("../victim", "a/b", "", ".hidden", "a\\b"):
        with pytest.raises(ValueError):
            history.delete(bad)
        with pytest.raises(ValueError):
            history.add(good_entry(run_id=bad))
    assert victim.exists()


# an unusable run-history folder ------------------------------------------------------------------

def _file_as_folder(tmp_path: Path) -> RunHistory:
    (tmp_path / "runs").write_text("not a folder")
    return RunHistory(tmp_path / "runs")


def _file_as_models(tmp_path: Path) -> RunHistory:
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "models").write_text("not a folder")
    return RunHistory(tmp_path / "runs")


def _dev_null_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunHistory:
    monkeypatch.setenv("CNNSTUDIO_HOME", "/dev/null")
    return RunHistory()


UNUSABLE = {"runs is a file": (_file_as_folder, "runs"), "models is a file": (_file_as_models, "models"),
            "home is /dev/null": (_dev_null_home, "/dev/null")}


def _unusable(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunHistory:
    make, _named = UNUSABLE[name]
    return make(tmp_path, monkeypatch) if make is _dev_null_home else make(tmp_path)


@pytest.mark.parametrize("name", list(UNUSABLE))
def test_check_writable_names_the_unusable_folder(tmp_path, monkeypatch, name) -> None:
    history = _unusable(name, tmp_path, monkeypatch)
    problem = history.check_writable()
    assert problem is not None and UNUSABLE[name][1] in problem and "\n" not in problem
    assert RunHistory(tmp_path / "fine").check_writable() is None


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_check_writable_finds_a_read_only_folder(tmp_path) -> None:
    folder = tmp_path / "runs"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        assert "runs" in (RunHistory(folder).check_writable() or "")
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("name", list(UNUSABLE))
def test_training_goes_on_without_recording(small, tmp_path, monkeypatch, name) -> None:
    history = _unusable(name, tmp_path, monkeypatch)
    out = tmp_path / "model.keras"
    outcome = run_experiment(experiment(epochs=1), small, history=history, checkpoint=out)
    assert outcome.entry is None and out.exists() and outcome.record.evaluated
    assert len(outcome.warnings) == 1 and "not recorded" in outcome.warnings[0]
    assert UNUSABLE[name][1] in outcome.warnings[0]


def test_a_failure_while_recording_is_a_warning_not_a_lost_model(small, tmp_path, monkeypatch) -> None:
    history = RunHistory(tmp_path / "runs")

    def disk_full(_entry):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(history, "add", disk_full)
    outcome = run_experiment(experiment(epochs=1), small, history=history)
    assert outcome.entry is None and outcome.model is not None and outcome.record.evaluated
    assert "No space left on device" in outcome.warnings[0] and str(history.folder) in outcome.warnings[0]


# the Runs view reads off the GUI thread ----------------------------------------------------------

@pytest.fixture
def runs_view(qtbot, tmp_path):
    pytest.importorskip("pytestqt")
    from cnnstudio.ui.runs_view import RunsView

    history = RunHistory(tmp_path / "runs")
    history.add(good_entry())
    view = RunsView(history)
    qtbot.addWidget(view)
    yield view
    qtbot.waitUntil(lambda: not view.refreshing)


def test_the_listing_runs_off_the_gui_thread(qtbot, runs_view, monkeypatch) -> None:
    threads = []
    entries = runs_view.history.entries

    def listing():
        threads.append(threading.current_thread())
        return entries()

    monkeypatch.setattr(runs_view.history, "entries", listing)
    with qtbot.waitSignal(runs_view.refreshed):
        runs_view.refresh()
        assert runs_view.refreshing  # nothing is listed on the GUI thread
    assert threads and threads[0] is not threading.main_thread()
    assert runs_view.proxy.rowCount() == 1 and not runs_view.refreshing


def test_a_refresh_during_a_listing_lists_again(qtbot, runs_view) -> None:
    with qtbot.waitSignal(runs_view.refreshed):
        runs_view.refresh()
        runs_view.history.add(good_entry("second-run", "2024-05-02 10:00:00"))
        runs_view.refresh()  # asked while the first listing may be read already: must not be lost
    assert runs_view.proxy.rowCount() == 2


def test_a_failing_listing_is_a_warning_and_followers_still_run(qtbot, runs_view, monkeypatch) -> None:
    def broken():
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(runs_view.history, "entries", broken)
    followed = []
    with qtbot.waitSignal(runs_view.refreshed):
        runs_view.refresh()
        runs_view.when_listed(lambda: followed.append(True))
    assert followed == [True] and "disk on fire" in runs_view.warnings.text()


def test_an_entry_that_cannot_be_shown_never_breaks_the_refresh(qtbot, runs_view, monkeypatch) -> None:
    import cnnstudio.ui.runs_view as module

    def broken_rows(_entries):
        raise KeyError("pooling")

    monkeypatch.setattr(module, "study_rows", broken_rows)
    with qtbot.waitSignal(runs_view.refreshed):
        runs_view.refresh()
    assert "could not show the run history" in runs_view.warnings.text()
    runs_view.when_listed(lambda: None)  # nothing pending: called at once, no error


def test_the_window_sends_training_finished_after_a_run_despite_a_broken_runs_tab(qtbot, make_window, monkeypatch):
    from gui_helpers import WAIT_MS, set_options

    import cnnstudio.ui.runs_view as module

    window = make_window()
    set_options(window, epochs=1)
    monkeypatch.setattr(module, "study_rows", lambda _entries: (_ for _ in ()).throw(KeyError("damaged")))
    with qtbot.waitSignal(window.training_finished, timeout=WAIT_MS):
        window.train_button.click()
    assert window.workspace.record is not None and window.workspace.record.epochs_trained == 1
    assert "could not show the run history" in window.runs_view.warnings.text()
    assert window.windowTitle().startswith("run ")  # the title names the run that keeps the new model


def test_an_entry_without_an_id_is_known_by_its_file_name(tmp_path) -> None:
    history = RunHistory(tmp_path / "runs")
    history.folder.mkdir(parents=True)
    data = {k: v for k, v in good_entry().to_json().items() if k != "id"}
    (history.folder / "20240101-old.json").write_text(json.dumps(data))
    [entry], _warnings = history.entries()
    assert entry.id == "20240101-old"
    history.delete(entry.id)
    assert history.entries() == ([], [])

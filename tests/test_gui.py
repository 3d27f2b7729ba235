"""The main window driven through its real widgets (pytest-qt, offscreen)."""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
from gui_helpers import WAIT_MS, set_options, train_and_wait  # noqa: E402
from PySide6.QtWidgets import QFileDialog, QMessageBox  # noqa: E402

from cnnstudio.core.errors import shown_epochs  # noqa: E402
from cnnstudio.ui import main_window as main_window_module  # noqa: E402
from cnnstudio.ui.background import running_threads  # noqa: E402
from cnnstudio.ui.main_window import MainWindow  # noqa: E402

STARTUP_PROBE = """
import sys, time
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
app = QApplication([])
import threading
from cnnstudio.ui import main_window
from cnnstudio.ui.settings import Settings
gate, real_load = threading.Event(), main_window.load_backend
main_window.load_backend = lambda task: (gate.wait(300), real_load(task))[1]  # TensorFlow loads when we say
window = main_window.MainWindow(Settings(QSettings(sys.argv[1], QSettings.IniFormat)))
window.show()
for _ in range(20):
    app.processEvents()
print("shown", window.isVisible(), "tensorflow" in sys.modules, window.train_button.isEnabled(), flush=True)
gate.set()
deadline = time.monotonic() + 300
while window.runtime is None and time.monotonic() < deadline:
    app.processEvents()
    time.sleep(0.02)
print("ready", window.runtime is not None, window.train_button.isEnabled(), window.device_label.text(), flush=True)
window.close()
"""


def test_window_appears_before_tensorflow_is_loaded_behind_it(tmp_path) -> None:
    """In a fresh interpreter: the window works with TensorFlow not imported (Train off), then loads it behind."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run([sys.executable, "-c", STARTUP_PROBE, str(tmp_path / "settings.ini")], capture_output=True,
                         text=True, timeout=400, env=env)
    lines = {line.split()[0]: line.split()[1:] for line in run.stdout.splitlines() if line.split()}
    assert lines["shown"][:3] == ["True", "False", "False"], run.stdout + run.stderr[-2000:]
    assert lines["ready"][:2] == ["True", "True"] and "TensorFlow" in " ".join(lines["ready"]), run.stdout


def test_changing_options_updates_the_shape_table(make_window) -> None:
    window = make_window()
    set_options(window, padding="valid")
    assert window.architecture_view.shapes()["c1"] == "28 × 28 × 6"
    window.panel.padding.setCurrentIndex(window.panel.padding.findData("same"))
    assert window.architecture_view.shapes()["c1"] == "32 × 32 × 6"
    window.panel.pooling.setCurrentIndex(window.panel.pooling.findData("min"))
    kinds = [window.architecture_view.table.item(i, 1).text() for i in range(window.architecture_view.table.rowCount())]
    assert "MinPooling2D" in kinds


def test_impossible_configuration_is_shown_and_disables_train(make_window) -> None:
    window = make_window()
    messages = []
    window.statusBar().messageChanged.connect(messages.append)
    set_options(window, arch="alexnet_cifar", padding="valid")
    assert not window.train_button.isEnabled()
    # why, where the user is: Train's tooltip and the status bar, not only the Architecture tab
    assert window.train_button.toolTip().startswith("Train is unavailable: ") and "conv4" in window.train_button.toolTip()
    assert any(m.startswith("Train is unavailable: ") and "conv4" in m for m in messages)
    assert window.architecture_view.problem.isVisible()
    assert "conv4" in window.architecture_view.problem.text()
    # the layers that fit stay in the table, so the maps shrinking to nothing stay in sight; conv4 is marked
    shapes = window.architecture_view.shapes()
    assert shapes["conv1"] == "28 × 28 × 32" and shapes["conv4"] == "impossible"
    assert list(shapes)[-1] == "conv4" and window.architecture_view.shown is None
    window.panel.padding.setCurrentIndex(window.panel.padding.findData("same"))
    assert window.train_button.isEnabled() and not window.architecture_view.problem.isVisible()


def test_train_through_clicks_fills_plots_then_continue(qtbot, make_window) -> None:
    window = make_window()
    set_options(window, epochs=2)
    batches, epochs = [], []
    window.trainer.batch.connect(batches.append)
    window.trainer.epoch.connect(epochs.append)
    train_and_wait(qtbot, window)
    workspace = window.workspace
    assert workspace.model is not None and workspace.record.epochs_trained == 2 and len(epochs) == 2
    assert batches and all(p.step <= p.steps for p in batches) and window.training_view.batch_x
    assert window.training_view.epoch_history == workspace.record.history  # drawn from the record
    assert len(window.training_view.epoch_history["val_loss"]) == 2
    # the run history keeps a copy of the model: nothing to save before the next run, but it has no file yet
    assert window.training_view.redraws > 0 and not workspace.unsaved and workspace.path is None
    assert re.match(r"run \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(Runs tab\) — ", window.windowTitle())
    assert "test accuracy" in window.training_view.status.text()
    assert window.continue_button.isEnabled() and window.files.save_action.isEnabled()

    train_and_wait(qtbot, window, window.continue_button)
    assert workspace.record.epochs_trained == 4  # two more epochs on top of the first two
    assert len(window.training_view.epoch_history["loss"]) == 4


def test_stop_mid_epoch_ends_quickly_and_keeps_the_model(qtbot, make_window) -> None:
    window = make_window()
    set_options(window, epochs=200)
    window.train_button.click()
    qtbot.waitUntil(lambda: bool(window.training_view.batch_x), timeout=WAIT_MS)
    assert not window.train_button.isEnabled() and window.stop_button.isEnabled()
    asked = time.perf_counter()
    with qtbot.waitSignal(window.training_finished, timeout=WAIT_MS):
        window.stop_button.click()
    assert time.perf_counter() - asked < 10
    assert window.workspace.model is not None and window.workspace.record.epochs_trained < 200
    progress = window.training_view.progress  # how much of the planned run trained, not a full bar
    trained = window.workspace.record.epochs_trained
    assert progress.format() == f"stopped after {shown_epochs(trained)} of 200 epochs"
    assert progress.value() == round(1000 * trained / 200) < progress.maximum()
    assert window.train_button.isEnabled()


def test_stop_shows_the_test_evaluation_and_a_second_stop_skips_it(qtbot, make_window, monkeypatch) -> None:
    window = make_window()
    set_options(window, epochs=200)
    evaluating: list[tuple[int, int]] = []
    shown_at_test: list[tuple[str, str]] = []  # the view's status line and the status bar as the test begins

    def on_evaluating(done: int, total: int) -> None:
        evaluating.append((done, total))
        if done == 0:
            shown_at_test.append((window.training_view.status.text(), window.statusBar().currentMessage()))

    window.trainer.evaluating.connect(on_evaluating)  # after the window's own slots
    window.train_button.click()
    qtbot.waitUntil(lambda: bool(window.training_view.batch_x), timeout=WAIT_MS)
    with qtbot.waitSignal(window.training_finished, timeout=WAIT_MS):
        window.stop_button.click()
    record = window.workspace.record
    test_images = len(window.workspace.datasets.get("digits").x_test)
    assert evaluating and evaluating[-1] == (test_images, test_images)
    # no stale "Stopping after this batch…" or "epoch time left" while the test runs
    assert shown_at_test == [(f"Training ended; testing the model on {test_images:,} test images…",
                              "Evaluating on the test set… (Stop skips it)")]
    assert record.evaluated and record.test_accuracy is not None
    assert record.epoch_ends[-1] == record.epochs_trained < 200  # a stopped epoch counts by its batches

    monkeypatch.setattr(QMessageBox, "question", lambda *_a, **_k: QMessageBox.Discard)  # "Unsaved model"
    window.train_button.click()
    qtbot.waitUntil(lambda: bool(window.training_view.batch_x), timeout=WAIT_MS)
    with qtbot.waitSignal(window.training_finished, timeout=WAIT_MS):
        window.stop_button.click()
        window.stop_button.click()  # before the test evaluation begins: it is skipped
    record = window.workspace.record
    assert not record.evaluated and record.test_accuracy is None
    assert "not evaluated" in window.training_view.status.text() and window.train_button.isEnabled()


def test_mnist_is_the_default_and_an_impossible_download_falls_back_to_digits(qtbot, make_window) -> None:
    """The tests have no network and an empty Keras cache: the first Train tries MNIST and says why it cannot."""
    from cnnstudio.core.config import Experiment, TrainOptions

    window = make_window()
    assert window.panel.dataset_name() == "mnist"
    downloads = []
    window.trainer.downloading.connect(lambda *args: downloads.append(args))
    window.panel.set_experiment(Experiment(train=TrainOptions(epochs=1), dataset=window.panel.dataset_name()))
    train_and_wait(qtbot, window)
    box = window.last_message
    assert box is not None and box.windowTitle() == "MNIST could not be downloaded"
    assert box.text().startswith("Training on the built-in 'digits' set instead") and "IDX files" in box.text()
    # the reason, with its cache path and alternatives, is one click away, not a wall of text
    assert "could not download mnist: the network could not be reached" in box.detailedText()
    assert "could not download" not in box.text() and len(box.text()) < 300
    assert window.workspace.record.experiment.dataset == "digits" and window.panel.dataset_name() == "digits"
    assert window.workspace.record.epochs_trained == 1 and "test accuracy" in window.training_view.status.text()
    assert downloads == []  # nothing was received
    box.close()


def test_worker_exception_reaches_the_user_and_reenables_the_ui(qtbot, make_window, monkeypatch) -> None:
    import cnnstudio.core.experiments.runner

    def explode(*_args, **_kwargs):
        raise RuntimeError("simulated failure inside training")

    monkeypatch.setattr(cnnstudio.core.experiments.runner, "run_experiment", explode)
    window = make_window()
    set_options(window)
    train_and_wait(qtbot, window)
    box = window.last_message
    assert box is not None and "simulated failure inside training" in box.text()
    assert "Traceback" in box.detailedText()  # details one click away
    assert window.train_button.isEnabled() and window.panel.isEnabled() and not window.stop_button.isEnabled()
    box.close()


def test_save_and_open_through_the_menu_round_trip(qtbot, make_window, monkeypatch, tmp_path, settings) -> None:
    window = make_window()
    set_options(window, epochs=1, pooling="min", padding="same", activation="tanh")
    train_and_wait(qtbot, window)
    history = window.workspace.record.history
    path = str(tmp_path / "run.keras")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (path, MainWindow.__name__))
    with qtbot.waitSignal(window.busy_changed, timeout=WAIT_MS, check_params_cb=lambda busy: not busy):
        window.files.save_as_action.trigger()
    assert not window.workspace.unsaved and window.workspace.path == path and path in settings.recent_models()
    assert window.windowTitle().startswith("run.keras —")

    window.files.new_action.trigger()
    assert window.workspace.model is None and window.training_view.epochs_shown() == 0
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (path, ""))
    with qtbot.waitSignal(window.model_opened, timeout=WAIT_MS):
        window.files.open_action.trigger()
    experiment = window.panel.experiment()
    assert (experiment.model.pooling, experiment.model.padding, experiment.model.activation) == ("min", "same", "tanh")
    assert window.training_view.epoch_history == history
    assert window.architecture_view.shapes()["c1"] == "32 × 32 × 6"
    assert window.windowTitle().startswith("run.keras")


def test_corrupt_model_file_gives_a_one_line_error(qtbot, make_window, tmp_path) -> None:
    bad = tmp_path / "bad.keras"
    bad.write_text("not a model")
    window = make_window()
    with qtbot.waitSignal(window.busy_changed, timeout=WAIT_MS, check_params_cb=lambda busy: not busy):
        window.files.open_model_path(str(bad))
    assert "not a Keras model file" in window.last_message.text() and "\n" not in window.last_message.text()
    assert window.files.open_action.isEnabled() and window.train_button.isEnabled()
    window.last_message.close()


def _answer(monkeypatch, answers: dict[str, object], asked: list[str]) -> None:
    """Answer QMessageBox.question by its title, recording what was asked."""

    def question(_parent, title, *_args, **_kwargs):
        asked.append(title)
        return answers[title]

    monkeypatch.setattr(QMessageBox, "question", question)


def test_unsaved_model_is_asked_about_before_new(qtbot, make_window, monkeypatch) -> None:
    """A trained model is kept by its run in the run history; once that run is deleted, it exists only in the
    window, and New asks first."""
    window = make_window()
    set_options(window, pooling="min", padding="same")
    train_and_wait(qtbot, window)
    assert not window.workspace.needs_saving and window.workspace.run_id is not None
    offered = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda _p, _t, start, *_a: offered.append(start) or ("", ""))
    window.files.save_action.trigger()  # it has no file of its own: Save asks where, suggesting what it is
    assert [Path(path).name for path in offered] == ["lenet5-min-same.keras"]

    runs = window.runs_view
    window.tabs.setCurrentWidget(runs)
    qtbot.waitUntil(lambda: runs.proxy.rowCount() == 1 and not runs.refreshing, timeout=WAIT_MS)
    assert runs.count.text() == "1 run"
    runs.table.selectRow(0)
    with qtbot.waitSignal(window.model_opened, timeout=WAIT_MS):  # reopened from the Runs tab: still no file
        runs.open_button.click()
    assert window.workspace.path is None and window.workspace.run_id == runs.selected()[0].id
    assert window.settings.recent_models() == []  # Recent Models never lists a copy that Delete removes
    window.files.save_action.trigger()
    assert len(offered) == 2 and "runs" not in Path(offered[1]).parts  # asked again; never into the history
    monkeypatch.setattr(runs, "confirm", lambda question: "its model copy kept only in the run history" in question)
    with qtbot.waitSignal(runs.deleted, timeout=WAIT_MS):
        runs.delete_button.click()
    assert window.statusBar().currentMessage() == "Deleted 1 run from the run history"
    assert window.workspace.needs_saving and window.windowTitle().startswith("untitled model *")
    asked: list[str] = []
    _answer(monkeypatch, {"Unsaved model": QMessageBox.Cancel}, asked)
    window.files.new_action.trigger()
    assert asked == ["Unsaved model"] and window.workspace.model is not None  # cancelled: nothing lost
    _answer(monkeypatch, {"Unsaved model": QMessageBox.Discard}, asked)
    window.files.new_action.trigger()
    assert window.workspace.model is None and window.windowTitle().startswith("new experiment —")


def test_closing_during_training_stops_the_worker(qtbot, make_window, monkeypatch) -> None:
    window = make_window()
    set_options(window, epochs=200)
    window.train_button.click()
    qtbot.waitUntil(lambda: bool(window.training_view.batch_x), timeout=WAIT_MS)
    asked: list[str] = []
    _answer(monkeypatch, {"Training is running": QMessageBox.Yes, "Unsaved model": QMessageBox.Discard}, asked)
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert not window.training and running_threads() == []
    assert asked == ["Training is running"]  # the stopped run's model is kept in the run history


def test_yes_to_quitting_after_the_run_ended_meanwhile_closes_now(qtbot, make_window, monkeypatch) -> None:
    """The question stays open while the run ends: Yes then closes at once, not after some later run."""
    window = make_window()
    set_options(window, epochs=1)
    window.train_button.click()
    qtbot.waitUntil(lambda: bool(window.training_view.batch_x), timeout=WAIT_MS)
    asked: list[str] = []

    def question(_parent, title, *_args, **_kwargs):
        asked.append(title)
        if title == "Training is running":  # the user reads the question while the run finishes
            qtbot.waitUntil(lambda: not window.training, timeout=WAIT_MS)
            return QMessageBox.Yes
        return QMessageBox.Discard

    monkeypatch.setattr(QMessageBox, "question", question)
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert asked == ["Training is running"] and not window._close_when_idle  # the run history keeps its model


def test_tensorflow_import_failure_is_explained(qtbot, make_window, monkeypatch) -> None:
    def broken(_task):
        raise ImportError("DLL load failed while importing _pywrap_tensorflow_internal")

    monkeypatch.setattr(main_window_module, "load_backend", broken)
    window = make_window(wait_for_backend=False)
    qtbot.waitUntil(lambda: window.last_message is not None, timeout=WAIT_MS)
    assert "DLL load failed" in window.last_message.text() and "reinstall" in window.last_message.text()
    assert window.device_label.text() == "TensorFlow unavailable" and not window.train_button.isEnabled()
    window.last_message.close()


def test_settings_remember_options(qtbot, make_window, settings) -> None:
    window = make_window()
    set_options(window, pooling="avg", padding="3")
    window.close()
    again = make_window(settings=settings)
    experiment = again.panel.experiment()
    assert experiment.model.pooling == "avg" and experiment.model.padding == "3"


def test_restored_window_fits_the_screen_and_long_errors_wrap(qtbot, make_window, settings) -> None:
    window = make_window(wait_for_backend=False)
    screen = window.screen().availableGeometry()
    window.resize(screen.width() * 3, screen.height())  # e.g. widened by an earlier bug, then saved
    window.move(screen.right() + 500, 0)
    window.close()
    again = make_window(settings=settings, wait_for_backend=False)
    assert again.width() <= screen.width() and again.height() <= screen.height()
    assert screen.contains(again.geometry().topLeft())
    again.training_view.show_failure("could not download mnist: " + "a very long reason " * 60)
    assert again.training_view.status.wordWrap() and again.minimumSizeHint().width() <= screen.width()


def test_export_history_and_plots(qtbot, make_window, monkeypatch, tmp_path) -> None:
    window = make_window()
    set_options(window, epochs=2)
    train_and_wait(qtbot, window)
    target = {"path": ""}
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (target["path"], ""))
    target["path"] = str(tmp_path / "history.csv")
    window.files.export_history_action.trigger()
    rows = list(csv.DictReader(open(target["path"], encoding="utf-8")))
    assert [row["epoch"] for row in rows] == ["1", "2"] and "val_accuracy" in rows[0]
    for suffix, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml")):
        target["path"] = str(tmp_path / f"curves{suffix}")
        window.files.export_plots_action.trigger()
        assert open(target["path"], "rb").read(5).startswith(magic)


def test_about_names_versions(make_window, monkeypatch) -> None:
    window = make_window()
    shown = []
    monkeypatch.setattr(QMessageBox, "about", lambda _parent, _title, text: shown.append(text))
    window.show_about()
    assert "TensorFlow" in shown[0] and "Keras" in shown[0] and ("CPU" in shown[0] or "GPU" in shown[0])
    assert "cnnstudio.log" in shown[0]


def test_open_dataset_from_disk_sets_the_input_shape(qtbot, make_window, monkeypatch, tmp_path) -> None:
    import numpy as np

    path = tmp_path / "tiny.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 255, (30, 20, 20, 3), dtype=np.uint8), y_train=np.arange(30) % 3,
             x_test=rng.integers(0, 255, (6, 20, 20, 3), dtype=np.uint8), y_test=np.arange(6) % 3)
    window = make_window()
    set_options(window, arch="vgg_small", padding="same")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    window.panel.choose_dataset_file()
    qtbot.waitUntil(lambda: window.architecture_view.shapes().get("input") == "20 × 20 × 3", timeout=WAIT_MS)
    assert window.architecture_view.shapes()["output"] == "3" and window.train_button.isEnabled()

    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"junk")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(broken), ""))
    window.panel.choose_dataset_file()
    qtbot.waitUntil(lambda: window.last_message is not None, timeout=WAIT_MS)
    assert "not a readable .npz" in window.last_message.text() and not window.train_button.isEnabled()
    window.last_message.close()


def _choose_study(window: MainWindow, poolings: set[str], paddings: set[str]) -> None:
    for name, box in window.study_view.pooling.items():
        box.setChecked(name in poolings)
    for name, box in window.study_view.padding.items():
        box.setChecked(name in paddings)


def test_study_through_clicks_then_runs_view_and_report(qtbot, make_window, monkeypatch, tmp_path) -> None:
    window = make_window()
    set_options(window, epochs=1)
    _choose_study(window, {"max", "min"}, {"valid", "same"})
    assert window.study_view.count.text() == "4 runs × 1 epoch" and window.study_view.run_button.isEnabled()
    train_and_wait(qtbot, window, window.study_view.run_button)
    study = window.study_view
    labels = [study.table.item(i, 0).text() for i in range(study.table.rowCount())]
    assert labels == ["pooling=max, padding=valid", "pooling=max, padding=same", "pooling=min, padding=valid",
                      "pooling=min, padding=same"]
    assert study.best_cells()["Parameters"] in ("pooling=max, padding=valid", "pooling=min, padding=valid")
    assert study.plot.labels == labels and "Study finished: 4 runs" in study.status.text()
    assert window.training_view.progress.format() == "Study finished: 4 runs"  # not a stale run's progress

    runs = window.runs_view
    assert runs.proxy.rowCount() == 4
    runs.filter.setText("min same")
    assert [entry.experiment["model"]["pooling"] for entry in runs.shown()] == ["min"] and runs.proxy.rowCount() == 1
    assert runs.shown()[0].experiment["model"]["padding"] == "same"
    runs.filter.clear()
    runs.table.selectAll()
    assert sorted(runs.plot.labels) == sorted(labels)  # legend names what differs

    report = tmp_path / "study.md"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(report), ""))
    study.report_button.click()
    assert "pooling=min, padding=same" in report.read_text() and (tmp_path / "study-curves.png").exists()

    runs.table.clearSelection()
    runs.table.selectRow(0)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    runs.export_button.click()
    assert len(list(tmp_path.glob("run-*.py"))) == 1 and len(list(tmp_path.glob("run-*.json"))) == 1
    with qtbot.waitSignal(window.model_opened, timeout=WAIT_MS):
        runs.open_button.click()
    assert window.workspace.record is not None and window.workspace.record.epochs_trained == 1


def test_stopping_a_study_keeps_the_finished_runs(qtbot, make_window) -> None:
    window = make_window()
    set_options(window, epochs=100)
    _choose_study(window, {"max", "avg", "min"}, {"valid"})
    window.study_view.status.setText("Study finished: 2 runs")  # the last study's
    window.study_view.run_button.click()
    assert window.study_view.status.text() == "Running 3 runs…"  # not the last study's line
    assert window.training_view.progress.format() == "Study: 3 runs…"
    qtbot.waitUntil(lambda: bool(window.training_view.batch_x), timeout=WAIT_MS)
    with qtbot.waitSignal(window.training_finished, timeout=WAIT_MS):
        window.study_view.stop_button.click()
    assert "Study stopped: 1 of 3 runs recorded" in window.study_view.status.text()
    assert window.runs_view.proxy.rowCount() == 1
    label = window.study_view.table.item(0, 0)
    assert label.text().endswith(" (stopped)") and "not compared" in label.toolTip()


def test_runs_view_skips_damaged_entries(make_window, qtbot) -> None:
    window = make_window()
    window.history.folder.mkdir(parents=True, exist_ok=True)
    (window.history.folder / "damaged.json").write_text("{")
    with qtbot.waitSignal(window.runs_view.refreshed):
        window.runs_view.refresh()
    assert "skipped damaged.json" in window.runs_view.warnings.text() and window.runs_view.proxy.rowCount() == 0


def test_the_keyboard_trains_and_stops_a_run(qtbot, make_window) -> None:
    """Ctrl+Enter trains; focus moves to Stop, and Esc stops the run (the Run menu holds the three)."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    window = make_window()
    set_options(window, epochs=200)
    window.activateWindow()
    window.train_button.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.train_button, timeout=WAIT_MS)
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Run")
    assert [a.text() for a in menu.actions()] == ["&Train", "&Stop", "&Continue"]
    assert not window.run_actions_menu["stop"].isEnabled()
    QTest.keyClick(window, Qt.Key_Return, Qt.ControlModifier)
    qtbot.waitUntil(lambda: bool(window.training_view.batch_x), timeout=WAIT_MS)
    assert window.training and QApplication.focusWidget() is window.stop_button
    assert not window.run_actions_menu["train"].isEnabled() and window.run_actions_menu["stop"].isEnabled()
    assert window.train_button.toolTip() == "Train is unavailable: a run is in progress."
    with qtbot.waitSignal(window.training_finished, timeout=WAIT_MS):
        QTest.keyClick(window, Qt.Key_Escape)
    assert window.workspace.record is not None and window.workspace.record.epochs_trained < 200

"""The window attacked through its files and disturbed during its work: it says so and stays usable.

Opened files whose records break a view, models that are no image classifiers, records naming a
dataset path or millions of classes; Stop, Train and Close at awkward moments; failing saves;
and crash recovery of a run whose process was killed.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from archive_helpers import write_zip, zip_members  # noqa: E402
from gui_helpers import WAIT_MS, set_options, train_and_wait  # noqa: E402
from PySide6.QtWidgets import QFileDialog, QMessageBox  # noqa: E402

from cnnstudio.core.workspace import Recovery  # noqa: E402
from cnnstudio.ui.app_state import Activity  # noqa: E402
from cnnstudio.ui.background import running_threads  # noqa: E402
from cnnstudio.ui.class_labels import MAX_CLASS_ROWS, MAX_LISTED, TOP_CLASSES, display_name  # noqa: E402


# helpers -----------------------------------------------------------------------------------
def _model_file(path: Path, digits, *, dataset: str = "digits", epochs: int = 0, **record_changes) -> Path:
    """An untrained LeNet-5 for digits saved the way CNN Studio saves, its record changed as asked."""
    from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
    from cnnstudio.core.files.model_record import ModelRecord
    from cnnstudio.core.files.persistence import save_model
    from cnnstudio.core.training.trainer import new_model

    experiment = Experiment(ModelOptions(), TrainOptions(epochs=1, batch_size=64), dataset)
    model = new_model(experiment, digits)
    history = {"loss": [1.0] * epochs, "accuracy": [0.5] * epochs}
    record = ModelRecord(experiment, list(digits.class_names), digits.input_shape, True, history,
                         [1.0] * epochs)
    save_model(model, path, record)
    if record_changes:
        _change_record(path, record_changes)
    return path


def _change_record(path: Path, changes: dict) -> None:
    """Rewrite the file's cnnstudio.json with ``changes`` applied (as a hand-edited file would be)."""
    members = zip_members(path)
    data = json.loads(members["cnnstudio.json"])
    data.update(changes)
    members["cnnstudio.json"] = json.dumps(data).encode()
    write_zip(path, members)


def _open(qtbot, window, path: Path) -> None:
    with qtbot.waitSignal(window.busy_changed, timeout=WAIT_MS, check_params_cb=lambda busy: not busy):
        window.files.open_model_path(str(path))


def _assert_usable_without_model(window) -> None:
    assert window.state.activity is Activity.IDLE and window.workspace.model is None
    assert window.train_button.isEnabled() and window.files.open_action.isEnabled()
    assert window.files.new_action.isEnabled()
    assert not window.continue_button.isEnabled() and not window.files.save_action.isEnabled()


def _one_line_message(window, *parts: str) -> None:
    box = window.last_message
    assert box is not None and box.isVisible()
    assert "\n" not in box.text(), box.text()
    for part in parts:
        assert part in box.text(), box.text()
    box.close()


def _answer(monkeypatch, answers: dict[str, object], asked: list[tuple[str, str]]) -> None:
    """Answer QMessageBox.question by its title, recording (title, text)."""

    def question(_parent, title, text, *_args, **_kwargs):
        asked.append((title, text))
        return answers[title]

    monkeypatch.setattr(QMessageBox, "question", question)


def _record_reads(monkeypatch, window, reads: list[str]) -> None:
    """Note every dataset the window's cache is asked to read."""
    real_get = window.workspace.datasets.get

    def get(name, *args, **kwargs):
        reads.append(name)
        return real_get(name, *args, **kwargs)

    monkeypatch.setattr(window.workspace.datasets, "get", get)


def _dead_pid() -> int:
    """The id of a process that has ended (as a killed CNN Studio's would be)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# 1. a model that breaks the views while it is shown ----------------------------------------
def test_a_view_failing_on_an_opened_model_ends_in_a_message_and_a_usable_window(
        qtbot, make_window, digits, tmp_path, monkeypatch) -> None:
    path = _model_file(tmp_path / "fine.keras", digits)
    window = make_window()

    def broken(_record):
        raise ValueError("Unknown format code 'f' for object of type 'str'")

    monkeypatch.setattr(window.training_view, "show_record", broken)
    _open(qtbot, window, path)
    _one_line_message(window, "fine.keras could not be shown", "Unknown format code")
    assert window.last_message.windowTitle() == "Could not open the model"
    _assert_usable_without_model(window)
    window.close()
    assert not window.isVisible()  # closing is not refused


def test_a_record_holding_a_string_accuracy_is_a_message_not_a_frozen_window(qtbot, make_window, digits,
                                                                              tmp_path) -> None:
    path = _model_file(tmp_path / "edited.keras", digits, epochs=2, test_accuracy="0.99", test_loss="low")
    window = make_window()
    _open(qtbot, window, path)
    if window.workspace.model is None:  # refused, by the loader or by a view: one line says so
        _one_line_message(window, "edited.keras")
        _assert_usable_without_model(window)
    else:  # or shown without the bad figures
        assert window.state.activity is Activity.IDLE and window.continue_button.isEnabled()
    window.files.new_action.trigger()
    window.close()
    assert not window.isVisible()


def test_any_exception_of_the_loader_is_a_message(qtbot, make_window, tmp_path, monkeypatch) -> None:
    import cnnstudio.core.files.persistence as persistence

    def explode(_path):
        raise RuntimeError("simulated crash inside the loader")

    monkeypatch.setattr(persistence, "load_model", explode)
    window = make_window()
    _open(qtbot, window, tmp_path / "any.keras")
    _one_line_message(window, "simulated crash inside the loader")
    _assert_usable_without_model(window)


# 2. records and datasets with too many or hostile class names -----------------------------------
def test_class_names_are_elided_and_escaped() -> None:
    assert display_name("cat") == "cat"
    shown = display_name("a\nb\x1b[31m\u202e")
    assert shown.startswith("a\\") and "\\x1b[31m" in shown and shown.isprintable()
    long = display_name("x" * 5000)
    assert len(long) == 32 and long.endswith("…")
    assert len(display_name("\x00" * 1000)) == 32


def _keras_classifier(classes: int):
    import keras

    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(classes, activation="softmax")])


def test_sketch_pad_shows_at_most_the_top_classes(qtbot, make_window) -> None:
    window = make_window()
    pad = window.sketch_view
    many = [f"<b>class</b> {i}\n{'long' * 20}" for i in range(50)]
    pad.set_model(_keras_classifier(50), many, "mnist")
    assert pad.ranked and len(pad.bar_widgets) == TOP_CLASSES and not pad.bars_note.isHidden()
    pad.canvas.set_image(np.pad(np.full((14, 4), 0.0), 7, constant_values=255.0))
    qtbot.waitUntil(lambda: pad.processed is not None, timeout=WAIT_MS)
    shown = [label.text() for label in pad.bar_labels]
    assert all(shown) and all(len(text) <= 32 and "\n" not in text for text in shown)
    assert pad.top.text().startswith("<b>class</b>")  # plain text: the tags are shown, not obeyed

    pad.set_model(_keras_classifier(10), [str(i) for i in range(2_000_000)], "mnist")  # names that do not fit
    assert len(pad.bar_widgets) == 10 and [label.text() for label in pad.bar_labels] == [str(i) for i in range(10)]
    assert not pad.ranked and len(pad.bar_widgets) <= MAX_CLASS_ROWS


def test_a_record_listing_two_million_classes_cannot_crash_the_window(qtbot, make_window, digits,
                                                                      tmp_path) -> None:
    path = _model_file(tmp_path / "huge.keras", digits, class_names=[f"c{i}" for i in range(2_000_000)])
    window = make_window()
    _open(qtbot, window, path)
    if window.workspace.model is None:
        _one_line_message(window, "huge.keras")
        _assert_usable_without_model(window)
    else:
        assert len(window.sketch_view.bar_widgets) <= MAX_CLASS_ROWS
        assert window.state.activity is Activity.IDLE


def test_evaluation_and_feature_maps_bound_their_class_lists(make_window) -> None:
    from cnnstudio.core.inspection import Evaluation

    window = make_window()
    rng = np.random.default_rng(0)
    classes = MAX_LISTED + 500
    names = [f"$\\frac{{{i}" for i in range(classes)]  # broken mathtext, were it read as such
    probabilities = rng.random((300, classes)).astype(np.float32)
    evaluation = Evaluation(probabilities, rng.integers(0, classes, 300), 1.0, 0.1)
    view = window.evaluation_view
    view.show_evaluation(evaluation, np.zeros((300, 28, 28, 1), np.float32), names)
    assert view.per_class.rowCount() == MAX_LISTED and not view.axes.texts
    view.canvas.draw()  # no mathtext error, no million cell labels

    small = Evaluation(rng.random((40, 12)).astype(np.float32), rng.integers(0, 12, 40), 1.0, 0.1)
    view.show_evaluation(small, np.zeros((40, 28, 28, 1), np.float32), [f"$x_{i}$ \x07" for i in range(12)])
    view.canvas.draw()
    assert view.per_class.item(0, 0).text() == "$x_0$ \\x07"
    view.show_cell(0, 0)

    window.feature_view.set_test_images(np.zeros((5, 28, 28, 1), np.float32), np.arange(5) % 3, names)
    assert window.feature_view.class_filter.count() == MAX_LISTED + 1  # "any class" and the first classes


def test_a_confusion_cell_says_how_many_images_it_holds_in_words_that_fit(make_window) -> None:
    from cnnstudio.core.inspection import Evaluation

    view = make_window().evaluation_view
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]], np.float32)  # predicted 0, 1, 1
    view.show_evaluation(Evaluation(probabilities, np.array([0, 1, 1]), 1.0, 0.1), np.zeros((3, 28, 28, 1)), ["a", "b"])
    for (true, predicted), said in [((0, 1), "none of the test images"), ((0, 0), "1 image (click it for"),
                                    ((1, 1), "2 images (most confident first; click one for")]:
        view.show_cell(true, predicted)
        assert view.gallery_title.text().startswith(
            f"true {'ab'[true]}, predicted {'ab'[predicted]}: {said}"), view.gallery_title.text()


# 3. valid Keras models that are not image classifiers ------------------------------------------
def _not_classifiers() -> dict:
    import keras

    def one_d():
        return keras.Sequential([keras.Input((20,)), keras.layers.Dense(3, activation="softmax")])

    def two_inputs():
        a, b = keras.Input((28, 28, 1)), keras.Input((28, 28, 1))
        joined = keras.layers.Concatenate()([keras.layers.Flatten()(a), keras.layers.Flatten()(b)])
        return keras.Model([a, b], keras.layers.Dense(10, activation="softmax")(joined))

    def sigmoid():
        return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(),
                                 keras.layers.Dense(1, activation="sigmoid")])

    def dynamic():
        return keras.Sequential([keras.Input((None, None, 1)), keras.layers.Conv2D(4, 3),
                                 keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])

    return {"one_d": one_d, "two_inputs": two_inputs, "sigmoid": sigmoid, "dynamic": dynamic}


@pytest.mark.parametrize("kind", ["one_d", "two_inputs", "sigmoid", "dynamic"])
def test_a_model_that_is_no_image_classifier_is_refused_with_a_message(qtbot, make_window, tmp_path, kind) -> None:
    path = tmp_path / f"{kind}.keras"
    _not_classifiers()[kind]().save(path)
    window = make_window()
    _open(qtbot, window, path)
    _one_line_message(window)
    _assert_usable_without_model(window)
    assert not window.evaluation_view.run_button.isEnabled() and not window.sketch_view.maps_button.isEnabled()


# 4. a record naming a dataset path ------------------------------------------------------------
def test_a_dataset_path_named_by_a_model_file_is_read_only_when_the_user_agrees(
        qtbot, make_window, digits, tmp_path, monkeypatch, settings) -> None:
    folder = tmp_path / "their data"
    folder.mkdir()
    path = _model_file(tmp_path / "theirs.keras", digits, dataset=str(folder))
    window = make_window()
    reads: list[str] = []
    _record_reads(monkeypatch, window, reads)
    with qtbot.waitSignal(window.model_opened, timeout=WAIT_MS):
        window.files.open_model_path(str(path))
    qtbot.waitUntil(lambda: running_threads() == [], timeout=WAIT_MS)
    assert window.panel.dataset_name() == str(folder) and str(folder) not in reads
    feature_view = window.feature_view
    assert "Read Test Images…, or Evaluate" in feature_view.message.text()
    assert feature_view.read_button.isVisibleTo(feature_view)  # the way to agree, where the images are missed

    asked: list[tuple[str, str]] = []
    _answer(monkeypatch, {"Read the model's dataset?": QMessageBox.No}, asked)
    feature_view.read_button.click()
    assert feature_view.read_button.isVisibleTo(feature_view)  # declined: the way to agree stays
    window.evaluation_view.run_button.click()
    window.continue_button.click()
    window.train_button.click()
    assert [title for title, _ in asked] == ["Read the model's dataset?"] * 4
    assert str(folder) in asked[0][1] and "Read that folder?" in asked[0][1]
    assert not window.training and window.state.activity is Activity.IDLE
    qtbot.waitUntil(lambda: running_threads() == [], timeout=WAIT_MS)
    assert str(folder) not in reads and "not evaluated" in window.evaluation_view.summary.text()

    window.close()  # the next start must not read it either
    assert settings.experiment().dataset != str(folder)

    window = make_window()
    _record_reads(monkeypatch, window, reads)
    with qtbot.waitSignal(window.model_opened, timeout=WAIT_MS):
        window.files.open_model_path(str(path))
    _answer(monkeypatch, {"Read the model's dataset?": QMessageBox.Yes}, asked)
    feature_view = window.feature_view
    feature_view.read_button.click()  # asked, agreed, read: the empty folder is no dataset
    qtbot.waitUntil(lambda: str(folder) in reads and running_threads() == [], timeout=WAIT_MS)
    assert "could not be read" in feature_view.message.text() and not feature_view.read_button.isVisibleTo(feature_view)
    with qtbot.waitSignal(window.busy_changed, timeout=WAIT_MS, check_params_cb=lambda busy: not busy):
        window.evaluation_view.run_button.click()
    _one_line_message(window)
    window.evaluation_view.run_button.click()
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT_MS)
    assert len(asked) == 5  # agreed once: not asked again
    window.last_message.close()


# 5. faults during work ---------------------------------------------------------------------------
def test_stop_before_the_first_batch(qtbot, make_window, monkeypatch) -> None:
    window = make_window()
    set_options(window, epochs=5)
    gate = threading.Event()
    real_get = window.workspace.datasets.get
    monkeypatch.setattr(window.workspace.datasets, "get", lambda *a, **k: (gate.wait(WAIT_MS), real_get(*a, **k))[1])
    window.train_button.click()
    assert window.training and window.stop_button.isEnabled()
    for _ in range(3):
        window.stop_button.click()
    with qtbot.waitSignal(window.training_finished, timeout=WAIT_MS):
        gate.set()
    assert window.state.activity is Activity.IDLE and window.train_button.isEnabled()
    assert window.workspace.record is not None and window.workspace.record.epochs_trained < 1
    assert not list(Recovery().folder.glob("run-*"))


def test_stop_during_the_test_evaluation_after_the_last_epoch(qtbot, make_window, monkeypatch) -> None:
    import cnnstudio.core.experiments.runner as runner

    window = make_window()
    set_options(window, epochs=1)
    evaluating, gate, real_evaluate = threading.Event(), threading.Event(), runner.evaluate

    def held_evaluate(*args, **kwargs):
        evaluating.set()
        gate.wait(WAIT_MS)
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(runner, "evaluate", held_evaluate)
    window.train_button.click()
    qtbot.waitUntil(evaluating.is_set, timeout=WAIT_MS)
    window.stop_button.click()
    window.stop_button.click()  # the second press skips the test
    with qtbot.waitSignal(window.training_finished, timeout=WAIT_MS):
        gate.set()
    record = window.workspace.record
    assert record.epochs_trained == 1 and not record.evaluated
    assert window.train_button.isEnabled() and window.state.activity is Activity.IDLE


def test_stop_during_the_checkpoint_save_keeps_a_whole_model(qtbot, make_window, monkeypatch) -> None:
    import cnnstudio.core.experiments.runner as runner

    window = make_window()
    set_options(window, epochs=3)
    saving, gate, real_save = threading.Event(), threading.Event(), runner.save_model

    def held_save(*args, **kwargs):
        saving.set()
        gate.wait(WAIT_MS)
        return real_save(*args, **kwargs)

    monkeypatch.setattr(runner, "save_model", held_save)
    window.train_button.click()
    qtbot.waitUntil(saving.is_set, timeout=WAIT_MS)
    markers = list(Recovery().folder.glob("run-*.json"))
    assert len(markers) == 1 and json.loads(markers[0].read_text())["pid"] > 0  # a killed run would leave it
    for _ in range(5):
        window.stop_button.click()
    with qtbot.waitSignal(window.training_finished, timeout=WAIT_MS):
        gate.set()
    record = window.workspace.record
    assert 1 <= record.epochs_trained < 2 and window.train_button.isEnabled()
    assert not list(Recovery().folder.glob("*"))  # marker and checkpoint gone: the run ended normally
    entries, _ = window.history.entries()
    assert Path(entries[-1].model_path).is_file()  # the final checkpoint is the run history's copy


def test_a_second_train_while_one_runs_is_ignored(qtbot, make_window, monkeypatch) -> None:
    window = make_window()
    set_options(window, epochs=200)
    window.train_button.click()
    qtbot.waitUntil(lambda: bool(window.training_view.batch_x), timeout=WAIT_MS)
    flag = window.trainer.stop_flag
    window.run_actions.train()
    window.run_actions.continue_training()
    window.run_actions.start_study([window.panel.experiment()])
    window.train_button.click()
    assert window.trainer.stop_flag is flag and len(running_threads()) == 1
    with qtbot.waitSignal(window.training_finished, timeout=WAIT_MS):
        window.stop_button.click()
    assert window.train_button.isEnabled()


def test_an_exception_inside_training_after_an_epoch_is_one_line(qtbot, make_window, monkeypatch) -> None:
    import cnnstudio.core.experiments.runner as runner

    def broken_save(*_args, **_kwargs):
        raise RuntimeError("simulated failure after the first epoch")

    monkeypatch.setattr(runner, "save_model", broken_save)
    window = make_window()
    set_options(window, epochs=3)
    train_and_wait(qtbot, window)
    _one_line_message(window, "simulated failure after the first epoch")
    assert window.train_button.isEnabled() and window.panel.isEnabled() and not window.stop_button.isEnabled()
    assert not list(Recovery().folder.glob("*"))


def test_closing_mid_run_stops_it_and_leaves_nothing_to_recover(qtbot, make_window, monkeypatch) -> None:
    window = make_window()
    set_options(window, epochs=200)
    window.train_button.click()
    qtbot.waitUntil(lambda: bool(window.training_view.epoch_history.get("loss")), timeout=WAIT_MS)
    assert len(list(Recovery().folder.glob("run-*.keras"))) == 1  # the first epoch is checkpointed
    asked: list[tuple[str, str]] = []
    _answer(monkeypatch, {"Training is running": QMessageBox.Yes, "Unsaved model": QMessageBox.Discard}, asked)
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert running_threads() == [] and not list(Recovery().folder.glob("*"))


def test_closing_during_a_save_closes_once_it_is_written(qtbot, trained, monkeypatch, tmp_path) -> None:
    import cnnstudio.core.files.persistence as persistence

    window = trained
    path = tmp_path / "kept.keras"
    saving, gate, real_save = threading.Event(), threading.Event(), persistence.save_model

    def held_save(*args, **kwargs):
        saving.set()
        gate.wait(WAIT_MS)
        return real_save(*args, **kwargs)

    monkeypatch.setattr(persistence, "save_model", held_save)
    window.files.save_to(str(path))
    qtbot.waitUntil(saving.is_set, timeout=WAIT_MS)
    window.close()
    assert window.isVisible() and window.busy  # not while the file is half written
    gate.set()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert running_threads() == [] and persistence.load_model(path)[1].epochs_trained == 2


@pytest.mark.parametrize("fault", ["disk full", "read-only folder"])
def test_a_failing_save_keeps_the_old_file_and_says_why(qtbot, trained, monkeypatch, tmp_path, fault) -> None:
    import cnnstudio.core.files.persistence as persistence

    window = trained
    folder = tmp_path / "models"
    folder.mkdir()
    path = folder / "model.keras"
    with qtbot.waitSignal(window.busy_changed, timeout=WAIT_MS, check_params_cb=lambda busy: not busy):
        window.files.save_to(str(path))
    before = path.read_bytes()
    window.workspace.set_model(window.workspace.model, window.workspace.record, path=str(path), unsaved=True)
    if fault == "disk full":
        def full(_fd):
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(persistence.os, "fsync", full)
    else:
        def read_only(*_args, **_kwargs):
            raise PermissionError(errno.EACCES, "Permission denied", str(folder))
        monkeypatch.setattr(persistence.tempfile, "mkstemp", read_only)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    with qtbot.waitSignal(window.busy_changed, timeout=WAIT_MS, check_params_cb=lambda busy: not busy):
        window.files.save_action.trigger()
    _one_line_message(window, "No space left on device" if fault == "disk full" else "Permission denied")
    assert path.read_bytes() == before and [p.name for p in folder.iterdir()] == ["model.keras"]
    assert window.workspace.unsaved and window.files.save_action.isEnabled() and window.state.activity is Activity.IDLE


# 6. crash recovery -----------------------------------------------------------------------------------
def _killed_run(digits, epochs: int = 2, damaged: bool = False) -> Recovery:
    """What a killed training run leaves: its marker (naming a dead process) and last checkpoint."""
    recovery = Recovery()
    recovery.folder.mkdir(parents=True)
    stem = f"run-{_dead_pid()}-1"
    checkpoint = recovery.folder / f"{stem}.keras"
    if damaged:
        checkpoint.write_bytes(b"PK\x03\x04 cut off by the kill")
    else:
        _model_file(checkpoint, digits, epochs=epochs)
    (recovery.folder / f"{stem}.json").write_text(json.dumps({"pid": int(stem.split("-")[1]), "epochs": epochs,
                                                              "started": 1.0, "dataset": "digits"}))
    return recovery


def test_after_a_killed_run_the_next_start_offers_its_last_epoch(qtbot, make_window, digits, monkeypatch) -> None:
    recovery = _killed_run(digits, epochs=2)
    asked: list[tuple[str, str]] = []
    _answer(monkeypatch, {"Recover the interrupted run?": QMessageBox.Yes}, asked)
    window = make_window(wait_for_backend=False)
    with qtbot.waitSignal(window.model_opened, timeout=WAIT_MS):
        pass
    assert asked == [("Recover the interrupted run?", "CNN Studio was closed during training. "
                      "Open the model from its last finished epoch (epoch 2)?")]
    workspace = window.workspace
    assert workspace.record.epochs_trained == 2 and workspace.unsaved and workspace.path is None
    assert window.files.save_action.isEnabled() and window.continue_button.isEnabled()
    assert not list(recovery.folder.glob("*"))


def test_declining_recovery_deletes_the_files(qtbot, make_window, digits, monkeypatch) -> None:
    recovery = _killed_run(digits)
    asked: list[tuple[str, str]] = []
    _answer(monkeypatch, {"Recover the interrupted run?": QMessageBox.No}, asked)
    window = make_window()
    assert len(asked) == 1 and window.workspace.model is None and not list(recovery.folder.glob("*"))


def test_a_damaged_recovery_file_is_a_message(qtbot, make_window, digits, monkeypatch) -> None:
    recovery = _killed_run(digits, damaged=True)
    asked: list[tuple[str, str]] = []
    _answer(monkeypatch, {"Recover the interrupted run?": QMessageBox.Yes}, asked)
    window = make_window()
    qtbot.waitUntil(lambda: window.last_message is not None, timeout=WAIT_MS)
    assert window.last_message.windowTitle() == "The interrupted run could not be recovered"
    _one_line_message(window)
    _assert_usable_without_model(window)
    assert not list(recovery.folder.glob("*"))


def test_a_run_of_a_live_process_is_not_offered(make_window, digits) -> None:
    recovery = _killed_run(digits)
    marker = next(recovery.folder.glob("*.json"))
    marker.write_text(json.dumps({"pid": os.getpid(), "epochs": 1}))  # this process: running
    assert recovery.interrupted() is None
    make_window()  # no question (the fixture fails on one)
    assert marker.is_file()


def test_an_unexpected_failure_says_where_its_traceback_is_logged(qtbot, monkeypatch, tmp_path) -> None:
    from PySide6.QtWidgets import QWidget

    from cnnstudio.ui import file_actions

    parent = QWidget()
    qtbot.addWidget(parent)
    monkeypatch.setattr(file_actions, "active_log_file", lambda: tmp_path / "cnnstudio.log")
    unexpected = file_actions.show_message(parent, "Failed", "ValueError: boom", "Traceback …")
    expected = file_actions.show_message(parent, "Failed", "x.keras: damaged model file")
    assert str(tmp_path / "cnnstudio.log") in unexpected.informativeText()
    assert expected.informativeText() == ""  # an expected problem's one line says it all
    unexpected.close()
    expected.close()


def test_an_unreadable_dataset_is_reported_once_not_again_at_every_edit(qtbot, make_window, tmp_path) -> None:
    """Other edits keep the banner without reading the dataset again; choosing it again (mended) reads it."""
    window = make_window(wait_for_backend=False)
    failures: list[str] = []
    window.preview.dataset_failed.connect(lambda reason, _details: failures.append(reason))
    empty = tmp_path / "no images here"
    empty.mkdir()
    window.panel.add_dataset_path(str(empty))
    qtbot.waitUntil(lambda: len(failures) == 1, timeout=WAIT_MS)
    _one_line_message(window, "no images here")
    for epochs in (2, 3, 4):  # each edit refreshes at once; reading again would say "Reading dataset …"
        window.panel.epochs.setValue(epochs)
        assert window.architecture_view.problem.text().startswith("This dataset cannot be used: ")
    assert len(failures) == 1 and not window.preview.config_ok and not window.train_button.isEnabled()
    window.panel.add_dataset_path(str(empty))  # chosen again: read again
    qtbot.waitUntil(lambda: len(failures) == 2, timeout=WAIT_MS)
    _one_line_message(window)


def test_remembered_options_nested_too_deeply_are_forgotten_not_fatal(settings) -> None:
    """A settings store edited by hand (or by another program) cannot stop the window from starting."""
    settings.store.setValue("experiment/last", "[" * 50_000 + "]" * 50_000)
    assert settings.experiment() is None

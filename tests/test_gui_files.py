"""File actions, exports, model comparison and the evaluation cache, through the window's public actions."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")
from gui_helpers import WAIT_MS, train_and_wait  # noqa: E402
from PySide6.QtWidgets import QFileDialog, QMessageBox  # noqa: E402


def _idle_after(qtbot, window, action) -> None:
    with qtbot.waitSignal(window.busy_changed, timeout=WAIT_MS, check_params_cb=lambda busy: not busy):
        action()


def _save(qtbot, window, monkeypatch, path: str) -> None:
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (path, ""))
    _idle_after(qtbot, window, window.files.save_as_action.trigger)


def test_recent_models_menu_lists_saved_models_and_reopens_them(qtbot, trained, monkeypatch, tmp_path) -> None:
    window = trained
    first, second = str(tmp_path / "first.keras"), str(tmp_path / "second.keras")
    _save(qtbot, window, monkeypatch, first)
    _save(qtbot, window, monkeypatch, second)
    window.files.recent_menu.aboutToShow.emit()
    entries = [action.text() for action in window.files.recent_menu.actions()]
    assert entries[:2] == [second, first]  # most recent first

    train_and_wait(qtbot, window, window.continue_button)  # its run in the run history keeps the continued model
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda _p, title, *_a, **_k: asked.append(title) or QMessageBox.Discard)
    with qtbot.waitSignal(window.model_opened, timeout=WAIT_MS):
        window.files.recent_menu.actions()[1].trigger()
    assert asked == []  # nothing would be lost: no question
    assert window.workspace.path == first and window.workspace.record.epochs_trained == 2


def test_saved_model_and_tflite_exports_write_loadable_files(qtbot, trained, monkeypatch, tmp_path) -> None:
    window = trained
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    _idle_after(qtbot, window, window.files.export_saved_model_action.trigger)
    assert (tmp_path / "saved_model" / "saved_model.pb").is_file()

    target = tmp_path / "model.tflite"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    _idle_after(qtbot, window, window.files.export_tflite_action.trigger)
    assert target.stat().st_size > 1000 and target.read_bytes()[4:8] == b"TFL3"
    assert "Exported" in window.statusBar().currentMessage()


def test_compare_with_model_loads_the_second_model_beside_the_first(qtbot, trained, monkeypatch, tmp_path) -> None:
    window = trained
    other = str(tmp_path / "other.keras")
    _save(qtbot, window, monkeypatch, other)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (other, ""))
    window.tabs.setCurrentWidget(window.feature_view)
    assert window.feature_view.compare_button.isEnabled()
    _idle_after(qtbot, window, window.feature_view.compare_button.click)
    assert window.feature_view.compare_model is not None and window.feature_view.compare_name == "other.keras"
    view = window.feature_view
    assert view.compare_button.text() == "Single Model"
    # one button, one width: the controls fit a 1024-px window while comparing (two buttons made every tab scroll)
    assert view.layout().itemAt(0).layout().minimumSize().width() < 600
    view.compare_button.click()
    assert view.compare_model is None and view.compare_button.text() == "Compare With Model…"


def test_evaluation_is_cached_until_the_model_changes(qtbot, trained) -> None:
    window, view = trained, trained.evaluation_view
    busy: list[bool] = []
    window.busy_changed.connect(busy.append)
    _idle_after(qtbot, window, view.run_button.click)
    first = view.evaluation
    assert first is not None and busy == [True, False]
    view.run_button.click()  # the same model: shown from the cache, no work started
    assert busy == [True, False] and view.evaluation is first

    train_and_wait(qtbot, window, window.continue_button)  # the same Keras object, trained further
    assert view.evaluation is None and window.workspace.evaluation("digits") is None
    _idle_after(qtbot, window, view.run_button.click)
    assert view.evaluation is not None and view.evaluation is not first and busy[-2:] == [True, False]

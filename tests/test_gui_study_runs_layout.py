"""The Study and Runs tabs at laptop and desktop sizes: controls beside what they belong to, tables tall enough to
read, one placeholder, the panel's words for the same choices, and a filter hint that is not cut off."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")
from PySide6.QtCore import QPoint  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel, QStyle, QStyleOptionFrame, QWidget  # noqa: E402

from cnnstudio.core.config import ACTIVATIONS, Experiment, TrainOptions  # noqa: E402
from cnnstudio.core.experiments.run_history import RunHistory  # noqa: E402

LAPTOP = (1024, 700)
SMALL_LAPTOP = (1366, 768)
DESKTOP = (1920, 1080)
ROWS = 6  # what a user should see of a table at first, when there are that many runs
LINE_EDIT_MARGIN = 2  # QLineEdit's own margin on each side of its text, inside the style's contents


def _entry(i: int):
    from test_views import fake_entry

    entry = fake_entry(("max", "min", "avg")[i % 3], ("valid", "same")[i % 2], 0.9 + i / 200, 61_706,
                       f"2024-05-01 10:{i:02d}:00", dataset=("digits", "mnist")[i % 2])
    entry.id = f"run{i:02d}"
    return entry


def _settle(window, size: tuple[int, int], tab: QWidget) -> None:
    window.resize(*size)
    window.tabs.setCurrentWidget(tab)
    for _ in range(5):
        QApplication.processEvents()


def _window(make_window, tmp_path, runs: int = 0):
    history = RunHistory(tmp_path / "runs")
    for i in range(runs):
        history.add(_entry(i))
    return make_window(wait_for_backend=False, load_tensorflow=False, history=history)


def _rows_in_view(table) -> int:
    """Whole rows the table's viewport has room for (filled or not)."""
    return table.viewport().height() // table.verticalHeader().defaultSectionSize()


def _left(widget: QWidget, to: QWidget) -> int:
    return widget.mapTo(to, QPoint(0, 0)).x()


def _right(widget: QWidget, to: QWidget) -> int:
    """Where what ``widget`` draws ends: a check box's text, not the grid cell it may be stretched across."""
    return widget.mapTo(to, QPoint(min(widget.width(), widget.sizeHint().width()), 0)).x()


# Study tab ---------------------------------------------------------------------------------------------------------

def test_the_border_width_sits_beside_its_box_and_the_choices_stay_together(make_window, tmp_path) -> None:
    window = _window(make_window, tmp_path)
    study = window.study_view
    _settle(window, DESKTOP, study)
    box, spin = study.padding["explicit"], study.padding_px
    gap = _left(spin, study) - _right(box, study)
    assert 0 <= gap <= spin.height(), f"{gap} px between the box and its border width"
    assert abs(spin.mapTo(study, spin.rect().center()).y() - box.mapTo(study, box.rect().center()).y()) <= 2
    rightmost = max(_right(w, study) for w in (*study.pooling.values(), *study.activation.values(), spin))
    assert rightmost < study.width() // 2, "the columns of choices spread across the whole window"


def test_the_ray_address_field_is_as_wide_as_an_address_not_the_window(make_window, tmp_path) -> None:
    window = _window(make_window, tmp_path)
    study = window.study_view
    _settle(window, DESKTOP, study)
    address = study.address
    assert address.width() >= address.fontMetrics().horizontalAdvance("ray://10.0.0.5:10001")  # still usable
    assert address.width() < study.width() // 3, "the Ray address field stretches across the window"


@pytest.mark.parametrize(("size", "rows"), [(LAPTOP, ROWS - 1), (DESKTOP, ROWS)])
def test_the_study_table_has_room_for_rows_before_a_study(make_window, tmp_path, size, rows) -> None:
    """Before any study the table is several rows tall (at 1024×700 the curves keep more than half the room)."""
    window = _window(make_window, tmp_path)
    study = window.study_view
    _settle(window, size, study)
    assert study.table.rowCount() == 0
    assert _rows_in_view(study.table) >= rows
    assert study.plot.height() > study.table.height(), "the curves keep the larger share"


def _placeholders(study) -> list[str]:
    return [text.get_text() for axes in study.plot.figure.axes for text in axes.texts]


def test_an_empty_study_shows_its_placeholder_once(qtbot) -> None:
    from test_views import STUDY_ENTRIES

    from cnnstudio.ui.study_view import StudyView

    study = StudyView()
    qtbot.addWidget(study)
    empty = study.plot.empty_text
    assert _placeholders(study) == [empty]
    study.entries = list(STUDY_ENTRIES)
    study.show_results()
    assert empty not in _placeholders(study)
    study.study_started(3)  # the last study's results go: the placeholder comes back, once
    assert _placeholders(study) == [empty]


def test_the_study_uses_the_panels_words(qtbot) -> None:
    from cnnstudio.ui.config_panel import ConfigPanel
    from cnnstudio.ui.study_view import StudyView

    study, panel = StudyView(), ConfigPanel()
    qtbot.addWidget(study)
    qtbot.addWidget(panel)
    shown = {panel.activation.itemData(i): panel.activation.itemText(i) for i in range(panel.activation.count())}
    assert {name: box.text() for name, box in study.activation.items()} == shown
    assert tuple(study.activation) == ACTIVATIONS  # the values sent to the core are unchanged
    study.set_base(Experiment(train=TrainOptions(epochs=1)), True)
    for name in ACTIVATIONS:
        study.activation[name].setChecked(True)
    assert {e.model.activation for e in study.experiments()} == set(ACTIVATIONS)
    labels = [label.text() for label in study.findChildren(QLabel)]
    assert "Run the study on" in labels and "Run on" not in labels  # not to be confused with the panel's "Runs on"


# Runs tab ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [LAPTOP, SMALL_LAPTOP])
def test_the_runs_table_has_room_for_six_rows(qtbot, make_window, tmp_path, size) -> None:
    window = _window(make_window, tmp_path, runs=2)
    runs = window.runs_view
    _settle(window, size, runs)
    qtbot.waitUntil(lambda: runs.loaded and not runs.refreshing)
    assert runs.proxy.rowCount() == 2
    assert _rows_in_view(runs.table) >= ROWS, "a few runs leave the table a sliver above the curves"
    for i in range(2, 10):
        runs.history.add(_entry(i))
    runs.refresh()
    qtbot.waitUntil(lambda: not runs.refreshing and runs.proxy.rowCount() == 10)
    assert _rows_in_view(runs.table) >= ROWS
    assert runs.plot.height() >= runs.table.height() // 2, "the curves still have room"


def test_the_runs_filter_hint_shows_whole_at_1024(make_window, tmp_path) -> None:
    window = _window(make_window, tmp_path, runs=1)
    runs = window.runs_view
    _settle(window, LAPTOP, runs)
    line = runs.filter
    hint = line.placeholderText()
    option = QStyleOptionFrame()
    line.initStyleOption(option)
    room = line.style().subElementRect(QStyle.SE_LineEditContents, option, line).width() - 2 * LINE_EDIT_MARGIN
    assert hint and not line.text()
    assert line.fontMetrics().horizontalAdvance(hint) <= room, f"the filter hint {hint!r} is cut off at 1024×700"


def test_the_runs_filter_stays_a_search_box_on_a_wide_screen(make_window, tmp_path) -> None:
    """At 1920×1080 the filter field stretched across some 1,080 px."""
    window = _window(make_window, tmp_path, runs=1)
    runs = window.runs_view
    _settle(window, DESKTOP, runs)
    assert runs.filter.width() < runs.width() / 3
    assert _right(runs.delete_button, runs) > runs.width() - 40  # the buttons keep to the right


def test_a_finished_study_leaves_no_empty_rows_above_its_curves(qtbot) -> None:
    from test_views import STUDY_ENTRIES

    from cnnstudio.ui.study_view import StudyView

    study = StudyView()
    qtbot.addWidget(study)
    study.resize(*DESKTOP)
    study.show()
    qtbot.waitExposed(study)
    total = len(STUDY_ENTRIES)
    study.study_started(total)
    for entry in STUDY_ENTRIES:
        study.run_finished(entry, total)
    study.study_finished(f"Study finished: {total} runs")
    assert study.table.rowCount() == total < ROWS
    assert total <= _rows_in_view(study.table) < ROWS, "room for six rows kept though the study has fewer"

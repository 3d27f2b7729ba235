"""The window's layout on a laptop screen: at 1024×700 every tab fits beside the experiment panel.

The tabs sit in a scroll area (on a smaller screen they scroll rather than widen the window); the
QTabWidget is as wide as its widest page, so one wide page (the Study tab's row of buttons and
run-on choice, once) made every tab scroll sideways. At the default 1220×780 the experiment panel
fits without scrolling.
"""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QScrollArea

LAPTOP = (1024, 700)
DEFAULT = (1220, 780)


def _settle(window, size: tuple[int, int]) -> None:
    window.resize(*size)
    for _ in range(5):
        QApplication.processEvents()


def _tabs_area(window) -> QScrollArea:
    """The scroll area around the tab widget."""
    widget = window.tabs.parentWidget()
    while not isinstance(widget, QScrollArea):
        widget = widget.parentWidget()
    return widget


def _too_wide(window) -> dict[str, int]:
    """Title → minimum width of each tab page wider than the room the tab area has for a page."""
    tabs = window.tabs
    frame = tabs.width() - tabs.currentWidget().width()  # the tab widget's own frame around a page
    room = _tabs_area(window).viewport().width() - frame
    wide = {}
    for i in range(tabs.count()):
        tabs.setCurrentIndex(i)
        QApplication.processEvents()
        width = tabs.widget(i).minimumSizeHint().width()
        if width > room:
            wide[tabs.tabText(i)] = width
    return wide


def test_every_tab_fits_at_1024_by_700_without_scrolling_sideways(make_window):
    window = make_window(wait_for_backend=False)
    _settle(window, LAPTOP)
    assert (window.width(), window.height()) == LAPTOP
    assert _too_wide(window) == {}
    assert _tabs_area(window).horizontalScrollBar().maximum() == 0
    tabs = window.tabs
    assert tabs.tabBar().sizeHint().width() <= tabs.width(), "every tab's title shows, without scroll arrows"
    assert window.panel.isVisible() and window.panel.width() >= window.panel.minimumSizeHint().width()


def test_the_study_tab_wraps_its_run_controls_below_the_run_on_choice(make_window):
    window = make_window(wait_for_backend=False)
    _settle(window, LAPTOP)
    window.tabs.setCurrentWidget(window.study_view)
    QApplication.processEvents()
    study = window.study_view
    for widget in (study.run_button, study.stop_button, study.report_button, study.count, study.here, study.on_ray,
                   study.address):
        assert widget.isVisible()
        viewport = _tabs_area(window).viewport()
        assert widget.mapTo(viewport, widget.rect().topRight()).x() < viewport.width(), widget
    assert study.run_button.y() > study.here.y(), "Run Study sits on the row below the run-on choice"
    assert study.count.height() < 2 * study.run_button.height(), "the run count has room on one line"


def test_the_experiment_panel_fits_at_the_default_size(make_window):
    window = make_window(wait_for_backend=False)
    _settle(window, DEFAULT)
    panel_area = window.panel.parentWidget().parentWidget()
    assert isinstance(panel_area, QScrollArea)
    assert panel_area.verticalScrollBar().maximum() == 0, "the Runs on group shows without scrolling"
    assert _tabs_area(window).horizontalScrollBar().maximum() == 0


def test_the_experiment_panel_fits_a_1024_by_700_window_unscrolled(make_window):
    """The Runs on group was cut in half at 1024×700 (the panel scrolled by 55 px): short options now share rows."""
    window = make_window(wait_for_backend=False)
    _settle(window, LAPTOP)
    panel_area = window.panel.parentWidget().parentWidget()
    assert panel_area.verticalScrollBar().maximum() == 0
    device = window.panel.device_choice
    assert device.isVisible() and device.mapTo(panel_area.viewport(), device.rect().bottomLeft()).y() \
        < panel_area.viewport().height()


def test_the_feature_maps_controls_keep_their_width_while_two_models_are_compared(make_window):
    """A "Single Model" button appeared beside "Compare With Model…" and made every tab scroll sideways at 1024."""
    window = make_window(wait_for_backend=False)
    _settle(window, LAPTOP)
    view = window.feature_view
    window.tabs.setCurrentWidget(view)
    before = view.minimumSizeHint().width()
    view.compare_model = object()  # what set_compare_model stores; only the controls are refreshed here
    view._refresh_controls()
    QApplication.processEvents()
    assert view.compare_button.text() == "Single Model"
    assert view.minimumSizeHint().width() == before
    assert _too_wide(window) == {}


def test_a_sketch_canvas_grown_on_a_large_screen_lets_the_window_shrink_again(make_window):
    """The canvas grew to 560 px at 1920×1080 as a fixed size; back at 1024×700 it held the Sketch Pad (and so
    every tab) 156 px too wide, and the whole tab area scrolled sideways."""
    window = make_window(wait_for_backend=False)
    window.tabs.setCurrentWidget(window.sketch_view)
    _settle(window, (1920, 1080))
    assert window.sketch_view.canvas.side() > 500
    window.tabs.setCurrentWidget(window.feature_view)
    _settle(window, LAPTOP)
    assert _too_wide(window) == {}
    assert _tabs_area(window).horizontalScrollBar().maximum() == 0


def test_the_epoch_log_shows_four_lines_beside_the_curves(make_window):
    """The curves took all the height they could: at 1366×768 the log showed under three lines."""
    window = make_window(wait_for_backend=False)
    window.tabs.setCurrentWidget(window.training_view)
    for size in (LAPTOP, (1366, 768)):
        _settle(window, size)
        log = window.training_view.log
        assert log.viewport().height() >= 4 * log.fontMetrics().lineSpacing(), size

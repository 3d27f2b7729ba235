"""The Feature Maps view draws sizes truthfully: a padded input larger than the input, maps that grow
with the view, an unclipped class filter, and the Explain sub-tab's own timing and centred picture."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from gui_helpers import WAIT_MS  # noqa: E402
from PySide6.QtWidgets import QComboBox  # noqa: E402

LENET_SHAPES = [(32, 32, 1), (28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16)]
LENET_KINDS = ["ZeroPadding2D", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D"]


@pytest.fixture(scope="module")
def lenet(digits):
    """An untrained LeNet-5 (valid padding: a 2-pixel ZeroPadding2D first) and a test digit."""
    from cnnstudio.core.config import ModelOptions
    from cnnstudio.core.network.model_builder import build_model

    return build_model(ModelOptions(), (28, 28, 1), 10), digits.x_test[0].astype(np.float32)


def _view(qtbot, model, image, size=(1000, 700)):
    from cnnstudio.ui.feature_maps_view import FeatureMapsView

    view = FeatureMapsView()
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    view.set_model(model, "LeNet-5")
    view.show_image(image, "a digit")
    return view


def _input_width(view) -> int:
    return view.input_labels["LeNet-5"].pixmap().width()


def test_the_padded_input_is_drawn_larger_than_the_input_at_one_scale(qtbot, lenet) -> None:
    view = _view(qtbot, *lenet)
    padded, c1 = view.map_labels["LeNet-5"][:2]
    assert padded.feature.shape == (32, 32, 1) and c1.feature.shape == (28, 28, 6)
    scale = view.input_labels["LeNet-5"].property("scale")
    assert _input_width(view) == 28 * scale
    assert padded.scale == c1.scale == scale  # input, padding and the first convolution share one scale
    assert abs(padded.pixmap().width() - _input_width(view) * 32 / 28) <= scale  # 32/28 of the input, ±1 cell
    assert padded.pixmap().width() > _input_width(view)
    assert padded.colormap == "gray" and padded.border == (2, 2, 2, 2)  # the image itself, its border outlined
    assert c1.colormap == "viridis"
    assert view._captions[0].text() == "<b>input</b><br>Input<br>28×28×1"  # captioned like every layer's row


def test_the_maps_grow_with_the_view_and_stay_inside_it(qtbot, lenet) -> None:
    view = _view(qtbot, *lenet, size=(700, 700))
    labels = view.map_labels["LeNet-5"]
    narrow = (_input_width(view), [m.scale for m in labels])
    view.resize(1500, 900)
    qtbot.waitUntil(lambda: _input_width(view) > narrow[0])
    wide = [m.scale for m in labels]
    assert all(w >= n for w, n in zip(wide, narrow[1])) and wide[-1] >= 8  # s4 (5×5) at least 40 px a map
    area = view.maps_area
    qtbot.waitUntil(lambda: all(m.pixmap().width() <= m.width() for m in labels))
    assert area.horizontalScrollBar().maximum() == 0
    for m in labels:
        assert m.x() + m.pixmap().width() <= area.viewport().width()
    c1 = labels[1]
    assert c1.feature.shape[2] == 6 and c1.columns == 6  # a wide view: one row of six, not two rows of three


def test_map_scales_share_one_scale_within_a_family() -> None:
    from cnnstudio.ui.feature_maps_view import MAX_SCALE, map_scales

    for width in (300, 650, 1100, 3000):
        input_scale, scales = map_scales((28, 28, 1), LENET_SHAPES, LENET_KINDS, width)
        assert input_scale == scales[0] == scales[1]  # input, input_pad, c1
        assert scales[2] == scales[3]  # s2 and c3: the valid convolution visibly shrinks 14 to 10
        assert all(1 <= s <= MAX_SCALE for s in scales)
    assert map_scales((28, 28, 1), LENET_SHAPES, LENET_KINDS, 1100)[0] > map_scales((28, 28, 1), LENET_SHAPES,
                                                                                     LENET_KINDS, 650)[0]
    # a Resizing layer stays with the input however large it makes the image
    input_scale, scales = map_scales((28, 28, 1), [(224, 224, 3), (55, 55, 96)], ["Resizing", "Conv2D"], 700)
    assert input_scale == scales[0]


def test_the_class_filter_shows_its_longest_entry_when_filled_after_showing(qtbot) -> None:
    from cnnstudio.ui.feature_maps_view import FeatureMapsView

    view = FeatureMapsView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    qtbot.waitExposed(view)  # shown empty, as the window shows it before the test images are loaded
    combo = view.class_filter
    qtbot.waitUntil(combo.isVisible)
    qtbot.wait(50)
    combo.sizeHint()  # measured empty, as the layout does when it is shown
    names = ["zero", "a rather long class name"]
    view.set_test_images(np.zeros((2, 28, 28, 1), np.float32), np.array([0, 1]), names)
    fresh = QComboBox()  # the same entries in a combo box never shown empty: the width they need
    qtbot.addWidget(fresh)
    fresh.addItems([combo.itemText(i) for i in range(combo.count())])
    assert combo.count() == 3 and combo.sizeHint().width() >= fresh.sizeHint().width()
    qtbot.waitUntil(lambda: combo.width() >= fresh.sizeHint().width())


def test_explain_shows_its_own_time_and_a_centred_picture(qtbot, lenet) -> None:
    view = _view(qtbot, *lenet, size=(1100, 700))
    assert view.timing.text().startswith("rendered in")
    explain = view.attribution
    with qtbot.waitSignal(explain.explained, timeout=WAIT_MS):
        view.tabs.setCurrentWidget(explain)
    assert explain.elapsed_ms is not None
    assert view.timing.text() == f"explained in {explain.elapsed_ms:.0f} ms"
    figure = explain.figure
    explain.canvas.draw()
    renderer = explain.canvas.get_renderer()
    boxes = [ax.get_tightbbox(renderer) for ax in figure.axes]  # the picture and its colour bar
    left, right = min(b.x0 for b in boxes), figure.bbox.width - max(b.x1 for b in boxes)
    assert abs(left - right) <= 0.05 * figure.bbox.width
    view.tabs.setCurrentIndex(1)  # the Filters: no timing of their own
    assert view.timing.text() == ""
    view.tabs.setCurrentWidget(view.maps_area)
    assert view.timing.text().startswith("rendered in")

"""Feature maps, sketch pad and evaluation views driven through their widgets (pytest-qt, offscreen)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from gui_helpers import WAIT_MS, set_options  # noqa: E402
from PySide6.QtCore import QPoint, Qt  # noqa: E402

from cnnstudio.core.data.digit_preprocessing import mnist_style  # noqa: E402


def draw(qtbot, canvas, points: list[tuple[int, int]]) -> None:
    qtbot.mousePress(canvas, Qt.LeftButton, pos=QPoint(*points[0]))
    for x, y in points[1:]:
        qtbot.mouseMove(canvas, QPoint(x, y))
    qtbot.mouseRelease(canvas, Qt.LeftButton, pos=QPoint(*points[-1]))


def test_drawing_gives_a_prediction_from_the_core_preprocessing(qtbot, trained) -> None:
    pad = trained.sketch_view
    with qtbot.waitSignal(pad.predicted, timeout=5000) as signal:
        draw(qtbot, pad.canvas, [(140, 40 + 10 * i) for i in range(20)])  # a vertical stroke: a one
    probs = signal.args[0]
    assert probs.shape == (10,) and abs(float(probs.sum()) - 1) < 1e-4
    assert pad.top.text() != "–" and "%" in pad.top.text()
    np.testing.assert_array_equal(pad.processed[..., 0], mnist_style(pad.canvas.to_array()))
    assert pad.preview.pixmap() is not None and not pad.preview.pixmap().isNull()
    strokes = len(pad.canvas.strokes)
    pad.undo_button.click()
    assert len(pad.canvas.strokes) == strokes - 1
    # nothing left to undo, clear or save: those buttons are off until the next stroke
    assert not (pad.undo_button.isEnabled() or pad.clear_button.isEnabled() or pad.save_button.isEnabled())
    draw(qtbot, pad.canvas, [(100, 100), (200, 200)])
    assert pad.undo_button.isEnabled() and pad.clear_button.isEnabled() and pad.save_button.isEnabled()
    pad.clear_button.click()
    assert pad.canvas.is_empty()
    qtbot.waitUntil(lambda: pad.top.text() == "–", timeout=WAIT_MS)  # the pad re-reads the drawing on its timer
    assert "model call" not in pad.status.text()


def test_shift_probe_and_sketch_to_feature_maps(qtbot, trained) -> None:
    pad = trained.sketch_view
    with qtbot.waitSignal(pad.predicted, timeout=5000):
        draw(qtbot, pad.canvas, [(100, 60), (180, 60), (120, 220)])  # a seven
    pad.probe_button.click()
    shifts, predicted, horizontal, _vertical = pad.probe_result
    assert len(shifts) == 13 and 0 <= predicted < 10 and horizontal.max() <= 1.0
    pad.maps_button.click()
    assert trained.tabs.currentWidget() is trained.feature_view
    assert trained.feature_view.current_label == "your sketch"


def test_feature_maps_for_each_conv_and_pool_layer(qtbot, trained) -> None:
    view = trained.feature_view
    qtbot.waitUntil(lambda: view.images is not None, timeout=WAIT_MS)
    view.class_filter.setCurrentIndex(view.class_filter.findData(3))
    labels = next(iter(view.map_labels.values()))
    assert [(m.feature.name, m.feature.shape) for m in labels] == [
        ("input_pad", (32, 32, 1)), ("c1", (28, 28, 6)), ("s2", (14, 14, 6)), ("c3", (10, 10, 16)), ("s4", (5, 5, 16))]
    assert "class 3" in view.current_label
    padded = labels[0]  # a padding layer's map is enlarged; conv and pooling maps open the explorer
    qtbot.mouseClick(padded, Qt.LeftButton, pos=QPoint(padded.scale * 2, padded.scale * 2))
    assert view.enlarged is not None and "channel 0" in view.enlarged.windowTitle()
    view.enlarged.close()
    c1 = labels[1]
    qtbot.mouseClick(c1, Qt.LeftButton, pos=QPoint(c1.scale * 2, c1.scale * 3))  # cell (3, 2) of channel 0
    panel = view.enlarged.panels[0]
    assert "How c1 computes" in view.enlarged.windowTitle() and panel.op.cell == (3, 2, 0)
    assert panel.op.result == pytest.approx(panel.op.output, abs=1e-4)
    view.enlarged.close()
    assert view.filters_area.widget() is not None


def test_clicking_a_pooled_cell_shows_its_window_and_winner(qtbot, trained) -> None:
    """s2 (2×2 max pooling of c1): the window, the winner in the numbers grid, the words, the input field."""
    view = trained.feature_view
    qtbot.waitUntil(lambda: view.images is not None, timeout=WAIT_MS)
    s2 = next(m for m in next(iter(view.map_labels.values())) if m.feature.name == "s2")
    h, w = s2.feature.shape[:2]
    channel, row, col = 1, 6, 7
    x, y = (channel % s2.columns) * (w + 1) + col, (channel // s2.columns) * (h + 1) + row
    qtbot.mouseClick(s2, Qt.LeftButton, pos=QPoint(x * s2.scale + 1, y * s2.scale + 1))
    panel = view.enlarged.panels[0]
    op = panel.op
    assert op.cell == (row, col, channel) and op.kind == "max" and op.source == "c1"
    assert (op.window.top, op.window.left, op.window.size) == (12, 14, 2)
    window = op.source_map[12:14, 14:16, channel]
    assert op.winner == np.unravel_index(np.argmax(window), (2, 2)) and op.result == window.max()
    winner = panel.grid.item(*op.winner)
    assert winner.text() == f"{op.result:.3g}" and winner.font().bold()
    assert "largest of 4 cells" in panel.words.text() and panel.grid.rowCount() == 2
    assert op.field == (10, 12, 16, 18)  # c1 rows 12..13 read padded rows 12..17: input rows 10..15 (input_pad is 2)
    panel.output_picture.cell_clicked.emit(0, 0)  # another cell of the same map
    assert panel.op.cell == (0, 0, channel) and panel.op.window.top == 0
    view.enlarged.close()


def test_confusion_cell_lists_exactly_its_images(qtbot, trained) -> None:
    view = trained.evaluation_view
    with qtbot.waitSignal(trained.busy_changed, timeout=WAIT_MS, check_params_cb=lambda busy: not busy):
        view.run_button.click()
    evaluation = view.evaluation
    assert evaluation is not None and "Test accuracy" in view.summary.text()
    dataset = trained.workspace.datasets.get("digits")
    assert f"on {len(dataset.x_test):,} test images of digits" in view.summary.text()  # which data it was
    predictions = np.asarray(trained.workspace.model(dataset.x_test.astype("float32"), training=False)).argmax(axis=1)
    true, predicted = 3, int(np.bincount(predictions[dataset.y_test == 3], minlength=10).argmax())

    from matplotlib.backend_bases import MouseEvent

    x, y = view.axes.transData.transform((predicted, true))  # the cell's centre in display coordinates
    view.canvas.callbacks.process("button_press_event", MouseEvent("button_press_event", view.canvas, x, y, button=1))
    expected = np.flatnonzero((dataset.y_test == true) & (predictions == predicted))
    assert sorted(view.cell_indices.tolist()) == expected.tolist() and view.gallery.count() == len(expected)
    view.gallery.itemClicked.emit(view.gallery.item(0))
    assert trained.tabs.currentWidget() is trained.feature_view
    first = view.cell_indices[0]
    assert trained.feature_view.current_label == (f"test image #{first} (class {true}, predicted {predicted} "
                                                   f"{evaluation.probabilities[first, predicted]:.0%})")


def test_nothing_inspects_the_model_while_it_trains(qtbot, trained, monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    set_options(trained, epochs=200)
    monkeypatch.setattr(QMessageBox, "question", lambda *_a, **_k: QMessageBox.Discard)  # "Unsaved model": discard
    trained.train_button.click()
    qtbot.waitUntil(lambda: trained.training, timeout=WAIT_MS)
    assert trained.feature_view.blocked_reason and not trained.evaluation_view.run_button.isEnabled()
    assert not trained.sketch_view.probe_button.isEnabled()
    assert "training run" in trained.sketch_view.status.text()
    with qtbot.waitSignal(trained.training_finished, timeout=WAIT_MS):
        trained.stop()
    assert trained.feature_view.blocked_reason is None and trained.evaluation_view.run_button.isEnabled()
    assert "training run" not in trained.sketch_view.status.text()  # no stale message once training ended
    assert "training run" not in trained.evaluation_view.summary.text()
    assert "built-in 'digits'" in trained.sketch_view.status.text()  # advice for a model trained on digits


def test_a_model_without_convolutions_gets_a_message(make_window) -> None:
    import keras

    window = make_window()
    dense = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    window.feature_view.set_model(dense, "dense")
    window.feature_view.show_image(np.zeros((28, 28, 1)), "blank")
    assert "no convolution layers" in window.feature_view.message.text()
    colour = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(),
                               keras.layers.Dense(10, activation="softmax")])
    window.sketch_view.set_model(colour, None)
    assert "28×28 gray" in window.sketch_view.status.text()


def test_feature_maps_of_an_image_file(qtbot, trained, monkeypatch, tmp_path) -> None:
    from PIL import Image, ImageDraw
    from PySide6.QtWidgets import QFileDialog

    path = tmp_path / "seven.png"
    image = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(image).line([(40, 30), (160, 30), (80, 180)], fill=0, width=14)
    image.save(path)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    trained.feature_view.open_button.click()
    assert trained.feature_view.current_label == "seven.png"
    np.testing.assert_array_equal(trained.feature_view.current[..., 0], mnist_style(np.asarray(image, dtype=np.float32)))
    assert next(iter(trained.feature_view.map_labels.values()))[1].feature.shape == (28, 28, 6)


def _min_pooling_copy(model):
    """The same LeNet-5 weights with min instead of max pooling (pooling has no weights)."""
    import dataclasses

    from cnnstudio.core.config import ModelOptions
    from cnnstudio.core.network.model_builder import build_model

    other = build_model(dataclasses.replace(ModelOptions(), pooling="min"), (28, 28, 1), 10)
    other.set_weights(model.get_weights())
    return other


def test_explain_tab_draws_each_method_for_both_models(qtbot, trained) -> None:
    """Grad-CAM, then occlusion (on a worker, with progress), through the model and a min-pooling twin."""
    from cnnstudio.core.explain import grad_cam, occlusion

    view = trained.feature_view
    trained.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.images is not None, timeout=WAIT_MS)
    explain = view.attribution
    with qtbot.waitSignal(explain.explained, timeout=WAIT_MS) as drawn:
        view.tabs.setCurrentWidget(explain)  # computed when the tab is shown
    (result,) = drawn.args[0]
    expected = grad_cam(trained.workspace.model, view.current)
    assert result.method == "gradcam" and result.class_index == expected.class_index
    np.testing.assert_allclose(result.heat, expected.heat, atol=1e-5)
    assert len(explain.figure.axes) == 2 and "Grad-CAM" in explain.figure.axes[0].get_title()  # the map and its bar
    # digits' classes are named by their number: said once ("class 7 (7)" before)
    assert f"Grad-CAM: class {result.class_index}, " in explain.figure.axes[0].get_title()
    assert 32 < len(view.model_name) <= 40  # "run 2026-… (Runs tab)": it was cut at 32 characters
    assert explain.figure.axes[0].get_title().startswith(view.model_name + "\n")
    # the maps' caption ("…then every convolution and pooling layer") is not shown above the explanation
    assert view.message.text() and not view.message.isVisibleTo(view) and explain.message.isVisibleTo(view)

    twin = _min_pooling_copy(trained.workspace.model)
    with qtbot.waitSignal(explain.explained, timeout=WAIT_MS) as drawn:
        view.set_compare_model(twin, "min pooling")
    assert len(drawn.args[0]) == 2 and len(explain.figure.axes) == 4
    assert "min pooling" in explain.figure.axes[1].get_title()  # the two maps first, then their colour bars
    # one colour scale for both: equal colours mean equal values
    both = np.concatenate([r.heat.ravel() for r in drawn.args[0]])
    for axes in explain.figure.axes[:2]:
        assert axes.get_images()[-1].get_clim() == pytest.approx((both.min(), both.max()))
    assert explain.message.text().endswith("(one scale for both models).")

    steps: list[int] = []
    explain.progress.valueChanged.connect(steps.append)
    with qtbot.waitSignal(explain.explained, timeout=WAIT_MS) as drawn:
        explain.target.setCurrentIndex(explain.target.findData(3))
        explain.method.setCurrentIndex(explain.method.findData("occlusion"))
    first, second = drawn.args[0]
    assert first.method == second.method == "occlusion" and first.class_index == second.class_index == 3
    np.testing.assert_allclose(second.heat, occlusion(twin, view.current, 3).heat, atol=1e-6)
    assert steps and max(steps) == explain.progress.maximum()
    assert not explain.patch_label.isHidden() and explain.layer.isHidden()


def test_the_explorer_shows_max_and_min_pooling_of_the_same_cell(qtbot, trained) -> None:
    view = trained.feature_view
    qtbot.waitUntil(lambda: view.images is not None, timeout=WAIT_MS)
    view.set_compare_model(_min_pooling_copy(trained.workspace.model), "min pooling")
    view.explore("s2", 2, 5, 6)
    high, low = (panel.op for panel in view.enlarged.panels)
    assert (high.kind, low.kind) == ("max", "min") and high.window == low.window
    np.testing.assert_array_equal(high.values, low.values)  # the same c1 map: the weights are shared
    assert high.result == high.values.max() and low.result == low.values.min()
    view.enlarged.panels[1].output_picture.cell_clicked.emit(1, 1)  # a click in either panel moves both
    assert [panel.op.cell for panel in view.enlarged.panels] == [(1, 1, 2), (1, 1, 2)]
    view.enlarged.close()

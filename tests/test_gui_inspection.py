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
    pad.canvas.strokes.append([])
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
    c1 = labels[1]
    qtbot.mouseClick(c1, Qt.LeftButton, pos=QPoint(c1.scale * 2, c1.scale * 2))  # inside the first channel
    assert view.enlarged is not None and "channel 0" in view.enlarged.windowTitle()
    view.enlarged.close()
    assert view.filters_area.widget() is not None


def test_confusion_cell_lists_exactly_its_images(qtbot, trained) -> None:
    view = trained.evaluation_view
    with qtbot.waitSignal(trained.busy_changed, timeout=WAIT_MS, check_params_cb=lambda busy: not busy):
        view.run_button.click()
    evaluation = view.evaluation
    assert evaluation is not None and "Test accuracy" in view.summary.text()
    dataset = trained.workspace.datasets.get("digits")
    predictions = np.asarray(trained.workspace.model(dataset.x_test.astype("float32"), training=False)).argmax(axis=1)
    true, predicted = 3, int(np.bincount(predictions[dataset.y_test == 3], minlength=10).argmax())

    from matplotlib.backend_bases import MouseEvent

    x, y = view.axes.transData.transform((predicted, true))  # the cell's centre in display coordinates
    view.canvas.callbacks.process("button_press_event", MouseEvent("button_press_event", view.canvas, x, y, button=1))
    expected = np.flatnonzero((dataset.y_test == true) & (predictions == predicted))
    assert sorted(view.cell_indices.tolist()) == expected.tolist() and view.gallery.count() == len(expected)
    view.gallery.itemClicked.emit(view.gallery.item(0))
    assert trained.tabs.currentWidget() is trained.feature_view
    assert trained.feature_view.current_label == f"test image #{view.cell_indices[0]}"


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

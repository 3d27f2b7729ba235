"""Feature maps, filters, shift probes and evaluation details (core, no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.core.config import ModelOptions
from cnnstudio.core.errors import CnnStudioError
from cnnstudio.core.inspection import (
    FeatureExtractor,
    conv_filters,
    evaluate_details,
    shift,
    shift_probe,
    tile,
    tile_columns,
    tile_position,
    unit_scaled,
)
from cnnstudio.core.network.model_builder import build_model


@pytest.fixture(scope="module")
def lenet():
    return build_model(ModelOptions(pooling="min", padding="valid"), (28, 28, 1), 10)


def test_feature_maps_of_every_conv_and_pool_layer(lenet) -> None:
    maps = FeatureExtractor(lenet)(np.random.default_rng(0).uniform(0, 255, (28, 28, 1)))
    assert [(m.name, m.kind, m.shape) for m in maps] == [
        ("input_pad", "ZeroPadding2D", (32, 32, 1)), ("c1", "Conv2D", (28, 28, 6)), ("s2", "MinPooling2D", (14, 14, 6)),
        ("c3", "Conv2D", (10, 10, 16)), ("s4", "MinPooling2D", (5, 5, 16))]
    assert maps[0].values[:2].max() == 0  # the zero border the network sees
    np.testing.assert_allclose(maps[2].values, maps[1].values.reshape(14, 2, 14, 2, 6).min(axis=(1, 3)), rtol=1e-6)


def test_filters(lenet) -> None:
    filters = conv_filters(lenet)
    assert [(name, k.shape, inputs) for name, k, inputs in filters] == [("c1", (5, 5, 6), 1), ("c3", (5, 5, 16), 6)]


def test_models_without_images_or_convolutions_are_explained() -> None:
    import keras

    dense = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(CnnStudioError, match="no convolution layers"):
        FeatureExtractor(dense)
    vector = keras.Sequential([keras.Input((20,)), keras.layers.Dense(3)])
    with pytest.raises(CnnStudioError, match="does not take images"):
        conv_filters(vector)


def test_the_cells_after_the_last_channel_are_marked_unused() -> None:
    """16 channels in 6 columns: two empty cells end the third row (drawn transparent, not as gap colour)."""
    from cnnstudio.core.inspection import tile_unused

    maps = np.ones((5, 5, 16))
    image = tile(maps, 6)
    unused = tile_unused(maps.shape, 6)
    assert unused.shape == image.shape
    assert not unused[:12].any()  # the two full rows (5 + a gap each), gaps between channels included
    assert unused[12:, 4 * 6 - 1:].all() and not unused[12:, : 4 * 6 - 1].any()  # right of the 16th channel
    assert np.isnan(image[unused]).all() and not np.isnan(image[~unused]).all()
    assert not tile_unused((5, 5, 12), 6).any()  # rows that come out even leave nothing unused


def test_tile_and_position_round_trip() -> None:
    maps = np.random.default_rng(1).normal(size=(5, 4, 7))
    tiled = tile(maps, columns=3)
    assert tiled.shape == (3 * 6 - 1, 3 * 5 - 1)
    assert np.nanmin(tiled) == 0 and np.nanmax(tiled) == 1
    assert tile_position(maps.shape, 3, x=5 + 2, y=6 + 1) == 4  # second row, second column
    assert tile_position(maps.shape, 3, x=4, y=0) is None  # the gap between columns
    assert tile_position(maps.shape, 3, x=5 * 2, y=6 * 2) is None  # past the seventh channel


def test_each_channel_is_scaled_on_its_own() -> None:
    np.testing.assert_allclose(unit_scaled(np.array([[2.0, 4.0], [3.0, 6.0]])), [[0, 0.5], [0.25, 1]])
    np.testing.assert_array_equal(unit_scaled(np.full((2, 3), 7.0)), np.zeros((2, 3)))  # constant: no division by 0
    maps = np.stack([np.arange(4.0).reshape(2, 2), 100 * np.arange(4.0).reshape(2, 2)], axis=-1)
    tiled = tile(maps, columns=2)
    np.testing.assert_allclose(tiled[:, :2], unit_scaled(maps[..., 0]))
    np.testing.assert_allclose(tiled[:, 3:], unit_scaled(maps[..., 1]))
    assert np.isnan(tiled[:, 2]).all()


@pytest.mark.parametrize(("channels", "columns"), [(1, 1), (2, 2), (6, 4), (16, 6), (64, 12)])
def test_default_tile_columns(channels: int, columns: int) -> None:
    assert tile_columns(channels) == columns
    assert tile(np.zeros((3, 3, channels))).shape[1] == columns * 4 - 1


def test_shift_fills_with_zeros() -> None:
    image = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    moved = shift(image, 1, -1)
    assert moved[0, 1, 0] == image[1, 0, 0] and moved[:, 0].max() == 0 and moved[-1].max() == 0


def test_shift_probe_shapes(lenet) -> None:
    image = np.zeros((28, 28, 1), dtype=np.float32)
    image[8:20, 12:16] = 255
    shifts, predicted, horizontal, vertical = shift_probe(lenet, image, reach=3)
    assert list(shifts) == [-3, -2, -1, 0, 1, 2, 3] and 0 <= predicted < 10
    assert horizontal.shape == vertical.shape == (7,) and horizontal[3] == pytest.approx(vertical[3])


def test_evaluation_cells_and_metrics(lenet) -> None:
    rng = np.random.default_rng(2)
    images, labels = rng.uniform(0, 255, (50, 28, 28, 1)).astype("float32"), rng.integers(0, 10, 50)
    progress = []
    evaluation = evaluate_details(lenet, images, labels, batch_size=16, progress=lambda d, t: progress.append(d))
    assert progress == [16, 32, 48, 50]
    probs = np.asarray(lenet(images, training=False))
    assert evaluation.confusion.sum() == 50 and evaluation.accuracy == pytest.approx(np.mean(probs.argmax(1) == labels))
    true, predicted = int(labels[0]), int(probs[0].argmax())
    expected = np.flatnonzero((labels == true) & (probs.argmax(1) == predicted))
    cell = evaluation.cell(true, predicted)
    assert sorted(cell) == sorted(expected)
    assert list(probs[cell, predicted]) == sorted(probs[cell, predicted], reverse=True)

"""The operation explorer on real Keras layers: every recomputed value equals the layer's own output."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from cnnstudio.core.errors import CnnStudioError


def tiny(layer_factory, shape=(7, 7, 2), pad: int = 0):
    """Input → [ZeroPadding2D(pad)] → the layer, a functional model with seeded weights."""
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape)
    x = keras.layers.ZeroPadding2D(pad, name="border")(inputs) if pad else inputs
    return keras.Model(inputs, layer_factory()(x))


def every_cell(explorer, image, name):
    out = np.asarray(explorer._probe(explorer.model.get_layer(name))(image[np.newaxis])[1])[0]
    return [explorer.explain(image, name, r, c, ch) for r, c, ch in itertools.product(*map(range, out.shape))]


def image(shape=(7, 7, 2), seed=0):
    return np.random.default_rng(seed).uniform(-3, 3, size=shape).astype("float32")


@pytest.mark.parametrize(("kernel", "stride", "padding", "pad"), [
    (3, 1, "valid", 0), (3, 1, "same", 0), (4, 2, "same", 0), (2, 3, "same", 0), (3, 2, "valid", 2), (5, 1, "same", 1),
])
def test_convolution_sums_equal_the_layer_output(kernel, stride, padding, pad) -> None:
    import keras

    from cnnstudio.core.explain.operation import OperationExplorer

    model = tiny(lambda: keras.layers.Conv2D(3, kernel, strides=stride, padding=padding, activation="relu",
                                             bias_initializer="random_normal", name="conv"), pad=pad)
    explorer = OperationExplorer(model)
    x = image()
    for op in every_cell(explorer, x, "conv"):
        assert op.kind == "conv" and op.activation == "relu" and op.values.shape == (kernel, kernel, 2)
        assert op.total == pytest.approx(op.products.sum() + op.bias)
        assert op.result == pytest.approx(max(op.total, 0.0), abs=1e-6)  # the activation runs in float32
        assert op.result == pytest.approx(op.output, abs=1e-4)  # float32 layer vs float64 here
        assert not op.values[op.implicit].any()  # 'same' padding reads zeros
        np.testing.assert_array_equal(op.kernel, np.asarray(model.get_layer("conv").kernel)[..., op.cell[2]])
        assert op.source == ("border" if pad else "input")
        real = op.window.take(np.ones(explorer.model.get_layer("conv").input.shape[1:3]))
        assert (op.border == ((real == 1) & _off_core(op.window, pad))).all()


def _off_core(window, pad):
    rows, cols = np.arange(window.top, window.bottom), np.arange(window.left, window.right)
    h, w = window.input_hw
    return ~(((rows >= pad) & (rows < h - pad))[:, None] & ((cols >= pad) & (cols < w - pad))[None, :])


@pytest.mark.parametrize("pooling", ["max", "min", "avg"])
@pytest.mark.parametrize(("size", "stride", "padding"), [(2, 2, "valid"), (3, 2, "valid"), (3, 2, "same"),
                                                         (2, 1, "same"), (3, 3, "same")])
def test_pooling_winners_and_means_equal_numpy_and_the_layer(pooling, size, stride, padding) -> None:
    import keras

    from cnnstudio.core.explain.operation import OperationExplorer
    from cnnstudio.core.network.min_pooling import min_pooling_2d

    factories = {"max": lambda: keras.layers.MaxPooling2D(size, stride, padding, name="pool"),
                 "avg": lambda: keras.layers.AveragePooling2D(size, stride, padding, name="pool"),
                 "min": lambda: min_pooling_2d(size, stride, padding, "pool")}
    explorer = OperationExplorer(tiny(factories[pooling]))
    x = image(seed=1)
    ops = every_cell(explorer, x, "pool")
    assert ops
    for op in ops:
        real = op.values[~op.implicit]
        assert op.kind == pooling and op.result == pytest.approx(op.output, abs=1e-5)
        if pooling == "avg":
            assert op.winner is None and op.result == pytest.approx(real.mean())
        else:
            masked = np.where(op.implicit, -np.inf if pooling == "max" else np.inf, op.values)
            pick = np.argmax(masked) if pooling == "max" else np.argmin(masked)
            assert op.winner == np.unravel_index(pick, op.values.shape)
            assert op.result == op.values[op.winner] == (real.max() if pooling == "max" else real.min())
            assert not op.implicit[op.winner]


def test_lenet5_with_min_pooling_and_a_two_pixel_border(digits) -> None:
    """The app's own LeNet-5: c1 reads the zeros of both borders; s2's window and field trace back to the input."""
    from cnnstudio.core.config import ModelOptions
    from cnnstudio.core.explain.operation import OperationExplorer
    from cnnstudio.core.network.model_builder import build_model

    model = build_model(dataclasses.replace(ModelOptions(), pooling="min", padding="2"), (28, 28, 1), 10)
    explorer = OperationExplorer(model)
    assert explorer.explorable() == ["c1", "s2", "c3", "s4"]
    x = digits.x_test[0]
    corner = explorer.explain(x, "c1", 0, 0, 0)
    assert corner.source == "c1_pad" and corner.window.input_hw == (36, 36)
    assert not corner.implicit.any() and not corner.border[4, 4]  # rows/columns 0..3 are zeros (2 + 2 pixels)
    assert corner.border.sum() == 24 and corner.field == (0, 0, 1, 1)
    assert corner.result == pytest.approx(corner.output, abs=1e-5)
    inner = explorer.explain(x, "c1", 16, 16, 3)
    assert not inner.border.any() and inner.result == pytest.approx(inner.output, abs=1e-5)
    edge = explorer.explain(x, "c1", 2, 10, 0)  # rows 2..6 of the 36×36 map: 2 border rows, 3 real ones
    assert edge.border[:2].all() and not edge.border[2:].any()
    pooled = explorer.explain(x, "s2", 7, 9, 5)
    assert pooled.kind == "min" and pooled.source == "c1" and (pooled.window.top, pooled.window.left) == (14, 18)
    assert pooled.result == pytest.approx(pooled.output) == pytest.approx(pooled.values.min())
    # s2 cell (7, 9): c1 rows 14..15 on a map whose pixel 0 is input pixel -4; c1 is 5×5, so input rows 10..15
    assert pooled.field == (10, 14, 16, 20)
    assert explorer.explain(x, "s4", 0, 0, 0).field == (0, 0, 8, 8)  # 16 pixels from -8: clipped at the corner


def test_bad_requests_are_one_line_errors(digits) -> None:
    from cnnstudio.core.config import ModelOptions
    from cnnstudio.core.explain.operation import OperationExplorer
    from cnnstudio.core.network.model_builder import build_model

    explorer = OperationExplorer(build_model(ModelOptions(), (28, 28, 1), 10))
    x = digits.x_test[0]
    with pytest.raises(CnnStudioError, match="no layer 'nope'"):
        explorer.explain(x, "nope", 0, 0, 0)
    with pytest.raises(CnnStudioError, match="not a convolution or pooling"):
        explorer.explain(x, "c5", 0, 0, 0)
    with pytest.raises(CnnStudioError, match="outside the 14×14×6 output"):
        explorer.explain(x, "s2", 14, 0, 0)
    with pytest.raises(CnnStudioError, match="outside"):
        explorer.explain(x, "s2", 0, 0, 6)


def test_a_branching_model_is_explained_without_a_field_trace() -> None:
    import keras

    from cnnstudio.core.explain.operation import OperationExplorer, model_table

    inputs = keras.Input((6, 6, 1))
    left = keras.layers.Conv2D(2, 3, padding="same", name="left")(inputs)
    right = keras.layers.Conv2D(2, 3, padding="same", name="right")(inputs)
    merged = keras.layers.Concatenate()([left, right])
    model = keras.Model(inputs, keras.layers.MaxPooling2D(2, name="pool")(merged))
    assert model_table(model) is None
    op = OperationExplorer(model).explain(image((6, 6, 1)), "pool", 1, 2, 3)
    assert op.field is None and op.result == pytest.approx(op.output)

"""Receptive fields in the shape table and the operation explorer's window arithmetic."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cnnstudio.core.config import ModelOptions
from cnnstudio.core.network import layer_specs as ls
from cnnstudio.core.network.layer_specs import window_output
from cnnstudio.core.network.operation_window import (
    conv_value,
    input_window,
    layer_window,
    pool_value,
    trace_to_input,
)
from cnnstudio.core.network.receptive_field import receptive_fields, same_pad_before
from cnnstudio.core.network.shape_table import shape_table, table_for_specs


def _by_name(table):
    return {row.name: rf for row, rf in zip(table.rows, receptive_fields(table), strict=True)}


def test_lenet5_fields_by_hand() -> None:
    # r starts at 1, j at 1; the 2-pixel border shifts the start to -2 without growing r.
    # c1 5×5/1: r = 1 + 4·1 = 5;  s2 2×2/2: r = 5 + 1·1 = 6, j = 2;
    # c3 5×5/1: r = 6 + 4·2 = 14; s4 2×2/2: r = 14 + 1·2 = 16, j = 4.
    # starts: c1 -2 + 2 = 0; s2 0 + 0.5 = 0.5; c3 0.5 + 2·2 = 4.5; s4 4.5 + 0.5·2 = 5.5.
    table = shape_table(ModelOptions(arch="lenet5", padding="valid"), (28, 28, 1), 10)
    f = _by_name(table)
    assert f["input_pad"].size == 1 and f["input_pad"].start == (-2.0, -2.0)
    assert [(f[n].size, f[n].jump, f[n].start[0]) for n in ("c1", "s2", "c3", "s4")] == [
        (5, 1, 0.0), (6, 2, 0.5), (14, 2, 4.5), (16, 4, 5.5)]
    assert f["flatten"].whole and f["output"].whole and f["output"].size == 28
    data = table.to_json()["layers"]
    c3 = next(layer for layer in data if layer["name"] == "c3")
    assert (c3["receptive_field"], c3["jump"], c3["start"]) == (14, 2, [4.5, 4.5])
    out = data[-1]
    assert out["whole_input"] and out["jump"] is None and out["start"] is None
    text = table.format()
    assert " RF " in text.splitlines()[0] and "total:" in text.splitlines()[-1]


def test_alexnet_fields_by_hand() -> None:
    # conv1 11/4: 11, j 4; pool1 3/2: 11 + 2·4 = 19, j 8; conv2 5: 19 + 4·8 = 51;
    # pool2 3/2: 51 + 2·8 = 67, j 16; conv3-5 3: 99, 131, 163; pool5 3/2: 163 + 2·16 = 195, j 32.
    table = shape_table(ModelOptions(arch="alexnet", padding="valid"), (224, 224, 3), 10)
    f = _by_name(table)
    sizes = {n: f[n].size for n in ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5")}
    assert sizes == {"conv1": 11, "pool1": 19, "conv2": 51, "pool2": 67, "conv3": 99, "conv4": 131,
                     "conv5": 163, "pool5": 195}
    assert f["pool5"].jump == 32 and f["pool5"].frame == "input"


def test_resize_restarts_the_frame() -> None:
    table = shape_table(ModelOptions(arch="alexnet", padding="same"), (28, 28, 1), 10)
    f = _by_name(table)
    assert f["conv1"].frame == "resize" and f["pool5"].size == 195
    assert trace_to_input(table, len(table.rows) - 1, 0, 0) == (0, 0, 224, 224)


@pytest.mark.parametrize("n,start", [(8, 1.0), (7, 0.0)])
def test_same_stride2_start(n: int, start: float) -> None:
    # 3×3 stride 2 'same': n=8 pads 1 (0 before, 1 after), so cell 0 centres on pixel 1;
    # n=7 pads 2 (1 before), so cell 0 centres on pixel 0.
    table = table_for_specs([ls.Conv("c", 1, 3, 2, "same")], (n, n, 1))
    rf = receptive_fields(table)[0]
    assert (rf.size, rf.jump, rf.start) == (3, 2, (start, start))


SETTINGS = [
    {"kernel": k, "stride": s, "padding": p}
    for k, s, p in [(3, 1, "valid"), (3, 1, "same"), (2, 2, "valid"), (2, 2, "same"), (3, 2, "same"),
                    (3, 2, "valid"), (4, 2, "same"), (5, 3, "same"), (4, 1, "same")]
]


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("n", [6, 7, 8, 9])
def test_windows_invert_the_output_size(settings: dict, n: int) -> None:
    k, s, p = settings["kernel"], settings["stride"], settings["padding"]
    if p == "valid" and n < k:
        return
    out = window_output(n, k, s, p)
    pad = same_pad_before(n, k, s) if p == "same" else 0
    pad_after = (max((out - 1) * s + k - n, 0) - pad) if p == "same" else 0
    tops = [input_window(settings, (n, n), (r, 0)).top for r in range(out)]
    assert tops == [r * s - pad for r in range(out)]
    if p == "same":  # the windows reach exactly to the end of the input plus TF's padding after
        assert tops[0] == -pad and tops[-1] + k == n + pad_after and pad_after - pad in (0, 1)
    else:
        assert tops[-1] + k <= n and tops[-1] + s + k > n  # one more step would leave the map
    with pytest.raises(ValueError):
        input_window(settings, (n, n), (out, 0))


def test_tf_asymmetric_padding_shows() -> None:
    w = input_window({"kernel": 2, "stride": 1, "padding": "same"}, (5, 5), (4, 4))
    assert (w.top, w.left) == (4, 4) and w.padded()[1].all() and not w.padded()[0, 0]  # extra cell after
    w = input_window({"kernel": 3, "stride": 2, "padding": "same"}, (8, 8), (0, 0))
    assert (w.top, w.left) == (0, 0) and not w.padded().any()  # even size: the single pad goes after


def test_overlapping_pools_and_winners() -> None:
    rng = np.random.default_rng(0)
    fmap = rng.normal(size=(9, 9))
    settings = {"kernel": 3, "stride": 2, "padding": "valid"}
    for r, c in itertools.product(range(4), repeat=2):
        w = input_window(settings, (9, 9), (r, c))
        assert (w.top, w.left) == (2 * r, 2 * c)
        cut = w.take(fmap)
        for kind, pick in (("max", np.argmax), ("min", np.argmin)):
            value, winner = pool_value(cut, kind)
            assert winner == np.unravel_index(pick(cut), cut.shape) and value == cut[winner]
    assert input_window(settings, (9, 9), (0, 1)).left == input_window(settings, (9, 9), (0, 0)).right - 1


def test_padding_excluded_from_pooling() -> None:
    values = np.array([[0.0, -3.0], [-1.0, -2.0]])
    padded = np.array([[True, False], [False, False]])
    assert pool_value(values, "max", padded) == (-1.0, (1, 0))
    assert pool_value(values, "avg", padded) == (-2.0, None)


def test_trace_composes_layer_windows() -> None:
    table = shape_table(ModelOptions(arch="lenet5", padding="valid"), (28, 28, 1), 10)
    names = [row.name for row in table.rows]
    s4 = names.index("s4")
    for r, c in [(0, 0), (2, 3), (4, 4)]:
        box = (r, c, r + 1, c + 1)
        for index in range(s4, -1, -1):  # walk the windows down to the image by hand
            kind = table.rows[index].kind
            if kind == "ZeroPadding2D":
                box = tuple(v - table.rows[index].settings["pixels"] for v in box)
            elif kind in ("Conv2D", "MaxPooling2D"):
                first = layer_window(table, index, box[0], box[1])
                last = layer_window(table, index, box[2] - 1, box[3] - 1)
                box = (first.top, first.left, last.bottom, last.right)
        expected = (max(box[0], 0), max(box[1], 0), min(box[2], 28), min(box[3], 28))
        assert trace_to_input(table, s4, r, c) == expected
    assert trace_to_input(table, names.index("c1"), 0, 0) == (0, 0, 3, 3)  # 5×5 minus the 2-pixel border


def test_conv_value_parts() -> None:
    result = conv_value(np.array([[1.0, -2.0], [3.0, 0.0]]), np.array([[1.0, 1.0], [-1.0, 2.0]]), 0.5, "relu")
    assert result.products.tolist() == [[1.0, -2.0], [-3.0, 0.0]]
    assert result.total == -3.5 and result.activated == 0.0


def test_values_match_keras() -> None:
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(1)
    image = rng.normal(size=(7, 7, 1)).astype("float32")
    inputs = keras.Input((7, 7, 1))
    conv = keras.layers.Conv2D(2, 3, strides=2, padding="same", activation="relu")
    pools = {kind: layer(3, strides=2, padding="same") for kind, layer in
             (("max", keras.layers.MaxPooling2D), ("avg", keras.layers.AveragePooling2D))}
    conv_out = conv(inputs)
    model = keras.Model(inputs, [conv_out, *(pool(inputs) for pool in pools.values())])
    weights, bias = conv.get_weights()
    weights[:, :, 0, 0] = rng.normal(size=(3, 3))
    conv.set_weights([weights, bias + 0.1])
    conv_y, max_y, avg_y = (np.asarray(a)[0] for a in model.predict(image[None], verbose=0))
    conv_settings = {"kernel": 3, "stride": 2, "padding": "same"}
    for r, c in [(0, 0), (1, 2), (3, 3), (3, 0)]:
        w = input_window(conv_settings, (7, 7), (r, c))
        for f in range(2):
            got = conv_value(w.take(image), weights[:, :, :, f], bias[f] + 0.1, "relu").activated
            assert got == pytest.approx(float(conv_y[r, c, f]), abs=1e-5)
        cut, padded = w.take(image)[:, :, 0], w.padded()
        assert pool_value(cut, "max", padded)[0] == pytest.approx(float(max_y[r, c, 0]), abs=1e-6)
        assert pool_value(cut, "avg", padded)[0] == pytest.approx(float(avg_y[r, c, 0]), abs=1e-6)

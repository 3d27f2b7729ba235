"""The network picture (core/network/diagram.py): every architecture drawn, one stack per feature-map layer,
labels with the shapes, no overlapping labels, PNG and SVG exports."""

from __future__ import annotations

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cnnstudio.core.config import ModelOptions
from cnnstudio.core.errors import ConfigError
from cnnstudio.core.network.architectures import ARCHITECTURES
from cnnstudio.core.network.diagram import draw_network, drawn_blocks, network_blocks, network_figure
from cnnstudio.core.network.shape_table import shape_table

MAP_KINDS = {"Conv2D", "MaxPooling2D", "AveragePooling2D", "MinPooling2D"}


def _table(arch: str = "lenet5", shape: tuple[int, int, int] = (28, 28, 1), **options):
    return shape_table(ModelOptions(arch=arch, **options), shape, 10)


def _texts(figure: Figure) -> list[str]:
    return [text.get_text() for axes in figure.axes for text in axes.texts]


CASES = [(arch, shape, padding, extra) for arch in ARCHITECTURES for shape in ((28, 28, 1), (32, 32, 3))
         for padding in ("valid", "same", "2") for extra in ({}, {"batch_norm": True, "dropout": 0.3, "pooling": "min"})]


@pytest.mark.parametrize(("arch", "shape", "padding", "extra"), CASES)
def test_every_architecture_is_drawn_with_one_stack_per_feature_map_layer(arch, shape, padding, extra):
    try:
        table = _table(arch, shape, padding=padding, **extra)
    except ConfigError:
        pytest.skip("an impossible configuration has no picture")
    figure = Figure(figsize=(8.4, 2.8))
    blocks = draw_network(table, figure)
    drawn = drawn_blocks(figure)
    assert drawn == [f"{'maps' if block.is_maps else 'vector'}:{block.name}" for block in blocks]
    maps = [row for row in table.rows if row.kind in MAP_KINDS]
    assert [b.name for b in blocks if b.role in ("conv", "pool")] == [row.name for row in maps]
    dense = [row.name for row in table.rows if row.kind == "Dense"]
    assert [name.split(":", 1)[1] for name in drawn if name.startswith("vector:")] == dense
    texts = "\n".join(_texts(figure))
    for row in maps:
        height, width, channels = row.output_shape
        assert f"{channels}@{height}×{width}" in texts
    FigureCanvasAgg(figure).draw()


def test_lenet5_reads_like_the_paper():
    blocks = network_blocks(_table())
    assert [(b.name, b.label[1]) for b in blocks] == [
        ("input", "1@28×28"), ("input_pad", "1@32×32"), ("c1", "6@28×28"), ("s2", "6@14×14"), ("c3", "16@10×10"),
        ("s4", "16@5×5"), ("c5", "120"), ("f6", "84"), ("output", "10")]
    assert [b.operation for b in blocks[1:]] == [
        ("pad 2 (fixed)",), ("conv 5×5",), ("max pool 2×2",), ("conv 5×5",), ("max pool 2×2",), ("flatten", "dense"),
        ("dense",), ("dense", "softmax")]  # "fixed": the architecture's border, not the padding option (valid here)


def test_options_appear_on_the_arrows():
    blocks = {b.name: b for b in network_blocks(_table(padding="2", batch_norm=True, dropout=0.25, pooling="avg"))}
    assert blocks["c1"].operation == ("pad 2", "conv 5×5", "batch norm")
    assert blocks["s2"].operation == ("avg pool 2×2",)
    assert blocks["f6"].operation == ("dropout 0.25", "dense")
    alexnet = {b.name: b for b in network_blocks(_table("alexnet"))}
    assert alexnet["to_rgb"].operation == ("resize", "gray→RGB")  # the input's adaptations: one stack
    assert alexnet["conv1"].operation == ("conv 11×11", "stride 4")
    assert alexnet["pool1"].operation == ("max pool 3×3", "stride 2")


def test_designs_are_drawn_too():
    from cnnstudio.core.network.design_presets import PRESETS, preset_design

    for name in PRESETS:
        table = _table(design=preset_design(name), padding="same")
        blocks = network_blocks(table)
        assert blocks[-1].name == "output" and blocks[-1].role == "output"
    gap = {b.name: b for b in network_blocks(_table(design=preset_design("lenet5_gap"), padding="same"))}
    assert "global avg pool" in gap["output"].operation or any("global avg pool" in b.operation for b in gap.values())


def _overlaps(figure: Figure) -> list[tuple[str, str]]:
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    boxes = [(text.get_text(), text.get_window_extent(renderer)) for axes in figure.axes for text in axes.texts]
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:] if box_a.overlaps(box_b)]


@pytest.mark.parametrize("size", [(8.4, 2.8), (12, 4), (6, 3)])
@pytest.mark.parametrize(("arch", "shape", "padding"), [("lenet5", (28, 28, 1), "valid"), ("alexnet", (28, 28, 1), "valid"),
                                                         ("vgg_small", (28, 28, 1), "valid"),
                                                         ("alexnet_cifar", (32, 32, 3), "same")])
def test_no_two_labels_overlap(arch, shape, padding, size):
    figure = Figure(figsize=size, dpi=100)
    draw_network(_table(arch, shape, padding=padding), figure)
    assert _overlaps(figure) == []
    assert _overlaps(network_figure(_table(arch, shape, padding=padding), title="a title")) == []


def test_a_tiny_figure_is_still_drawn():
    figure = Figure(figsize=(1, 0.5))
    draw_network(_table("alexnet"), figure)
    FigureCanvasAgg(figure).draw()


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_export(tmp_path, suffix):
    path = tmp_path / f"lenet5.{suffix}"
    network_figure(_table(), title="LeNet-5 on digits").savefig(path)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == "png" else b"<svg" in data[:2000]
    if suffix == "svg":
        assert "6@28×28" in data.decode() or "6@28" in data.decode()  # text kept as text or paths

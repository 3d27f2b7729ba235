"""Shape inspector vs the formula and vs the Keras models it describes."""

from __future__ import annotations

import itertools

import pytest

from cnnstudio.core.config import ModelOptions
from cnnstudio.core.errors import ConfigError
from cnnstudio.core.network import layer_specs as ls
from cnnstudio.core.network.architectures import ARCHITECTURES, layer_specs
from cnnstudio.core.network.model_builder import build_model
from cnnstudio.core.network.shape_table import shape_table

PADDINGS = ("valid", "same", "2")
POOLINGS = ("max", "avg", "min")


def formula(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


def test_lenet5_classic_shapes_and_parameter_count() -> None:
    table = shape_table(ModelOptions(arch="lenet5", padding="valid"), (28, 28, 1), 10)
    shapes = {row.name: row.output_shape for row in table.rows}
    assert shapes["input_pad"] == (32, 32, 1)
    assert [shapes[n] for n in ("c1", "s2", "c3", "s4")] == [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16)]
    assert [shapes[n] for n in ("c5", "f6", "output")] == [(120,), (84,), (10,)]
    assert table.params == 61_706


def _expected_spatial(specs: list[ls.LayerSpec], size: int) -> list[int]:
    """Independent walk with floor((n + 2p - k) / s) + 1 ('same': ceil(n / s))."""
    out = []
    for spec in specs:
        if isinstance(spec, ls.ZeroPad):
            size = size + 2 * spec.pixels
        elif isinstance(spec, ls.Resize):
            size = spec.height
        elif isinstance(spec, (ls.Conv, ls.Pool)):
            size = -(-size // spec.stride) if spec.padding == "same" else formula(size, spec.kernel, spec.stride, 0)
        out.append(size)
    return out


@pytest.mark.parametrize("arch,pooling,padding", list(itertools.product(sorted(ARCHITECTURES), POOLINGS, PADDINGS)))
def test_every_combination_matches_formula_and_keras(arch: str, pooling: str, padding: str) -> None:
    input_shape = (32, 32, 3) if arch == "alexnet_cifar" else (28, 28, 1)
    options = ModelOptions(arch=arch, pooling=pooling, padding=padding)
    specs = layer_specs(options, input_shape, 10)
    if arch == "alexnet_cifar" and padding == "valid":
        with pytest.raises(ConfigError, match="conv4"):
            shape_table(options, input_shape, 10)
        return
    table = shape_table(options, input_shape, 10)
    spatial = [row.output_shape[0] for row in table.rows if len(row.output_shape) == 3]
    expected = [s for s, spec in zip(_expected_spatial(specs, input_shape[0]), specs) if not isinstance(
        spec, (ls.Flatten, ls.Dense, ls.Dropout))]
    assert spatial == expected
    if padding == "2":
        assert sum(isinstance(s, ls.ZeroPad) for s in specs) >= sum(isinstance(s, ls.Conv) for s in specs)
    assert any(row.kind == {"max": "MaxPooling2D", "avg": "AveragePooling2D", "min": "MinPooling2D"}[pooling]
               for row in table.rows)

    model = build_model(options, input_shape, 10)
    keras_shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers[1:]}
    assert {row.name: row.output_shape for row in table.rows} == keras_shapes
    assert table.params == model.count_params()


def test_batch_norm_and_activation_are_applied_to_every_convolution() -> None:
    options = ModelOptions(arch="vgg_small", batch_norm=True, activation="tanh", padding="same")
    table = shape_table(options, (28, 28, 1), 10)
    kinds = [row.kind for row in table.rows]
    assert kinds.count("Conv2D") == kinds.count("BatchNormalization") == 4
    model = build_model(options, (28, 28, 1), 10)
    assert table.params == model.count_params()
    assert all(layer.get_config()["activation"] == "tanh" for layer in model.layers if layer.name.endswith("_act"))


def test_pool_size_and_stride_override_architecture_defaults() -> None:
    table = shape_table(ModelOptions(arch="lenet5", pool_size=3, pool_stride=2), (28, 28, 1), 10)
    shapes = {row.name: row.output_shape for row in table.rows}
    assert shapes["s2"] == (formula(28, 3, 2, 0), formula(28, 3, 2, 0), 6) == (13, 13, 6)


def test_alexnet_resizes_and_expands_gray_input_inside_the_model() -> None:
    table = shape_table(ModelOptions(arch="alexnet", padding="same"), (28, 28, 1), 10)
    shapes = {row.name: row.output_shape for row in table.rows}
    assert shapes["resize"] == (224, 224, 1) and shapes["to_rgb"] == (224, 224, 3)
    assert shapes["conv1"] == (56, 56, 64) and shapes["pool5"] == (7, 7, 256)  # pools pad too with "same"
    assert shapes["fc6"] == (4096,) and shapes["fc7"] == (4096,)


def test_macs_of_lenet5() -> None:
    table = shape_table(ModelOptions(), (28, 28, 1), 10)
    macs = {row.name: row.macs for row in table.rows}
    assert macs["c1"] == 28 * 28 * 6 * 5 * 5 * 1
    assert macs["c3"] == 10 * 10 * 16 * 5 * 5 * 6
    assert macs["c5"] == 400 * 120


@pytest.mark.parametrize("options,shape,needle", [
    (ModelOptions(arch="lenet5", pool_size=16, pool_stride=16), (28, 28, 1), "'c3'"),
    (ModelOptions(arch="vgg_small", padding="valid"), (8, 8, 1), "'conv2_1'"),
    (ModelOptions(arch="lenet5"), (4, 4, 1), "'c1'"),
])
def test_impossible_configuration_names_layer_and_sizes(options: ModelOptions, shape: tuple, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        shape_table(options, shape, 10)
    message = str(info.value)
    assert needle in message and "×" in message and "\n" not in message
    with pytest.raises(ConfigError):
        build_model(options, shape, 10)


@pytest.mark.parametrize("kwargs", [{"pooling": "median"}, {"padding": "huge"}, {"activation": "gelu"},
                                    {"dropout": 1.5}, {"pool_size": 0}, {"arch": "resnet999"}])
def test_bad_options_are_refused_with_a_reason(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        shape_table(ModelOptions(**kwargs), (28, 28, 1), 10)


@pytest.mark.parametrize("options,shape,expected", [
    (ModelOptions(arch="lenet5", pool_size=16, pool_stride=1), (18, 18, 1),
     "layer 's2' (max pool 16×16, stride 1, valid): the 14×14 input is smaller than the 16×16 pooling window"),
    (ModelOptions(arch="lenet5"), (4, 4, 1), "layer 'c1' (6@5×5, stride 1, valid): the 4×4 input is smaller than "
                                             "the 5×5 kernel"),
])
def test_impossible_configuration_compares_input_and_window_sizes(options: ModelOptions, shape: tuple,
                                                                   expected: str) -> None:
    """The message says which window does not fit into which input, never a negative output size."""
    with pytest.raises(ConfigError) as info:
        shape_table(options, shape, 10)
    message = str(info.value)
    assert message.startswith(expected) and "-" not in message.replace("'same'", "").replace("LeNet-5", "")


@pytest.mark.parametrize("spec,description,window", [
    (ls.Conv("c1", filters=6, kernel=5), "6@5×5, stride 1, valid", "5×5 kernel"),
    (ls.Pool("s2", kernel=16, stride=1), "max pool 16×16, stride 1, valid", "16×16 pooling window"),
])
def test_a_window_larger_than_its_input_is_a_layer_error_with_its_fields(spec, description: str, window: str) -> None:
    """The layer's name, its settings and the bare reason travel as fields; the message reads as before."""
    import pickle

    from cnnstudio.core.errors import LayerError

    with pytest.raises(LayerError) as info:
        spec.output_shape((4, 4, 1))
    error = info.value
    assert isinstance(error, ConfigError)  # every ``except ConfigError`` still catches it
    assert (error.layer, error.description) == (spec.name, description)
    assert error.reason == (f"the 4×4 input is smaller than the {window}, so nothing would come out; "
                            "use 'same' padding, a smaller kernel or pool, or larger images")
    assert str(error) == f"layer '{spec.name}' ({description}): {error.reason}"
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.layer, copy.description, copy.reason) == (
        LayerError, str(error), error.layer, error.description, error.reason)


def test_images_too_small_are_refused_with_the_smallest_size_that_works() -> None:
    from cnnstudio.core.network.shape_table import smallest_side

    assert smallest_side(ModelOptions(), (9, 9, 1), 10) == 16  # 5×5 conv, 2×2 pool, 5×5 conv, 2×2 pool, valid
    shape_table(ModelOptions(), (16, 16, 1), 10)
    with pytest.raises(ConfigError, match=r"LeNet-5 needs images of at least 16×16") as refused:  # its title
        shape_table(ModelOptions(), (15, 15, 1), 10)
    assert "×-" not in str(refused.value) and "(-" not in str(refused.value)  # no negative sizes in the reason


def test_alexnet_trains_at_its_own_learning_rate_and_the_cli_uses_it() -> None:
    """At Adam 0.002 AlexNet stayed at chance on MNIST (loss ln 10 for 3 epochs), at 0.0001 it reached 98.96%
    (docs/benchmarks.md): a new AlexNet starts at its own rate unless one is given; a resumed model keeps its own."""
    from cnnstudio.cli import _train_options, build_parser
    from cnnstudio.core.config import TrainOptions
    from cnnstudio.core.network.architectures import default_learning_rate

    assert default_learning_rate("alexnet") == 0.0001
    assert default_learning_rate("lenet5") == default_learning_rate("my-design") == TrainOptions().learning_rate

    def options(*argv: str, base=None, arch="lenet5") -> TrainOptions:
        return _train_options(build_parser().parse_args(["train", *argv]), base, arch)

    assert options("--arch", "alexnet", arch="alexnet").learning_rate == 0.0001
    assert options("--arch", "alexnet", "--learning-rate", "0.01", arch="alexnet").learning_rate == 0.01
    assert options(arch="lenet5").learning_rate == 0.002
    resumed = TrainOptions(learning_rate=0.0003)
    assert options("--resume", "m.keras", base=resumed, arch="alexnet").learning_rate == 0.0003


def test_an_impossible_network_keeps_the_rows_before_its_first_impossible_layer() -> None:
    from cnnstudio.core.network.shape_table import rows_before_problem

    options = ModelOptions(arch="lenet5", pool_size=16, pool_stride=16)
    with pytest.raises(ConfigError, match="'c3'"):
        shape_table(options, (28, 28, 1), 10)
    table, failing = rows_before_problem(options, (28, 28, 1), 10)
    assert [r.name for r in table.rows] == ["rescale", "input_pad", "c1", "s2"] and failing.name == "c3"
    assert table.rows[-1].output_shape == (1, 1, 6)  # the 16×16 pool left one pixel
    whole, none = rows_before_problem(ModelOptions(arch="lenet5"), (28, 28, 1), 10)
    assert none is None and whole == shape_table(ModelOptions(arch="lenet5"), (28, 28, 1), 10)


def test_the_terminal_table_keeps_huge_numbers_and_long_names_apart() -> None:
    """Columns widen to their widest cell: 281,474,976,776,192 parameters do not run into the MACs beside them."""
    from cnnstudio.core.network.design_text import parse_layers

    design = parse_layers("resize 1024, conv 4096 3 same, flatten, dense 65536")
    text = shape_table(ModelOptions(design=design), (28, 28, 1), 10).format()
    dense = next(line for line in text.splitlines() if line.startswith("dense1"))
    assert dense.split()[3:5] == ["281,474,976,776,192", "281,474,976,710,656"]
    header, first = text.splitlines()[:2]
    assert header.index("params") + len("params") == first.index("0") + 1  # right-aligned under its header


def test_lenets_input_border_says_it_stays_under_valid_padding() -> None:
    """'valid (no border)' and LeNet-5's 2 px input border do not contradict each other: the row says whose it is."""
    from cnnstudio.core.config import ModelOptions
    from cnnstudio.core.network.shape_table import shape_table

    rows = {row.name: row for row in shape_table(ModelOptions(padding="valid"), (28, 28, 1), 10).rows}
    assert rows["input_pad"].detail == "zero border of 2 px on the input (the architecture's, under any padding)"
    assert rows["c1"].detail.endswith("valid")

"""Designs: the data model, its text and file forms, presets as designs, and designs wherever a preset works."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnstudio import cli
from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
from cnnstudio.core.errors import CnnStudioError, ConfigError, LayerError
from cnnstudio.core.experiments.study import flat_settings, study_grid
from cnnstudio.core.files.model_record import ModelRecord
from cnnstudio.core.network import layer_specs as ls
from cnnstudio.core.network.architectures import ARCHITECTURES, layer_specs
from cnnstudio.core.network.design import (
    DESIGN_VERSION,
    MAX_LAYERS,
    Design,
    DesignError,
    LayerEntry,
    load_design,
    read_design_text,
    save_design,
)
from cnnstudio.core.network.design_presets import PRESETS, preset_design
from cnnstudio.core.network.design_text import format_layers, parse_layers
from cnnstudio.core.network.shape_table import shape_table

LENET_TEXT = "pad 2, conv 6 5, pool 2, conv 16 5, pool 2, flatten, dense 120, dense 84"
OPTION_SETS = (
    {}, {"padding": "same", "pooling": "min", "batch_norm": True, "dropout": 0.2},
    {"padding": "2", "activation": "tanh", "pooling": "avg"},
)


def test_the_inline_lenet_string_is_lenet5() -> None:
    design = parse_layers(LENET_TEXT)
    table = shape_table(ModelOptions(design=design), (28, 28, 1), 10)
    assert table.params == 61_706
    assert table.params == shape_table(ModelOptions(arch="lenet5"), (28, 28, 1), 10).params
    assert [row.output_shape for row in table.rows][-1] == (10,)


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_every_preset_as_a_design_builds_the_same_layers(name: str, shape: tuple[int, int, int]) -> None:
    design = preset_design(name, shape)
    assert design.name == name
    for values in OPTION_SETS:
        preset = ModelOptions(arch=name, **values)
        assert layer_specs(dataclasses.replace(preset, design=design), shape, 10) == layer_specs(preset, shape, 10)
    assert parse_layers(format_layers(design), name) == dataclasses.replace(design, description="")
    assert Design.from_json(json.loads(json.dumps(design.to_json()))) == design


def test_teaching_presets() -> None:
    allconv = shape_table(ModelOptions(arch="lenet5_allconv"), (28, 28, 1), 10)
    gap = shape_table(ModelOptions(arch="lenet5_gap"), (28, 28, 1), 10)
    assert not any("Pooling" in row.kind for row in allconv.rows)
    assert [row.output_shape for row in allconv.rows if row.name in ("s2", "s4")] == [(14, 14, 6), (5, 5, 16)]
    assert "GlobalAveragePooling2D" in [row.kind for row in gap.rows] and "Dense" not in [
        row.kind for row in gap.rows if row.name != "output"]
    assert (allconv.params, gap.params) == (62_896, 21_182)
    assert set(ARCHITECTURES) == {"lenet5", "alexnet", "alexnet_cifar", "vgg_small"}  # the classic four unchanged


# Generated designs -------------------------------------------------------------------------------

SIDE = 12


@st.composite
def designs(draw) -> tuple[Design, ModelOptions, tuple[int, int, int]]:
    """A valid design on tiny images, with options whose maps never become empty."""
    channels = draw(st.sampled_from((1, 3)))
    padding = draw(st.sampled_from(("valid", "same", "1")))
    options = {"padding": padding, "pooling": draw(st.sampled_from(("max", "avg", "min"))),
               "activation": draw(st.sampled_from(("relu", "tanh", "sigmoid"))), "batch_norm": draw(st.booleans())}
    side, layers = SIDE, []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(("conv", "pool", "pad", "bn", "act", "dropout")))
        if kind == "conv":
            pinned = draw(st.sampled_from(("global", "valid", "same", "1")))
            effective = padding if pinned == "global" else pinned
            grown = side + (2 if effective == "1" else 0)
            kernel = draw(st.integers(1, min(3, grown)))
            stride = draw(st.integers(1, 2))
            layers.append(LayerEntry("conv", filters=draw(st.integers(1, 4)), kernel=kernel,
                                     stride=None if stride == 1 else stride, padding=pinned))
            side = -(-grown // stride) if effective == "same" else (grown - kernel) // stride + 1
        elif kind == "pool":
            pinned = draw(st.sampled_from(("global", "valid", "same")))
            same = pinned == "same" or (pinned == "global" and padding == "same")
            size = draw(st.integers(1, min(2, side)))
            stride = draw(st.integers(1, 2))
            layers.append(LayerEntry("pool", size=size, stride=stride,
                                     pooling=draw(st.sampled_from(("global", "max", "avg", "min"))), padding=pinned))
            side = -(-side // stride) if same else (side - size) // stride + 1
        elif kind == "pad":
            pixels = draw(st.integers(1, 2))
            layers.append(LayerEntry("pad", pixels=pixels))
            side += 2 * pixels
        elif kind == "act":
            layers.append(LayerEntry("act", activation=draw(st.sampled_from(("global", "relu", "tanh")))))
        elif kind == "dropout":
            layers.append(LayerEntry("dropout", rate=draw(st.sampled_from((0.0, 0.25)))))
        else:
            layers.append(LayerEntry(kind))
    layers.append(LayerEntry(draw(st.sampled_from(("flatten", "gap")))))
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(("dense", "dropout", "bn", "act")))
        layers.append(LayerEntry("dense", units=draw(st.integers(1, 6))) if kind == "dense"
                      else LayerEntry("dropout", rate=0.5) if kind == "dropout" else LayerEntry(kind))
    return Design("generated", tuple(layers)), ModelOptions(**options), (SIDE, SIDE, channels)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(designs())
def test_generated_designs_shape_table_matches_keras(case) -> None:
    from cnnstudio.core.network.model_builder import build_model

    design, options, shape = case
    options = dataclasses.replace(options, design=design)
    table = shape_table(options, shape, 3)
    model = build_model(options, shape, 3)
    assert {row.name: row.output_shape for row in table.rows} == {
        layer.name: tuple(layer.output.shape[1:]) for layer in model.layers[1:]}
    assert table.params == model.count_params()


@settings(max_examples=40, deadline=None)
@given(designs())
def test_generated_designs_round_trip_through_json_and_text(case) -> None:
    design = case[0]
    assert Design.from_json(json.loads(json.dumps(design.to_json()))) == design
    assert parse_layers(format_layers(design), design.name) == design


@settings(max_examples=40, deadline=None)
@given(designs(), st.data())
def test_generated_invalid_designs_are_refused_naming_the_layer(case, data) -> None:
    design, options, shape = case
    position = data.draw(st.integers(1, len(design.layers)))
    field, value = data.draw(st.sampled_from((("filters", 0), ("kernel", "x"), ("units", -1), ("rate", 1.0),
                                              ("padding", "wide"), ("size", True), ("pooling", "median"))))
    broken = design.to_json()
    broken["layers"][position - 1][field] = value
    with pytest.raises(DesignError) as caught:
        Design.from_json(broken)
    assert caught.value.position == position
    assert str(caught.value).startswith(f"layer {position} ({design.layers[position - 1].kind}): ")


@settings(max_examples=25, deadline=None)
@given(designs(), st.data())
def test_a_kernel_larger_than_the_maps_is_refused_naming_that_layer(case, data) -> None:
    design, options, shape = case
    first_flat = next(i for i, e in enumerate(design.layers) if e.kind in ("flatten", "gap"))
    at = data.draw(st.integers(0, first_flat))
    layers = (*design.layers[:at], LayerEntry("conv", name="too_big", filters=2, kernel=60, padding="valid"),
              *design.layers[at:])
    with pytest.raises(ConfigError, match="layer 'too_big'"):
        shape_table(dataclasses.replace(options, design=Design("bad", layers)), shape, 3)


# Malformed input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text,position,kind,field", [
    ("conv 6 x, flatten", 1, "conv", "kernel"),
    ("pad 2, conv 6, flatten", 2, "conv", "kernel"),
    ("conv 6 5 stride 0, flatten", 1, "conv", "stride"),
    ("pool 2 median, flatten", 1, "pool", None),
    ("flatten, dense 0", 2, "dense", "units"),
    ("flatten, dropout 1", 2, "dropout", "rate"),
    ("flatten, act swish", 2, "act", "activation"),
    ("conv 4 3, flatten, conv 4 3", 3, "conv", None),
    ("conv 4 3, dense 10", 2, "dense", None),
    ("conv 4 3, pool 2", 3, "output", None),
    ("conv 4 3 as a, conv 4 3 as a, flatten", 2, "conv", "name"),
    ("conv 4 3, resize 32, flatten", 2, "resize", None),
    ("warp 3, flatten", 1, None, "kind"),
])
def test_bad_layer_text_names_the_layer_and_field(text, position, kind, field) -> None:
    with pytest.raises(DesignError) as caught:
        parse_layers(text)
    error = caught.value
    assert (error.position, error.kind, error.field) == (position, kind, field)
    assert "\n" not in str(error) and str(error).startswith(f"layer {position}")


def test_the_brief_s_example_message() -> None:
    with pytest.raises(DesignError, match=r"^layer 3 \(conv\): kernel must be a whole number from 1 to 64, not 'x'$"):
        parse_layers("pad 2, pool 2, conv 6 x, flatten")


@pytest.mark.parametrize("data,needle", [
    ({"format": "cnnstudio-design", "version": DESIGN_VERSION + 1, "layers": []}, "newer than this CNN Studio"),
    ({"format": "keras", "version": 1, "layers": []}, "not a CNN Studio design"),
    ({"format": "cnnstudio-design", "version": True, "layers": []}, "version must be"),
    ({"format": "cnnstudio-design", "version": 1, "layers": "conv"}, "layers must be a list"),
    ({"format": "cnnstudio-design", "version": 1, "layers": [{"kind": "flatten"}] * (MAX_LAYERS + 1)}, "at most 200"),
    ({"format": "cnnstudio-design", "version": 1, "layers": [{"kind": "conv", "filters": 2, "kernel": 3,
                                                              "dilation": 2}, {"kind": "flatten"}]},
     "layer 1 (conv): has an unknown field 'dilation'"),
    ({"format": "cnnstudio-design", "version": 1, "layers": [{"kind": "conv", "filters": 2.5, "kernel": 3},
                                                             {"kind": "flatten"}]}, "filters must be a whole number"),
    ({"format": "cnnstudio-design", "version": 1, "layers": [{"kind": "flatten", "units": 3}]},
     "layer 1 (flatten): has an unknown field 'units'"),
    ({"format": "cnnstudio-design", "version": 1, "name": "\x1b[31m", "layers": [{"kind": "flatten"}]},
     "name must be"),
    ({"format": "cnnstudio-design", "version": 1, "layers": [{"kind": "flatten"}], "extra": 1}, "unknown field"),
    ([1, 2], "not a CNN Studio design"),
])
def test_malformed_design_json_is_refused_in_one_line(data, needle) -> None:
    with pytest.raises(DesignError) as caught:
        Design.from_json(data)
    assert needle in str(caught.value) and "\n" not in str(caught.value)


def test_design_files_save_atomically_and_load(tmp_path) -> None:
    design = preset_design("alexnet_cifar", (32, 32, 3))
    path = save_design(design, tmp_path / "mine")
    assert path.name == "mine.cnn.json" and load_design(path) == design
    notepad = tmp_path / "notepad.cnn.json"  # saved with a UTF-8 byte-order mark, as Windows Notepad may
    notepad.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_design(notepad) == design
    notepad.unlink()
    assert [p.name for p in tmp_path.iterdir()] == ["mine.cnn.json"]
    (tmp_path / "big.cnn.json").write_bytes(b" " * 1_000_001)
    (tmp_path / "bad.cnn.json").write_text('{"format": "cnnstudio-design",')
    (tmp_path / "binary.cnn.json").write_bytes(b"\xff\xfe")
    for name, needle in (("big", "larger than"), ("bad", "not valid JSON"), ("binary", "not UTF-8"),
                         ("missing", "cannot read")):
        with pytest.raises(DesignError, match=needle):
            load_design(tmp_path / f"{name}.cnn.json")
    with pytest.raises(DesignError, match=r"x\.cnn\.json: layer 1 \(conv\): kernel"):
        read_design_text(json.dumps({"format": "cnnstudio-design", "version": 1, "layers": [
            {"kind": "conv", "filters": 1, "kernel": 0}, {"kind": "flatten"}]}), "x.cnn.json")


def test_design_error_is_a_config_error_and_a_cnnstudio_error() -> None:
    assert issubclass(DesignError, ConfigError) and issubclass(DesignError, CnnStudioError)
    listed = Design("listed", [LayerEntry("flatten")])  # a list of layers is kept as a tuple
    assert listed.layers == (LayerEntry("flatten"),)
    with pytest.raises(DesignError, match="tuple of LayerEntry"):
        Design("bad", ({"kind": "flatten"},))


# Designs wherever a preset works ------------------------------------------------------------------

MIXED = parse_layers("pad 1, conv 4 3 same, pool 2 avg, conv 6 3 stride 2, bn, act tanh, pool 2, dropout 0.25, "
                     "gap, dense 8, dropout 0.1", name="mixed")


def test_experiment_settings_and_records_carry_the_design(tmp_path) -> None:
    from cnnstudio.core.files.persistence import check_model_file, load_model, save_model
    from cnnstudio.core.network.model_builder import build_model

    experiment = Experiment(ModelOptions(design=MIXED, pooling="min"), TrainOptions(epochs=1), "digits")
    assert experiment.model.arch == "mixed"
    assert Experiment.from_dict(json.loads(json.dumps(experiment.to_dict()))) == experiment
    record = ModelRecord(experiment, [str(i) for i in range(10)], (28, 28, 1))
    model = build_model(experiment.model, (28, 28, 1), 10)
    path = save_model(model, tmp_path / "mixed.keras", record)
    assert check_model_file(path).experiment.model.design == MIXED
    loaded, reread = load_model(path)
    assert reread.experiment.model.design == MIXED and reread.to_json()["version"] == 3
    assert loaded.count_params() == shape_table(reread.experiment.model, (28, 28, 1), 10).params
    assert ModelRecord(Experiment(), ["a", "b"], (28, 28, 1)).to_json()["version"] == 2  # presets: as before


def test_a_record_whose_design_does_not_fit_its_images_is_refused() -> None:
    from cnnstudio.core.errors import ModelFileError

    record = ModelRecord(Experiment(ModelOptions(design=MIXED)), ["a", "b"], (28, 28, 1)).to_json()
    record["dataset"]["input_shape"] = [2, 2, 1]
    with pytest.raises(ModelFileError, match="damaged"):
        ModelRecord.from_json(record)
    record["dataset"]["input_shape"] = [28, 28, 1]
    record["experiment"]["model"]["design"]["layers"][1]["filters"] = 10**9
    with pytest.raises(ModelFileError, match=r"layer 2 \(conv\): filters"):
        ModelRecord.from_json(record)


def test_a_study_on_a_design_varies_only_the_layers_that_follow_the_options() -> None:
    base = Experiment(ModelOptions(design=MIXED), TrainOptions(epochs=1), "digits")
    grid = study_grid(base, ["max", "min"], ["valid", "same"])
    assert all(e.model.design == MIXED for e in grid)
    for experiment in grid:
        specs = {spec.name: spec for spec in layer_specs(experiment.model, (28, 28, 1), 10)}
        assert specs["pool1"].pooling == "avg" and specs["conv1"].padding == "same"  # pinned
        assert specs["pool2"].pooling == experiment.model.pooling  # follows
        assert specs["conv2"].padding == experiment.model.padding
    assert flat_settings(base)["design"] == format_layers(MIXED)


def test_an_exported_script_rebuilds_a_design_exactly(tmp_path) -> None:
    from cnnstudio.core.experiments.script_export import keras_script

    experiment = Experiment(ModelOptions(design=MIXED, pooling="min", batch_norm=True), TrainOptions(), "digits")
    path = tmp_path / "mixed.py"
    path.write_text(keras_script(experiment, (28, 28, 1), 10, path.name))
    result = subprocess.run([sys.executable, str(path), "--build-only"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    built = json.loads(result.stdout.strip().splitlines()[-1])
    table = shape_table(experiment.model, (28, 28, 1), 10)
    assert built["params"] == table.params
    assert [(layer["name"], tuple(layer["output_shape"])) for layer in built["layers"]] == [
        (row.name, row.output_shape) for row in table.rows]
    assert any(isinstance(spec, ls.GlobalAvgPool) for spec in layer_specs(experiment.model, (28, 28, 1), 10))


# The command line ---------------------------------------------------------------------------------

def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    args = cli.build_parser().parse_args(list(argv))
    code = cli.run_command(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_summary_of_the_inline_lenet(capsys) -> None:
    code, out, _ = run_cli(capsys, "summary", "--layers", LENET_TEXT, "--dataset", "digits", "--json")
    assert code == 0 and json.loads(out)["params"] == 61_706


def test_cli_saves_a_preset_as_a_design_and_uses_it(capsys, tmp_path) -> None:
    target = tmp_path / "gap.cnn.json"
    code, _, _ = run_cli(capsys, "summary", "--arch", "lenet5_gap", "--save-design", str(target))
    assert code == 0 and load_design(target) == preset_design("lenet5_gap")
    code, out, _ = run_cli(capsys, "summary", "--arch", str(target), "--json")
    assert code == 0 and json.loads(out)["params"] == 21_182


@pytest.mark.parametrize("argv,needle", [
    (("summary", "--layers", "conv 6 x, flatten"), "layer 1 (conv): kernel must be a whole number"),
    (("summary", "--layers", "conv 6 5, flatten", "--arch", "lenet5"), "not both"),
    (("summary", "--layers", "conv 6 5, pool 2, flatten", "--pool-size", "3"), "--pool-size applies to the presets"),
    (("summary", "--layers", "conv 6 40, flatten", "--dataset", "digits"), "layer 'conv1'"),
    (("train", "--layers", "conv 6 40, flatten", "--dataset", "digits", "--epochs", "1"), "layer 'conv1'"),
    (("study", "--layers", "conv 6 29, flatten", "--dataset", "digits", "--padding", "same,valid", "--epochs", "1"),
     "layer 'conv1'"),  # every combination is checked before the first one trains
])
def test_cli_refuses_bad_designs_in_one_line(capsys, argv, needle) -> None:
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_cli_refuses_a_newer_design_file(capsys, tmp_path) -> None:
    path = tmp_path / "future.cnn.json"
    path.write_text(json.dumps({"format": "cnnstudio-design", "version": 99, "layers": [{"kind": "flatten"}]}))
    code, _, err = run_cli(capsys, "train", "--arch", str(path), "--dataset", "digits", "--epochs", "1")
    assert code == 2 and "version 99, newer than this CNN Studio reads" in err


def test_cli_unknown_arch_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as caught:
        cli.build_parser().parse_args(["summary", "--arch", "resnet"])
    assert caught.value.code == 2


@pytest.mark.parametrize("argv", [("--arch", "lenet5_allconv"), ("--arch", "lenet5_gap"),
                                  ("--layers", "conv 4 3 stride 2, bn, gap")])
def test_cli_trains_the_teaching_presets_and_a_design_on_digits(capsys, tmp_path, argv) -> None:
    out_file = tmp_path / "model.keras"
    code, out, err = run_cli(capsys, "train", *argv, "--dataset", "digits", "--epochs", "1", "--out", str(out_file),
                             "--json")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["evaluated"] and 0.0 <= result["test_accuracy"] <= 1.0
    options = Experiment.from_dict(result["experiment"]).model
    assert result["params"] == shape_table(options, (28, 28, 1), 10).params
    code, out, _ = run_cli(capsys, "info", str(out_file), "--json")
    model = json.loads(out)["experiment"]["model"]
    if argv[0] == "--layers":
        assert Design.from_json(model["design"]) == parse_layers(argv[1], "custom")
    else:
        assert model["arch"] == argv[1] and model["design"] is None


def test_an_impossible_layer_is_named_once_with_its_row_and_kind() -> None:
    """Not "layer 2 (convolution): layer 'c1' (…)": the row, the kind, then the builder's words for the layer."""
    import dataclasses

    from cnnstudio.core.network.design_analysis import analyse
    from cnnstudio.core.network.design_presets import preset_design

    layers = list(preset_design("lenet5", (28, 28, 1)).layers)
    row = next(i for i, entry in enumerate(layers) if entry.kind == "conv")
    layers[row] = dataclasses.replace(layers[row], kernel=40)  # 40×40 on 32×32
    analysis = analyse(layers, "d", ModelOptions(), (28, 28, 1), 10)
    assert analysis.problem_row == row
    assert analysis.problem.startswith(f"layer {row + 1}, convolution '") and analysis.problem.count("layer") == 1
    assert "40×40" in analysis.problem and "32×32" in analysis.problem


@pytest.mark.parametrize("raised,said", [
    (lambda name: ConfigError(f"layer '{name}' looks odd"), "layer {row} (convolution): layer '{name}' looks odd"),
    (lambda name: LayerError(name, "as described", "why not"), "layer {row}, convolution '{name}' (as described): why not"),
])
def test_an_impossible_layer_is_named_from_the_error_s_fields_never_its_text(monkeypatch, raised, said) -> None:
    """Only a ``LayerError`` for this layer is merged into the row's name; other words are quoted whole."""
    from cnnstudio.core.network.design_analysis import analyse
    from cnnstudio.core.network.design_presets import preset_design

    def refuse(spec: ls.Conv, shape: tuple) -> tuple:
        raise raised(spec.name)

    monkeypatch.setattr(ls.Conv, "output_shape", refuse)
    layers = list(preset_design("lenet5", (28, 28, 1)).layers)
    row = next(i for i, entry in enumerate(layers) if entry.kind == "conv")
    analysis = analyse(layers, "d", ModelOptions(), (28, 28, 1), 10)
    assert analysis.problem_row == row
    assert analysis.problem == said.format(row=row + 1, name=analysis.design.layer_names()[row])


def test_a_saved_design_gets_the_permissions_of_any_new_file(tmp_path) -> None:
    """Written through a temporary file (0600): the design must end as a new file would (0666 less the umask)."""
    import os
    import stat

    from cnnstudio.core.network.design import save_design
    from cnnstudio.core.network.design_presets import preset_design

    old = os.umask(0o022)
    try:
        path = save_design(preset_design("lenet5", (28, 28, 1)), tmp_path / "mine.cnn.json")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        path.chmod(0o600)  # a replaced file keeps its own
        save_design(preset_design("lenet5", (28, 28, 1)), path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)

"""Model files and their records are untrusted input: every crafted file gives one clear ModelFileError."""

from __future__ import annotations

import copy
import json
import math
import os
import re
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from archive_helpers import write_zip, zip_members

from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
from cnnstudio.core.errors import ModelFileError, escape_controls, has_controls
from cnnstudio.core.files import persistence
from cnnstudio.core.files.model_record import (
    MAX_CLASS_NAME,
    MAX_EPOCHS_LOGGED,
    MAX_METRICS,
    RECORD_VERSION,
    ModelRecord,
    TrainingSegment,
    is_dataset_path,
)
from cnnstudio.core.files.model_signature import (
    MAX_CLASSES,
    ClassifierSignature,
    NotAnImageClassifier,
    RecordMismatch,
    classifier_signature,
)
from cnnstudio.core.files.persistence import (
    DamagedModelFile,
    check_model_file,
    load_model,
    read_record,
    remove_stale_temporaries,
    save_model,
)


def _record(classes: int = 3, shape: tuple[int, int, int] = (8, 8, 1)) -> ModelRecord:
    return ModelRecord(Experiment(ModelOptions(), TrainOptions(epochs=2), "digits"), [f"c{i}" for i in range(classes)],
                       shape, history={"loss": [1.0, 0.5], "accuracy": [0.4, 0.6]}, seconds_per_epoch=[0.5, 0.4],
                       test_loss=0.3, test_accuracy=0.9)


def _classifier(shape: tuple[int, int, int] = (8, 8, 1), classes: int = 3) -> Any:
    import keras

    inputs = keras.Input(shape)
    x = keras.layers.Conv2D(2, 3)(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))


@pytest.fixture(scope="module")
def sound(tmp_path_factory) -> Path:
    """A small image classifier (8×8 gray, 3 classes) with a matching record, saved by CNN Studio."""
    return save_model(_classifier(), tmp_path_factory.mktemp("sound") / "sound.keras", _record())


def _with_record(source: Path, target: Path, record: Any) -> Path:
    members = zip_members(source)
    members["cnnstudio.json"] = record if isinstance(record, bytes) else json.dumps(record).encode()
    return write_zip(target, members)


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "\x1b" not in text and "Traceback" not in text, text
    return text


# 1. valid Keras models that are not image classifiers -------------------------------------------

def _dense_1d(keras):
    inputs = keras.Input((10,))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))


def _rank3(keras):
    inputs = keras.Input((28, 28))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs)))


def _dynamic(keras):
    inputs = keras.Input((None, None, 1))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalMaxPooling2D()(inputs)))


def _two_inputs(keras):
    a, b = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    merged = keras.layers.Flatten()(keras.layers.Add()([a, b]))
    return keras.Model([a, b], keras.layers.Dense(3, activation="softmax")(merged))


def _sigmoid(keras):
    inputs = keras.Input((8, 8, 1))
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(inputs)))


def _two_outputs(keras):
    inputs = keras.Input((8, 8, 1))
    flat = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, [keras.layers.Dense(3, activation="softmax")(flat), keras.layers.Dense(2)(flat)])


def _rank3_output(keras):
    inputs = keras.Input((8, 8, 1))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))  # (None, 8, 8, 3)


def _too_many_classes(keras):
    inputs = keras.Input((2, 2, 1))
    return keras.Model(inputs, keras.layers.Dense(MAX_CLASSES + 1, activation="softmax")(keras.layers.Flatten()(inputs)))


def _four_channels(keras):
    inputs = keras.Input((8, 8, 4))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs)))


def _huge_image(keras):
    inputs = keras.Input((5000, 1, 1))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs)))


@pytest.mark.parametrize("build,needle", [
    (_dense_1d, "it takes 1 input of shape (10,), not images"),
    (_rank3, "it takes 1 input of shape (28, 28), not images"),
    (_dynamic, "images of shape (None, None, 1), whose size is not fixed"),
    (_two_inputs, "it takes 2 inputs of shapes (8, 8, 1), (8, 8, 1)"),
    (_sigmoid, "its output has 1 value, not a probability for each of 2 or more classes"),
    (_two_outputs, "it has 2 outputs"),
    (_rank3_output, "its output has shape (8, 8, 3), not one probability per class"),
    (_too_many_classes, f"its output has {MAX_CLASSES + 1:,} classes, more than {MAX_CLASSES:,}"),
    (_four_channels, "it takes images of shape (8, 8, 4)"),
    (_huge_image, "it takes images of shape (5000, 1, 1)"),
])
def test_models_that_are_not_image_classifiers_are_refused_on_load(tmp_path, build, needle) -> None:
    import keras

    path = tmp_path / "x.keras"
    build(keras).save(path)
    assert check_model_file(path) is None  # a sound Keras file: only loading knows its shapes
    with pytest.raises(NotAnImageClassifier) as refused:
        load_model(path)
    message = _one_line(refused.value)
    assert message.startswith("x.keras is not an image classifier CNN Studio can use: ")
    assert needle in message and "CNN Studio needs one input of images" in message
    assert needle in refused.value.reason


def test_an_image_classifier_is_accepted_and_described(sound) -> None:
    model, record = load_model(sound)
    assert classifier_signature(model) == ClassifierSignature((8, 8, 1), 3)
    assert record is not None and record.class_names == ["c0", "c1", "c2"]


@pytest.mark.parametrize("record,needle", [
    (_record(classes=10), "the record names 10 classes but the model outputs 3 classes"),
    (_record(shape=(28, 28, 1)), "the record says 28×28×1 images but the model takes 8×8×1"),
])
def test_a_record_that_does_not_match_its_model_is_refused(tmp_path, sound, record, needle) -> None:
    path = _with_record(sound, tmp_path / "lying.keras", record.to_json())
    assert check_model_file(path) is not None  # the record itself is well-formed
    with pytest.raises(RecordMismatch) as refused:
        load_model(path)
    assert _one_line(refused.value) == f"lying.keras: its experiment record does not match the model: {needle}"


def test_an_uncompiled_model_loads_and_can_be_evaluated(tmp_path) -> None:
    from cnnstudio.core.data.datasets import Dataset
    from cnnstudio.core.training.trainer import evaluate

    path = tmp_path / "raw.keras"
    _classifier().save(path)  # never compiled
    model, record = load_model(path)
    assert record is None and not model.compiled
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (6, 8, 8, 1)).astype("uint8")
    labels = np.array([0, 1, 2, 0, 1, 2])
    loss, accuracy = evaluate(model, Dataset("tiny", images, labels, images, labels))
    assert math.isfinite(loss) and loss >= 0 and 0.0 <= accuracy <= 1.0


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_model_with_non_finite_weights_is_refused_on_load(tmp_path, bad) -> None:
    """Its predictions would mean nothing; oneDNN's kernels even turn NaN weights into a confident 100%."""
    model = _classifier()
    kernel = model.layers[1].kernel
    values = np.array(kernel.numpy())
    values[0, 0, 0, 0] = bad
    kernel.assign(values)
    path = tmp_path / "diverged.keras"
    model.save(path)
    with pytest.raises(ModelFileError, match=r"^diverged\.keras: weight .*kernel holds NaN or infinite values"):
        load_model(path)


def test_a_model_file_named_in_capitals_is_refused_in_one_line_before_keras(tmp_path) -> None:
    path = tmp_path / "model.KERAS"
    _classifier().save(tmp_path / "model.keras")
    (tmp_path / "model.keras").rename(path)
    with pytest.raises(ModelFileError, match=r"^model\.KERAS: Keras opens model files only under a name ending in "
                                             r"\.keras \(lowercase\): rename it$"):
        load_model(path)


def test_the_cli_reports_a_non_classifier_in_one_line(tmp_path) -> None:
    import keras

    path = tmp_path / "vector.keras"
    _dense_1d(keras).save(path)
    env = {name: value for name, value in os.environ.items() if name != "CNNSTUDIO_DEBUG"}
    result = subprocess.run([sys.executable, "-m", "cnnstudio", "evaluate", str(path), "--dataset", "digits"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not an image classifier" in lines[0] and "(10,)" in lines[0], result.stderr


# 2. the record's schema ---------------------------------------------------------------------------

def _changed(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(_record().to_json())
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


_MISSING = object()


@pytest.mark.parametrize("path,value,needle", [
    (("test", "accuracy"), "abc", "test accuracy"),
    (("test", "accuracy"), "0.9", "test accuracy"),
    (("test", "accuracy"), 1.5, "test accuracy"),
    (("test", "accuracy"), -0.1, "test accuracy"),
    (("test", "accuracy"), math.nan, "test accuracy"),
    (("test", "accuracy"), True, "test accuracy"),
    (("test", "loss"), -1, "test loss"),
    (("test", "loss"), "0.3", "test loss"),
    (("test", "loss"), math.inf, "test loss"),
    (("test", "evaluated"), "yes", "test evaluated"),
    (("test",), [1, 2], "test must be a mapping"),
    (("experiment", "model", "arch"), "resnet9000", "arch 'resnet9000'"),
    (("experiment", "model", "arch"), 7, "experiment model arch"),
    (("experiment", "model", "pooling"), "median", "pooling"),
    (("experiment", "model", "padding"), "wide", "padding"),
    (("experiment", "model", "activation"), "gelu", "activation"),
    (("experiment", "model", "batch_norm"), "yes", "batch_norm"),
    (("experiment", "model", "dropout"), math.nan, "dropout"),
    (("experiment", "model", "pool_size"), True, "pool_size"),
    (("experiment", "train", "optimizer"), "lion", "optimizer"),
    (("experiment", "train", "lr_schedule"), "step", "schedule"),
    (("experiment", "train", "learning_rate"), "0.1", "learning_rate"),
    (("experiment", "train", "epochs"), True, "epochs"),
    (("experiment", "train", "seed"), "abc", "seed"),
    (("experiment", "train", "seed"), -1, "seed"),
    (("experiment", "train", "seed"), 2**64, "seed"),
    (("experiment", "train", "steps_per_execution"), 1.5, "steps_per_execution"),
    (("experiment", "dataset"), "\x1b[2Jevil", "experiment dataset contains control characters"),
    (("experiment", "dataset"), "d" * 5000, "experiment dataset is longer than 4,096"),
    (("experiment", "dataset"), 3, "experiment dataset must be text"),
    (("experiment",), "lenet5", "experiment must be a mapping"),
    (("dataset", "class_names"), "abc", "class names must be a list"),
    (("dataset", "class_names"), {"a": 1, "b": 2}, "class names must be a list"),
    (("dataset", "class_names"), [str(i) for i in range(2_000_000)], "more than 1,000"),
    (("dataset", "class_names"), [1, 2, 3], "class names must be text"),
    (("dataset", "class_names"), ["x" * (MAX_CLASS_NAME + 1), "b", "c"], "at most 255 characters"),
    (("dataset", "class_names"), ["alone"], "at least 2 classes"),
    (("dataset", "input_shape"), [8, 8], "height, width and channels"),
    (("dataset", "input_shape"), [0, 8, 1], "input height"),
    (("dataset", "input_shape"), [8, 5000, 1], "input width"),
    (("dataset", "input_shape"), [8, 8, 2], "input channels"),
    (("dataset", "input_shape"), ["8", 8, 1], "input height"),
    (("dataset", "input_shape"), [True, 8, 1], "input height"),
    (("dataset", "input_shape"), 8, "input shape must be a list"),
    (("history",), [1.0], "history must be a mapping"),
    (("history",), {f"m{i}": [] for i in range(MAX_METRICS + 1)}, "metrics, more than"),
    (("history", "loss"), [0.5] * (MAX_EPOCHS_LOGGED + 1), "history loss has 100,001 entries"),
    (("history", "loss"), ["0.5", 0.4], "history loss value"),
    (("history", "loss"), [math.inf, 0.4], "a history loss value must be a finite number or NaN, not inf"),
    (("seconds_per_epoch",), [-1.0, 2.0], "must be a finite number of at least 0, not -1.0"),
    (("history", "\x1b[31mred"), [0.5, 0.4], "metric name contains control characters"),
    (("seconds_per_epoch",), ["1", 2], "seconds per epoch"),
    (("seconds_per_epoch",), [-1.0, 2.0], "seconds per epoch"),
    (("seconds_per_epoch",), [math.nan, 2.0], "seconds per epoch"),
    (("preprocessing", "digit_like"), "false", "digit_like"),
    (("segments",), [{**TrainingSegment("adam", 0.002, "cosine", 64, "digits", 0.0, 2.0, "fresh").to_json(),
                      "dataset": "\x1b]0;owned\x07"}], "segment dataset contains control characters"),
    (("dataset",), _MISSING, "it has no 'dataset'"),
])
def test_a_damaged_record_is_refused_naming_the_field(path, value, needle) -> None:
    data = _changed(path, value)
    if value is _MISSING:
        del data[path[-1]]
    with pytest.raises(ModelFileError) as refused:
        ModelRecord.from_json(data)
    message = _one_line(refused.value)
    assert message.startswith("the experiment record is damaged") and needle in message, message
    assert len(message) < 600


def test_a_record_survives_a_json_round_trip_with_nan_in_its_history() -> None:
    data = json.loads(json.dumps(_changed(("history", "loss"), [math.nan, 0.4])))
    record = ModelRecord.from_json(data)
    assert math.isnan(record.history["loss"][0]) and record.history["loss"][1] == 0.4
    assert ModelRecord.from_json(_changed(("test", "loss"), math.nan)).test_loss != 0.3  # a diverged run's NaN


def test_control_characters_in_class_names_are_escaped_not_obeyed() -> None:
    record = ModelRecord.from_json(_changed(("dataset", "class_names"), ["\x1b[31mred", "new\nline", "\u202eevil"]))
    assert record.class_names == ["\\x1b[31mred", "new\\x0aline", "\\u202eevil"]
    assert not any(has_controls(name) for name in record.class_names)
    assert escape_controls("plain text, é, 字") == "plain text, é, 字"


def test_a_damaged_record_in_a_file_is_called_damaged(tmp_path, sound) -> None:
    path = _with_record(sound, tmp_path / "bad.keras", _changed(("test", "accuracy"), "abc"))
    for check in (read_record, check_model_file, load_model):
        with pytest.raises(DamagedModelFile, match="test accuracy") as refused:
            check(path)
        assert _one_line(refused.value).startswith("bad.keras: the experiment record is damaged")


@pytest.mark.parametrize("member", ["cnnstudio.json", "config.json"])
def test_deeply_nested_json_is_damaged_not_a_recursion_error(tmp_path, sound, member) -> None:
    members = zip_members(sound)
    depth = 200_000
    members[member] = b'{"format": "cnnstudio-experiment", "experiment": ' + b"[" * depth + b"]" * depth + b"}"
    path = write_zip(tmp_path / "deep.keras", members)
    with pytest.raises(DamagedModelFile) as refused:
        check_model_file(path)
    assert "RecursionError" in _one_line(refused.value)


def test_a_deep_config_that_parses_is_walked_without_recursion() -> None:
    config: Any = {"class_name": "Lambda"}
    for _ in range(100_000):
        config = {"class_name": "Functional", "config": [config]}
    assert "Lambda" in persistence._find_code(config)
    assert persistence._find_code({"class_name": ["unhashable"], "config": {}}) is None


# 3. size bounds on archive members ----------------------------------------------------------------

@pytest.mark.parametrize("member", ["cnnstudio.json", "config.json", "metadata.json"])
def test_a_json_member_over_the_limit_is_refused_before_it_is_read(tmp_path, sound, monkeypatch, member) -> None:
    members = zip_members(sound)
    members[member] = b"{" + b" " * (persistence.MAX_JSON_MEMBER + 1) + b"}"  # 16 MB of spaces: 16 KB packed
    path = write_zip(tmp_path / "bomb.keras", members)
    assert path.stat().st_size < 2**20

    original_open = zipfile.ZipFile.open

    def guarded_open(self, name, *args, **kwargs):
        assert getattr(name, "filename", name) != member, "an oversized member was read"
        return original_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "testzip", lambda self: None)  # testzip streams it; the read is checked
    monkeypatch.setattr(zipfile.ZipFile, "open", guarded_open)
    check = read_record if member == "cnnstudio.json" else check_model_file
    with pytest.raises(DamagedModelFile, match=f"{re.escape(member)} would unpack to .* more than 16,777,216"):
        check(path)


def test_a_lying_size_header_cannot_make_a_read_longer(tmp_path, sound) -> None:
    members = zip_members(sound)
    record = json.dumps(_record().to_json()).encode()
    members["cnnstudio.json"] = record + b" " * 5000
    path = write_zip(tmp_path / "liar.keras", members, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    true_size = len(members["cnnstudio.json"]).to_bytes(4, "little")
    central = data.index(b"PK\x01\x02")  # the first central-directory entry
    patched = 0
    while (at := data.find(b"PK\x01\x02", central)) != -1:  # every central entry: size fields at +20/+24
        name_length = int.from_bytes(data[at + 28:at + 30], "little")
        if data[at + 46:at + 46 + name_length] == b"cnnstudio.json":
            assert data[at + 24:at + 28] == true_size
            data[at + 24:at + 28] = (100).to_bytes(4, "little")  # says 100 bytes, holds thousands
            patched += 1
        central = at + 4
    assert patched == 1
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedModelFile) as refused:
        read_record(path)
    _one_line(refused.value)


def test_too_many_members_are_refused(tmp_path, sound) -> None:
    members = zip_members(sound)
    members.update({f"assets/{i}": b"" for i in range(persistence.MAX_MEMBERS)})
    with pytest.raises(DamagedModelFile, match="members, more than the 1,000"):
        check_model_file(write_zip(tmp_path / "crowd.keras", members))


def test_total_unpacked_size_is_bounded_before_anything_is_unpacked(tmp_path, sound, monkeypatch) -> None:
    monkeypatch.setattr(persistence, "MAX_TOTAL_SIZE", 2000)

    def no_testzip(self):
        raise AssertionError("testzip ran before the size check")

    monkeypatch.setattr(zipfile.ZipFile, "testzip", no_testzip)
    with pytest.raises(DamagedModelFile, match="GiB a model file may have"):
        check_model_file(sound)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path, alarm) -> None:
    fifo = tmp_path / "pipe.keras"
    os.mkfifo(fifo)
    for check in (check_model_file, read_record, load_model):
        with pytest.raises(ModelFileError, match="not a regular file"):
            check(fifo)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_link_to_a_device_is_refused_without_reading_it(tmp_path, alarm) -> None:
    link = tmp_path / "zero.keras"
    link.symlink_to("/dev/zero")
    with pytest.raises(ModelFileError, match="zero.keras: not a regular file"):
        load_model(link)


def test_a_folder_is_no_model_file(tmp_path) -> None:
    folder = tmp_path / "folder.keras"
    folder.mkdir()
    with pytest.raises(ModelFileError, match="folder.keras: a folder, not a model file$"):
        check_model_file(folder)


def test_a_file_name_with_control_characters_is_shown_escaped(tmp_path) -> None:
    path = tmp_path / "evil\x1b[2J.keras"
    path.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError) as refused:
        check_model_file(path)
    assert "evil\\x1b[2J.keras" in _one_line(refused.value)


# 4. permissions of saved files --------------------------------------------------------------------

@pytest.fixture
def umask():
    """Set the process umask for a test; the previous one comes back after it."""
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


@pytest.fixture(scope="module")
def small_model() -> Any:
    return _classifier()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask,expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_the_umask_default(tmp_path, small_model, umask, mask, expected) -> None:
    umask(mask)
    assert _mode(save_model(small_model, tmp_path / "new.keras", _record())) == expected


@pytest.mark.parametrize("existing", [0o644, 0o640, 0o600])
def test_overwriting_keeps_the_existing_files_mode(tmp_path, small_model, umask, existing) -> None:
    umask(0o077 if existing != 0o600 else 0o022)  # a umask that would give another mode
    path = tmp_path / "old.keras"
    path.write_bytes(b"old")
    path.chmod(existing)
    save_model(small_model, path, _record())
    assert _mode(path) == existing and path.read_bytes() != b"old"


# 5. leftovers of killed saves --------------------------------------------------------------------

def test_stale_temporary_files_in_the_targets_folder_are_removed_and_nothing_else(tmp_path, small_model) -> None:
    """Any target's: the run history saves each run's model once under its own name, so a leftover's name never
    recurs (a save killed by SIGTERM left one there for good)."""
    old = time.time() - 2 * 3600
    names = {
        ".m.cnnstudio-tmp-abcd_123.keras": True,  # ours, for m.keras, two hours old: a killed save's
        ".m.cnnstudio-tmp-fresh123.keras": False,  # ours but recent: maybe a save in progress
        ".m.abcd1234.keras": False,  # the old naming, which a user's file could have
        ".m.cnnstudio-tmp-abc.keras": False,  # not 8 random characters
        ".m.cnnstudio-tmp-ABCD1234.keras": False,  # mkstemp never uses capitals
        ".20261126-234251-d54042.cnnstudio-tmp-e19u5n9x.keras": True,  # another target's (a run's copy)
        ".m.cnnstudio-tmp-abcd1234.keras.bak": False,
        "m.cnnstudio-tmp-abcd1234.keras": False,
    }
    for name, _stale in names.items():
        (tmp_path / name).write_bytes(b"x")
        if name != ".m.cnnstudio-tmp-fresh123.keras":
            os.utime(tmp_path / name, (old, old))
    target = tmp_path / "elsewhere"
    target.write_bytes(b"keep me")
    link = tmp_path / ".m.cnnstudio-tmp-link1234.keras"
    link.symlink_to(target)
    os.utime(link, (old, old), follow_symlinks=False)
    save_model(small_model, tmp_path / "m.keras", None)
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {name for name, stale in names.items() if not stale} | {"m.keras", "elsewhere", link.name}
    assert target.read_bytes() == b"keep me"
    assert remove_stale_temporaries(tmp_path, age=0) == [tmp_path / ".m.cnnstudio-tmp-fresh123.keras"]


def test_a_model_saves_under_the_longest_file_name_the_folder_takes(tmp_path, small_model) -> None:
    """The temporary file's name (the target's, marked) would pass 255 bytes: its stem is cut, the target's is not."""
    target = tmp_path / ("é" * 120 + "b" * 9 + ".keras")  # 255 bytes in UTF-8
    assert len(os.fsencode(target.name)) == 255
    save_model(small_model, target, None)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_failed_save_leaves_no_temporary_file_and_its_name_is_recognisable(tmp_path, small_model,
                                                                              monkeypatch) -> None:
    written: list[str] = []

    def broken_save(self, filepath, *args, **kwargs):
        written.append(Path(filepath).name)
        Path(filepath).write_bytes(b"partial")
        raise RuntimeError("killed\x1b[2J midway")

    monkeypatch.setattr(type(small_model), "save", broken_save)
    with pytest.raises(ModelFileError) as failed:
        save_model(small_model, tmp_path / "m.keras", _record())
    assert "killed\\x1b[2J midway" in _one_line(failed.value)
    assert re.fullmatch(r"\.m\.cnnstudio-tmp-[a-z0-9_]{8}\.keras", written[0])
    assert list(tmp_path.iterdir()) == []


# 6. dataset paths named in a record ---------------------------------------------------------------

@pytest.mark.parametrize("name,is_path", [
    ("digits", False), ("MNIST", False), ("fashion-mnist", False), (" cifar10 ", False),
    ("/home/someone/data", True), ("data.npz", True), ("../secret", True), ("mnist2", True),
])
def test_a_record_says_whether_its_dataset_is_a_path(name: str, is_path: bool) -> None:
    data = _changed(("experiment", "dataset"), name)
    data["segments"] = [{**TrainingSegment("adam", 0.002, "cosine", 64, name, 0.0, 2.0, "fresh").to_json()}]
    record = ModelRecord.from_json(data)
    assert is_dataset_path(name) is is_path
    assert record.dataset_is_path is is_path and record.segments[0].dataset_is_path is is_path


@pytest.mark.parametrize("version", [RECORD_VERSION + 1, 99, 0, "2", True])
def test_a_record_of_a_newer_or_unknown_version_is_refused_not_guessed(version) -> None:
    from cnnstudio.core.config import Experiment

    data = ModelRecord(Experiment(), [str(i) for i in range(10)], (28, 28, 1)).to_json()
    data["version"] = version
    newer = version in (RECORD_VERSION + 1, 99)
    with pytest.raises(ModelFileError, match="newer than this CNN Studio" if newer else "version"):
        ModelRecord.from_json(data)


def _tiny(output_activation: str = "softmax", scale: float = 1 / 255, dtype: str = "float32"):
    import keras

    inputs = keras.Input((8, 8, 1), dtype=dtype)
    x = keras.layers.Rescaling(scale, name="rescale")(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation=output_activation, name="output")(x))


@pytest.mark.parametrize(("model", "reason"), [
    (lambda: _tiny("linear"), "its output layer's activation is linear, not softmax (probabilities)"),
    (lambda: _tiny("exponential"), "its output layer's activation is exponential, not softmax"),
    (lambda: _tiny(scale=float("nan")), "layer rescale has a setting scale that is not a finite number"),
    (lambda: _tiny(scale=float("inf")), "layer rescale has a setting scale that is not a finite number"),
    (lambda: _tiny(dtype="string"), "it takes string input, not pixel values"),
])
def test_models_whose_answers_would_mean_nothing_are_refused(model, reason) -> None:
    """Scores above 100% (a non-softmax output), NaN everywhere (a NaN constant) or a crash (string input)."""
    from cnnstudio.core.files.model_signature import NotAnImageClassifier, classifier_signature

    with pytest.raises(NotAnImageClassifier) as refused:
        classifier_signature(model(), "crafted.keras")
    assert refused.value.reason.startswith(reason)
    assert classifier_signature(_tiny(), "plain.keras").classes == 3  # the same model, made sensibly, is fine


def test_info_and_loading_refuse_the_same_decompression_bomb(tmp_path, sound) -> None:
    """A member of 300 MiB of zeros stored in some 300 KiB: Keras refuses to load it, and now `info`'s checks
    (which load nothing) say so too, instead of describing the file as sound."""
    import zipfile

    from archive_helpers import zip_members

    from cnnstudio.core.files.persistence import check_model_file, load_model

    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in zip_members(sound).items():
            archive.writestr(name, data)
        with archive.open("assets/pad.bin", "w", force_zip64=True) as member:
            for _ in range(300):
                member.write(bytes(2**20))
    for read in (check_model_file, load_model):
        with pytest.raises(ModelFileError, match=r"its member assets/pad\.bin would unpack to 300 MiB from 0\.3 MiB "
                                                 r"stored \(a decompression bomb\)"):
            read(bomb)

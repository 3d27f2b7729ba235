"""``cnnstudio info`` makes the checks loading makes: a file that evaluate/predict refuse is never vouched for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from archive_helpers import write_zip, zip_members

from cnnstudio.core.files.persistence import DamagedModelFile, RefusedModelFile, check_model_file


def info(*args: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name != "CNNSTUDIO_DEBUG"}
    return subprocess.run([sys.executable, "-m", "cnnstudio", "info", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def assert_refused_line(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == "" and "without a CNN Studio experiment record" not in result.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory) -> Path:
    """A small model saved by Keras itself: no experiment record."""
    import keras

    path = tmp_path_factory.mktemp("plain") / "plain.keras"
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs)).save(path)
    return path


def test_a_sound_plain_keras_model_is_described(plain_model) -> None:
    result = info(str(plain_model))
    assert result.returncode == 0, result.stderr
    assert "a Keras model without a CNN Studio experiment record (float32)" in result.stdout
    assert json.loads(info(str(plain_model), "--json").stdout) == {"format": "keras", "experiment": None,
                                                                  "precision": "float32"}


def test_a_mixed_precision_model_says_so() -> None:
    """The H100's float16 model (tests/data): its precision is read from config.json, nothing loaded."""
    mixed = Path(__file__).parent / "data" / "lenet5_mixed_h100.keras"
    result = info(str(mixed))
    assert result.returncode == 0 and "trained 4 epochs (batch 64, adam lr 0.002, seed 0) in mixed_float16" in result.stdout
    assert json.loads(info(str(mixed), "--json").stdout)["precision"] == "mixed_float16"


def test_lambda_model_would_be_refused_and_its_code_never_runs(tmp_path) -> None:
    import keras

    marker = tmp_path / "code-ran"
    inputs = keras.Input((4,))
    touch = eval(f"lambda x: x * 2 if not open({str(marker)!r}, 'w').close() else x")  # noqa: S307
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, keras.layers.Lambda(touch)(inputs)).save(path)
    marker.unlink(missing_ok=True)
    line = assert_refused_line(info(str(path)), f"{path} would be refused", "Lambda layer")
    assert "safe mode" in line
    assert_refused_line(info(str(path), "--json"), "would be refused")
    assert not marker.exists()


def test_custom_class_would_be_refused(tmp_path, plain_model) -> None:
    members = zip_members(plain_model)
    config = json.loads(members["config.json"])
    config["config"]["layers"][-1]["module"] = "evil.layers"
    members["config.json"] = json.dumps(config).encode()
    path = write_zip(tmp_path / "custom.keras", members)
    assert_refused_line(info(str(path)), "would be refused", "custom class evil.layers")


def test_serialized_function_would_be_refused(tmp_path, plain_model) -> None:
    members = zip_members(plain_model)
    config = json.loads(members["config.json"])
    config["config"]["layers"][-1]["config"]["activation"] = {
        "class_name": "__lambda__", "config": {"code": "ZGVm", "defaults": None, "closure": None}}
    members["config.json"] = json.dumps(config).encode()
    path = write_zip(tmp_path / "function.keras", members)
    assert_refused_line(info(str(path)), "would be refused", "serialized Python function")


def test_legacy_hdf5_would_be_refused(tmp_path) -> None:
    path = tmp_path / "old.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    assert_refused_line(info(str(path)), "would be refused", "HDF5")


@pytest.mark.parametrize("change,needle", [
    (lambda m: m.update({"config.json": b'{"class_name": "Functional", "config": {'}), "config.json is not valid JSON"),
    (lambda m: m.update({"config.json": b'["not", "a", "model"]'}), "config.json is not a Keras model configuration"),
    (lambda m: m.update({"config.json": b'{"layers": []}'}), "config.json is not a Keras model configuration"),
    (lambda m: m.update({"metadata.json": b"\xff\xfe"}), "metadata.json is not valid JSON"),
    (lambda m: m.pop("model.weights.h5"), "no weights"),
    (lambda m: m.pop("config.json"), "no config.json"),
    (lambda m: m.update({"cnnstudio.json": b'{"format": "cnnstudio-experiment", "experiment": 3}'}),
     "experiment record is damaged"),
])
def test_damaged_archives_are_called_damaged(tmp_path, plain_model, change, needle) -> None:
    members = zip_members(plain_model)
    change(members)
    path = write_zip(tmp_path / "damaged.keras", members)
    assert_refused_line(info(str(path)), f"{path} is damaged:", needle)


def test_a_member_failing_its_checksum_is_damaged(tmp_path, plain_model) -> None:
    path = write_zip(tmp_path / "flipped.keras", zip_members(plain_model), zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    at = data.index(b'"class_name"') + 2  # inside config.json's stored bytes: "class_name" becomes "cXass_name"
    data[at] = ord("X")
    path.write_bytes(bytes(data))
    assert_refused_line(info(str(path)), "is damaged", "config.json fails its checksum")


@pytest.mark.parametrize("content", [b"hello, not a model", b""])
def test_a_file_that_is_not_a_zip_is_not_a_model_rather_than_damaged(tmp_path, content) -> None:
    path = tmp_path / "text.keras"
    path.write_bytes(content)
    result = info(str(path))
    assert_refused_line(result, f"{path}: not a Keras model file", "(a .keras file is a zip archive)")
    assert "damaged" not in result.stderr


def test_truncated_archive_is_damaged(tmp_path, plain_model) -> None:
    data = plain_model.read_bytes()
    path = tmp_path / "cut.keras"
    path.write_bytes(data[: len(data) - 30])
    assert_refused_line(info(str(path)), "is damaged", "cut short")


def test_check_model_file_sorts_refused_from_damaged(tmp_path, plain_model) -> None:
    """The same checks load_model makes: what info calls refused, load_model refuses, and so for damaged."""
    from cnnstudio.core.files.persistence import load_model

    assert check_model_file(plain_model) is None  # sound, no record
    members = zip_members(plain_model)
    members["config.json"] = members["config.json"].replace(b'"module": "keras.layers"', b'"module": "evil.x"', 1)
    refused = write_zip(tmp_path / "refused.keras", members)
    members = zip_members(plain_model)
    members["config.json"] = b"{"
    damaged = write_zip(tmp_path / "damaged.keras", members)
    for path, kind in ((refused, RefusedModelFile), (damaged, DamagedModelFile)):
        with pytest.raises(kind) as checked:
            check_model_file(path)
        with pytest.raises(kind) as loaded:
            load_model(path)
        assert str(checked.value) == str(loaded.value) and "\n" not in checked.value.reason

"""Saving and loading: experiment inside, vanilla Keras compatible, safe mode only, atomic."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
from cnnstudio.core.errors import ModelFileError
from cnnstudio.core.files.model_record import ModelRecord
from cnnstudio.core.files.persistence import load_model, read_record, save_model
from cnnstudio.core.network.model_builder import build_model


def _record() -> ModelRecord:
    experiment = Experiment(ModelOptions(pooling="min", padding="2", activation="tanh"),
                            TrainOptions(epochs=3, seed=5), "digits")
    return ModelRecord(experiment, [str(i) for i in range(10)], (28, 28, 1), digit_like=True,
                       history={"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}, seconds_per_epoch=[0.5, 0.4],
                       test_loss=0.3, test_accuracy=0.9)


@pytest.fixture
def model():
    from cnnstudio.core.training.trainer import compile_model

    model = build_model(ModelOptions(pooling="min", padding="2", activation="tanh"), (28, 28, 1), 10)
    compile_model(model, TrainOptions(), steps_per_execution=1, steps_per_epoch=10)
    return model


def test_round_trip_keeps_weights_and_the_experiment(tmp_path, model) -> None:
    path = save_model(model, tmp_path / "m.keras", _record())
    loaded, record = load_model(path)
    x = np.random.default_rng(1).uniform(0, 255, (2, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-6)
    assert record is not None
    assert record.to_json() == _record().to_json()
    assert record.experiment.model.pooling == "min" and record.experiment.model.padding == "2"
    assert record.epochs_trained == 2 and record.digit_like
    assert read_record(path).to_json() == record.to_json()


def test_vanilla_keras_loads_a_cnnstudio_file(tmp_path, model) -> None:
    path = save_model(model, tmp_path / "m.keras", _record())
    code = "import sys, keras; m = keras.saving.load_model(sys.argv[1]); print(m.count_params())"
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-1500:]
    assert int(out.stdout.split()[-1]) == model.count_params()


def test_lambda_model_is_refused_and_its_code_never_runs(tmp_path) -> None:
    import keras

    marker = tmp_path / "code-ran"
    inputs = keras.Input((4,))
    touch = eval(f"lambda x: x * 2 if not open({str(marker)!r}, 'w').close() else x")  # noqa: S307
    outputs = keras.layers.Lambda(touch)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    marker.unlink(missing_ok=True)
    with pytest.raises(ModelFileError, match="Lambda") as info:
        load_model(path)
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_custom_class_is_refused(tmp_path, model) -> None:
    path = save_model(model, tmp_path / "m.keras", None)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["config.json"] = members["config.json"].replace(b'"module": "keras.layers"', b'"module": "evil.layers"', 1)
    forged = tmp_path / "forged.keras"
    with zipfile.ZipFile(forged, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ModelFileError, match="custom class evil.layers"):
        load_model(forged)


@pytest.mark.parametrize("name,content,needle", [
    ("text.keras", b"hello, not a model", "not a Keras model file"),
    ("empty.keras", b"", "not a Keras model file"),
    ("old.h5", b"\x89HDF\r\n\x1a\n", "legacy HDF5"),
])
def test_foreign_files_give_one_line(tmp_path, name: str, content: bytes, needle: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=needle) as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_truncated_file_gives_one_line(tmp_path, model) -> None:
    path = save_model(model, tmp_path / "m.keras", _record())
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 30):
        truncated = tmp_path / f"cut{cut}.keras"
        truncated.write_bytes(data[:cut])
        with pytest.raises(ModelFileError) as info:
            load_model(truncated)
        assert "\n" not in str(info.value) and "the zip archive is cut short (its end is missing)" in str(info.value)


def test_zip_without_keras_content_is_refused(tmp_path) -> None:
    path = tmp_path / "other.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a model")
    with pytest.raises(ModelFileError, match="no config.json"):
        load_model(path)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="no such file"):
        load_model(tmp_path / "absent.keras")


def test_failed_save_leaves_the_previous_file_intact(tmp_path, model, monkeypatch) -> None:
    path = save_model(model, tmp_path / "m.keras", _record())
    before = path.read_bytes()

    def broken_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(type(model), "save", broken_save)
    with pytest.raises(ModelFileError, match="disk full"):
        save_model(model, path, _record())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]


def test_ctrl_c_during_a_save_leaves_no_partial_file(tmp_path, model, monkeypatch) -> None:
    path = save_model(model, tmp_path / "m.keras", _record())
    before = path.read_bytes()

    def interrupted_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as handle:
            handle.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(type(model), "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):  # still an interruption, not a file problem
        save_model(model, path, _record())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]


def test_a_record_the_reader_would_refuse_is_never_written(tmp_path, model) -> None:
    """A history resumed past the reader's limits would have replaced the user's only copy by a 'damaged' file."""
    import dataclasses

    from cnnstudio.core.files.model_record import MAX_EPOCHS_LOGGED

    path = save_model(model, tmp_path / "m.keras", _record())
    before = path.read_bytes()
    too_long = dataclasses.replace(_record(), seconds_per_epoch=[0.5] * (MAX_EPOCHS_LOGGED + 1))
    with pytest.raises(ModelFileError, match=r"not saved: m.keras would not open again: .*100,000"):
        save_model(model, path, too_long)
    assert path.read_bytes() == before and read_record(path) == _record()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]


def test_save_refuses_wrong_suffix_or_missing_folder(tmp_path, model) -> None:
    with pytest.raises(ModelFileError, match=".keras"):
        save_model(model, tmp_path / "m.h5", None)
    with pytest.raises(ModelFileError, match="does not exist"):
        save_model(model, tmp_path / "nowhere" / "m.keras", None)
    (tmp_path / "x.keras").mkdir()
    with pytest.raises(ModelFileError, match=r"x\.keras is a folder; give a file name ending in \.keras$"):
        save_model(model, tmp_path / "x.keras", None)
    assert [p.name for p in tmp_path.iterdir()] == ["x.keras"]  # nothing left beside it
    if Path("/proc").is_dir():  # a folder that takes no files: the message names it
        with pytest.raises(ModelFileError, match=r"could not save m\.keras: cannot write in /proc \("):
            save_model(model, Path("/proc/m.keras"), None)


def test_damaged_record_is_reported(tmp_path, model) -> None:
    path = save_model(model, tmp_path / "m.keras", None)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("cnnstudio.json", '{"format": "cnnstudio-experiment", "experiment": 3}')
    with pytest.raises(ModelFileError, match="damaged"):
        read_record(path)

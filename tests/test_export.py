"""Exports: history CSV, TensorFlow SavedModel and TFLite give the same predictions as the model."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from cnnstudio.core.config import Experiment, ModelOptions
from cnnstudio.core.errors import ModelFileError
from cnnstudio.core.files.export import history_csv, saved_model, tflite
from cnnstudio.core.files.model_record import ModelRecord
from cnnstudio.core.network.model_builder import build_model


@pytest.fixture(scope="module")
def model():
    return build_model(ModelOptions(pooling="min", padding="same"), (28, 28, 1), 10)


def test_history_csv(tmp_path) -> None:
    record = ModelRecord(Experiment(), [str(i) for i in range(10)], (28, 28, 1),
                         history={"loss": [0.5, 0.25], "val_loss": [0.6, 0.3]}, seconds_per_epoch=[1.5, 1.25],
                         epoch_ends=[1.0, 1.34])  # the second epoch was stopped after 34% of its batches
    rows = list(csv.DictReader(open(history_csv(record, tmp_path / "h.csv"), encoding="utf-8")))
    assert rows == [{"epoch": "1", "epochs_trained": "1", "seconds": "1.5", "loss": "0.5", "val_loss": "0.6"},
                    {"epoch": "2", "epochs_trained": "1.34", "seconds": "1.25", "loss": "0.25", "val_loss": "0.3"}]
    with pytest.raises(ModelFileError):
        history_csv(record, tmp_path / "missing" / "h.csv")


def test_saved_model_and_tflite_match_the_model(tmp_path, model) -> None:
    import tensorflow as tf

    x = np.random.default_rng(0).uniform(0, 255, (1, 28, 28, 1)).astype("float32")
    expected = np.asarray(model(x, training=False))
    folder = saved_model(model, tmp_path / "sm")
    loaded = tf.saved_model.load(str(folder))
    served = loaded.serve(tf.constant(x))
    np.testing.assert_allclose(np.asarray(served), expected, rtol=1e-5, atol=1e-6)

    path = tflite(model, tmp_path / "m.tflite")
    interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)

"""Exports: training history as CSV, the model as a TensorFlow SavedModel or a TFLite file."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import Any

from cnnstudio.core.atomic_write import atomic_text
from cnnstudio.core.errors import ModelFileError
from cnnstudio.core.files.model_record import ModelRecord


def history_csv(record: ModelRecord, path: str | Path) -> Path:
    """One row per epoch: epoch, epochs trained at its end (fractional after a stop), seconds and every metric.

    Written atomically."""
    path = Path(path)
    keys = sorted(record.history)
    rows = max((len(v) for v in record.history.values()), default=0)
    try:
        with atomic_text(path, prefix=f".{path.stem}.", suffix=".csv", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["epoch", "epochs_trained", "seconds", *keys])
            ends = record.epoch_ends
            for i in range(rows):
                seconds = record.seconds_per_epoch[i] if i < len(record.seconds_per_epoch) else ""
                values = (record.history[k][i] if i < len(record.history[k]) else "" for k in keys)
                writer.writerow([i + 1, f"{ends[i]:g}" if i < len(ends) else "", seconds, *values])
    except OSError as exc:
        raise ModelFileError(f"could not write {path.name}: {exc.strerror or exc}") from exc
    return path


def saved_model(model: Any, folder: str | Path) -> Path:
    """A TensorFlow SavedModel folder for serving (``model.export``)."""
    folder = Path(folder)
    try:
        model.export(str(folder), format="tf_saved_model", verbose=False)
    except Exception as exc:  # noqa: BLE001 - one line for the user
        raise ModelFileError(f"could not export a SavedModel to {folder}: {' '.join(str(exc).split())[:200]}") from exc
    return folder


def tflite(model: Any, path: str | Path) -> Path:
    """A TensorFlow Lite flatbuffer converted from the model."""
    import tensorflow as tf

    path = Path(path)
    try:
        with tempfile.TemporaryDirectory() as folder:
            saved_model(model, Path(folder) / "model")
            data = tf.lite.TFLiteConverter.from_saved_model(str(Path(folder) / "model")).convert()
        temp = path.with_name(f".{path.name}.tmp")
        temp.write_bytes(data)
        os.replace(temp, path)
    except ModelFileError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ModelFileError(f"could not convert to TFLite: {' '.join(str(exc).split())[:200]}") from exc
    return path

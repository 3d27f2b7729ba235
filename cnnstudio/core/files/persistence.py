"""Saving and loading ``.keras`` files: atomic saves, safe-mode-only loads.

A CNN Studio file is an ordinary ``.keras`` archive (plain ``keras.saving.load_model`` opens it)
with one extra member, ``cnnstudio.json``, holding the :class:`ModelRecord`.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from cnnstudio.core.errors import ModelFileError
from cnnstudio.core.files.model_record import ModelRecord

RECORD_MEMBER = "cnnstudio.json"
KERAS_MEMBERS = ("config.json", "metadata.json")
CODE_CLASSES = {"Lambda", "TFOpLambda", "SlicingOpLambda"}


def save_model(model: Any, path: str | Path, record: ModelRecord | None) -> Path:
    """Write ``model`` (and its record) to ``path`` atomically: the old file stays intact on failure."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelFileError(f"{path.name}: model files must end in .keras")
    if not path.parent.is_dir():
        raise ModelFileError(f"cannot save {path.name}: folder {path.parent} does not exist")
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".keras", dir=path.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        model.save(temp)
        if record is not None:
            with zipfile.ZipFile(temp, "a") as archive:
                archive.writestr(RECORD_MEMBER, json.dumps(record.to_json(), indent=1))
        with open(temp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temp, path)
    except Exception as exc:  # noqa: BLE001 - any failure: drop the partial file, keep the old one
        temp.unlink(missing_ok=True)
        raise ModelFileError(f"could not save {path.name}: {' '.join(str(exc).split())[:200]}") from exc
    return path


def _find_code(node: Any) -> str | None:
    """The first layer in a Keras config that carries code (Lambda or a non-Keras class), if any."""
    if isinstance(node, dict):
        class_name, module = node.get("class_name"), node.get("module")
        if class_name in CODE_CLASSES:
            return f"a {class_name} layer (arbitrary Python code)"
        if isinstance(class_name, str) and isinstance(module, str) and not module.startswith("keras"):
            return f"the custom class {module}.{class_name}"
        if class_name == "__lambda__":
            return "a serialized Python function"
        for value in node.values():
            found = _find_code(value)
            if found:
                return found
    elif isinstance(node, list):
        for value in node:
            found = _find_code(value)
            if found:
                return found
    return None


def read_record(path: str | Path) -> ModelRecord | None:
    """The experiment record of a model file without loading the model (None for plain Keras files)."""
    with _open_archive(Path(path)) as archive:
        if RECORD_MEMBER not in archive.namelist():
            return None
        try:
            data = json.loads(archive.read(RECORD_MEMBER))
        except (ValueError, zipfile.BadZipFile, OSError) as exc:
            raise ModelFileError(f"{Path(path).name}: the experiment record is unreadable ({exc})") from exc
        return ModelRecord.from_json(data)


def _open_archive(path: Path) -> zipfile.ZipFile:
    name = path.name
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    if path.suffix.lower() in (".h5", ".hdf5"):
        raise ModelFileError(
            f"{name}: legacy HDF5 models are refused because loading them can run code; "
            "re-save it as .keras with the program that made it")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{name}: not a Keras model file (a .keras file is a zip archive)")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFileError(f"{name}: damaged archive ({exc})") from exc
    missing = [m for m in KERAS_MEMBERS if m not in archive.namelist()]
    if missing:
        archive.close()
        raise ModelFileError(f"{name}: not a Keras model file (no {', '.join(missing)})")
    return archive


def load_model(path: str | Path) -> tuple[Any, ModelRecord | None]:
    """Load a ``.keras`` file in Keras safe mode; returns the model and its record (or None).

    Files with code in them (Lambda layers, custom classes) are refused before Keras sees them,
    truncated or foreign files give a one-line ``ModelFileError``.
    """
    path = Path(path)
    with _open_archive(path) as archive:
        try:
            config = json.loads(archive.read("config.json"))
            archive.testzip()
        except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ModelFileError(f"{path.name}: damaged model file ({exc.__class__.__name__})") from exc
    code = _find_code(config)
    if code:
        raise ModelFileError(f"{path.name} was refused: it contains {code}, and CNN Studio only loads "
                             "models that Keras safe mode can open without running code")
    record = read_record(path)
    import keras

    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=True)
    except Exception as exc:  # noqa: BLE001 - whatever Keras says, the user gets one line
        raise ModelFileError(f"{path.name}: Keras could not load it ({' '.join(str(exc).split())[:200]})") from exc
    return model, record

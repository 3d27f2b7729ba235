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
WEIGHT_MEMBERS = ("model.weights.h5", "model.weights.npz")  # Keras writes one of them, even for no weights
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


class RefusedModelFile(ModelFileError):
    """A model file that loading refuses on principle: opening it could run code. ``reason`` says why."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class DamagedModelFile(ModelFileError):
    """A file that is not a whole, readable Keras model archive. ``reason`` says what is wrong."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _brief(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {' '.join(str(exc).split())[:160]}"


def _damaged(name: str, reason: str, message: str | None = None) -> DamagedModelFile:
    return DamagedModelFile(message or f"{name}: damaged model file ({reason})", reason)


def read_record(path: str | Path) -> ModelRecord | None:
    """The experiment record of a model file without loading the model (None for plain Keras files)."""
    name = Path(path).name
    with _open_archive(Path(path)) as archive:
        if RECORD_MEMBER not in archive.namelist():
            return None
        try:
            data = json.loads(archive.read(RECORD_MEMBER))
        except (ValueError, zipfile.BadZipFile, OSError) as exc:
            reason = f"the experiment record is unreadable ({exc})"
            raise _damaged(name, reason, f"{name}: {reason}") from exc
    try:
        return ModelRecord.from_json(data)
    except ModelFileError as exc:
        raise _damaged(name, str(exc), f"{name}: {exc}") from exc


def _open_archive(path: Path) -> zipfile.ZipFile:
    name = path.name
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    if path.suffix.lower() in (".h5", ".hdf5"):
        raise RefusedModelFile(
            f"{name}: legacy HDF5 models are refused because loading them can run code; "
            "re-save it as .keras with the program that made it",
            "it is a legacy HDF5 model, and loading those can run code; re-save it as .keras with the program "
            "that made it")
    if not zipfile.is_zipfile(path):
        reason = "not a Keras model file (a .keras file is a zip archive)"
        raise _damaged(name, reason, f"{name}: {reason}")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _damaged(name, f"damaged archive ({exc})", f"{name}: damaged archive ({exc})") from exc
    missing = [m for m in KERAS_MEMBERS if m not in archive.namelist()]
    if missing:
        archive.close()
        reason = f"not a Keras model file (no {', '.join(missing)})"
        raise _damaged(name, reason, f"{name}: {reason}")
    return archive


def check_model_file(path: str | Path) -> ModelRecord | None:
    """Every check :func:`load_model` makes before Keras reads the file; returns its record (or None).

    Nothing is deserialized or executed: the archive's checksums, its Keras members, a model
    configuration free of code (Lambda layers, serialized functions, classes from outside Keras)
    and a readable experiment record. Raises :class:`RefusedModelFile` for a file that would run
    code, :class:`DamagedModelFile` for one that is not a whole Keras model, and ``ModelFileError``
    for a missing file.
    """
    path = Path(path)
    name = path.name
    with _open_archive(path) as archive:
        members = set(archive.namelist())
        try:
            bad_member = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError) as exc:
            raise _damaged(name, f"unreadable archive ({_brief(exc)})") from exc
        if bad_member is not None:
            raise _damaged(name, f"{bad_member} fails its checksum")
        parsed = {}
        for member in KERAS_MEMBERS:
            try:
                parsed[member] = json.loads(archive.read(member))
            except (ValueError, zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
                raise _damaged(name, f"{member} is not valid JSON ({_brief(exc)})") from exc
    config, metadata = parsed["config.json"], parsed["metadata.json"]
    code = _find_code(config)
    if code:
        reason = (f"it contains {code}, and CNN Studio only loads models that Keras safe mode can open "
                  "without running code")
        raise RefusedModelFile(f"{name} was refused: {reason}", reason)
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str) or "config" not in config:
        raise _damaged(name, "config.json is not a Keras model configuration")
    if not isinstance(metadata, dict):
        raise _damaged(name, "metadata.json is not Keras metadata")
    if not members & set(WEIGHT_MEMBERS):
        raise _damaged(name, f"no weights ({' or '.join(WEIGHT_MEMBERS)})")
    return read_record(path)


def load_model(path: str | Path) -> tuple[Any, ModelRecord | None]:
    """Load a ``.keras`` file in Keras safe mode; returns the model and its record (or None).

    Files with code in them (Lambda layers, custom classes) are refused before Keras sees them,
    truncated or foreign files give a one-line ``ModelFileError`` (see :func:`check_model_file`).
    """
    path = Path(path)
    record = check_model_file(path)
    import keras

    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=True)
    except Exception as exc:  # noqa: BLE001 - whatever Keras says, the user gets one line
        raise ModelFileError(f"{path.name}: Keras could not load it ({' '.join(str(exc).split())[:200]})") from exc
    return model, record

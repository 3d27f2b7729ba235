"""Saving and loading ``.keras`` files: atomic saves, safe-mode-only loads.

A CNN Studio file is an ordinary ``.keras`` archive (plain ``keras.saving.load_model`` opens it)
with one extra member, ``cnnstudio.json``, holding the :class:`ModelRecord`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cnnstudio.core.atomic_write import file_mode_for
from cnnstudio.core.errors import ModelFileError, printable
from cnnstudio.core.files.model_record import ModelRecord
from cnnstudio.core.files.model_signature import check_classifier
from cnnstudio.core.precision import computing_precision
from cnnstudio.core.regular_file import FOLDER, NotRegularFileError, open_regular_file

RECORD_MEMBER = "cnnstudio.json"
KERAS_MEMBERS = ("config.json", "metadata.json")
WEIGHT_MEMBERS = ("model.weights.h5", "model.weights.npz")  # Keras writes one of them, even for no weights
CODE_CLASSES = {"Lambda", "TFOpLambda", "SlicingOpLambda"}
MAX_JSON_MEMBER = 16 * 2**20  # bytes of config.json, metadata.json or cnnstudio.json, as unpacked
MAX_MEMBERS = 1000  # a .keras archive has four or five
MAX_TOTAL_SIZE = 4 * 2**30  # bytes of all members together, as unpacked (weights included)
BOMB_FLOOR, MAX_EXPANSION = 2**28, 100  # Keras refuses a member over 256 MiB unpacking to over 100× what is stored
TEMP_MARK = ".cnnstudio-tmp-"  # a save in progress writes ".<stem>.cnnstudio-tmp-<8 random chars>.keras"
TEMP_STEM_BYTES = 200  # of the target's stem in a temporary name: with the rest it stays within 255 bytes
STALE_TEMP_AGE = 3600.0  # seconds: an older temporary file of ours is the leftover of a killed save
ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError, zlib.error)  # RecursionError too


def _temp_prefix(path: Path) -> str:
    """``.<stem>.cnnstudio-tmp-``, the stem cut to ``TEMP_STEM_BYTES``: a temporary name fits wherever its target's does."""
    stem = os.fsencode(path.stem)[:TEMP_STEM_BYTES].decode("utf-8", errors="ignore")
    return f".{stem}{TEMP_MARK}"


def remove_stale_temporaries(folder: str | Path, age: float = STALE_TEMP_AGE) -> list[Path]:
    """Delete leftovers of killed saves in ``folder``: our temporary files older than ``age`` s.

    Only regular files of this user named exactly as :func:`save_model` names its temporary files
    (``.<stem>.cnnstudio-tmp-XXXXXXXX.keras``) are touched, whatever their target's name: the run
    history saves each run's model once, under a name of its own, so a leftover's name never
    recurs. Younger ones may belong to a save still in progress (a checkpoint of another window or
    process), so they are kept: no save of a CNN Studio model takes an hour. Returns the files deleted.
    """
    pattern = re.compile(r"\..+" + re.escape(TEMP_MARK) + r"[a-z0-9_]{8}\.keras")
    now, uid, removed = time.time(), getattr(os, "getuid", lambda: None)(), []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if (stat.S_ISREG(info.st_mode) and (uid is None or info.st_uid == uid)
                    and now - info.st_mtime >= age):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def save_model(model: Any, path: str | Path, record: ModelRecord | None) -> Path:
    """Write ``model`` (and its record) to ``path`` atomically: the old file stays intact on failure.

    The model is written to a temporary file beside ``path`` (``.<stem>.cnnstudio-tmp-XXXXXXXX.keras``)
    that then replaces it; on any error the temporary file is deleted. The saved file keeps the
    permissions of the file it replaces, and a new one gets the user's default (0666 less the umask).
    Leftovers of saves killed long ago are deleted first (:func:`remove_stale_temporaries`).
    """
    path = Path(path)
    name = printable(path.name)
    if path.suffix != ".keras":
        raise ModelFileError(f"{name}: model files must end in .keras")
    if not path.parent.is_dir():
        raise ModelFileError(f"cannot save {name}: folder {printable(path.parent)} does not exist")
    if path.is_dir():
        raise ModelFileError(f"cannot save {name}: {printable(path)} is a folder; give a file name ending in .keras")
    record_bytes = _checked_record(record, name) if record is not None else None
    remove_stale_temporaries(path.parent)
    mode = file_mode_for(path)
    try:
        handle, temp_name = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".keras", dir=path.parent)
    except OSError as exc:
        raise ModelFileError(f"could not save {name}: cannot write in {printable(path.parent)} "
                             f"({printable(exc.strerror or exc)})") from exc
    os.close(handle)
    temp = Path(temp_name)
    try:
        model.save(temp)
        if record_bytes is not None:
            with zipfile.ZipFile(temp, "a") as archive:
                archive.writestr(RECORD_MEMBER, record_bytes)
        os.chmod(temp, mode)
        with open(temp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temp, path)
    except BaseException as exc:  # any failure, Ctrl-C included: drop the partial file, keep the old one
        temp.unlink(missing_ok=True)
        if not isinstance(exc, Exception):
            raise
        raise ModelFileError(f"could not save {name}: {printable(' '.join(str(exc).split()))}") from exc
    return path


def _checked_record(record: ModelRecord, name: str) -> bytes:
    """The record as written, refused unless it reads back: a file this app would call damaged is never
    written (e.g. a history resumed past the reader's limits), so the file it would replace stays."""
    data = json.dumps(record.to_json(), indent=1).encode()
    try:
        if len(data) > MAX_JSON_MEMBER:
            raise ModelFileError(f"the record would take {len(data):,} bytes, more than {MAX_JSON_MEMBER:,}")
        ModelRecord.from_json(json.loads(data))
    except ModelFileError as exc:
        raise ModelFileError(f"not saved: {name} would not open again: {exc}") from exc
    return data


def _objects(config: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in a Keras config, in document order.

    Walked with a stack, not recursion, so that a deeply nested config cannot overflow it.
    """
    pending = [config]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            yield node
            pending.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            pending.extend(reversed(node))


def _find_code(config: Any) -> str | None:
    """The first layer in a Keras config that carries code (Lambda or a non-Keras class), if any."""
    for node in _objects(config):
        class_name, module = node.get("class_name"), node.get("module")
        if isinstance(class_name, str) and class_name in CODE_CLASSES:
            return f"a {class_name} layer (arbitrary Python code)"
        if isinstance(class_name, str) and isinstance(module, str) and not module.startswith("keras"):
            return f"the custom class {printable(module, 80)}.{printable(class_name, 80)}"
        if class_name == "__lambda__":
            return "a serialized Python function"
    return None


def _precision(config: Any) -> str:
    """The precision a config's layers compute in: a mixed policy (``mixed_bfloat16``…) when any layer
    has one, else ``float32`` (also when it names no policy)."""
    names = [node["config"]["name"] for node in _objects(config) if node.get("class_name") == "DTypePolicy"
             and isinstance(node.get("config"), dict) and isinstance(node["config"].get("name"), str)]
    return printable(computing_precision(names) or "float32", 40)


class RefusedModelFile(ModelFileError):
    """A model file that loading refuses on principle: opening it could run code. ``reason`` says why."""


class DamagedModelFile(ModelFileError):
    """A file that is not a whole, readable Keras model archive. ``reason`` says what is wrong."""


class NotAModelFile(DamagedModelFile):
    """A file that is no archive at all (text, an image, empty): something else, not a damaged model."""


def _brief(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {' '.join(str(exc).split())[:160]}"


def _damaged(name: str, reason: str, message: str | None = None) -> DamagedModelFile:
    return DamagedModelFile(message or f"{name}: damaged model file ({reason})", reason)


def _read_json(archive: zipfile.ZipFile, member: str, name: str, what: str | None = None) -> Any:
    """A JSON member of at most ``MAX_JSON_MEMBER`` bytes, read with a bound whatever its header says."""
    what = what or f"{member} is not valid JSON"
    try:
        info = archive.getinfo(member)
        if info.file_size > MAX_JSON_MEMBER:
            raise _damaged(name, f"{member} would unpack to {info.file_size:,} bytes, more than "
                                 f"{MAX_JSON_MEMBER:,}")
        with archive.open(info) as stream:
            data = stream.read(MAX_JSON_MEMBER + 1)
        if len(data) > MAX_JSON_MEMBER:
            raise _damaged(name, f"{member} unpacks to more than {MAX_JSON_MEMBER:,} bytes")
        return json.loads(data)
    except ZIP_ERRORS as exc:  # RecursionError (deep nesting) is a RuntimeError
        raise _damaged(name, f"{what} ({printable(_brief(exc))})") from exc


def _read_record(archive: zipfile.ZipFile, name: str) -> ModelRecord | None:
    if RECORD_MEMBER not in archive.namelist():
        return None
    try:
        data = _read_json(archive, RECORD_MEMBER, name, "the experiment record is unreadable")
    except DamagedModelFile as exc:
        raise _damaged(name, exc.reason, f"{name}: {exc.reason}") from exc
    try:
        return ModelRecord.from_json(data)
    except ModelFileError as exc:
        raise _damaged(name, str(exc), f"{name}: {exc}") from exc


def read_record(path: str | Path) -> ModelRecord | None:
    """The experiment record of a model file without loading the model (None for plain Keras files)."""
    path = Path(path)
    with _open_archive(path) as archive:
        return _read_record(archive, printable(path.name))


def _unreadable(path: Path, name: str, exc: OSError | NotRegularFileError) -> ModelFileError:
    """Why ``path`` cannot be opened as a model file, in one line."""
    if isinstance(exc, NotRegularFileError):
        if exc.kind == FOLDER:
            return ModelFileError(f"{printable(path)}: a folder, not a model file")
        return ModelFileError(f"{name}: {exc}, so not a model file")
    if isinstance(exc, FileNotFoundError):
        return ModelFileError(f"{printable(path)}: no such file")
    return ModelFileError(f"{name}: cannot be read ({printable(exc.strerror or exc)})")


@contextlib.contextmanager
def _open_archive(path: Path) -> Iterator[zipfile.ZipFile]:
    """The file as a zip archive, checked to be a regular file with bounded members."""
    name = printable(path.name)
    try:  # a FIFO, a device or a folder is refused first; non-blocking, and checked again once open
        handle = open_regular_file(path)
    except (OSError, NotRegularFileError) as exc:
        raise _unreadable(path, name, exc) from exc
    with handle:
        if path.suffix.lower() in (".h5", ".hdf5"):  # opened, never read
            raise RefusedModelFile(
                f"{name}: legacy HDF5 models are refused because loading them can run code; "
                "re-save it as .keras with the program that made it",
                "it is a legacy HDF5 model, and loading those can run code; re-save it as .keras with the program "
                "that made it")
        if not zipfile.is_zipfile(handle):
            handle.seek(0)
            if handle.read(4) == b"PK\x03\x04":  # a zip archive's start without its end: cut short
                reason = "the zip archive is cut short (its end is missing)"
                raise _damaged(name, reason, f"{name}: {reason}")
            reason = "not a Keras model file (a .keras file is a zip archive)"
            raise NotAModelFile(f"{name}: {reason}", reason)
        try:
            archive = zipfile.ZipFile(handle)
        except ZIP_ERRORS as exc:
            reason = f"damaged archive ({printable(_brief(exc))})"
            raise _damaged(name, reason, f"{name}: {reason}") from exc
        with archive:
            _check_members(archive, name)
            yield archive


def _check_members(archive: zipfile.ZipFile, name: str) -> None:
    """Bounded member count and unpacked size (as declared: reads never go past it), Keras' members there."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _damaged(name, f"it has {len(infos):,} members, more than the {MAX_MEMBERS:,} a model file may have")
    total = sum(info.file_size for info in infos)
    if total > MAX_TOTAL_SIZE:
        raise _damaged(name, f"it would unpack to {total / 2**30:,.1f} GiB, more than the "
                             f"{MAX_TOTAL_SIZE / 2**30:g} GiB a model file may have")
    for info in infos:  # Keras' own rule, checked here too, so that `info` never vouches for a file loading refuses
        if info.file_size > BOMB_FLOOR and info.file_size > MAX_EXPANSION * info.compress_size:
            raise _damaged(name, f"its member {printable(info.filename, 80)} would unpack to "
                                 f"{info.file_size / 2**20:,.0f} MiB from {info.compress_size / 2**20:,.1f} MiB "
                                 "stored (a decompression bomb)")
    names = archive.namelist()
    missing = [m for m in KERAS_MEMBERS if m not in names]
    if missing:
        reason = f"not a Keras model file (no {', '.join(missing)})"
        raise _damaged(name, reason, f"{name}: {reason}")


def check_model_file(path: str | Path) -> ModelRecord | None:
    """Every check :func:`load_model` makes before Keras reads the file; returns its record (or None).

    Nothing is deserialized or executed: a regular file, an archive of bounded size
    (``MAX_MEMBERS``, ``MAX_TOTAL_SIZE``, ``MAX_JSON_MEMBER``) whose checksums hold, its Keras
    members, a model configuration free of code (Lambda layers, serialized functions, classes from
    outside Keras) and a valid experiment record. Raises :class:`RefusedModelFile` for a file that
    would run code, :class:`DamagedModelFile` for one that is not a whole Keras model, and
    ``ModelFileError`` for a missing or unreadable file.
    """
    return inspect_model_file(path)[0]


def inspect_model_file(path: str | Path) -> tuple[ModelRecord | None, str]:
    """:func:`check_model_file`'s checks, then its record and the precision its layers compute in
    (``float32``, ``mixed_float16``, ``mixed_bfloat16``), from the same reading of the file."""
    path = Path(path)
    name = printable(path.name)
    with _open_archive(path) as archive:
        members = set(archive.namelist())
        try:
            bad_member = archive.testzip()  # unpacks in chunks: time bounded by MAX_TOTAL_SIZE, memory small
        except ZIP_ERRORS as exc:
            raise _damaged(name, f"unreadable archive ({printable(_brief(exc))})") from exc
        if bad_member is not None:
            raise _damaged(name, f"{printable(bad_member, 100)} fails its checksum")
        config, metadata = (_read_json(archive, member, name) for member in KERAS_MEMBERS)
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
        return _read_record(archive, name), _precision(config)


def load_model(path: str | Path) -> tuple[Any, ModelRecord | None]:
    """Load a ``.keras`` file in Keras safe mode; returns the model and its record (or None).

    Files with code in them (Lambda layers, custom classes) are refused before Keras sees them,
    truncated, oversized or foreign files give a one-line ``ModelFileError`` (see
    :func:`check_model_file`). Once loaded, the model must be an image classifier that agrees with
    its record (:func:`~cnnstudio.core.files.model_signature.check_classifier`), else
    ``NotAnImageClassifier`` or ``RecordMismatch``. A model saved uncompiled stays uncompiled: no
    repair is needed, as evaluation and prediction only call the model
    (:func:`cnnstudio.core.inspection.evaluate_details`) and continuing to train compiles it afresh
    (an uncompiled model never keeps an optimizer).
    """
    path = Path(path)
    record = check_model_file(path)
    name = printable(path.name)
    if path.suffix != ".keras":
        raise ModelFileError(f"{name}: Keras opens model files only under a name ending in .keras (lowercase): "
                             "rename it")
    import keras

    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=True)
    except Exception as exc:  # noqa: BLE001 - whatever Keras says, the user gets one line
        raise ModelFileError(f"{name}: Keras could not load it ({printable(' '.join(str(exc).split()))})") from exc
    check_classifier(model, record, path.name)
    _check_finite_weights(model, name)
    return model, record


def _check_finite_weights(model: Any, name: str) -> None:
    """Refuse a model whose weights hold NaN or infinity: its outputs are meaningless (oneDNN's kernels can even turn
    them into confident ones). CNN Studio never saves one: a diverged run's last finite weights are put back."""
    import numpy as np

    for weight in model.weights:
        values = np.asarray(weight.numpy())
        if values.dtype.kind in "fc" and not np.isfinite(values).all():
            raise ModelFileError(f"{name}: weight {printable(weight.path, 80)} holds NaN or infinite values, so the "
                                 "model's predictions would mean nothing")

"""The run history: one JSON record per training run in the user's data folder.

Written atomically; a damaged or foreign entry is skipped with a warning, never an exception.
Only regular files of at most :data:`MAX_ENTRY_BYTES` are read (never a link, a pipe or a
device), and every field is checked against the schema before an entry is used.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cnnstudio import __version__
from cnnstudio.core.atomic_write import atomic_text
from cnnstudio.core.config import Experiment
from cnnstudio.core.files.model_record import TrainingSegment, epoch_ends_from_json, segments_from_json
from cnnstudio.core.paths import data_dir, folder_problem
from cnnstudio.core.regular_file import NotRegularFileError, open_regular_file
from cnnstudio.core.training.stop_reason import RunEnd, StopReason

ENTRY_FORMAT = "cnnstudio-run"
MAX_ENTRY_BYTES = 4 * 1024 * 1024  # a 10,000-epoch run's record is well under 1 MB
MAX_LIST = 100_000  # values in one list of a record (history curve, timings, epoch ends)
MAX_TEXT = 4096  # characters in one text field
MAX_ENTRIES = 100_000  # records listed at most (the rest are named in one warning)
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # a file stem: no separators, no '..' prefix

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")  # what a run may have computed in

@dataclass
class RunEntry:
    experiment: dict[str, Any]
    history: dict[str, list[float]]
    seconds_per_epoch: list[float]
    test_accuracy: float | None
    test_loss: float | None
    params: int
    macs: int
    device: str = "CPU"
    versions: dict[str, str] = field(default_factory=dict)
    model_path: str | None = None
    stop_reason: str = StopReason.FINISHED.value  # a StopReason value
    stop_message: str = ""
    kept_epoch: float | None = None  # a diverged run: the epochs trained by the finite weights it kept
    study: str | None = None
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S"))
    id: str = field(default_factory=lambda: time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6])
    epoch_ends: list[float] = field(default_factory=list)  # epochs trained after each logged epoch (see ModelRecord)
    segments: list[TrainingSegment] = field(default_factory=list)  # what trained the model, stretch by stretch
    precision: str = "float32"  # the policy its layers computed in: float32, mixed_float16 or mixed_bfloat16

    def __post_init__(self) -> None:
        if not self.epoch_ends and isinstance(self.history, dict) and isinstance(self.history.get("loss"), list):
            self.epoch_ends = [float(i + 1) for i in range(len(self.history["loss"]))]

    @property
    def evaluated(self) -> bool:
        """False when the run ended without test figures (a second stop request skipped them)."""
        return self.test_accuracy is not None and self.test_loss is not None

    @property
    def epochs_trained(self) -> float:
        return self.epoch_ends[-1] if self.epoch_ends else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"format": ENTRY_FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: Any) -> RunEntry:
        """A stored entry; anything of the wrong type, size or shape raises ValueError."""
        if not isinstance(data, dict) or data.get("format") != ENTRY_FORMAT:
            raise ValueError("not a CNN Studio run record")
        fields = {k: v for k, v in data.items() if k in _FIELDS}  # fields of a newer version are left out
        _check_fields(fields)
        end = RunEnd.from_json({"reason": fields["stop_reason"], "message": fields.get("stop_message", "")}
                               if fields.get("stop_reason") in StopReason._value2member_map_
                               else fields.get("stop_reason"))
        fields["stop_reason"], fields["stop_message"] = end.reason.value, end.message
        history = fields.get("history")
        if not isinstance(history, dict) or not all(isinstance(v, list) for v in history.values()):
            raise ValueError("history is not a mapping of lists")
        fields["epoch_ends"] = epoch_ends_from_json(fields.get("epoch_ends"), len(history.get("loss", [])))
        fields["segments"] = segments_from_json(fields.get("segments"))  # older entries have none
        entry = cls(**fields)
        Experiment.from_dict(entry.experiment)  # refuses malformed settings
        return entry

    @property
    def end(self) -> RunEnd:
        return RunEnd(StopReason(self.stop_reason), self.stop_message)

    @property
    def experiment_config(self) -> Experiment:
        return Experiment.from_dict(self.experiment)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_numbers(value: Any, name: str) -> None:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise ValueError(f"{name} must be a list of at most {MAX_LIST:,} numbers")
    if not all(_is_number(v) for v in value):
        raise ValueError(f"{name} must hold only numbers")


def _check_text(value: Any, name: str, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ValueError(f"{name} must be a text of at most {MAX_TEXT} characters")


def _check_fields(fields: dict[str, Any]) -> None:
    """Refuse a stored entry whose fields have the wrong types or sizes (ValueError naming the field)."""
    missing = [name for name in ("experiment", "history", "seconds_per_epoch", "params", "macs")
               if name not in fields]
    if missing:
        raise ValueError(f"no {missing[0]!r}")
    run_id = fields.get("id", "run")  # without one a fresh id is made (read_entry gives the file's name)
    if not isinstance(run_id, str) or not SAFE_ID.fullmatch(run_id):
        raise ValueError("id must be a plain file name (letters, digits, '.', '_', '-')")
    if not isinstance(fields["experiment"], dict):
        raise ValueError("experiment must be a mapping")
    history = fields["history"]
    if not isinstance(history, dict) or len(history) > 64:
        raise ValueError("history must be a mapping of at most 64 curves")
    for key, values in history.items():
        _check_text(key, "a history name")
        _check_numbers(values, f"history {key[:40]!r}")
    _check_numbers(fields["seconds_per_epoch"], "seconds_per_epoch")
    if fields.get("epoch_ends") is not None:
        _check_numbers(fields["epoch_ends"], "epoch_ends")
    for name in ("test_accuracy", "test_loss", "kept_epoch"):
        if fields.get(name) is not None and not _is_number(fields[name]):
            raise ValueError(f"{name} must be a number or null")
    for name in ("params", "macs"):
        value = fields[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a whole number of at least 0")
    if "created" in fields:
        _check_text(fields["created"], "created")
    for name in ("device", "stop_message"):
        if name in fields:
            _check_text(fields[name], name)
    for name in ("model_path", "study"):
        _check_text(fields.get(name), name, optional=True)
    if fields.get("precision", "float32") not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
    reason = fields.get("stop_reason", StopReason.FINISHED.value)
    if not (reason is None or isinstance(reason, str)):
        raise ValueError("stop_reason must be a text")
    versions_ = fields.get("versions", {})
    if not isinstance(versions_, dict) or len(versions_) > 64 or not all(
            isinstance(k, str) and isinstance(v, str) and len(v) <= MAX_TEXT for k, v in versions_.items()):
        raise ValueError("versions must be a mapping of names to texts")


_FIELDS = frozenset(RunEntry.__dataclass_fields__)


def read_entry_file(path: Path, limit: int = MAX_ENTRY_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; OSError or ValueError otherwise.

    Never follows a link and never blocks: a pipe, a device or ``/dev/zero`` behind a link is
    refused before anything is read, and a file that grows past the limit is not read to its end.
    """
    try:
        handle = open_regular_file(path, follow_symlinks=False)
    except NotRegularFileError as exc:
        raise ValueError(f"{exc}, not read") from exc
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise ValueError(f"{size:,} bytes, more than a run record's {limit:,}")
        data = handle.read(limit + 1)  # a file that grew meanwhile is read no further than this
    if len(data) > limit:
        raise ValueError(f"more than a run record's {limit:,} bytes")
    return data


def read_entry(path: Path) -> RunEntry:
    """One stored run; OSError, ValueError (damaged or foreign), RecursionError (nested too deep) or ConfigError."""
    data = json.loads(read_entry_file(path).decode("utf-8"))
    if isinstance(data, dict) and "id" not in data and SAFE_ID.fullmatch(path.stem):
        data["id"] = path.stem  # an entry without an id is known by its file name, so Delete finds it
    return RunEntry.from_json(data)


def versions() -> dict[str, str]:
    """Library versions for a run record (TensorFlow and Keras only when already imported)."""
    found = {"cnnstudio": __version__, "python": platform.python_version()}
    for name in ("tensorflow", "keras", "numpy"):
        module = sys.modules.get(name)
        if module is not None:
            found[name] = getattr(module, "__version__", "?")
    return found


class RunHistory:
    """Run records as ``<folder>/<id>.json``."""

    def __init__(self, folder: str | Path | None = None):
        self.folder = Path(folder) if folder else data_dir() / "runs"
        self.models = self.folder / "models"  # each run's final model, so any run can be reopened

    def check_writable(self) -> str | None:
        """Why runs cannot be recorded here (one line naming the folder), or None when they can.

        Cheap and TensorFlow-free: call it before training to warn that the run will not be recorded.
        """
        return folder_problem(self.folder) or folder_problem(self.models)

    def add(self, entry: RunEntry) -> Path:
        """Write ``entry`` atomically; OSError when the folder cannot be written."""
        _safe_id(entry.id)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{entry.id}.json"
        with atomic_text(path, prefix=".run.", suffix=".json") as stream:
            json.dump(entry.to_json(), stream, indent=1)  # NaN stays NaN: read back as the number it was
        return path

    def entries(self) -> tuple[list[RunEntry], list[str]]:
        """All readable runs, oldest first, and one warning per entry that was skipped.

        Never raises: an unreadable folder is one warning, a damaged entry another.
        """
        runs: list[RunEntry] = []
        warnings: list[str] = []
        try:
            if not self.folder.exists():
                return runs, warnings
            with os.scandir(self.folder) as listing:
                names = sorted(item.name for item in listing
                               if item.name.endswith(".json") and not item.name.startswith("."))
        except OSError as exc:
            return runs, [f"cannot read the run history {self.folder}: {_reason(exc)}"]
        if len(names) > MAX_ENTRIES:
            warnings.append(f"only the first {MAX_ENTRIES:,} of {len(names):,} run records were read")
            names = names[:MAX_ENTRIES]
        for name in names:
            try:
                runs.append(read_entry(self.folder / name))
            except RecursionError:
                warnings.append(f"skipped {_printable(name)}: nested too deeply")
            except Exception as exc:  # noqa: BLE001 - damaged or foreign: skipped, whatever is wrong with it
                warnings.append(f"skipped {_printable(name)}: {_reason(exc)}")
        runs.sort(key=lambda r: (r.created, r.id))
        return runs, warnings

    def model_path(self, entry: RunEntry) -> Path:
        _safe_id(entry.id)
        self.models.mkdir(parents=True, exist_ok=True)
        return self.models / f"{entry.id}.keras"

    def holds_model(self, entry: RunEntry) -> bool:
        """Whether ``entry``'s model is the history's own copy (deleted with the run), not a file saved elsewhere."""
        return bool(entry.model_path) and Path(entry.model_path) == self.models / f"{entry.id}.keras"

    def delete(self, run_id: str) -> None:
        _safe_id(run_id)
        (self.folder / f"{run_id}.json").unlink(missing_ok=True)
        (self.models / f"{run_id}.keras").unlink(missing_ok=True)


def _safe_id(run_id: str) -> None:
    """Refuse an id that is not a plain file stem (it names files in the history folder)."""
    if not isinstance(run_id, str) or not SAFE_ID.fullmatch(run_id):
        raise ValueError(f"not a run id: {run_id!r:.60}")


def _printable(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode("ascii")[:120]


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:120]
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__

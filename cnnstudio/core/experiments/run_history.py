"""The run history: one JSON record per training run in the user's data folder.

Written atomically; a damaged or foreign entry is skipped with a warning, never an exception.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cnnstudio import __version__
from cnnstudio.core.config import Experiment
from cnnstudio.core.errors import ConfigError
from cnnstudio.core.files.model_record import TrainingSegment, epoch_ends_from_json, segments_from_json
from cnnstudio.core.paths import data_dir
from cnnstudio.core.training.stop_reason import RunEnd, StopReason

ENTRY_FORMAT = "cnnstudio-run"


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
    study: str | None = None
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S"))
    id: str = field(default_factory=lambda: time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6])
    epoch_ends: list[float] = field(default_factory=list)  # epochs trained after each logged epoch (see ModelRecord)
    segments: list[TrainingSegment] = field(default_factory=list)  # what trained the model, stretch by stretch

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
        if not isinstance(data, dict) or data.get("format") != ENTRY_FORMAT:
            raise ValueError("not a CNN Studio run record")
        fields = {k: v for k, v in data.items() if k != "format"}
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

    def add(self, entry: RunEntry) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{entry.id}.json"
        handle, temp = tempfile.mkstemp(dir=self.folder, prefix=".run.", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(entry.to_json(), stream, indent=1)
            os.replace(temp, path)
        except OSError:
            Path(temp).unlink(missing_ok=True)
            raise
        return path

    def entries(self) -> tuple[list[RunEntry], list[str]]:
        """All readable runs, oldest first, and one warning per entry that was skipped."""
        runs, warnings = [], []
        if not self.folder.is_dir():
            return runs, warnings
        for path in sorted(self.folder.glob("*.json")):
            try:
                runs.append(RunEntry.from_json(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError, ConfigError) as exc:
                warnings.append(f"skipped {path.name}: {exc.__class__.__name__}: {' '.join(str(exc).split())[:120]}")
        runs.sort(key=lambda r: (r.created, r.id))
        return runs, warnings

    def model_path(self, entry: RunEntry) -> Path:
        self.models.mkdir(parents=True, exist_ok=True)
        return self.models / f"{entry.id}.keras"

    def delete(self, run_id: str) -> None:
        (self.folder / f"{run_id}.json").unlink(missing_ok=True)
        (self.models / f"{run_id}.keras").unlink(missing_ok=True)

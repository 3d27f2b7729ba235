"""The experiment record a CNN Studio model file carries beside its Keras content."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from cnnstudio import __version__
from cnnstudio.core.config import LR_SCHEDULES, OPTIMIZERS, Experiment, TrainOptions
from cnnstudio.core.errors import ConfigError, ModelFileError

RECORD_FORMAT = "cnnstudio-experiment"
RECORD_VERSION = 2  # 2: epoch_ends, training segments and test.evaluated
MAX_SEGMENTS = 10_000
OPTIMIZER_STATES = ("fresh", "kept")


def _number(value: Any, what: str, minimum: float = 0.0) -> float:
    """A finite number of at least ``minimum`` (bools are refused), as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < minimum:
        raise ValueError(f"{what} must be a finite number of at least {minimum:g}, not {value!r}")
    return float(value)


def _choice(value: Any, what: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(choices)}, not {value!r}")
    return value


@dataclass(frozen=True)
class TrainingSegment:
    """One stretch of training with unchanged settings: what really trained those epochs.

    A model trained, then continued twice has three segments. ``epochs`` counts a stopped
    epoch by its share of batches (2.34 = two whole epochs and 34% of a third).
    """

    optimizer: str
    learning_rate: float
    lr_schedule: str
    batch_size: int
    dataset: str
    first_epoch: float  # epochs the model had trained before this segment
    epochs: float  # epochs this segment trained, partial ones included
    optimizer_state: str  # "fresh": a new optimizer; "kept": the previous segment's (moments, step count, rate)

    @classmethod
    def of(cls, options: TrainOptions, dataset: str, first_epoch: float, epochs: float,
           optimizer_state: str) -> TrainingSegment:
        return cls(options.optimizer, float(options.learning_rate), options.lr_schedule, int(options.batch_size),
                   str(dataset), float(first_epoch), float(epochs), optimizer_state)

    @property
    def end_epoch(self) -> float:
        return self.first_epoch + self.epochs

    def same_optimizer(self, options: TrainOptions) -> bool:
        """Whether ``options`` ask for this segment's optimizer, learning rate and schedule."""
        return (self.optimizer, self.learning_rate, self.lr_schedule) == (
            options.optimizer, float(options.learning_rate), options.lr_schedule)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> TrainingSegment:
        """A stored segment; anything of the wrong type or out of range raises ValueError."""
        if not isinstance(data, dict):
            raise ValueError(f"a training segment must be a mapping, not {type(data).__name__}")
        try:
            batch_size, dataset = data["batch_size"], data["dataset"]
            if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
                raise ValueError(f"segment batch size must be a whole number of at least 1, not {batch_size!r}")
            if not isinstance(dataset, str) or len(dataset) > 4096:
                raise ValueError("segment dataset must be a name or path")
            return cls(
                optimizer=_choice(data["optimizer"], "segment optimizer", OPTIMIZERS),
                learning_rate=_number(data["learning_rate"], "segment learning rate"),
                lr_schedule=_choice(data["lr_schedule"], "segment schedule", LR_SCHEDULES),
                batch_size=batch_size, dataset=dataset,
                first_epoch=_number(data["first_epoch"], "segment first epoch"),
                epochs=_number(data["epochs"], "segment epochs"),
                optimizer_state=_choice(data["optimizer_state"], "segment optimizer state", OPTIMIZER_STATES),
            )
        except KeyError as exc:
            raise ValueError(f"a training segment has no {exc.args[0]!r}") from exc


def segments_from_json(data: Any) -> list[TrainingSegment]:
    """Stored segments; older files have none (None reads as an empty list)."""
    if data is None:
        return []
    if not isinstance(data, list) or len(data) > MAX_SEGMENTS:
        raise ValueError(f"segments must be a list of at most {MAX_SEGMENTS:,} entries")
    return [TrainingSegment.from_json(item) for item in data]


def epoch_ends_from_json(data: Any, epochs: int) -> list[float]:
    """Stored epoch ends for ``epochs`` logged epochs; older files have none and read as 1, 2, 3, …"""
    if data is None:
        return [float(i + 1) for i in range(epochs)]
    if not isinstance(data, list) or len(data) != epochs:
        raise ValueError(f"epoch ends must be a list of {epochs} numbers, one per logged epoch")
    ends = [_number(value, "an epoch end") for value in data]
    if any(later < earlier for earlier, later in zip(ends, ends[1:])):
        raise ValueError("epoch ends must not decrease")
    return ends


@dataclass
class ModelRecord:
    """Everything needed to reopen an experiment: settings, data description and history.

    ``history`` has one value per logged epoch, a stopped (partial) epoch included; ``epoch_ends``
    says where each of them ends in epochs trained (1.0, 1.34, 2.34, … after a stop in the
    second epoch). ``segments`` say what trained each stretch of epochs; ``experiment`` holds the
    settings of the latest one.
    """

    experiment: Experiment
    class_names: list[str]
    input_shape: tuple[int, int, int]
    digit_like: bool = False  # predictions preprocess images the MNIST way
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds_per_epoch: list[float] = field(default_factory=list)
    test_loss: float | None = None  # both None: not evaluated since the last training
    test_accuracy: float | None = None
    epoch_ends: list[float] = field(default_factory=list)
    segments: list[TrainingSegment] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.epoch_ends:
            self.epoch_ends = [float(i + 1) for i in range(len(self.history.get("loss", [])))]

    @property
    def epochs_trained(self) -> float:
        """Epochs trained in all, a stopped epoch counted by its share of batches (e.g. 1.34)."""
        return self.epoch_ends[-1] if self.epoch_ends else float(len(self.history.get("loss", [])))

    @property
    def epochs_logged(self) -> int:
        """Values per metric in ``history``: whole and partial epochs alike."""
        return len(self.history.get("loss", []))

    @property
    def evaluated(self) -> bool:
        """Whether the test figures describe the current weights (False when evaluation was skipped)."""
        return self.test_loss is not None and self.test_accuracy is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT,
            "version": RECORD_VERSION,
            "cnnstudio_version": __version__,
            "experiment": self.experiment.to_dict(),
            "dataset": {"name": self.experiment.dataset, "class_names": self.class_names,
                        "input_shape": list(self.input_shape)},
            "preprocessing": {
                "pixels": "raw 0..255 values; the model's 'rescale' layer maps them to 0..1",
                "images": "MNIST-style: ink cropped, scaled into 20x20, centred by mass in 28x28"
                if self.digit_like else "resized to the input shape",
                "digit_like": self.digit_like,
            },
            "history": self.history,
            "epoch_ends": self.epoch_ends,
            "seconds_per_epoch": self.seconds_per_epoch,
            "segments": [segment.to_json() for segment in self.segments],
            "test": {"loss": self.test_loss, "accuracy": self.test_accuracy, "evaluated": self.evaluated},
        }

    @classmethod
    def from_json(cls, data: Any) -> ModelRecord:
        if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
            raise ModelFileError("the experiment record is not CNN Studio's")
        try:
            dataset, test = data["dataset"], data.get("test", {})
            history = {str(k): [float(v) for v in vals] for k, vals in data.get("history", {}).items()}
            evaluated = test.get("evaluated", True) is not False
            return cls(
                experiment=Experiment.from_dict(data["experiment"]),
                class_names=[str(c) for c in dataset["class_names"]],
                input_shape=tuple(int(n) for n in dataset["input_shape"]),  # type: ignore[arg-type]
                digit_like=bool(data.get("preprocessing", {}).get("digit_like", False)),
                history=history,
                seconds_per_epoch=[float(s) for s in data.get("seconds_per_epoch", [])],
                test_loss=_optional_number(test.get("loss")) if evaluated else None,
                test_accuracy=_optional_number(test.get("accuracy")) if evaluated else None,
                epoch_ends=epoch_ends_from_json(data.get("epoch_ends"), len(history.get("loss", []))),
                segments=segments_from_json(data.get("segments")),
            )
        except (KeyError, TypeError, ValueError, AttributeError, ConfigError) as exc:
            raise ModelFileError(f"the experiment record is damaged ({exc.__class__.__name__}: {exc})") from exc


def _optional_number(value: Any) -> float | None:
    return None if value is None else float(value)

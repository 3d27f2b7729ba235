"""The experiment record a CNN Studio model file carries beside its Keras content.

A record read from a file is untrusted input: :meth:`ModelRecord.from_json` checks every type,
size and name it uses (see the ``MAX_*`` limits) and refuses anything else with a
``ModelFileError`` that names the field.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from cnnstudio import __version__
from cnnstudio.core.config import (
    LR_SCHEDULES,
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_PATIENCE,
    MAX_SEED,
    MAX_STEPS_PER_EXECUTION,
    OPTIMIZERS,
    Experiment,
    TrainOptions,
)
from cnnstudio.core.errors import ConfigError, ModelFileError, escape_controls, has_controls, plural, printable
from cnnstudio.core.files.model_signature import CHANNELS, MAX_CLASSES, MAX_SIDE, MIN_CLASSES, MIN_SIDE
from cnnstudio.core.limits import MAX_CLASS_NAME
from cnnstudio.core.network.architectures import PRESET_ARCHITECTURES, layer_specs
from cnnstudio.core.network.shape_table import table_for_specs
from cnnstudio.core.timeline import Timeline

RECORD_FORMAT = "cnnstudio-experiment"
RECORD_VERSION = 3  # 2: epoch_ends, training segments and test.evaluated; 3: experiment.model.design
DESIGN_RECORD_VERSION = 3  # written only by records that carry a design, so older readers refuse just those
MAX_SEGMENTS = 10_000
OPTIMIZER_STATES = ("fresh", "kept")
MAX_DATASET_NAME = 4096  # characters: a built-in name or a path
MAX_METRICS = 64  # history entries (loss, accuracy, val_loss, …)
MAX_METRIC_NAME = 100
MAX_EPOCHS_LOGGED = 100_000  # values per history metric, timings and epoch ends
MAX_EPOCH_END = 1e9  # epochs a record may say a model has trained
MAX_OPTION_TEXT = 100  # characters of a choice (pooling, optimizer, …) before it is even compared


def _shown(value: Any) -> str:
    """A short, printable picture of a value from a file, for messages (containers by their type)."""
    if isinstance(value, str):
        return f"'{printable(value, 60)}'"
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge number"
    return f"a {type(value).__name__}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any, what: str, minimum: float = 0.0, maximum: float = math.inf, nan: bool = False) -> float:
    """A finite number in ``minimum..maximum`` (bools are refused; NaN too unless ``nan``), as a float."""
    if _is_number(value):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if nan and math.isnan(number):
            return number
        if math.isfinite(number) and minimum <= number <= maximum:
            return number
    bounds = [f"at least {minimum:g}"] if math.isfinite(minimum) else []
    bounds += [f"at most {maximum:g}"] if math.isfinite(maximum) else []
    shown_bounds = "".join(f" {'of' if i == 0 else 'and'} {bound}" for i, bound in enumerate(bounds))
    raise ValueError(f"{what} must be a finite number{shown_bounds}{' or NaN' if nan else ''}, not {_shown(value)}")


def _whole(value: Any, what: str, minimum: int, maximum: int) -> int:
    """A whole JSON number (not a bool) in ``minimum..maximum``."""
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise ValueError(f"{what} must be a whole number from {minimum:,} to {maximum:,}, not {_shown(value)}")
    return value


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{what} must be true or false, not {_shown(value)}")
    return value


def _text(value: Any, what: str, limit: int) -> str:
    """A string of at most ``limit`` characters without control characters."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, not {_shown(value)}")
    if len(value) > limit:
        raise ValueError(f"{what} is longer than {limit:,} characters")
    if has_controls(value):
        raise ValueError(f"{what} contains control characters: {_shown(value)}")
    return value


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a mapping, not {_shown(value)}")
    return value


def _sequence(value: Any, what: str, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list, not {_shown(value)}")
    if len(value) > limit:
        raise ValueError(f"{what} has {len(value):,} entries, more than {limit:,}")
    return value


def _choice(value: Any, what: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(choices)}, not {_shown(value)}")
    return value


def is_dataset_path(name: str) -> bool:
    """Whether a dataset named in a record is a path on disk rather than a built-in dataset's name.

    Built-in names are those :func:`cnnstudio.core.data.datasets.load_dataset` knows (``digits``,
    ``mnist``, … in any case, ``-`` for ``_``); anything else would make the loaders read files.
    """
    from cnnstudio.core.data.datasets import BUILTIN_NAMES, dataset_key

    return dataset_key(name) not in BUILTIN_NAMES


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
    def dataset_is_path(self) -> bool:
        """Whether this segment's dataset is a path on disk (see :func:`is_dataset_path`)."""
        return is_dataset_path(self.dataset)

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
            batch_size = _whole(data["batch_size"], "segment batch size", 1, 65_536)
            dataset = _text(data["dataset"], "segment dataset", MAX_DATASET_NAME)
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
        given = f"{len(data):,} epoch ends" if isinstance(data, list) else f"epoch ends as a {type(data).__name__}"
        raise ValueError(f"the history logs {plural(epochs, 'epoch')} but the record has {given}: they must match")
    ends = [_number(value, "an epoch end", maximum=MAX_EPOCH_END) for value in data]
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
    timeline: Timeline | None = None  # the first convolution after each epoch; None in older files

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
    def dataset_is_path(self) -> bool:
        """Whether the record names its dataset by a path rather than a built-in name.

        Opening such a record must not read that path unasked: a file from elsewhere could name
        any folder. The CLI and the GUI ask the user (or take an explicit dataset) first.
        """
        return is_dataset_path(self.experiment.dataset)

    def room_problem(self, epochs: int) -> str | None:
        """Why ``epochs`` more could not be recorded (the record would pass its limits and not be saved), or None."""
        logged = max(len(self.seconds_per_epoch), len(self.epoch_ends), *(len(v) for v in self.history.values()), 0)
        if logged + epochs > MAX_EPOCHS_LOGGED:
            return (f"its record already logs {logged:,} epochs; {epochs:,} more would pass the "
                    f"{MAX_EPOCHS_LOGGED:,} a model file keeps: train a new model")
        if self.epochs_trained + epochs > MAX_EPOCH_END:
            return (f"it has trained {self.epochs_trained:,.0f} epochs; {epochs:,} more would pass the "
                    f"{MAX_EPOCH_END:,.0f} a model file keeps: train a new model")
        return None

    @property
    def evaluated(self) -> bool:
        """Whether the test figures describe the current weights (False when evaluation was skipped)."""
        return self.test_loss is not None and self.test_accuracy is not None

    def to_json(self) -> dict[str, Any]:
        data = {
            "format": RECORD_FORMAT,
            "version": DESIGN_RECORD_VERSION if self.experiment.model.design is not None else 2,
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
        if self.timeline is not None:  # additive: older readers ignore it
            data["timeline"] = self.timeline.to_json()
        return data

    @classmethod
    def from_json(cls, data: Any) -> ModelRecord:
        """A record read from a file; any wrong type, size or name raises ``ModelFileError`` naming the field."""
        if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
            raise ModelFileError("the experiment record is not CNN Studio's")
        version = data.get("version", 1)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ModelFileError(f"the experiment record is damaged (version {_shown(version)})")
        if version > RECORD_VERSION:  # a newer format: refused rather than guessed
            raise ModelFileError(f"the experiment record is version {version}, newer than this CNN Studio reads "
                                 f"(up to {RECORD_VERSION}): open it with a newer CNN Studio")
        try:
            return cls._parse(data)
        except KeyError as exc:
            raise ModelFileError(f"the experiment record is damaged (it has no {_shown(exc.args[0])})") from exc
        except (TypeError, ValueError, AttributeError, ConfigError, RecursionError, OverflowError) as exc:
            raise ModelFileError(f"the experiment record is damaged ({printable(exc, 300)})") from exc

    @classmethod
    def _parse(cls, data: dict[str, Any]) -> ModelRecord:
        dataset = _mapping(data["dataset"], "dataset")
        test = _mapping(data.get("test", {}), "test")
        preprocessing = _mapping(data.get("preprocessing", {}), "preprocessing")
        history = _history(data.get("history", {}))
        evaluated = _flag(test.get("evaluated", True), "test evaluated")
        test_loss = _optional(test.get("loss"), "test loss", 0.0, math.inf, nan=True)
        test_accuracy = _optional(test.get("accuracy"), "test accuracy", 0.0, 1.0)
        timings = _sequence(data.get("seconds_per_epoch", []), "seconds per epoch", MAX_EPOCHS_LOGGED)
        experiment = experiment_from_json(data["experiment"])
        class_names = _class_names(dataset["class_names"])
        input_shape = _input_shape(dataset["input_shape"])
        if experiment.model.design is not None:  # the design must make a network for the record's images
            table_for_specs(layer_specs(experiment.model, input_shape, len(class_names)), input_shape)
        return cls(
            experiment=experiment,
            class_names=class_names,
            input_shape=input_shape,
            digit_like=_flag(preprocessing.get("digit_like", False), "preprocessing digit_like"),
            history=history,
            seconds_per_epoch=[_number(s, "seconds per epoch") for s in timings],
            test_loss=test_loss if evaluated else None,
            test_accuracy=test_accuracy if evaluated else None,
            epoch_ends=epoch_ends_from_json(data.get("epoch_ends"), len(history.get("loss", []))),
            segments=segments_from_json(data.get("segments")),
            timeline=None if data.get("timeline") is None else Timeline.from_json(data["timeline"]),
        )


def _optional(value: Any, what: str, minimum: float, maximum: float, nan: bool = False) -> float | None:
    return None if value is None else _number(value, what, minimum, maximum, nan=nan)


# The experiment's settings: JSON types checked here, values by the config dataclasses.
_MODEL_TYPES: dict[str, tuple[type, ...]] = {
    "arch": (str,), "pooling": (str,), "padding": (str, int), "activation": (str,),
    "pool_size": (int, type(None)), "pool_stride": (int, type(None)), "dropout": (int, float, type(None)),
    "batch_norm": (bool,), "augment": (bool,), "design": (dict, type(None)),
}
_TRAIN_TYPES: dict[str, tuple[type, ...]] = {
    "epochs": (int,), "batch_size": (int,), "optimizer": (str,), "learning_rate": (int, float),
    "lr_schedule": (str,), "validation_split": (int, float), "early_stopping_patience": (int,), "seed": (int,),
    "steps_per_execution": (int,),
}
_BOUNDS = {"early_stopping_patience": (0, MAX_PATIENCE), "seed": (0, MAX_SEED),
           "steps_per_execution": (0, MAX_STEPS_PER_EXECUTION), "epochs": (1, MAX_EPOCHS),
           "batch_size": (1, MAX_BATCH_SIZE)}  # the bounds TrainOptions checks: what trains can be saved


def _typed(values: dict[str, Any], types: dict[str, tuple[type, ...]], part: str) -> None:
    for key, allowed in types.items():
        if key not in values:
            continue
        value, what = values[key], f"experiment {part} {key}"
        if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
            raise ValueError(f"{what} has the wrong type: {_shown(value)}")
        if isinstance(value, str) and (len(value) > MAX_OPTION_TEXT or has_controls(value)):
            raise ValueError(f"{what} is not a known choice: {_shown(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{what} must be finite, not {_shown(value)}")
        if key in _BOUNDS and isinstance(value, int):
            _whole(value, what, *_BOUNDS[key])


def experiment_from_json(data: Any) -> Experiment:
    """Stored experiment settings, checked strictly: JSON types, known choices, a known architecture or a design.

    A design is untrusted like the rest: :meth:`Design.from_json` checks every layer (at most
    ``MAX_LAYERS``, bounded sizes), and the shape table checks it against the record's input shape.
    """
    data = _mapping(data, "experiment")
    model = _mapping(data.get("model", {}), "experiment model")
    train = _mapping(data.get("train", {}), "experiment train")
    _typed(model, _MODEL_TYPES, "model")
    _typed(train, _TRAIN_TYPES, "train")
    if "dataset" in data:
        _text(data["dataset"], "experiment dataset", MAX_DATASET_NAME)
    experiment = Experiment.from_dict(data)
    if experiment.model.design is None and experiment.model.arch not in PRESET_ARCHITECTURES:
        raise ValueError(f"experiment model arch {_shown(experiment.model.arch)} is not one of "
                         f"{', '.join(PRESET_ARCHITECTURES)}")
    return experiment


def _class_names(value: Any) -> list[str]:
    """Class names: a list of ``MIN_CLASSES..MAX_CLASSES`` short strings, control characters escaped.

    Class names are labels only (they often come from folder names), so a control character in one
    is shown escaped (``\x1b``) instead of refusing the whole file.
    """
    names = _sequence(value, "class names", MAX_CLASSES)
    if len(names) < MIN_CLASSES:
        raise ValueError(f"class names must list at least {MIN_CLASSES} classes, not {len(names)}")
    for name in names:
        if not isinstance(name, str) or len(name) > MAX_CLASS_NAME:
            raise ValueError(f"class names must be text of at most {MAX_CLASS_NAME} characters, not {_shown(name)}")
    return [escape_controls(name) for name in names]


def _input_shape(value: Any) -> tuple[int, int, int]:
    dims = _sequence(value, "input shape", 3)
    if len(dims) != 3:
        raise ValueError(f"input shape must be height, width and channels, not {len(dims)} numbers")
    height = _whole(dims[0], "input height", MIN_SIDE, MAX_SIDE)
    width = _whole(dims[1], "input width", MIN_SIDE, MAX_SIDE)
    if dims[2] not in CHANNELS or isinstance(dims[2], bool) or not isinstance(dims[2], int):
        raise ValueError(f"input channels must be {' or '.join(map(str, CHANNELS))}, not {_shown(dims[2])}")
    return height, width, dims[2]


def _history(value: Any) -> dict[str, list[float]]:
    """Per-metric values, one per logged epoch; NaN is kept (a diverged run logs it), infinities are not."""
    metrics = _mapping(value, "history")
    if len(metrics) > MAX_METRICS:
        raise ValueError(f"history has {len(metrics):,} metrics, more than {MAX_METRICS}")
    history = {}
    for key, values in metrics.items():
        name = _text(key, "a history metric name", MAX_METRIC_NAME)
        entries = _sequence(values, f"history {name}", MAX_EPOCHS_LOGGED)
        history[name] = [_number(v, f"a history {name} value", -math.inf, math.inf, nan=True) for v in entries]
    return history

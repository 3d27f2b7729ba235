"""Experiment configuration: plain dataclasses that round-trip through JSON."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cnnstudio.core.errors import ConfigError, printable

if TYPE_CHECKING:
    from cnnstudio.core.network.design import Design

# Each choice with the name the GUI shows for it; the tuples are the valid values, in display order.
POOLING_LABELS = {"max": "max", "avg": "average", "min": "min"}
PADDING_LABELS = {"valid": "valid (no border)", "same": "same (keep size)"}  # or an explicit border of N pixels
ACTIVATION_LABELS = {"relu": "ReLU", "tanh": "tanh", "sigmoid": "sigmoid"}
OPTIMIZER_LABELS = {"adam": "Adam", "sgd": "SGD (momentum 0.9)", "rmsprop": "RMSprop"}
LR_SCHEDULE_LABELS = {"cosine": "cosine decay", "constant": "constant"}
POOLING_TYPES = tuple(POOLING_LABELS)
PADDING_MODES = tuple(PADDING_LABELS)
ACTIVATIONS = tuple(ACTIVATION_LABELS)
OPTIMIZERS = tuple(OPTIMIZER_LABELS)
LR_SCHEDULES = tuple(LR_SCHEDULE_LABELS)
MAX_EXPLICIT_PADDING = 64
MAX_SEED = 2**32 - 1  # the largest seed NumPy, Python and TensorFlow all accept
MIN_LEARNING_RATE = 1e-30  # float32 holds it (its smallest normal number is about 1.2e-38)
MAX_EPOCHS = 10_000
MAX_BATCH_SIZE = 65_536
MAX_PATIENCE = MAX_EPOCHS  # more epochs without improvement than a run can have means nothing
MAX_STEPS_PER_EXECUTION = 100_000
MAX_VALIDATION_SPLIT = 0.9  # beyond it too few images would be left to train on


def parse_padding(text: str | int) -> str:
    """Normalise a padding choice: ``'valid'``, ``'same'`` or a zero border of N pixels (``'2'``)."""
    value = str(text).strip().lower()
    if value in PADDING_MODES:
        return value
    if value.isascii() and value.isdigit() and len(value) <= 6 and int(value) <= MAX_EXPLICIT_PADDING:
        return str(int(value))
    raise ConfigError(
        f"padding must be 'valid', 'same' or a border of 0..{MAX_EXPLICIT_PADDING} pixels, not {printable(repr(text), 60)}"
    )


def padding_pixels(padding: str) -> int | None:
    """The explicit border width of a padding choice, or None for 'valid'/'same'."""
    return int(padding) if padding.isascii() and padding.isdigit() else None


def _whole(value: object, low: int, high: int) -> bool:
    """Whether ``value`` is an int (not a bool) from ``low`` to ``high``."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _real(value: object) -> bool:
    """Whether ``value`` is a real number (int or float, not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_choice(what: str, value: object, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{what} must be one of {', '.join(choices)}, not {value!r}")


@dataclass
class ModelOptions:
    """How the network is built. ``None`` means "the architecture's own default".

    ``design``: a user's network (see :mod:`cnnstudio.core.network.design`; its JSON form is taken
    too) instead of a preset; ``arch`` is then the design's name. The options below apply to every
    layer of a design that follows them ("global"); ``pool_size`` and ``pool_stride`` apply to the
    presets only (each pooling layer of a design has its own).
    """

    arch: str = "lenet5"
    pooling: str = "max"
    pool_size: int | None = None
    pool_stride: int | None = None
    padding: str = "valid"
    activation: str = "relu"
    dropout: float | None = None
    batch_norm: bool = False
    augment: bool = False  # random shifts/rotations/zoom (gray) or shift/flip/contrast (colour), training only
    design: Design | None = None

    @property
    def preset(self) -> str | None:
        """The preset architecture built, or None for a design (whose name may be any, even a preset's)."""
        return self.arch if self.design is None else None

    @property
    def network_name(self) -> str:
        """What is built, for messages: the preset's name, or ``the design 'NAME'``."""
        return self.arch if self.design is None else f"the design {self.design.name!r}"

    @property
    def file_stem(self) -> str:
        """A file name for a model built from these options: ``lenet5-min-valid`` (letters, digits, ``-``, ``_``)."""
        network = self.arch if self.design is None else self.design.name
        padding = f"pad{self.padding}" if str(self.padding).isdigit() else self.padding  # an explicit border
        stem = "-".join(str(part) for part in (network, self.pooling, padding))
        return re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")[:80] or "model"

    def __post_init__(self) -> None:
        if self.design is not None:
            from cnnstudio.core.network.design import Design  # no cycle: design.py imports this module

            if isinstance(self.design, dict):
                self.design = Design.from_json(self.design)
            if not isinstance(self.design, Design):
                raise ConfigError(f"a design must be a Design or its JSON form, not a {type(self.design).__name__}")
            self.arch = self.design.name
        if not isinstance(self.arch, str) or not self.arch.strip() or len(self.arch) > 200:
            raise ConfigError(f"architecture must be a name, not {self.arch!r:.60}")
        self.arch = self.arch.strip().lower().replace("-", "_")
        if isinstance(self.pooling, str):
            self.pooling = {"average": "avg", "mean": "avg"}.get(self.pooling, self.pooling)
        _check_choice("pooling", self.pooling, POOLING_TYPES)
        _check_choice("activation", self.activation, ACTIVATIONS)
        self.padding = parse_padding(self.padding)
        for name in ("pool_size", "pool_stride"):
            value = getattr(self, name)
            if value is not None and not _whole(value, 1, 16):
                raise ConfigError(f"{name.replace('_', ' ')} must be a whole number from 1 to 16, not {value!r}")
        if self.dropout is not None and not (_real(self.dropout) and 0.0 <= self.dropout < 1.0):
            raise ConfigError(f"dropout must be in [0, 1), not {self.dropout!r:.60}")
        for name in ("batch_norm", "augment"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name.replace('_', ' ')} must be true or false, not {getattr(self, name)!r:.60}")


@dataclass
class TrainOptions:
    """How the network is trained."""

    epochs: int = 5
    batch_size: int = 64
    optimizer: str = "adam"
    learning_rate: float = 2e-3
    lr_schedule: str = "cosine"  # cosine: decays to 5% of the rate over the planned epochs
    validation_split: float = 0.1
    early_stopping_patience: int = 0
    seed: int = 0
    steps_per_execution: int = 0  # 0: chosen from the network's size

    def __post_init__(self) -> None:
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("learning-rate schedule", self.lr_schedule, LR_SCHEDULES)
        if not _whole(self.epochs, 1, MAX_EPOCHS):
            raise ConfigError(f"epochs must be a whole number from 1 to {MAX_EPOCHS}, not {self.epochs!r:.60}")
        if not _whole(self.batch_size, 1, MAX_BATCH_SIZE):
            raise ConfigError(f"batch size must be a whole number from 1 to {MAX_BATCH_SIZE}, "
                              f"not {self.batch_size!r:.60}")
        if not (_real(self.learning_rate) and MIN_LEARNING_RATE <= self.learning_rate <= 10.0):
            raise ConfigError(f"learning rate must be from {MIN_LEARNING_RATE:g} to 10 (smaller rates are lost in "
                              f"float32 arithmetic), not {self.learning_rate!r:.60}")
        if not (_real(self.validation_split) and 0.0 <= self.validation_split <= MAX_VALIDATION_SPLIT):
            raise ConfigError(f"validation split must be from 0 to {MAX_VALIDATION_SPLIT:g} (a share of the training "
                              f"images), not {self.validation_split!r:.60}")
        if not _whole(self.seed, 0, MAX_SEED):
            raise ConfigError(f"seed must be a whole number from 0 to {MAX_SEED} (2**32 - 1), not {self.seed!r:.60}")
        if not _whole(self.early_stopping_patience, 0, MAX_PATIENCE):
            raise ConfigError(f"patience must be a whole number from 0 to {MAX_PATIENCE}, "
                              f"not {self.early_stopping_patience!r:.60}")
        if not _whole(self.steps_per_execution, 0, MAX_STEPS_PER_EXECUTION):
            raise ConfigError(f"steps per execution must be a whole number from 0 to {MAX_STEPS_PER_EXECUTION}, "
                              f"not {self.steps_per_execution!r:.60}")


@dataclass
class Experiment:
    """One experiment: what network, trained how, on which data."""

    model: ModelOptions = field(default_factory=ModelOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    dataset: str = "digits"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values; a design as its JSON form (``Design.to_json()``)."""
        data = dataclasses.asdict(self)
        if self.model.design is not None:
            data["model"]["design"] = self.model.design.to_json()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Experiment:
        """Rebuild from :meth:`to_dict` output; unknown keys are ignored, bad values refused."""
        try:
            model = _known_fields(ModelOptions, data.get("model", {}))
            train = _known_fields(TrainOptions, data.get("train", {}))
            dataset = data.get("dataset", "digits")
            if not isinstance(dataset, str) or not dataset.strip() or len(dataset) > 4096:
                raise ConfigError(f"the dataset must be a name or a path, not {dataset!r:.60}")
            return cls(ModelOptions(**model), TrainOptions(**train), dataset)
        except (TypeError, AttributeError, ValueError) as exc:
            raise ConfigError(f"experiment settings are malformed: {exc}") from exc


def _known_fields(kind: type, values: Any) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise ConfigError(f"experiment settings for {kind.__name__} must be a mapping")
    names = {f.name for f in dataclasses.fields(kind)}
    return {key: value for key, value in values.items() if key in names}

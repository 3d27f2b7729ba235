"""The experiment record a CNN Studio model file carries beside its Keras content."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnnstudio import __version__
from cnnstudio.core.config import Experiment
from cnnstudio.core.errors import ConfigError, ModelFileError

RECORD_FORMAT = "cnnstudio-experiment"
RECORD_VERSION = 1


@dataclass
class ModelRecord:
    """Everything needed to reopen an experiment: settings, data description and history."""

    experiment: Experiment
    class_names: list[str]
    input_shape: tuple[int, int, int]
    digit_like: bool = False  # predictions preprocess images the MNIST way
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds_per_epoch: list[float] = field(default_factory=list)
    test_loss: float | None = None
    test_accuracy: float | None = None

    @property
    def epochs_trained(self) -> int:
        return len(self.history.get("loss", []))

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
            "seconds_per_epoch": self.seconds_per_epoch,
            "test": {"loss": self.test_loss, "accuracy": self.test_accuracy},
        }

    @classmethod
    def from_json(cls, data: Any) -> ModelRecord:
        if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
            raise ModelFileError("the experiment record is not CNN Studio's")
        try:
            dataset, test = data["dataset"], data.get("test", {})
            return cls(
                experiment=Experiment.from_dict(data["experiment"]),
                class_names=[str(c) for c in dataset["class_names"]],
                input_shape=tuple(int(n) for n in dataset["input_shape"]),  # type: ignore[arg-type]
                digit_like=bool(data.get("preprocessing", {}).get("digit_like", False)),
                history={str(k): [float(v) for v in vals] for k, vals in data.get("history", {}).items()},
                seconds_per_epoch=[float(s) for s in data.get("seconds_per_epoch", [])],
                test_loss=test.get("loss"), test_accuracy=test.get("accuracy"),
            )
        except (KeyError, TypeError, ValueError, AttributeError, ConfigError) as exc:
            raise ModelFileError(f"the experiment record is damaged ({exc.__class__.__name__}: {exc})") from exc

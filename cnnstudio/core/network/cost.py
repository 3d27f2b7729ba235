"""What a network costs before it trains: parameters, MACs, activation memory and seconds per epoch.

- ``network_cost(table, train_images, validation_images, calibration) -> Cost``: pure Python from
  the shape table. ``activation_bytes`` is the forward activations of one image: the sum of every
  layer's output elements (the input excluded) × 4 bytes (float32); training keeps about that
  much per image in the batch for the backward pass, plus weights, gradients and optimizer state.
- The time per epoch is an **estimate**: images × (overhead per image + 3 × forward MACs / rate)
  (backward ≈ 2× forward), validation images at forward cost. ``rate`` and ``overhead`` come
  from a :class:`Calibration`: two short measured training runs of reference networks on this
  machine (:func:`calibrate`; the measurement is injectable, so the fit is tested without
  TensorFlow), cached per machine and device in ``data_dir()/calibration.json``
  (:func:`cached_calibration`, untrusted: validated, ignored with a reason when damaged). Without
  one the estimate uses ``ASSUMED`` figures and says it is a rough guess.
- ``Cost.warning`` says when an epoch would take longer than ``SLOW_EPOCH_SECONDS`` (10 min),
  suggesting AlexNet-CIFAR or a GPU.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cnnstudio.core.atomic_write import atomic_text
from cnnstudio.core.errors import has_controls, printable
from cnnstudio.core.network.shape_table import ShapeTable
from cnnstudio.core.regular_file import NotRegularFileError, open_regular_file

BYTES_PER_VALUE = 4  # float32
TRAINING_FACTOR = 3  # forward + backward ≈ 3× the forward multiply-accumulates
SLOW_EPOCH_SECONDS = 600.0
CALIBRATION_FILE = "calibration.json"
CALIBRATION_FORMAT = "cnnstudio-calibration"
CALIBRATION_VERSION = 1
MAX_CACHE_BYTES = 64_000
MAX_MACHINES = 50
RATE_BOUNDS = (1e6, 1e17)  # MAC/s a real device can show
OVERHEAD_BOUNDS = (0.0, 1.0)  # seconds per image beyond the arithmetic
REFERENCES = ("lenet5", "vgg_small")  # a small and a mid-sized network on 28×28 digits: overhead, then rate


@dataclass(frozen=True)
class Calibration:
    """Measured training speed of one machine and device: ``seconds/image = overhead + 3·MACs / rate``."""

    device: str  # "CPU" or "GPU: <name>", as TensorFlow saw it
    macs_per_second: float  # effective multiply-accumulates per second while training
    overhead_seconds_per_image: float  # framework cost per image that does not scale with MACs
    measured: str  # when (ISO date and time)
    reference: str  # what was measured

    def seconds_per_image(self, macs: int, training: bool = True) -> float:
        factor = TRAINING_FACTOR if training else 1
        return self.overhead_seconds_per_image + factor * macs / self.macs_per_second


# A rough guess for an uncalibrated machine: a few CPU cores training with TensorFlow's oneDNN kernels.
# Fitted to the unloaded 2-core machine of docs/benchmarks.md: LeNet-5's epoch (20,429 images trained,
# 2,270 validated) took 3.3-3.5 s, and AlexNet-CIFAR trained at about 6.8 ms an image.
ASSUMED = Calibration("this machine (not calibrated)", 2.5e10, 9e-5, "", "assumed, not measured")


@dataclass(frozen=True)
class Cost:
    params: int
    macs: int  # forward multiply-accumulates per image
    activation_bytes: int  # per image: every layer's output elements × 4 bytes (forward activations)
    train_images: int | None
    validation_images: int
    seconds_per_epoch: float | None  # an estimate; None when the number of training images is unknown
    calibration: Calibration
    calibrated: bool  # False: ``ASSUMED`` figures, a rough guess

    @property
    def warning(self) -> str | None:
        """One line when an epoch would take over 10 minutes, else None."""
        if self.seconds_per_epoch is None or self.seconds_per_epoch <= SLOW_EPOCH_SECONDS:
            return None
        where = f"on {self.calibration.device} (an estimate" if self.calibrated else "(a rough guess, not calibrated"
        return (f"one epoch would take about {duration(self.seconds_per_epoch)} {where}; "
                f"{self.macs / 1e6:,.0f} M MACs per image): consider AlexNet-CIFAR (--arch alexnet_cifar, "
                "built for 32×32 images), a smaller design or a GPU")

    def to_json(self) -> dict[str, Any]:
        return {
            "params": self.params, "macs": self.macs, "activation_bytes": self.activation_bytes,
            "activation_note": "forward activations of one image: all layer outputs × 4 bytes (float32)",
            "train_images": self.train_images, "validation_images": self.validation_images,
            "estimated_seconds_per_epoch": self.seconds_per_epoch, "calibrated": self.calibrated,
            "device": self.calibration.device, "calibration": asdict(self.calibration) if self.calibrated else None,
            "warning": self.warning,
        }

    def format(self) -> str:
        """Lines for a terminal."""
        lines = [f"cost: {self.params:,} parameters, {self.macs:,} MACs per image, activations "
                 f"{self.activation_bytes / 1e6:,.2f} MB per image (all layer outputs × 4 bytes, forward only)"]
        if self.seconds_per_epoch is None:
            lines.append("time per epoch: unknown (the number of training images is not known)")
        elif self.calibrated:
            lines.append(f"time per epoch: about {duration(self.seconds_per_epoch)} on {self.calibration.device} "
                         f"for {self.train_images:,} training images (an estimate from this machine's calibration "
                         f"of {self.calibration.measured})")
        else:
            lines.append(f"time per epoch: roughly {duration(self.seconds_per_epoch)} for {self.train_images:,} "
                         "training images (a guess: not calibrated yet; `cnnstudio summary --calibrate` measures "
                         "this machine once)")
        if self.warning:
            lines.append(f"warning: {self.warning}")
        return "\n".join(lines)


def duration(seconds: float) -> str:
    """'40 s', '12 min', '3 h 05 min'."""
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 90 else f"{minutes // 60} h {minutes % 60:02d} min"


def activation_bytes(table: ShapeTable) -> int:
    """Forward activations of one image: the sum of every layer's output elements × 4 bytes."""
    return BYTES_PER_VALUE * sum(math.prod(row.output_shape) for row in table.rows)


def network_cost(table: ShapeTable, train_images: int | None, validation_images: int = 0,
                 calibration: Calibration | None = None) -> Cost:
    """The cost of training the network ``table`` describes for one epoch (see the module docstring)."""
    rates = calibration or ASSUMED
    seconds = None
    if train_images is not None:
        seconds = (train_images * rates.seconds_per_image(table.macs)
                   + validation_images * rates.seconds_per_image(table.macs, training=False))
    return Cost(table.params, table.macs, activation_bytes(table), train_images, validation_images, seconds, rates,
                calibration is not None)


# Calibration -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    """One measured run: ``images`` trained in ``seconds`` by a network of ``macs`` forward MACs per image."""

    macs: int
    images: int
    seconds: float


def fit_calibration(samples: Sequence[Sample], device: str, reference: str = "",
                    now: Callable[[], str] | None = None) -> Calibration:
    """Rate and overhead from measured samples (least squares on seconds per image vs 3·MACs).

    With one sample, or samples that do not separate (noise), the whole time counts as arithmetic
    (no overhead): the estimate then errs on the slow side for large networks.
    """
    points = [(TRAINING_FACTOR * s.macs, s.seconds / s.images) for s in samples if s.images > 0 and s.seconds > 0]
    if not points:
        raise ValueError("no usable calibration measurement")
    when = (now or (lambda: time.strftime("%Y-%m-%d %H:%M")))()
    slope, overhead = None, 0.0
    if len(points) > 1:
        mean_x = sum(x for x, _ in points) / len(points)
        mean_y = sum(y for _, y in points) / len(points)
        spread = sum((x - mean_x) ** 2 for x, _ in points)
        if spread > 0:
            slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
            overhead = mean_y - slope * mean_x
    if slope is None or slope <= 0 or overhead < 0:
        slope, overhead = max(y / x for x, y in points if x > 0), 0.0
    rate = min(max(1.0 / slope, RATE_BOUNDS[0]), RATE_BOUNDS[1])
    return Calibration(device, rate, min(overhead, OVERHEAD_BOUNDS[1]), when, reference)


def calibrate(measure: Callable[[], tuple[str, list[Sample]]] | None = None, *,
              folder: Path | None = None) -> tuple[Calibration, str | None]:
    """Measure this machine (by default :func:`measure_references`, which imports TensorFlow), fit and cache.

    Returns the calibration and, when it could not be cached, why (it is still used this time).
    """
    device, samples = (measure or measure_references)()
    calibration = fit_calibration(samples, device, reference=", ".join(
        f"{s.images} images of {s.macs:,} MACs in {s.seconds:.2f} s" for s in samples))
    try:
        save_calibration(calibration, folder)
    except OSError as exc:
        place = calibration_path(folder)
        why = ("a file, not a folder, is in its place" if any(p.exists() and not p.is_dir() for p in place.parents)
               else exc.strerror or exc.__class__.__name__)  # mkdir's "File exists" would say the opposite
        return calibration, f"the calibration could not be cached in {printable(str(place), 200)} ({why})"
    return calibration, None


def measure_references(steps: int = 24, batch_size: int = 64) -> tuple[str, list[Sample]]:
    """Time ``steps`` training batches of each reference network on random 28×28 digits (after a warm-up)."""
    import keras
    import numpy as np

    from cnnstudio.core.config import ModelOptions
    from cnnstudio.core.network.model_builder import build_model
    from cnnstudio.core.network.shape_table import shape_table

    rng = np.random.default_rng(0)
    images = steps * batch_size
    x = rng.integers(0, 256, size=(images, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=images)
    samples = []
    for arch in REFERENCES:
        options = ModelOptions(arch=arch)
        model = build_model(options, (28, 28, 1), 10)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      steps_per_execution=4)
        model.fit(x[: 8 * batch_size], y[: 8 * batch_size], batch_size=batch_size, epochs=1, verbose=0)  # compile
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
        samples.append(Sample(shape_table(options, (28, 28, 1), 10).macs, images, time.perf_counter() - start))
    return _device_name(), samples


def _device_name() -> str:
    """"GPU: <name>" when TensorFlow sees one, else "CPU" (as the training runtime names it)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    try:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name") or gpus[0].name
    except (RuntimeError, ValueError):
        name = gpus[0].name
    return f"GPU: {name}"[:200]


def machine_key() -> str:
    """This machine, as the calibration cache knows it: host, processor and CPU count."""
    return f"{platform.node()[:60]}|{platform.machine()}|{os.cpu_count()}"


def calibration_path(folder: Path | None = None) -> Path:
    from cnnstudio.core.paths import data_dir

    return (folder or data_dir()) / CALIBRATION_FILE


def _check_calibration(value: Any) -> Calibration:
    if not isinstance(value, dict):
        raise ValueError("an entry is not a mapping")
    texts = {}
    for key, limit in (("device", 200), ("measured", 40), ("reference", 400)):
        text = value.get(key)
        if not isinstance(text, str) or len(text) > limit or has_controls(text):
            raise ValueError(f"{key} must be text of at most {limit} characters")
        texts[key] = text
    numbers = {}
    for key, (low, high) in (("macs_per_second", RATE_BOUNDS), ("overhead_seconds_per_image", OVERHEAD_BOUNDS)):
        number = value.get(key)
        if not isinstance(number, (int, float)) or isinstance(number, bool) or not math.isfinite(number) \
                or not low <= number <= high:
            raise ValueError(f"{key} must be a number from {low:g} to {high:g}")
        numbers[key] = float(number)
    return Calibration(texts["device"], numbers["macs_per_second"], numbers["overhead_seconds_per_image"],
                       texts["measured"], texts["reference"])


def _read_cache(path: Path) -> dict[str, Any]:
    """The cache's machines (empty when there is no file); a damaged file raises ValueError."""
    try:
        with open_regular_file(path) as handle:  # a pipe or device would block or never end
            raw = handle.read(MAX_CACHE_BYTES + 1)
    except NotRegularFileError as exc:
        raise ValueError(f"is {exc}") from exc
    except (FileNotFoundError, NotADirectoryError):  # nothing cached (yet), or no data folder at all
        return {}
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc.__class__.__name__})") from exc
    if len(raw) > MAX_CACHE_BYTES:
        raise ValueError(f"is larger than {MAX_CACHE_BYTES:,} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError("is not valid JSON") from exc
    if not isinstance(data, dict) or data.get("format") != CALIBRATION_FORMAT:
        raise ValueError("is not a CNN Studio calibration")
    if data.get("version") != CALIBRATION_VERSION:
        raise ValueError(f"has version {printable(data.get('version'), 20)}, not {CALIBRATION_VERSION}")
    machines = data.get("machines")
    if not isinstance(machines, dict) or len(machines) > MAX_MACHINES:
        raise ValueError(f"must list at most {MAX_MACHINES} machines")
    return machines


def cached_calibration(folder: Path | None = None) -> tuple[Calibration | None, str | None]:
    """This machine's cached calibration, or None; and why a damaged cache was ignored (else None)."""
    path = calibration_path(folder)
    try:
        machines = _read_cache(path)
        entry = machines.get(machine_key())
        return (None if entry is None else _check_calibration(entry)), None
    except ValueError as exc:
        return None, f"the calibration cache {printable(str(path), 200)} {exc}; it is ignored (--calibrate remakes it)"


def save_calibration(calibration: Calibration, folder: Path | None = None) -> Path:
    """Store ``calibration`` for this machine (others kept when the file is sound), atomically."""
    path = calibration_path(folder)
    try:
        machines = {k: v for k, v in _read_cache(path).items() if isinstance(k, str) and len(k) <= 200}
    except ValueError:
        machines = {}
    machines.pop(machine_key(), None)
    machines = dict(list(machines.items())[-(MAX_MACHINES - 1):])
    machines[machine_key()] = asdict(calibration)
    text = json.dumps({"format": CALIBRATION_FORMAT, "version": CALIBRATION_VERSION, "machines": machines}, indent=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_text(path, prefix=".calibration.") as out:
        out.write(text)
    return path

"""Which devices training runs on: ``cpu``, ``gpu:N``, ``all-gpus`` or ``workers`` (Qt-free).

Parsing a request (:func:`parse_device`) and planning it against the visible devices
(:func:`plan_devices`) are pure and import nothing heavy, so the command line can check
``--device`` at once. TensorFlow is imported only by the functions that need it:
:func:`list_devices`, :func:`enable_memory_growth`, :func:`strategy_for`, :func:`training_scope`
and :func:`precision_policy` (Keras).

A plan with several devices trains with ``tf.distribute.MirroredStrategy``: every replica gets
``per_replica_batch`` images of each global batch of ``per_replica_batch × replicas``
(:func:`global_batch`), and the gradients are summed across replicas before each update.

``workers`` trains one model over several machines (processes) with
``tf.distribute.MultiWorkerMirroredStrategy``, the cluster read from the ``TF_CONFIG`` environment
variable (:mod:`cnnstudio.core.training.workers` checks it without TensorFlow). Every worker runs the same
command; worker 0 is the chief. The replicas are the workers × the devices of each (all its GPUs,
else its CPU), and each global batch is split across all of them.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cnnstudio.core.errors import one_line, printable
from cnnstudio.core.training.tensorflow_module import tensorflow_module
from cnnstudio.core.training.workers import multiworker_strategy

MAX_GPU_INDEX = 255
MIXED_PRECISION_CAPABILITY = (7, 0)  # Volta and later have tensor cores: float16 pays off there
ONE_MACHINE_FORMS = "cpu, gpu, gpu:N (N = 0, 1, 2, …), all-gpus or auto"
ACCEPTED_FORMS = "cpu, gpu, gpu:N (N = 0, 1, 2, …), all-gpus, auto or workers"
TENSORFLOW_SPELLINGS = " (any case; TensorFlow's GPU:0, /gpu:0 and /device:GPU:0 also work)"
RequestKind = Literal["cpu", "gpu", "all-gpus", "auto", "workers"]
PlanKind = Literal["cpu", "gpu", "mirrored", "multiworker"]
_GPU_INDEX = re.compile(r"gpu:(0|[1-9][0-9]{0,2})")  # ASCII digits only, no sign, no leading zeros


@dataclass(frozen=True)
class DeviceInfo:
    """One physical device as TensorFlow sees it."""

    name: str  # "/physical_device:GPU:0"
    kind: str  # "CPU" or "GPU"
    description: str  # "NVIDIA H100 80GB HBM3", or the name when TensorFlow gives no details
    compute_capability: tuple[int, int] | None = None
    memory_bytes: int | None = None
    bfloat16: bool = False  # a CPU with bfloat16 instructions (AVX-512 BF16 or AMX): mixed precision pays there


@dataclass(frozen=True)
class DeviceRequest:
    """What the user asked for; ``index`` is set for ``gpu:N`` only."""

    kind: RequestKind
    index: int | None = None

    def __str__(self) -> str:
        return f"gpu:{self.index}" if self.index is not None else self.kind


@dataclass(frozen=True)
class DevicePlan:
    """What training will run on.

    ``devices`` are logical device strings (``"/cpu:0"``, ``"/gpu:1"``); ``notice`` is one line
    when the request could not be honoured as asked (None otherwise); ``mixed_precision_allowed``
    is True only when every chosen device is a GPU of compute capability 7.0 or more (float16), or
    the CPU has bfloat16 instructions (bfloat16).
    """

    kind: PlanKind
    devices: tuple[str, ...]
    notice: str | None = None
    mixed_precision_allowed: bool = False
    descriptions: tuple[str, ...] = ()  # one per device, for the status bar ("NVIDIA H100")
    workers: int = 1  # machines training together ("multiworker"), each on ``devices``

    @property
    def replicas(self) -> int:
        return len(self.devices) * self.workers

    @property
    def on_gpu(self) -> bool:
        """Whether every device is a GPU (``"/gpu:N"``)."""
        return bool(self.devices) and all(device.lower().startswith("/gpu") for device in self.devices)


def parse_device(text: str, workers: bool = True) -> DeviceRequest:
    """``cpu``, ``gpu`` (gpu:0), ``gpu:N``, ``all-gpus``, ``auto`` or (where ``workers``) ``workers``; anything
    else: ``ValueError``.

    ASCII case does not matter, and TensorFlow's own spellings are understood (``GPU:0``,
    ``/gpu:0``, ``/device:GPU:0``, ``/physical_device:GPU:0``, ``cpu:0``); no spaces. The error
    message is one line that reads well after ``--device`` and lists the forms accepted there.
    """
    forms = ACCEPTED_FORMS if workers else ONE_MACHINE_FORMS
    if not isinstance(text, str):
        raise ValueError(f"a device must be text ({forms}), not {type(text).__name__}")
    shown = printable(repr(text), 60)
    text = _tensorflow_spelling_removed(text.lower()) if text.isascii() else text
    if text == "workers" and not workers:
        raise ValueError(f"workers (several machines) is for train only: use {forms}")
    if text in ("cpu", "cpu:0", "all-gpus", "auto", "workers"):
        return DeviceRequest(text.removesuffix(":0"))  # type: ignore[arg-type]
    if text == "gpu":
        return DeviceRequest("gpu", 0)
    match = _GPU_INDEX.fullmatch(text)
    if match is not None:
        index = int(match.group(1))
        if index > MAX_GPU_INDEX:
            raise ValueError(f"GPU number {index} is too large (at most {MAX_GPU_INDEX}): use {forms}")
        return DeviceRequest("gpu", index)
    raise ValueError(f"unknown device {shown}: use {forms}{TENSORFLOW_SPELLINGS}")


def _tensorflow_spelling_removed(text: str) -> str:
    """``/physical_device:gpu:0``, ``/device:gpu:0`` and ``/gpu:0`` (TensorFlow's names) as ``gpu:0``."""
    for prefix in ("/physical_device:", "/device:", "/"):
        if text.startswith(prefix) and text[len(prefix):].startswith(("cpu:", "gpu:")):
            return text[len(prefix):]
    return text


def _gpus(devices: Sequence[DeviceInfo]) -> list[DeviceInfo]:
    return [device for device in devices if device.kind.upper() == "GPU"]


def _mixed_ok(chosen: Sequence[DeviceInfo]) -> bool:
    return bool(chosen) and all(d.compute_capability is not None and tuple(d.compute_capability) >= MIXED_PRECISION_CAPABILITY
                                for d in chosen)


def _gpu_plan(gpus: list[DeviceInfo], indices: list[int], notice: str | None = None) -> DevicePlan:
    chosen = [gpus[i] for i in indices]
    return DevicePlan("mirrored" if len(indices) > 1 else "gpu", tuple(f"/gpu:{i}" for i in indices), notice,
                      _mixed_ok(chosen), tuple(d.description for d in chosen))


def cpu_plan(notice: str | None = None, devices: Sequence[DeviceInfo] = ()) -> DevicePlan:
    """The plan every machine can run: the CPU (``notice``: why a request fell back to it).

    Mixed precision (bfloat16) is allowed when ``devices`` list a CPU with bfloat16 instructions.
    """
    bfloat16 = any(d.kind.upper() == "CPU" and d.bfloat16 for d in devices)
    return DevicePlan("cpu", ("/cpu:0",), notice, bfloat16, ("CPU",))


def _best_gpu(gpus: list[DeviceInfo]) -> int:
    """The GPU with the most memory (unknown counts as none); the lowest number among equals."""
    return max(range(len(gpus)), key=lambda i: (gpus[i].memory_bytes or 0, -i))


def _gpu_list(count: int) -> str:
    names = ", ".join(f"gpu:{i}" for i in range(min(count, 8))) + (", …" if count > 8 else "")
    return f"{count} GPU{'s' if count != 1 else ''}: {names}"


def plan_devices(request: DeviceRequest, devices: Sequence[DeviceInfo], workers: int = 1) -> DevicePlan:
    """Decide what to train on; never raises for a well-formed request (a fallback comes with a ``notice``).

    - ``cpu``: the CPU.
    - ``gpu:N``: that GPU; a number past the last GPU falls back to gpu:0, no GPU to the CPU.
    - ``all-gpus``: every GPU with ``MirroredStrategy`` when there are two or more, the one GPU
      when there is one (no notice: that is all of them), the CPU (with a notice) when none.
    - ``auto``: a single GPU, the one with the most memory, when there is any; else the CPU.
      Mirroring is never chosen on its own: it changes the global batch (and so the results)
      and only pays off for large networks, so the user opts in with ``all-gpus``.
    - ``workers``: ``workers`` machines, each on all its GPUs (else its CPU), with
      ``MultiWorkerMirroredStrategy``.

    GPUs are numbered in the order ``devices`` lists them, as TensorFlow numbers its logical GPUs.
    """
    gpus = _gpus(devices)
    if request.kind == "workers":
        local = _gpu_plan(gpus, list(range(len(gpus)))) if gpus else cpu_plan(devices=devices)
        return DevicePlan("multiworker", local.devices, None, local.mixed_precision_allowed, local.descriptions,
                          max(1, workers))
    if request.kind == "cpu":
        return cpu_plan(devices=devices)
    if request.kind == "auto":
        return _gpu_plan(gpus, [_best_gpu(gpus)]) if gpus else cpu_plan(devices=devices)
    if not gpus:
        return cpu_plan(f"no GPU is visible to TensorFlow: using the CPU instead of {request}", devices)
    if request.kind == "all-gpus":
        return _gpu_plan(gpus, list(range(len(gpus))))
    index = request.index or 0
    if index >= len(gpus):
        return _gpu_plan(gpus, [0], f"{request} does not exist ({_gpu_list(len(gpus))}): training on gpu:0")
    return _gpu_plan(gpus, [index])


def global_batch(per_replica_batch: int, replicas: int) -> int:
    """Images per training step across all replicas: what ``model.fit(batch_size=…)`` must be given."""
    if per_replica_batch < 1 or replicas < 1:
        raise ValueError(f"batch size and replicas must be at least 1, not {per_replica_batch} and {replicas}")
    return per_replica_batch * replicas


def allowed_steps_per_execution(replicas: int, wanted: int) -> int:
    """``wanted`` (at least 1) for a model trained by one replica, 1 for several (or several workers).

    Keras 3.15's multi-step loop (``steps_per_execution`` > 1: a ``tf.while_loop`` that calls
    ``strategy.run`` inside a ``tf.cond`` on ``get_next_as_optional()`` of the distributed iterator,
    keras/src/backend/tensorflow/trainer.py) fails under a ``MirroredStrategy`` with two or more
    replicas: "You must feed a value for placeholder tensor 'while/body/…/while/cond/Placeholder'
    with dtype int32". One replica (``OneDeviceStrategy``, or no strategy) runs it fine. A
    ``MultiWorkerMirroredStrategy`` always has two or more replicas (a cluster has two or more workers).
    """
    return max(1, int(wanted)) if replicas == 1 else 1


def describe_plan(plan: DevicePlan, per_replica_batch: int | None = None) -> str:
    """One line for the status bar or the About box.

    E.g. ``"CPU, batch 64"``, ``"gpu:1 (NVIDIA H100), batch 64"`` or
    ``"2 GPUs (MirroredStrategy), global batch 128 = 64 × 2"``.
    """
    if plan.kind == "multiworker":
        each = f"{len(plan.devices)} GPU{'s' if len(plan.devices) > 1 else ''}" if plan.on_gpu else "CPU"
        what = f"{plan.workers} workers × {each} (MultiWorkerMirroredStrategy)"
    elif plan.kind == "mirrored":
        kind = "GPU" if plan.on_gpu else "device"
        what = f"{plan.replicas} {kind}s (MirroredStrategy)"
    elif plan.kind == "gpu":
        label = plan.devices[0].lstrip("/")
        what = f"{label} ({plan.descriptions[0]})" if plan.descriptions and plan.descriptions[0] else label
    else:
        what = "CPU"
    if per_replica_batch is None:
        return what
    if plan.replicas > 1 or plan.kind == "multiworker":
        total = global_batch(per_replica_batch, plan.replicas)
        return f"{what}, global batch {total} = {per_replica_batch} × {plan.replicas}"
    return f"{what}, batch {per_replica_batch}"


def _kind_of(device: Any) -> str:
    kind = getattr(device, "device_type", None)
    if kind:
        return str(kind).upper()
    return "GPU" if ":GPU:" in str(getattr(device, "name", "")).upper() else "CPU"


def _capability(value: Any) -> tuple[int, int] | None:
    try:
        major, minor = value
        return int(major), int(minor)
    except (TypeError, ValueError):
        return None


def list_devices(tf_module: Any = None) -> list[DeviceInfo]:
    """The physical devices TensorFlow sees, CPUs first as TensorFlow lists them.

    ``get_device_details`` gives a GPU's name and compute capability; when it fails (or the
    device has no details, like a CPU) the description is the device's name. Memory comes from
    a ``memory_limit``/``memory_bytes`` detail where the platform reports one, else None.
    ``tf_module`` replaces ``tensorflow`` (tests pass a fake).
    """
    tf = tensorflow_module(tf_module)
    found = []
    for device in tf.config.list_physical_devices():
        name = str(getattr(device, "name", device))
        try:
            details = dict(tf.config.experimental.get_device_details(device) or {})
        except Exception:  # noqa: BLE001 - any failure only costs the details
            details = {}
        memory = details.get("memory_limit", details.get("memory_bytes"))
        kind = _kind_of(device)
        found.append(DeviceInfo(name, kind, str(details.get("device_name") or name),
                                _capability(details.get("compute_capability")),
                                int(memory) if isinstance(memory, int) and memory > 0 else None,
                                kind == "CPU" and cpu_has_bfloat16()))
    return found


BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo's names for the instructions oneDNN uses


def cpu_has_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX-512 BF16 or AMX), from Linux's ``cpuinfo``.

    Elsewhere, or when the file cannot be read, False: without these instructions oneDNN emulates
    bfloat16, which is slower than float32.
    """
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as file:
            for line in file:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in BFLOAT16_FLAGS)
    except OSError:
        pass
    return False


def enable_memory_growth(tf_module: Any = None) -> list[str]:
    """Let every GPU's memory grow as needed instead of taking it all; returns one line per problem.

    Must run before TensorFlow's first operation: afterwards TensorFlow refuses with a
    ``RuntimeError`` ("Physical devices cannot be modified after being initialized"), which is
    reported, not raised.
    """
    tf = tensorflow_module(tf_module)
    problems = []
    try:
        gpus = tf.config.list_physical_devices("GPU")
    except Exception as exc:  # noqa: BLE001 - a broken driver must not stop the app
        return [f"GPUs could not be listed: {printable(one_line(exc), 200)}"]
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except Exception as exc:  # noqa: BLE001 - RuntimeError once initialised, ValueError for odd devices
            problems.append(f"{getattr(gpu, 'name', gpu)}: memory growth not enabled ({printable(one_line(exc), 200)})")
    return problems


def strategy_for(plan: DevicePlan, tf_module: Any = None) -> Any:
    """A ``tf.distribute`` strategy: ``OneDeviceStrategy`` for one device, ``MirroredStrategy`` for several.

    Note that Keras turns XLA off (``jit_compile="auto"`` resolves to False) for a model built
    under any strategy, a ``OneDeviceStrategy`` too.
    """
    if plan.kind == "multiworker":
        return multiworker_strategy(tf_module)
    tf = tensorflow_module(tf_module)
    if plan.replicas == 1:
        return tf.distribute.OneDeviceStrategy(plan.devices[0])
    return tf.distribute.MirroredStrategy(devices=list(plan.devices))


@contextlib.contextmanager
def training_scope(plan: DevicePlan, tf_module: Any = None) -> Iterator[Any]:
    """Build and compile the model inside this (``with training_scope(plan) as strategy:``).

    Keras remembers the strategy a model was created under and trains, evaluates and predicts
    with it; ``fit`` may be called outside the scope. ``compile`` (a recompile too) must be called
    inside: compiling a mirrored model outside makes ``fit`` fail with "Mixing different
    tf.distribute.Strategy objects". A model loaded outside has plain variables: to train it
    mirrored, load it inside. The batch size given to ``fit`` is the global batch
    (:func:`global_batch`), split evenly across the replicas; use
    :func:`allowed_steps_per_execution` for ``compile``.
    """
    strategy = strategy_for(plan, tf_module)
    with strategy.scope():
        yield strategy


@contextlib.contextmanager
def precision_policy(name: str) -> Iterator[None]:
    """Set Keras' global dtype policy (``"mixed_float16"``, ``"float32"``…) for the body; put the old one back after.

    Layers take the global policy when they are created, so build the model inside. Under
    ``mixed_float16`` a model computes in float16 but keeps float32 weights, and ``compile``
    wraps the optimizer in a ``LossScaleOptimizer``. The last layer should still give float32
    probabilities, which takes an explicit ``dtype="float32"`` on it, e.g.
    ``Dense(10, activation="softmax", dtype="float32")`` (or a float32 ``Activation("softmax")``
    after a linear Dense): a softmax in float16 rounds small probabilities to 0 and the loss
    to ``inf``. The policy is restored even when the body raises.
    """
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)

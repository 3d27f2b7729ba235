"""How a run executes: on which devices (a :class:`DevicePlan`), in which precision, with or without XLA.

:func:`plan_execution` turns what the user asked for (``--device``, mixed precision, XLA) into an
:class:`Execution`, with a one-line notice for every part that could not be honoured (no GPU,
a GPU too old for float16…): a request never fails for lack of hardware. The trainer builds and
compiles new models inside :func:`building` and trains inside :func:`placed`.

A model that already exists (opened from a file, or continued) keeps the strategy it was made
under: :func:`replicas_of` reads it from the model, so the global batch and the compiled steps
always match the model's own replicas.

With ``device="workers"`` (several machines, ``TF_CONFIG``) every worker process runs the same
run: :func:`plan_execution` reads the cluster, and :func:`start_workers` must make the
process's ``MultiWorkerMirroredStrategy`` before TensorFlow does anything else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cnnstudio.core.precision import computing_precision
from cnnstudio.core.training.devices import (
    DeviceInfo,
    DevicePlan,
    cpu_plan,
    describe_plan,
    parse_device,
    plan_devices,
    precision_policy,
    training_scope,
)
from cnnstudio.core.training.workers import multiworker_strategy, worker_cluster

MIXED_POLICY = "mixed_float16"  # GPUs: float16 on tensor cores (Keras scales the loss)
CPU_MIXED_POLICY = "mixed_bfloat16"  # CPUs with bfloat16 instructions: float32's range, no loss scaling
MIXED_PRECISION_REFUSED = ("mixed precision needs GPUs of compute capability 7.0 or newer: "
                           "training in float32")
MIXED_PRECISION_ON_CPU = ("mixed precision needs a GPU, or a CPU with bfloat16 instructions (AVX-512 BF16 or AMX), "
                          "which this one lacks: training in float32")


@dataclass(frozen=True)
class Execution:
    """Where and how a run executes; ``notices`` say what was asked for but could not be done."""

    plan: DevicePlan = field(default_factory=cpu_plan)
    mixed_precision: bool = False
    xla: bool | None = None  # None: Keras decides (XLA where it is supported, which excludes the CPU)
    notices: tuple[str, ...] = ()

    @property
    def jit_compile(self) -> bool | str:
        """``model.compile(jit_compile=…)``."""
        return "auto" if self.xla is None else self.xla

    @property
    def policy(self) -> str:
        """Keras' dtype policy: float32, or mixed precision in float16 on GPUs and bfloat16 on CPUs."""
        if not self.mixed_precision:
            return "float32"
        return MIXED_POLICY if self.plan.on_gpu else CPU_MIXED_POLICY

    def describe(self, per_replica_batch: int | None = None, policy: str | None = None) -> str:
        """One line for the status bar, the About box and run records; ``policy``: a continued model's own."""
        xla = "" if self.xla is None else (", XLA" if self.xla else ", no XLA")
        return f"{describe_plan(self.plan, per_replica_batch)}, {policy or self.policy}{xla}"


def plan_execution(device: str = "auto", mixed_precision: bool = False, xla: bool | None = None,
                   devices: Sequence[DeviceInfo] | None = None) -> Execution:
    """The execution for a request; ``device`` as :func:`parse_device` reads it (``ValueError`` otherwise).

    ``devices`` defaults to what TensorFlow sees (:func:`list_devices`, which imports it). For
    ``workers`` the cluster is read from ``TF_CONFIG`` (``ValueError`` when it is missing or malformed).
    """
    request = parse_device(device)
    workers = len(worker_cluster().workers) if request.kind == "workers" else 1
    if devices is None:
        from cnnstudio.core.training.devices import list_devices

        devices = list_devices()
    plan = plan_devices(request, devices, workers)
    notices = [plan.notice] if plan.notice else []
    if mixed_precision and not plan.mixed_precision_allowed:
        notices.append(MIXED_PRECISION_ON_CPU if plan.kind == "cpu" else MIXED_PRECISION_REFUSED)
        mixed_precision = False
    return Execution(plan, mixed_precision, xla, tuple(notices))


@contextlib.contextmanager
def placed(execution: Execution | None) -> Iterator[None]:
    """Run the body on the execution's devices: a strategy's scope for several, ``tf.device`` for one GPU."""
    if execution is None or execution.plan.kind == "cpu":
        yield
    elif execution.plan.kind in ("mirrored", "multiworker"):
        with training_scope(execution.plan):
            yield
    else:
        import tensorflow as tf

        with tf.device(execution.plan.devices[0]):
            yield


def start_workers(execution: Execution | None) -> Any:
    """Make this process's ``MultiWorkerMirroredStrategy`` now, for a ``workers`` execution (None otherwise).

    Call it before anything else runs on TensorFlow: the strategy can only be made at program
    start. Workers wait for each other at their first collective operation (building the model).
    """
    if execution is None or execution.plan.kind != "multiworker":
        return None
    return multiworker_strategy()


@contextlib.contextmanager
def building(execution: Execution | None) -> Iterator[None]:
    """Build and compile a new model here: placed, and in float16 for mixed precision.

    The global policy is restored afterwards (layers keep the policy they were made with), so
    nothing else built meanwhile or later is affected.
    """
    with placed(execution), precision_policy(execution.policy if execution else "float32"):
        yield


def replicas_of(model: Any) -> int:
    """How many replicas train ``model``: those of the strategy it was made under (1 without one)."""
    strategy = getattr(model, "distribute_strategy", None)
    return max(1, int(getattr(strategy, "num_replicas_in_sync", 1) or 1))


def strategy_scope(model: Any) -> contextlib.AbstractContextManager[Any]:
    """The scope of the strategy ``model`` was made under (recompiling must happen inside it)."""
    strategy = getattr(model, "distribute_strategy", None)
    return strategy.scope() if strategy is not None and hasattr(strategy, "scope") else contextlib.nullcontext()


def model_policy(model: Any) -> str | None:
    """The precision ``model`` computes in: its layers' mixed policy (``mixed_bfloat16``…) if any, else theirs.

    Not the model's own ``dtype_policy``: a model loaded from a file is a float32 wrapper around
    layers that keep the policy they were built with.
    """
    names = [layer.dtype_policy.name for layer in getattr(model, "layers", None) or ()
             if getattr(layer, "weights", None) and getattr(layer, "dtype_policy", None) is not None]
    return computing_precision(names) or getattr(getattr(model, "dtype_policy", None), "name", None)


def device_text(execution: Execution | None, model: Any, per_replica_batch: int) -> str:
    """Where a run trained, for its records: the plan, the batch and the model's own precision policy.

    Empty without an execution (the caller then names the device TensorFlow would use).
    """
    if execution is None:
        return ""
    policy = model_policy(model) or execution.policy
    plan = execution.plan
    if replicas_of(model) != plan.replicas:  # a continued model keeps the strategy it was made under
        plan = DevicePlan("mirrored", ("",) * replicas_of(model)) if replicas_of(model) > 1 else plan
    xla = "" if execution.xla is None else (", XLA" if execution.xla else ", no XLA")
    return f"{describe_plan(plan, per_replica_batch)}, {policy}{xla}"

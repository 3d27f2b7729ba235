"""Training one model over several machines: ``--device workers`` with ``MultiWorkerMirroredStrategy``.

The cluster comes from the ``TF_CONFIG`` environment variable, checked without TensorFlow
(:func:`parse_tf_config`); worker 0 is the chief. TensorFlow wants the strategy made before any
other operation, so :func:`multiworker_strategy` makes it once per process and hands out the same.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from cnnstudio.core.addresses import host_and_port
from cnnstudio.core.errors import one_line, printable
from cnnstudio.core.json_input import parse_json
from cnnstudio.core.training.tensorflow_module import tensorflow_module

TF_CONFIG_EXAMPLE = ("""'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", """
                     """"index": 0}}' (index 1 on the second machine)""")

_MULTIWORKER: list[Any] = []  # the process's one MultiWorkerMirroredStrategy, once made


@dataclass(frozen=True)
class WorkerCluster:
    """The machines of a ``workers`` run (``"host:port"`` each) and which of them this process is."""

    workers: tuple[str, ...]
    index: int

    @property
    def chief(self) -> bool:
        """Worker 0 keeps the model, the run history and the results; the others only train."""
        return self.index == 0

    def listen_problem(self) -> str | None:
        """Why this worker cannot listen on its own port (another program has it), or None.

        TensorFlow would only say "Could not start gRPC server" once the strategy is made.
        """
        address = self.workers[self.index]
        try:
            with socket.create_server(("", host_and_port(address)[1])):
                return None
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else exc.__class__.__name__
            return (f"worker {self.index} cannot listen on {address}: {reason} "
                    "(another program uses the port: choose a free one in TF_CONFIG)")


def parse_tf_config(text: str | None) -> WorkerCluster:
    """Check a ``TF_CONFIG`` value without TensorFlow; ``ValueError`` (one line, read after ``workers``) otherwise.

    Only workers are accepted: ``{"cluster": {"worker": ["host:port", …]}, "task": {"type": "worker",
    "index": i}}``, two or more of them. A ``chief``, ``ps`` or ``evaluator`` job is refused: worker 0
    is the chief.
    """
    if text is None or not text.strip():
        raise ValueError(f"workers needs the TF_CONFIG environment variable, e.g. TF_CONFIG={TF_CONFIG_EXAMPLE}")
    try:
        config = parse_json(text)
    except ValueError as exc:
        raise ValueError(f"TF_CONFIG is not JSON ({printable(one_line(exc), 200)}): give e.g. {TF_CONFIG_EXAMPLE}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    if not isinstance(cluster, dict):
        raise ValueError(f"TF_CONFIG has no \"cluster\" object: give e.g. {TF_CONFIG_EXAMPLE}")
    others = sorted(str(job) for job in cluster if job != "worker")
    if others:
        raise ValueError(f"TF_CONFIG names a {printable(repr(others[0]), 40)} job: only \"worker\" jobs are "
                         "supported (worker 0 is the chief)")
    workers = cluster.get("worker")
    if not isinstance(workers, list) or not workers:
        raise ValueError("TF_CONFIG's cluster has no workers: give \"worker\": [\"host1:port\", \"host2:port\", …]")
    for address in workers:
        if not isinstance(address, str) or host_and_port(address) is None:
            raise ValueError(f"TF_CONFIG worker {printable(repr(address), 60)} is not host:port (port 1-65535)")
    if len(workers) < 2:
        raise ValueError("TF_CONFIG names one worker: workers trains over two or more (on one machine use cpu, "
                         "gpu:N or all-gpus)")
    if len(set(workers)) != len(workers):
        raise ValueError("TF_CONFIG names the same worker twice: every worker needs its own host:port")
    task = config.get("task")
    kind = task.get("type") if isinstance(task, dict) else None
    if kind != "worker":
        shown = "no task" if kind is None else f"task type {printable(repr(kind), 40)}"
        raise ValueError(f"TF_CONFIG has {shown}: give \"task\": {{\"type\": \"worker\", \"index\": N}}, "
                         "N = this machine's place in the worker list (0 is the chief)")
    index = task.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(workers):
        raise ValueError(f"TF_CONFIG task index {printable(repr(index), 40)} is not a worker of the cluster "
                         f"(0 to {len(workers) - 1})")
    return WorkerCluster(tuple(workers), index)


def worker_cluster(environ: Any = None) -> WorkerCluster:
    """The cluster of this process's ``TF_CONFIG`` (``environ`` defaults to ``os.environ``); see :func:`parse_tf_config`."""
    return parse_tf_config((os.environ if environ is None else environ).get("TF_CONFIG"))


def multiworker_strategy(tf_module: Any = None) -> Any:
    """This process's ``MultiWorkerMirroredStrategy`` (made on the first call, from ``TF_CONFIG``).

    TensorFlow wants it made at program start, before any other operation: the collective ops are
    configured when it is made ("Collective ops must be configured at program startup" otherwise),
    so the command line makes it as soon as TensorFlow is imported, and every later call gets the
    same strategy. Keras 3.15 needs two mends to ``fit`` with it (see :func:`_mended_strategy_class`).
    """
    if not _MULTIWORKER:
        cluster = worker_cluster()  # a clear ValueError before TensorFlow's own
        if (problem := cluster.listen_problem()) is not None:
            raise ValueError(problem)
        _MULTIWORKER.append(_mended_strategy_class(tensorflow_module(tf_module))())
    return _MULTIWORKER[0]


def _mended_strategy_class(tf: Any) -> type:
    """``MultiWorkerMirroredStrategy`` whose ``reduce`` takes what Keras 3.15's ``fit`` gives it.

    Keras 3.15 (keras/src/backend/tensorflow/trainer.py) calls ``strategy.reduce`` in two ways that
    the multi-worker strategy refuses (a ``MirroredStrategy`` on one machine accepts both):

    - ``_maybe_symbolic_build`` reduces the whole first batch, an ``(x, y)`` tuple, at once, only
      to learn its shapes and dtypes: "Attempt to convert a value (PerReplica:{…}) with an
      unsupported type (<class 'tensorflow.python.distribute.values.PerReplica'>) to a Tensor".
      Reducing each part instead would fail too, for uint8 images (collective ops take no uint8),
      so a nested structure gives each part's value on this worker's first replica, without
      communication.
    - ``reduce_per_replica`` reduces the scalar logs (loss, accuracy) with ``axis=0``: "Invalid
      reduction dimension 0 for input with 0 dimensions". Here a scalar is reduced with no axis
      (the mean over the replicas, what a single machine's ``tf.reduce_mean(…, axis=0)`` gives).
    """
    base = tf.distribute.MultiWorkerMirroredStrategy

    class MendedMultiWorkerMirroredStrategy(base):  # type: ignore[misc, valid-type]
        def reduce(self, reduce_op: Any, value: Any, axis: Any = None) -> Any:
            if isinstance(value, (tuple, list, dict)):
                return tf.nest.map_structure(
                    lambda part: part if part is None else self.experimental_local_results(part)[0], value)
            if axis is not None:
                first = self.experimental_local_results(value)[0]
                if getattr(getattr(first, "shape", None), "rank", None) == 0:
                    axis = None
            return super().reduce(reduce_op, value, axis)

    return MendedMultiWorkerMirroredStrategy

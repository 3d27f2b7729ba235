"""Studies that fan out over a Ray cluster: one Ray task per run (the optional ``cluster`` extra).

:func:`run_study_on_ray` means what :func:`~cnnstudio.core.experiments.study.run_study` means, but
runs the experiments side by side as Ray tasks, on this machine (``"local"``) or on a cluster
(``"auto"``, ``"host:port"``, ``"ray://host:port"``). Progress streams back through a Ray queue
and reaches the listener on the calling thread; every finished run is recorded in the LOCAL run
history under one study name, with its model file, as a local study records it.

On a cluster every node must have CNN Studio (and its TensorFlow) installed in the Python that Ray
runs, and the dataset must load there by the same name: a built-in name (``digits``; ``mnist``,
``fashion_mnist`` and ``cifar10`` download once per node) or a path that exists on every node.

Runs of one study that share a node share its cores, so their seconds per epoch are not
comparable with those of runs made one after another.

Ray is imported only when a study runs: this module imports without it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnstudio.core.addresses import host_and_port
from cnnstudio.core.config import Experiment
from cnnstudio.core.errors import CnnStudioError, DatasetError, ModelFileError, one_line
from cnnstudio.core.experiments.run_history import RunEntry, RunHistory
from cnnstudio.core.files.model_record import ModelRecord
from cnnstudio.core.files.persistence import TEMP_MARK, save_model
from cnnstudio.core.training.cpu_kernels import prefer_onednn_kernels
from cnnstudio.core.training.progress import BatchProgress, EpochResult, StopFlag, TrainingListener
from cnnstudio.core.training.stop_reason import RunEnd

RAY_MISSING = 'Ray is not installed: pip install -e ".[cluster]" (or pip install "ray[default]>=2.40")'
PROGRESS_INTERVAL = 0.25  # seconds between batch (and evaluation) updates a task sends: four a second at most
QUEUE_SIZE = 10_000  # progress messages waiting for the driver; more are dropped (progress only)
GENTLE_WAIT = 5.0  # seconds a plainly cancelled task has to end before its worker is killed too
CANCEL_WAIT = 30.0  # seconds to wait for cancelled tasks to end before returning
CONNECT_TIMEOUT = 5.0  # seconds to wait for a cluster's address to answer at all
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"  # what a gRPC client sends first
HTTP2_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # length 0, type SETTINGS, no flags, stream 0
HTTP2_FRAME_HEADER = 9  # bytes: length (3), type (1), flags (1), stream (4)
HTTP2_SETTINGS = 0x4  # the frame type a server's connection preface starts with

RunStart = Callable[[int, Experiment], None]
RunDone = Callable[[int, "RayRunResult"], None]


@dataclass
class RayRunResult:
    """One run of a study on Ray: its record and run-history entry, or the one-line reason it failed.

    ``entry`` is the run-history entry when the run was recorded (as ``RunOutcome.entry``);
    ``summary`` is the same entry whether recorded or not (for tables and reports), None on error.
    """

    index: int
    experiment: Experiment
    record: ModelRecord | None = None
    summary: RunEntry | None = None
    entry: RunEntry | None = None
    end: RunEnd = field(default_factory=RunEnd)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # one line: why the run failed (nothing was recorded)
    node: str = ""  # the host that ran it
    device: str = ""  # what TensorFlow ran on there
    seconds: float = 0.0  # the task's wall time on its worker, dataset loading included

    @property
    def ok(self) -> bool:
        return self.error is None


def import_ray() -> Any:
    """The ``ray`` module; :class:`CnnStudioError` saying how to install it when it is missing."""
    try:
        import ray
    except ImportError as exc:
        raise CnnStudioError(RAY_MISSING) from exc
    return ray


# The worker side -------------------------------------------------------------------------------------


class _QueueListener:
    """A TrainingListener in the worker that puts throttled progress on the study's queue.

    Updates are sent without waiting for them: a task blocked in ``ray.get`` hands its CPU back
    to Ray, which would then start more runs than there are CPUs. :meth:`flush` waits once, at
    the end, so that all of a run's progress is queued before its result is.
    """

    def __init__(self, queue: Any, index: int, interval: float = PROGRESS_INTERVAL) -> None:
        self.queue, self.index, self.interval = queue, index, interval
        self._last_batch = self._last_evaluate = 0.0
        self._sent: Any = None  # the reply to the latest update sent

    def send(self, kind: str, payload: Any) -> None:
        try:
            self._sent = self.queue.actor.put_nowait.remote((self.index, kind, payload))
        except Exception:  # noqa: BLE001 - a vanished queue loses progress only, never the run
            pass

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every update sent has been queued (or dropped: a full queue loses progress only)."""
        if self._sent is None:
            return
        import ray

        try:
            ray.get(self._sent, timeout=timeout)
        except Exception:  # noqa: BLE001 - queue.Full, or the queue is gone
            pass

    def on_batch(self, progress: BatchProgress) -> None:
        now = time.monotonic()
        if now - self._last_batch >= self.interval or progress.step >= progress.steps:
            self._last_batch = now
            self.send("batch", progress)

    def on_epoch(self, result: EpochResult) -> None:
        self.send("epoch", result)

    def on_evaluate(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last_evaluate >= self.interval or done in (0, total):
            self._last_evaluate = now
            self.send("evaluate", (done, total))


def run_remote_task(index: int, experiment_data: dict[str, Any], dataset_name: str, study: str,
                    queue: Any) -> dict[str, Any]:
    """One run, in a Ray worker: a plain, picklable dict back, never an exception.

    ``{"ok": True, "record": …, "entry": …, "model": bytes, "warnings": […], …}`` or
    ``{"ok": False, "error": "one line"}``.
    """
    started = time.monotonic()
    prefer_onednn_kernels()  # a fresh worker has not imported TensorFlow yet; the CLI's own process did this too
    node = socket.gethostname()
    listener = _QueueListener(queue, index)
    listener.send("start", node)
    try:
        reply = _run_in_worker(experiment_data, dataset_name, study, listener, node)
    except Exception as exc:  # noqa: BLE001 - any failure is one line for the driver
        reply = {"ok": False, "error": one_line(exc)}
    listener.flush()
    return {**reply, "node": node, "seconds": time.monotonic() - started}


@functools.cache
def worker_device_notices() -> tuple[str, ...]:
    """This worker process's device problems (memory growth, an unusable GPU), prepared once per process.

    TensorFlow lets GPUs be prepared only before its first operation, so the first run in a
    worker prepares them and later runs in the same process reuse what it found.
    """
    from cnnstudio.core.training.gpu_check import prepare_gpus

    return tuple(prepare_gpus())


def _run_in_worker(experiment_data: dict[str, Any], dataset_name: str, study: str, listener: _QueueListener,
                   node: str) -> dict[str, Any]:
    from cnnstudio.core.data.datasets import load_dataset
    from cnnstudio.core.experiments.runner import history_entry, run_experiment

    notices = [f"on node {node}: {line}" for line in worker_device_notices()]
    experiment = Experiment.from_dict(experiment_data)
    try:
        dataset = load_dataset(dataset_name)
    except DatasetError as exc:
        raise DatasetError(f"dataset {dataset_name!r} cannot be loaded on node {node} ({exc}); "
                           "a dataset path must exist on every node") from exc
    outcome = run_experiment(experiment, dataset, listener=listener)
    entry = history_entry(outcome, dataset, None, study)  # the worker's device and library versions
    with tempfile.TemporaryDirectory(prefix="cnnstudio-ray-") as folder:
        path = save_model(outcome.model, Path(folder) / "run.keras", outcome.record)
        model_bytes = path.read_bytes()
    return {"ok": True, "record": outcome.record.to_json(), "entry": entry.to_json(), "model": model_bytes,
            "warnings": [*notices, *outcome.warnings], "end": outcome.result.end.to_json(), "device": entry.device}


# The driver side -------------------------------------------------------------------------------------


def write_bytes_atomically(data: bytes, path: Path) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it: the old file stays intact on failure.

    The temporary file is named as :func:`~cnnstudio.core.files.persistence.save_model` names its own,
    so leftovers of a killed write are cleaned up alike; a new file gets the user's default permissions.
    """
    temporary = path.with_name(f".{path.stem}{TEMP_MARK}{secrets.token_hex(4)}{path.suffix}")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


# Ray (2.60) announces at WARNING, on stderr, that a new local instance uses token authentication
# (its safe default, which is kept): one line of noise per study
TOKEN_NOTICE_LOGGER = "ray._private.authentication.authentication_token_setup"


@contextlib.contextmanager
def _without_token_notice() -> Iterator[None]:
    logger = logging.getLogger(TOKEN_NOTICE_LOGGER)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _without_variable(name: str) -> Iterator[None]:
    """The environment variable ``name`` unset while the block runs, then as it was."""
    value = os.environ.pop(name, None)
    try:
        yield
    finally:
        if value is not None:
            os.environ[name] = value


def _connect(ray: Any, address: str) -> bool:
    """Start or join Ray as ``address`` says; True when this call connected (and must disconnect)."""
    if ray.is_initialized():  # already started or joined (a test, or the app): used as it is
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    # "auto" joins the cluster RAY_ADDRESS names, when it names one
    target = os.environ.get("RAY_ADDRESS", "").strip() if address == "auto" else address
    if target not in ("", "local", "auto") and (problem := unreachable(target)) is not None:
        raise CnnStudioError(problem + (" (from RAY_ADDRESS)" if target != address else ""))  # Ray would wait on
    try:
        if address == "local":  # a new instance here, whatever cluster RAY_ADDRESS names
            with _without_token_notice(), _without_variable("RAY_ADDRESS"):
                ray.init(num_cpus=usable_cpus(), **quiet)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as exc:  # noqa: BLE001 - Ray's own errors (ConnectionError, RuntimeError, …): one line
        where = "a local Ray instance" if address == "local" else f"the Ray cluster at {address}"
        raise CnnStudioError(f"cannot start or join {where}: {one_line(exc, 200)}") from exc
    return True


RAY_FORMS = "local, auto, host:port or ray://host:port"


def ray_address_problem(address: str) -> str | None:
    """Why ``address`` is no Ray address (one line), or None for local, auto, host:port and ray://host:port."""
    text = address.strip()
    if text in ("local", "auto"):
        return None
    if host_and_port(text.removeprefix("ray://")) is not None:
        return None
    return f"not a Ray address ({RAY_FORMS})"


def unreachable(address: str, timeout: float = CONNECT_TIMEOUT) -> str | None:
    """Why no Ray answers at a ``host:port`` or ``ray://host:port`` address (one line), or None when one does.

    Ray's head (its GCS) and its client server speak gRPC, so an HTTP/2 server's first frame, SETTINGS,
    must answer HTTP/2's connection preface: another program on that port would leave ``ray.init``
    waiting for good.
    """
    target = host_and_port(address.strip().removeprefix("ray://"))
    if ray_address_problem(address) is not None or address.strip() in ("local", "auto") or target is None:
        return f"not a Ray address: {address!r:.100} (use {RAY_FORMS})"
    host, port = target
    try:
        host.encode("idna")  # what the resolver does first: a label over 63 characters, or an empty one, fails
    except UnicodeError:
        return f"not a Ray address: {address!r:.100} is not a valid host name (use {RAY_FORMS})"
    try:
        connection = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return f"cannot reach the Ray cluster at {address}: {exc.strerror or one_line(exc, 120)}"
    answer = b""
    with connection:
        with contextlib.suppress(OSError):  # a timeout too: the answer stays short
            connection.sendall(HTTP2_PREFACE + HTTP2_EMPTY_SETTINGS)
            while len(answer) < HTTP2_FRAME_HEADER and (part := connection.recv(HTTP2_FRAME_HEADER - len(answer))):
                answer += part
    if len(answer) < HTTP2_FRAME_HEADER or answer[3] != HTTP2_SETTINGS:
        return (f"something answers at {address}, but not Ray (no gRPC reply within {timeout:g} s): give the head's "
                "GCS port (6379 unless it was started with another) or ray://host:10001 for Ray Client")
    return None


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the system says), for a local Ray instance."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _forward(listener: TrainingListener | None, kind: str, payload: Any) -> None:
    if listener is None:
        return
    if kind == "batch":
        listener.on_batch(payload)
    elif kind == "epoch":
        listener.on_epoch(payload)
    elif kind == "evaluate" and (on_evaluate := getattr(listener, "on_evaluate", None)) is not None:
        on_evaluate(*payload)


def _record(result: RayRunResult, model_bytes: bytes, history: RunHistory | None) -> None:
    """Keep the run's model in ``history`` and add its entry; on failure only a warning, as a local run."""
    if history is None or result.summary is None:
        return
    entry = result.summary
    if (problem := history.check_writable()) is not None:
        result.warnings.append(f"this run is not recorded in the run history: {problem}")
        return
    try:
        entry.model_path = str(write_bytes_atomically(model_bytes, history.model_path(entry)))
        history.add(entry)
    except (OSError, ValueError, ModelFileError) as exc:
        entry.model_path = None
        result.warnings.append(f"this run is not recorded in the run history {history.folder}: "
                               f"{' '.join(str(exc).split())[:200]}")
        return
    result.entry = entry


def _result(index: int, experiment: Experiment, reply: dict[str, Any], history: RunHistory | None) -> RayRunResult:
    result = RayRunResult(index, experiment, node=str(reply.get("node", "")), seconds=float(reply.get("seconds", 0.0)))
    if not reply.get("ok"):
        result.error = f"run {index + 1}: {reply.get('error') or 'failed'}"
        return result
    try:
        result.record = ModelRecord.from_json(reply["record"])
        result.summary = RunEntry.from_json(reply["entry"])
    except (KeyError, ValueError, CnnStudioError) as exc:  # e.g. a node with another CNN Studio version
        result.error = f"run {index + 1}: its result could not be read ({one_line(exc, 200)})"
        return result
    result.end = RunEnd.from_json(reply.get("end"))
    result.device = result.summary.device
    result.warnings = [str(w) for w in reply.get("warnings", [])]
    _record(result, reply.get("model", b""), history)
    return result


def _failure(ray: Any, index: int, exc: BaseException) -> str:
    """A failed task (its worker died, Ray lost it, …) as one line, never Ray's traceback."""
    cause = getattr(exc, "cause", None)
    if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(cause, BaseException):
        exc = cause
    return f"run {index + 1}: {one_line(exc, 200).splitlines()[0]}"


def run_study_on_ray(experiments: Sequence[Experiment], dataset_name: str, *, address: str = "local",
                     history: RunHistory | None = None, stop: StopFlag | None = None,
                     listener: TrainingListener | None = None, on_run_start: RunStart | None = None,
                     on_run_done: RunDone | None = None, poll_seconds: float = 0.2) -> list[RayRunResult]:
    """Run each experiment as a Ray task on ``dataset_name`` (loaded by every worker); the finished runs, in order.

    ``address``: ``"local"`` starts Ray on this machine (and stops it afterwards), ``"auto"`` joins
    the cluster this machine belongs to, anything else is a ``host:port`` or ``ray://`` address.
    When Ray is already initialized in this process it is used as it is. Each task asks for one
    CPU, and one GPU when the cluster has any.

    Progress reaches ``listener`` on this thread (``on_batch``, ``on_epoch``, ``on_evaluate`` when
    it has one), a few updates a second per run; runs overlap, so a listener that shows one run
    at a time should look at ``on_run(index)``: when the listener has it, it is called before
    progress from another run than the last. ``on_run_start(index, experiment)`` is called when a
    run starts on its worker, ``on_run_done(index, result)`` when it ends (failed runs included:
    ``result.error``). Finished runs are recorded in ``history`` under one study name.

    A stop request cancels the runs still going or waiting (they are not recorded) and returns
    the finished ones. A run that fails is one line in its ``error``; the others go on.
    """
    ray = import_ray()
    from ray.util.queue import Queue

    experiments = list(experiments)
    if not experiments:
        return []
    study = time.strftime("study %Y-%m-%d %H:%M:%S")
    connected = _connect(ray, address)
    queue = None
    try:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
        queue = Queue(maxsize=QUEUE_SIZE, actor_options={"num_cpus": 0})
        task = ray.remote(run_remote_task).options(num_cpus=1, num_gpus=gpus, max_retries=0)
        refs = {task.remote(i, e.to_dict(), dataset_name, study, queue): i for i, e in enumerate(experiments)}
        return _drive(ray, refs, experiments, queue, history, stop, listener, on_run_start, on_run_done, poll_seconds)
    finally:
        if queue is not None:
            try:
                queue.shutdown()
            except Exception:  # noqa: BLE001 - Ray going away takes the queue with it
                pass
        if connected:
            ray.shutdown()


def _drive(ray: Any, refs: dict[Any, int], experiments: list[Experiment], queue: Any, history: RunHistory | None,
           stop: StopFlag | None, listener: TrainingListener | None, on_run_start: RunStart | None,
           on_run_done: RunDone | None, poll_seconds: float) -> list[RayRunResult]:
    """Poll the tasks and the progress queue until every task ends or a stop request cancels the rest."""
    results: dict[int, RayRunResult] = {}
    started: set[int] = set()
    last_run = [-1]
    on_run = getattr(listener, "on_run", None)

    def drain() -> None:
        count = queue.qsize()
        for index, kind, payload in (queue.get_nowait_batch(count) if count else []):
            if stop is not None and stop.requested:
                return
            if kind == "start":
                if index not in started:
                    started.add(index)
                    if on_run_start is not None:
                        on_run_start(index, experiments[index])
                continue
            if index != last_run[0] and on_run is not None:
                on_run(index)
            last_run[0] = index
            _forward(listener, kind, payload)

    def finish(ref: Any, cancelled: bool = False) -> None:
        """Take a task's result; a cancelled task's error is dropped (taken, so Ray does not print it)."""
        index = refs.pop(ref)
        try:
            reply = ray.get(ref, timeout=0 if cancelled else None)
        except Exception as exc:  # noqa: BLE001 - the worker died, Ray lost the task, or it was cancelled
            if cancelled:
                return
            result = RayRunResult(index, experiments[index], error=_failure(ray, index, exc))
        else:  # a cancelled one that ended before the cancellation reached it is a finished run too
            result = _result(index, experiments[index], reply, history)
        results[index] = result
        if on_run_done is not None:
            on_run_done(index, result)

    while refs:
        if stop is not None and stop.requested:
            break
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=poll_seconds)
        drain()  # a task's progress is all queued before it returns: forward it before its end
        for ref in ready:
            finish(ref)
    if refs:  # stopped: runs that ended meanwhile are kept, the others cancelled
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=0)
        for ref in ready:
            finish(ref)
        _cancel(ray, refs, started)
        for ref in list(refs):
            finish(ref, cancelled=True)
    return [results[i] for i in sorted(results)]


def _cancel(ray: Any, refs: dict[Any, int], started: set[int]) -> None:
    """Cancel every task in ``refs`` and wait until they are gone.

    Started tasks lose their worker (``force``); waiting ones are cancelled plainly, and forced too
    when they turn out to have started meanwhile and do not end within :data:`GENTLE_WAIT` seconds.
    """
    for ref, index in refs.items():
        _cancel_one(ray, ref, force=index in started)
    pending = _wait_gone(ray, list(refs), GENTLE_WAIT)
    for ref in pending:
        _cancel_one(ray, ref, force=True)
    _wait_gone(ray, pending, CANCEL_WAIT)


def _cancel_one(ray: Any, ref: Any, force: bool) -> None:
    try:
        ray.cancel(ref, force=force)
    except Exception:  # noqa: BLE001 - it ended meanwhile
        pass


def _wait_gone(ray: Any, pending: list[Any], seconds: float) -> list[Any]:
    deadline = time.monotonic() + seconds
    while pending and (left := deadline - time.monotonic()) > 0:
        _, pending = ray.wait(pending, num_returns=len(pending), timeout=min(1.0, left))
    return pending

"""Studies on Ray (the optional ``cluster`` extra), for real on a local two-CPU Ray instance."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (the optional cluster extra: pip install -e '.[cluster]')")

from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions  # noqa: E402
from cnnstudio.core.errors import CnnStudioError  # noqa: E402
from cnnstudio.core.experiments.ray_study import (  # noqa: E402
    RAY_MISSING,
    TOKEN_NOTICE_LOGGER,
    import_ray,
    run_study_on_ray,
    unreachable,
)
from cnnstudio.core.experiments.run_history import RunHistory  # noqa: E402
from cnnstudio.core.training.progress import StopFlag  # noqa: E402


@pytest.fixture(scope="module")
def ray_folder():
    """Ray's files in a short folder under /tmp (its socket paths are limited); Ray stopped and the folder removed after."""
    folder = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    yield folder
    ray.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def local_ray(ray_folder, monkeypatch):
    """A two-CPU Ray instance shared by the module's tests (started by the first that needs it)."""
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                 _temp_dir=ray_folder)


def experiment(pooling: str = "max", **model) -> Experiment:
    """LeNet-5 on the built-in digits for one epoch, every batch reported."""
    return Experiment(ModelOptions(pooling=pooling, **model), TrainOptions(epochs=1, batch_size=32,
                                                                           steps_per_execution=1), "digits")


class Listener:
    """Keeps the progress it is told, and which run each update came from."""

    def __init__(self, on_progress=None) -> None:
        self.run, self.batches, self.epochs, self.runs_seen, self.on_progress = -1, [], [], set(), on_progress

    def on_run(self, index: int) -> None:
        self.run = index

    def on_batch(self, progress) -> None:
        self.batches.append((self.run, progress))
        self.runs_seen.add(self.run)
        if self.on_progress:
            self.on_progress()

    def on_epoch(self, result) -> None:
        self.epochs.append((self.run, result))


def test_a_two_run_study_records_both_runs_with_their_models(tmp_path, local_ray) -> None:
    from cnnstudio.core.files.persistence import load_model

    history = RunHistory(tmp_path / "runs")
    listener, started, done = Listener(), [], []
    results = run_study_on_ray([experiment("max"), experiment("min")], "digits", address="local", history=history,
                               listener=listener, on_run_start=lambda i, e: started.append((i, e.model.pooling)),
                               on_run_done=lambda i, r: done.append(i))

    assert [r.error for r in results] == [None, None]
    assert sorted(started) == [(0, "max"), (1, "min")] and sorted(done) == [0, 1]
    assert listener.runs_seen == {0, 1} and {run for run, _ in listener.epochs} == {0, 1}
    entries, warnings = history.entries()
    assert warnings == [] and len(entries) == 2
    assert len({e.study for e in entries}) == 1 and entries[0].study.startswith("study ")
    by_id = {e.id: e for e in entries}
    for result in results:
        assert result.entry is not None and result.entry.id in by_id and result.warnings == []
        assert result.entry.test_accuracy == result.record.test_accuracy is not None
        assert result.device and result.entry.device == result.device
        model, record = load_model(result.entry.model_path)
        assert record.test_accuracy == result.record.test_accuracy
        assert record.experiment.model.pooling == result.experiment.model.pooling
        assert model.count_params() == result.entry.params
    assert list(history.models.glob(".*")) == []  # no temporary files left behind


def test_a_failing_run_is_one_line_and_the_other_run_is_recorded(tmp_path, local_ray) -> None:
    history = RunHistory(tmp_path / "runs")
    results = run_study_on_ray([experiment("max", pool_size=16), experiment("avg")], "digits", address="local",
                               history=history)

    failed, finished = results
    assert failed.error is not None and failed.error.startswith("run 1: ") and "\n" not in failed.error
    assert "smaller than the 16×16 pooling window" in failed.error and "Traceback" not in failed.error
    assert failed.entry is None and finished.error is None and finished.entry is not None
    assert [e.id for e in history.entries()[0]] == [finished.entry.id]


def test_a_dataset_missing_on_the_workers_is_named_in_one_line(tmp_path, local_ray) -> None:
    missing = str(tmp_path / "no-such-dataset.npz")
    results = run_study_on_ray([experiment()], missing, address="local", history=RunHistory(tmp_path / "runs"))

    assert len(results) == 1 and results[0].entry is None
    error = results[0].error
    assert error.startswith("run 1: dataset ") and missing in error and "must exist on every node" in error
    assert "\n" not in error


def test_without_ray_the_error_says_how_to_install_it(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    with pytest.raises(CnnStudioError) as caught:
        import_ray()
    assert str(caught.value) == RAY_MISSING


def test_an_address_that_does_not_answer_is_one_line_at_once() -> None:
    assert unreachable("127.0.0.1:1", timeout=2).startswith("cannot reach the Ray cluster at 127.0.0.1:1: ")
    assert unreachable("cluster-head").startswith("not a Ray address: 'cluster-head'")
    long_label = "a" * 64 + ".com:1"  # no DNS name may have a label over 63 characters (it crashed the encoder)
    assert unreachable(long_label, timeout=2) == (f"not a Ray address: {long_label!r} is not a valid host name (use "
                                                  "local, auto, host:port or ray://host:port)")


def _serving(reply: bytes | None):
    """A one-connection TCP server on a free loopback port that sends ``reply`` (None: stays silent) and holds on."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            if reply is not None:
                connection.sendall(reply)
            done.wait(30)

    threading.Thread(target=serve, daemon=True).start()
    return server, done


@pytest.mark.parametrize(("reply", "refused"), [(None, True), (b"SSH-2.0-OpenSSH_9.6\r\n", True),
                                                (b"\x00\x00\x06\x04\x00\x00\x00\x00\x00", False)])
def test_a_port_where_something_other_than_ray_listens_is_refused_before_ray_waits_on_it(reply, refused,
                                                                                       this_machine) -> None:
    """ray.init would wait for good on a silent or foreign server; an HTTP/2 (gRPC) server's SETTINGS frame passes."""
    server, done = _serving(reply)
    address = f"127.0.0.1:{server.getsockname()[1]}"
    try:
        problem = unreachable(address, timeout=2)
    finally:
        done.set()
        server.close()
    if refused:
        assert problem.startswith(f"something answers at {address}, but not Ray (no gRPC reply within 2 s)")
    else:
        assert problem is None


def test_auto_checks_the_cluster_ray_address_names_before_joining_it(monkeypatch, this_machine) -> None:
    from types import SimpleNamespace

    from cnnstudio.core.experiments.ray_study import _connect

    def init(**_kwargs):
        raise AssertionError("ray.init must not be reached: it would wait for good")

    server, done = _serving(None)
    address = f"127.0.0.1:{server.getsockname()[1]}"
    monkeypatch.setenv("RAY_ADDRESS", address)
    try:
        with pytest.raises(CnnStudioError, match=rf"^something answers at {address}, but not Ray .*\(from RAY_ADDRESS\)$"):
            _connect(SimpleNamespace(is_initialized=lambda: False, init=init), "auto")
    finally:
        done.set()
        server.close()


def test_a_real_ray_head_passes_the_check(local_ray, this_machine) -> None:
    """The local instance's head, on this machine's own address: its GCS answers as gRPC does."""
    address = ray.get_runtime_context().gcs_address
    this_machine(address.rpartition(":")[0])
    assert unreachable(address) is None


def test_a_stop_request_cancels_the_remaining_runs(tmp_path, local_ray) -> None:
    """Four runs on two CPUs; stop when the first progress arrives: nothing still running is recorded."""
    history, stop = RunHistory(tmp_path / "runs"), StopFlag()
    listener = Listener(on_progress=stop.request)
    begun = time.monotonic()
    results = run_study_on_ray([experiment(p) for p in ("max", "min", "avg", "max")], "digits", address="local",
                               history=history, stop=stop, listener=listener)
    seconds = time.monotonic() - begun

    assert stop.requested and len(listener.batches) >= 1
    assert len(results) < 4 and len(history.entries()[0]) == len(results) < 4
    assert seconds < 60, f"the stopped study took {seconds:.0f} s to return"
    deadline = time.monotonic() + 20  # the killed workers hand their CPUs back
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0) == 2


def test_local_starts_ray_for_the_study_and_stops_it_after(tmp_path, ray_folder, monkeypatch) -> None:
    ray.shutdown()  # the shared instance: "local" starts its own only where none is running
    monkeypatch.setenv("RAY_TMPDIR", ray_folder)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)  # Ray's default: token authentication, announced
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")  # a cluster named for other programs: "local" ignores it
    announced = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = announced.append
    token_logger = logging.getLogger(TOKEN_NOTICE_LOGGER)
    token_logger.addHandler(handler)
    history = RunHistory(tmp_path / "runs")
    try:
        results = run_study_on_ray([experiment("avg")], "digits", address="local", history=history)
    finally:
        token_logger.removeHandler(handler)

    assert [r.error for r in results] == [None] and len(history.entries()[0]) == 1
    assert announced == []  # Ray's "Token authentication is enabled" line stays off stderr
    assert not ray.is_initialized() and os.environ["RAY_ADDRESS"] == "127.0.0.1:1"
    assert os.path.isdir(os.path.join(ray_folder, "ray"))  # its files went where RAY_TMPDIR says


def test_a_workers_device_notices_come_back_with_each_run_and_are_prepared_once(monkeypatch, request) -> None:
    """In-process (the task function itself, no Ray queue): an unusable GPU on the node is named in the run's warnings."""
    import cnnstudio.core.experiments.ray_study as ray_study
    import cnnstudio.core.training.gpu_check as gpu_check

    calls = []
    ray_study.worker_device_notices.cache_clear()  # a fresh worker process
    request.addfinalizer(ray_study.worker_device_notices.cache_clear)  # the fake notice stays in this test
    monkeypatch.setattr(gpu_check, "prepare_gpus", lambda: calls.append(1) or ["an NVIDIA GPU is present, but …"])
    replies = [ray_study.run_remote_task(i, experiment().to_dict(), "digits", "study", queue=None) for i in range(2)]
    assert [reply["ok"] for reply in replies] == [True, True], replies
    node = replies[0]["node"]
    assert [reply["warnings"][0] for reply in replies] == [f"on node {node}: an NVIDIA GPU is present, but …"] * 2
    assert calls == [1]  # TensorFlow allows it once per process, before its first operation

"""``--device workers``: one model over several machines (MultiWorkerMirroredStrategy, TF_CONFIG).

The TF_CONFIG checks are pure. The real thing runs two worker processes on loopback ports, each
with its own TF_CONFIG and the session's private homes (inherited from the environment).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from repo_paths import REPO

from cnnstudio.core.training.devices import (
    DeviceInfo,
    DeviceRequest,
    allowed_steps_per_execution,
    describe_plan,
    parse_device,
    plan_devices,
)
from cnnstudio.core.training.workers import parse_tf_config, worker_cluster

PROBE = Path(__file__).with_name("multiworker_probe.py")
TIMEOUT = 240


def tf_config(workers: list[str], index: int, kind: str = "worker") -> str:
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": kind, "index": index}})


TWO = ["10.0.0.1:2222", "10.0.0.2:2222"]

# TF_CONFIG, checked without TensorFlow -----------------------------------------------------------------------


def test_a_cluster_of_workers_is_read() -> None:
    cluster = parse_tf_config(tf_config(TWO, 1))
    assert (cluster.workers, cluster.index, cluster.chief) == (tuple(TWO), 1, False)
    assert parse_tf_config(tf_config(["[::1]:80", "host-b.example:65535", "h_c:1"], 0)).chief
    assert worker_cluster({"TF_CONFIG": tf_config(TWO, 0)}).chief


@pytest.mark.parametrize(("value", "reason"), [
    (None, r"^workers needs the TF_CONFIG environment variable, e.g\. TF_CONFIG='\{\"cluster\""),
    ("  ", r"^workers needs the TF_CONFIG environment variable"),
    ("{cluster: 1", r"^TF_CONFIG is not JSON \(JSONDecodeError: Expecting property name"),
    ("[" * 50_000 + "]" * 50_000, r"^TF_CONFIG is not JSON \(JSONNestingError: nested too deeply\)"),
    ("[1, 2]", r"^TF_CONFIG has no \"cluster\" object"),
    (json.dumps({"task": {"type": "worker", "index": 0}}), r"^TF_CONFIG has no \"cluster\" object"),
    (json.dumps({"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}), r"cluster has no workers"),
    (json.dumps({"cluster": {"worker": "h:1,h:2"}, "task": {"type": "worker", "index": 0}}), r"cluster has no workers"),
    (tf_config(["h:1"], 0), r"^TF_CONFIG names one worker: workers trains over two or more"),
    (tf_config(TWO, 2), r"^TF_CONFIG task index 2 is not a worker of the cluster \(0 to 1\)$"),
    (tf_config(TWO, -1), r"task index -1 is not a worker"),
    (tf_config(TWO, True), r"task index True is not a worker"),
    (json.dumps({"cluster": {"worker": TWO}, "task": {"type": "worker", "index": "0"}}), r"task index '0' is not"),
    (tf_config(TWO, 0, "chief"), r"^TF_CONFIG has task type 'chief': give \"task\": \{\"type\": \"worker\""),
    (tf_config(TWO, 0, "ps"), r"^TF_CONFIG has task type 'ps'"),
    (json.dumps({"cluster": {"worker": TWO}}), r"^TF_CONFIG has no task"),
    (json.dumps({"cluster": {"worker": TWO, "chief": ["c:1"]}, "task": {"type": "worker", "index": 0}}),
     r"^TF_CONFIG names a 'chief' job: only \"worker\" jobs are supported \(worker 0 is the chief\)$"),
    (json.dumps({"cluster": {"worker": TWO, "ps": ["p:1"]}, "task": {"type": "ps", "index": 0}}), r"names a 'ps' job"),
    (tf_config(["h:1", "h"], 0), r"^TF_CONFIG worker 'h' is not host:port \(port 1-65535\)$"),
    (tf_config(["h:1", "h:0"], 0), r"worker 'h:0' is not host:port"),
    (tf_config(["h:1", "h:70000"], 0), r"worker 'h:70000' is not host:port"),
    (tf_config(["h:1", "h :2"], 0), r"worker 'h :2' is not host:port"),
    (tf_config(["h:1", 12], 0), r"worker 12 is not host:port"),
    (tf_config(["h:1", "h:1"], 0), r"names the same worker twice"),
    (tf_config(["h:1", "h:2\x1b[31m"], 0), r"is not host:port"),
])
def test_a_bad_tf_config_is_one_line(value, reason) -> None:
    with pytest.raises(ValueError, match=reason) as caught:
        parse_tf_config(value)
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)


def test_workers_is_a_device_form_planned_over_the_cluster() -> None:
    assert parse_device("workers") == DeviceRequest("workers")
    cpu = DeviceInfo("/physical_device:CPU:0", "CPU", "CPU")
    gpus = [DeviceInfo(f"/physical_device:GPU:{i}", "GPU", "NVIDIA H100", (9, 0)) for i in range(2)]
    on_cpus = plan_devices(parse_device("workers"), [cpu], workers=3)
    assert (on_cpus.kind, on_cpus.devices, on_cpus.workers, on_cpus.replicas) == ("multiworker", ("/cpu:0",), 3, 3)
    assert describe_plan(on_cpus, 32) == "3 workers × CPU (MultiWorkerMirroredStrategy), global batch 96 = 32 × 3"
    on_gpus = plan_devices(parse_device("workers"), [cpu, *gpus], workers=2)
    assert on_gpus.devices == ("/gpu:0", "/gpu:1") and on_gpus.replicas == 4 and on_gpus.mixed_precision_allowed
    assert describe_plan(on_gpus) == "2 workers × 2 GPUs (MultiWorkerMirroredStrategy)"
    assert allowed_steps_per_execution(on_cpus.replicas, 12) == 1  # Keras' multi-step loop fails under it (see the probe)


def _cli_error(capsys, *argv: str) -> str:
    from cnnstudio.cli import build_parser

    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(list(argv))
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_the_command_line_checks_tf_config_at_once(capsys, monkeypatch) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert _cli_error(capsys, "train", "--device", "workers").startswith(
        "cnnstudio train: error: argument --device: workers needs the TF_CONFIG environment variable")
    monkeypatch.setenv("TF_CONFIG", tf_config(TWO, 5))
    assert _cli_error(capsys, "train", "--device", "workers") == ("cnnstudio train: error: argument --device: "
                                                                  "TF_CONFIG task index 5 is not a worker of the "
                                                                  "cluster (0 to 1)")
    monkeypatch.setenv("TF_CONFIG", tf_config(TWO, 0))
    assert _cli_error(capsys, "study", "--device", "workers").endswith(
        "argument --device: workers (several machines) is for train only: use cpu, gpu, gpu:N (N = 0, 1, 2, …), all-gpus or auto")
    assert "is for train only" in _cli_error(capsys, "evaluate", "m.keras", "--device", "workers")
    assert "all-gpus, auto or workers" in _cli_error(capsys, "train", "--device", "worker")


def test_a_workers_port_taken_by_another_program_is_one_line_before_tensorflow(capsys, monkeypatch) -> None:
    """TensorFlow would say only "Could not start gRPC server", as an internal error, once the strategy is made."""
    import socket

    with socket.create_server(("", 0)) as taken:
        port = taken.getsockname()[1]
        monkeypatch.setenv("TF_CONFIG", tf_config([f"localhost:{port}", "localhost:1"], 0))
        assert _cli_error(capsys, "train", "--device", "workers") == (
            f"cnnstudio train: error: argument --device: worker 0 cannot listen on localhost:{port}: Address already in "
            "use (another program uses the port: choose a free one in TF_CONFIG)")


def test_resume_is_refused_over_workers(tmp_path, monkeypatch, capsys) -> None:
    from cnnstudio.cli import _helper_worker, build_parser
    from cnnstudio.core.errors import CnnStudioError

    monkeypatch.setenv("TF_CONFIG", tf_config(TWO, 1))
    args = build_parser().parse_args(["train", "--device", "workers", "--resume", str(tmp_path / "m.keras")])
    with pytest.raises(CnnStudioError, match="^--resume cannot continue a model over several workers"):
        _helper_worker(args)
    assert _helper_worker(build_parser().parse_args(["train", "--device", "workers"])) == "worker 1 of 2"
    monkeypatch.setenv("TF_CONFIG", tf_config(TWO, 0))
    assert _helper_worker(build_parser().parse_args(["train", "--device", "workers"])) == ""


# the real thing: two worker processes on loopback ------------------------------------------------------------


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _environment(tmp_path: Path, config: str | None) -> dict[str, str]:
    """The session's environment (private CNNSTUDIO_HOME, KERAS_HOME, HOME…), no GPU, its own temporary folder."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TMPDIR=str(tmp_path / "tmp"), PYTHONPATH=str(REPO))
    env.pop("TF_CONFIG", None)
    if config is not None:
        env["TF_CONFIG"] = config
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return env


def _two_workers(tmp_path: Path, command: list[str]) -> list[subprocess.CompletedProcess]:
    """``command`` run as worker 0 and worker 1 of one loopback cluster at once; both waited for."""
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    running = [subprocess.Popen(command, cwd=REPO, env=_environment(tmp_path, tf_config(workers, index)),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for index in range(2)]
    done = []
    try:
        for process in running:
            out, err = process.communicate(timeout=TIMEOUT)
            done.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    finally:
        for process in running:
            if process.poll() is None:
                process.kill()
                process.wait()
    return done


def _runs(home: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted((home / "runs").glob("*.json"))]


def test_two_workers_train_one_model_from_the_command_line(tmp_path, digits) -> None:
    """Worker 0 keeps the model, the run and --json; it learns what one process learns on the same global batch."""
    from cnnstudio.core.files.persistence import load_model

    out = tmp_path / "model.keras"
    train = [sys.executable, "-m", "cnnstudio", "train", "--dataset", "digits", "--epochs", "2", "--json"]
    chief, helper = _two_workers(tmp_path, [*train, "--device", "workers", "--batch-size", "32", "--out", str(out)])
    assert chief.returncode == 0, chief.stderr[-3000:]
    assert helper.returncode == 0, helper.stderr[-3000:]
    result = json.loads(chief.stdout)
    assert helper.stdout == ""
    assert "worker 1 of 2 done (test accuracy" in helper.stderr
    # each says it waits for the others (the chief had said nothing at all while the second worker was missing)
    assert "notice: worker 0 of 2: waiting for the other workers to join (" in chief.stderr
    assert "notice: worker 1 of 2: waiting for the other workers to join (" in helper.stderr
    assert result["device"] == ("2 workers × CPU (MultiWorkerMirroredStrategy), global batch 64 = 32 × 2, float32")
    home = Path(os.environ["CNNSTUDIO_HOME"])
    runs = _runs(home)
    assert len(runs) == 1 and runs[0]["model_path"] == str(out)  # the helper recorded nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras", "tmp"]  # no temporary checkpoints left
    assert list((tmp_path / "tmp").iterdir()) == []  # the helper's folder is gone

    model, record = load_model(out)
    predicted = model.predict(digits.x_test, batch_size=256, verbose=0).argmax(axis=1)
    accuracy = float((predicted == digits.y_test).mean())
    assert accuracy > 0.6 and abs(accuracy - result["test_accuracy"]) < 0.003  # chance is 0.1
    assert record is not None and record.epochs_trained == 2

    single = subprocess.run([*train, "--device", "cpu", "--batch-size", "64"], cwd=REPO, capture_output=True,
                            text=True, env=_environment(tmp_path, None), timeout=TIMEOUT)
    assert single.returncode == 0, single.stderr[-3000:]
    alone = json.loads(single.stdout)
    print(f"\ntwo workers (global batch 32 × 2): test accuracy {result['test_accuracy']:.4f}, loss "
          f"{result['test_loss']:.4f}, loaded model {accuracy:.4f}; one process (batch 64): test accuracy "
          f"{alone['test_accuracy']:.4f}, loss {alone['test_loss']:.4f}")
    assert abs(result["test_accuracy"] - alone["test_accuracy"]) <= 0.02
    assert result["history"]["loss"][-1] == pytest.approx(alone["history"]["loss"][-1], rel=0.02)


def test_keras_under_the_multi_worker_strategy(tmp_path) -> None:
    """What Keras 3 does under MultiWorkerMirroredStrategy: the errors the app mends, sharding, steps, saving."""
    done = _two_workers(tmp_path, [sys.executable, str(PROBE), str(tmp_path)])
    figures = []
    for index, process in enumerate(done):
        path = tmp_path / f"worker-{index}.json"
        assert path.is_file(), f"worker {index} wrote nothing: {process.stderr[-3000:]}"
        figures.append(json.loads(path.read_text()))
        assert "error" not in figures[-1], figures[-1].get("traceback", figures[-1].get("error"))
    for worker in figures:
        assert worker["replicas"] == 2 and worker["strategy"] == "MendedMultiWorkerMirroredStrategy"
        # The strategy TensorFlow ships, under Keras 3.15's fit on NumPy: the first batch reduced as a tuple …
        assert worker["plain_error"]["error"].startswith("ValueError: Attempt to convert a value (PerReplica:{")
        assert worker["plain_error"]["error"].endswith(
            "with an unsupported type (<class 'tensorflow.python.distribute.values.PerReplica'>) to a Tensor.")
        # … and, that mended, the scalar logs reduced along axis 0.
        assert worker["scalar_error"]["error"].startswith(
            "ValueError: Invalid reduction dimension 0 for input with 0 dimensions.")
        # Keras' multi-step loop fails here as under MirroredStrategy: the app compiles 1 batch per call.
        assert "You must feed a value for placeholder tensor" in worker["steps_per_execution_4"]["error"]
        assert worker["steps"] == [4, 4]  # ceil(200 / 64): every worker runs every global batch
        assert worker["chief_only_save"] == "ok"  # Keras 3's .keras saving needs no other worker
    # Sharding (AutoShardPolicy.DATA, set by Keras' array adapter): each global batch of 64 is split,
    # worker 0 takes its first 32 images and worker 1 the next 32; each worker sees half the images.
    first, second = figures[0]["shards"], figures[1]["shards"]
    assert first[0] == list(range(0, 32)) and second[0] == list(range(32, 64))
    assert [len(b) for b in first] == [32, 32, 32, 4] and [len(b) for b in second] == [32, 32, 32, 4]
    assert sorted(i for batch in first + second for i in batch) == list(range(200))
    assert (tmp_path / "chief.keras").is_file() and not (tmp_path / "worker-1.keras").exists()


def _started(command: list[str], env: dict[str, str], stderr: Path) -> subprocess.Popen:
    """``command`` started with Ctrl-C's usual effect (not inherited as ignored, nor blocked), its stderr into a file."""
    import signal

    def usual_signals() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())  # the test process's libraries may block some

    with stderr.open("w") as sink:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=sink, text=True,
                                preexec_fn=usual_signals)


def _until_said(process: subprocess.Popen, stderr: Path, text: str) -> None:
    """Wait (polling the file) until ``text`` is in ``stderr``; fail if the process ends or TIMEOUT passes first."""
    import time

    deadline = time.monotonic() + TIMEOUT
    while text not in stderr.read_text():
        assert process.poll() is None, f"ended ({process.returncode}) before saying {text!r}: {stderr.read_text()}"
        assert time.monotonic() < deadline, f"never said {text!r}: {stderr.read_text()}"
        time.sleep(0.1)


def test_ctrl_c_ends_a_worker_waiting_for_the_others(tmp_path) -> None:
    """TensorFlow waits for the other workers keeping Python's lock, so no handler can run: Ctrl-C ends it at once."""
    import signal

    stderr = tmp_path / "stderr.txt"
    env = _environment(tmp_path, tf_config([f"127.0.0.1:{port}" for port in _free_ports(2)], 0))
    waiting = _started([sys.executable, "-m", "cnnstudio", "train", "--device", "workers", "--dataset", "digits",
                        "--out", str(tmp_path / "m.keras")], env, stderr)
    try:
        _until_said(waiting, stderr, "waiting for the other workers to join")
        waiting.send_signal(signal.SIGINT)
        waiting.wait(timeout=30)  # before the handlers were set aside, it waited for the other worker forever
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    said = stderr.read_text()
    assert "(Ctrl-C gives up)" in said and "Traceback" not in said
    # at once (the system's action for SIGINT), or as Ctrl-C does had it landed just before the wait
    assert waiting.returncode in (-signal.SIGINT, 130), said
    assert not (tmp_path / "m.keras").exists() and list((tmp_path / "tmp").iterdir()) == []


def test_a_stopped_chief_stops_the_other_worker_with_one_line(tmp_path) -> None:
    """SIGTERM reaches the chief while it trains: TensorFlow takes SIGTERM for itself at some point after the strategy
    is made (under load, after the first epoch: the chief then trained on through 45 epochs), so the handlers are put
    back at every progress update. The other worker says why it stops in one line."""
    import signal

    out = tmp_path / "model.keras"
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    train = [sys.executable, "-m", "cnnstudio", "train", "--device", "workers", "--dataset", "digits", "--epochs", "50"]
    errors = [tmp_path / "chief.txt", tmp_path / "helper.txt"]
    running = [_started([*train, "--json", "--out", str(out)], _environment(tmp_path, tf_config(workers, 0)), errors[0]),
               _started(train, _environment(tmp_path, tf_config(workers, 1)), errors[1])]
    try:
        _until_said(running[0], errors[0], "epoch 2/50")  # TensorFlow has taken SIGTERM by then, at some point
        running[0].send_signal(signal.SIGTERM)
        chief_out, _ = running[0].communicate(timeout=60)
        running[1].wait(timeout=TIMEOUT)
    finally:
        for process in running:
            if process.poll() is None:
                process.kill()
                process.wait()
    chief, helper = (path.read_text() for path in errors)
    assert running[0].returncode == 130, chief
    assert chief.rstrip().endswith("cnnstudio train: interrupted")
    summary = json.loads(chief_out)
    assert summary["stop_reason"] == "interrupted" and summary["epochs"] >= 2 and summary["model"] == str(out)
    assert running[1].returncode == 2, helper
    last = helper.rstrip().splitlines()[-1]
    assert last.startswith("cnnstudio train: lost contact with another worker (it stopped, or the network between "
                           "them failed), so this one stops too (TensorFlow's "), helper
    assert "internal error" not in helper and "Traceback" not in helper
    assert list((tmp_path / "tmp").iterdir()) == []  # the other worker's folder is gone

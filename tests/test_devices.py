"""Device choice for training: parsing, planning, listing, memory growth, precision, and real mirrored training."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from repo_paths import SHARED_MNIST

from cnnstudio.core.training.devices import (
    MAX_GPU_INDEX,
    DeviceInfo,
    DevicePlan,
    DeviceRequest,
    allowed_steps_per_execution,
    cpu_has_bfloat16,
    describe_plan,
    enable_memory_growth,
    global_batch,
    list_devices,
    parse_device,
    plan_devices,
)

ACCEPTED = {"cpu", "gpu", "all-gpus", "auto", "workers", *(f"gpu:{i}" for i in range(MAX_GPU_INDEX + 1))}
PROBE = Path(__file__).with_name("mirrored_probe.py")

# parse_device ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "request_"), [
    ("cpu", DeviceRequest("cpu")), ("gpu", DeviceRequest("gpu", 0)), ("gpu:0", DeviceRequest("gpu", 0)),
    ("gpu:1", DeviceRequest("gpu", 1)), ("gpu:12", DeviceRequest("gpu", 12)),
    (f"gpu:{MAX_GPU_INDEX}", DeviceRequest("gpu", MAX_GPU_INDEX)),
    ("all-gpus", DeviceRequest("all-gpus")), ("auto", DeviceRequest("auto")),
    # any ASCII case, and TensorFlow's own names for its devices
    ("CPU", DeviceRequest("cpu")), ("Gpu:0", DeviceRequest("gpu", 0)), ("GPU:3", DeviceRequest("gpu", 3)),
    ("All-GPUs", DeviceRequest("all-gpus")), ("AUTO", DeviceRequest("auto")), ("/gpu:0", DeviceRequest("gpu", 0)),
    ("/GPU:1", DeviceRequest("gpu", 1)), ("/device:GPU:2", DeviceRequest("gpu", 2)),
    ("/physical_device:GPU:0", DeviceRequest("gpu", 0)), ("cpu:0", DeviceRequest("cpu")),
    ("/device:CPU:0", DeviceRequest("cpu")),
])
def test_accepted_forms(text, request_):
    assert parse_device(text) == request_


@pytest.mark.parametrize("text", [
    "", " cpu", "cpu ", "gpu:", "gpu:-1", "gpu:+1", "gpu:01", "gpu: 1", "gpu:1.0", "gpu:0x1",
    "gpu:١", "gpu:²", "gpu:1\n", "gpu:256", "gpu:99999999999999999999", "gpus", "all_gpus", "all-gpu", "mirrored",
    "tpu:0", "cuda:0", "cpu:1", "/cpu", "/gpu", "//gpu:0", "/device:/gpu:0", "/physical_device:", "\x1b[31mcpu",
    "wor\u212aers", "\u0130", "ＣＰＵ",
])
def test_refused_forms(text):
    with pytest.raises(ValueError) as caught:
        parse_device(text)
    message = str(caught.value)
    assert "\n" not in message and "\x1b" not in message
    assert "cpu, gpu, gpu:N" in message and "all-gpus, auto or workers" in message


def test_refusal_reads_as_a_command_line_error():
    with pytest.raises(ValueError,
                       match=r"^unknown device 'gpu0': use cpu, gpu, gpu:N \(N = 0, 1, 2, …\), all-gpus, auto or workers "
                             r"\(any case; TensorFlow's GPU:0, /gpu:0 and /device:GPU:0 also work\)$"):
        parse_device("gpu0")
    with pytest.raises(ValueError, match=r"^GPU number 300 is too large \(at most 255\)"):
        parse_device("gpu:300")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.text(max_size=12),
    st.builds(lambda digits: f"gpu:{digits}", st.text(max_size=5)),
    st.builds(lambda text: text.upper(), st.sampled_from(sorted(ACCEPTED)[:8])),
    st.builds(lambda a, b: a + b, st.sampled_from(["cpu", "gpu", "auto", "all-gpus", "gpu:1"]),
              st.text(min_size=1, max_size=3)),
))
def test_any_other_text_is_refused(text):
    if text.isascii() and text.lower() in ACCEPTED:
        assert isinstance(parse_device(text), DeviceRequest)
        return
    with pytest.raises(ValueError) as caught:
        parse_device(text)
    assert "\n" not in str(caught.value)


# plan_devices ---------------------------------------------------------------------------------------

CPU = DeviceInfo("/physical_device:CPU:0", "CPU", "/physical_device:CPU:0")


def gpu(index: int, capability: tuple[int, int] | None = (8, 0), memory: int | None = None, name: str = "NVIDIA A100"):
    return DeviceInfo(f"/physical_device:GPU:{index}", "GPU", name, capability, memory)


def plan(text: str, devices) -> DevicePlan:
    return plan_devices(parse_device(text), devices)


@pytest.mark.parametrize("text", ["gpu", "gpu:0", "gpu:2", "all-gpus"])
def test_without_gpus_every_gpu_request_trains_on_the_cpu_and_says_so(text):
    chosen = plan(text, [CPU])
    assert (chosen.kind, chosen.devices, chosen.replicas, chosen.mixed_precision_allowed) == ("cpu", ("/cpu:0",), 1, False)
    asked = "gpu:0" if text == "gpu" else text
    assert chosen.notice == f"no GPU is visible to TensorFlow: using the CPU instead of {asked}"


@pytest.mark.parametrize("devices", [[CPU], [CPU, gpu(0)]])
def test_cpu_is_honoured_without_notice(devices):
    assert plan("cpu", devices) == DevicePlan("cpu", ("/cpu:0",), None, False, ("CPU",))


def test_auto_without_gpus_is_the_cpu_without_notice():
    assert plan("auto", [CPU]) == DevicePlan("cpu", ("/cpu:0",), None, False, ("CPU",))


def test_one_gpu():
    devices = [CPU, gpu(0, (9, 0), name="NVIDIA H100")]
    expected = DevicePlan("gpu", ("/gpu:0",), None, True, ("NVIDIA H100",))
    assert plan("gpu:0", devices) == plan("gpu", devices) == plan("auto", devices) == expected
    assert plan("all-gpus", devices) == expected  # all of one GPU is that GPU: no notice, no mirroring


def test_two_gpus_of_different_capability():
    devices = [CPU, gpu(0, (6, 1), name="GTX 1080 Ti"), gpu(1, (7, 5), name="RTX 2080")]
    mirrored = plan("all-gpus", devices)
    assert (mirrored.kind, mirrored.devices, mirrored.replicas) == ("mirrored", ("/gpu:0", "/gpu:1"), 2)
    assert mirrored.notice is None and not mirrored.mixed_precision_allowed  # the 6.1 card has no tensor cores
    assert not plan("gpu:0", devices).mixed_precision_allowed
    assert plan("gpu:1", devices) == DevicePlan("gpu", ("/gpu:1",), None, True, ("RTX 2080",))
    both_new = plan("all-gpus", [gpu(0, (7, 0)), gpu(1, (8, 6))])
    assert both_new.mixed_precision_allowed
    assert not plan("all-gpus", [gpu(0, (8, 0)), gpu(1, None)]).mixed_precision_allowed  # unknown: not allowed


def test_out_of_range_gpu_falls_back_to_the_first_with_a_one_line_notice():
    chosen = plan("gpu:3", [CPU, gpu(0), gpu(1)])
    assert (chosen.kind, chosen.devices) == ("gpu", ("/gpu:0",))
    assert chosen.notice == "gpu:3 does not exist (2 GPUs: gpu:0, gpu:1): training on gpu:0"
    single = plan("gpu:1", [gpu(0)])
    assert single.notice == "gpu:1 does not exist (1 GPU: gpu:0): training on gpu:0"
    many = plan("gpu:200", [gpu(i) for i in range(12)]).notice
    assert many is not None and "\n" not in many and "12 GPUs: gpu:0, gpu:1" in many and "…" in many


def test_auto_picks_the_single_gpu_with_most_memory():
    devices = [CPU, gpu(0, memory=8 << 30), gpu(1, memory=80 << 30), gpu(2, memory=80 << 30)]
    assert plan("auto", devices).devices == ("/gpu:1",)  # the lowest number among the largest
    assert plan("auto", [gpu(0), gpu(1)]).devices == ("/gpu:0",)  # memory unknown: the first
    assert plan("auto", [gpu(0), gpu(1, memory=1)]).devices == ("/gpu:1",)


def test_steps_per_execution_is_one_for_several_replicas():
    assert allowed_steps_per_execution(plan("cpu", []).replicas, 12) == 12
    assert allowed_steps_per_execution(plan("gpu", [gpu(0)]).replicas, 32) == 32
    assert allowed_steps_per_execution(plan("all-gpus", [gpu(0), gpu(1)]).replicas, 12) == 1
    assert allowed_steps_per_execution(plan("cpu", []).replicas, 0) == 1


def test_global_batch_and_description():
    assert global_batch(64, 2) == 128 and global_batch(1, 1) == 1
    with pytest.raises(ValueError):
        global_batch(0, 2)
    two = plan("all-gpus", [gpu(0), gpu(1)])
    assert describe_plan(two, 64) == "2 GPUs (MirroredStrategy), global batch 128 = 64 × 2"
    assert describe_plan(two) == "2 GPUs (MirroredStrategy)"
    assert describe_plan(plan("gpu:1", [gpu(0), gpu(1, name="NVIDIA H100")]), 32) == "gpu:1 (NVIDIA H100), batch 32"
    assert describe_plan(plan("cpu", []), 64) == "CPU, batch 64"
    cpus = DevicePlan("mirrored", ("/cpu:0", "/cpu:1"))
    assert describe_plan(cpus, 16) == "2 devices (MirroredStrategy), global batch 32 = 16 × 2"


# list_devices and enable_memory_growth with a fake TensorFlow ----------------------------------------------


class FakeTF:
    """The parts of ``tensorflow`` that the device functions use; ``details`` maps a name to details or an exception."""

    def __init__(self, devices, details=None, growth_error=None):
        self.devices, self.details, self.growth_error = devices, details or {}, growth_error
        self.growth: list[str] = []
        self.config = SimpleNamespace(list_physical_devices=self._list, experimental=SimpleNamespace(
            get_device_details=self._details, set_memory_growth=self._set_growth))

    def _list(self, kind=None):
        return [d for d in self.devices if kind is None or d.device_type == kind]

    def _details(self, device):
        found = self.details.get(device.name, {})
        if isinstance(found, BaseException):
            raise found
        return found

    def _set_growth(self, device, enabled):
        if self.growth_error is not None:
            raise self.growth_error
        assert enabled is True
        self.growth.append(device.name)


def physical(kind: str, index: int):
    return SimpleNamespace(name=f"/physical_device:{kind}:{index}", device_type=kind)


def test_list_devices_reads_details_and_degrades_to_the_name():
    fake = FakeTF([physical("CPU", 0), physical("GPU", 0), physical("GPU", 1), physical("GPU", 2)], {
        "/physical_device:GPU:0": {"device_name": "NVIDIA H100 80GB HBM3", "compute_capability": (9, 0)},
        "/physical_device:GPU:1": RuntimeError("details are not available"),
        "/physical_device:GPU:2": {"device_name": "", "compute_capability": "garbage", "memory_limit": 1 << 30},
    })
    assert list_devices(fake) == [  # the CPU's bfloat16 instructions are read from this machine's cpuinfo
        DeviceInfo("/physical_device:CPU:0", "CPU", "/physical_device:CPU:0", bfloat16=cpu_has_bfloat16()),
        DeviceInfo("/physical_device:GPU:0", "GPU", "NVIDIA H100 80GB HBM3", (9, 0), None),
        DeviceInfo("/physical_device:GPU:1", "GPU", "/physical_device:GPU:1"),
        DeviceInfo("/physical_device:GPU:2", "GPU", "/physical_device:GPU:2", None, 1 << 30),
    ]
    chosen = plan_devices(parse_device("all-gpus"), list_devices(fake))
    assert chosen.devices == ("/gpu:0", "/gpu:1", "/gpu:2") and not chosen.mixed_precision_allowed


def test_list_devices_for_real_sees_the_cpu():
    devices = list_devices()
    assert any(d.kind == "CPU" for d in devices)
    assert all(d.bfloat16 == (d.kind == "CPU" and cpu_has_bfloat16()) for d in devices)
    assert all(d.description for d in devices)


def test_enable_memory_growth():
    fake = FakeTF([physical("CPU", 0), physical("GPU", 0), physical("GPU", 1)])
    assert enable_memory_growth(fake) == []
    assert fake.growth == ["/physical_device:GPU:0", "/physical_device:GPU:1"]


def test_memory_growth_problems_are_lines_not_exceptions():
    late = RuntimeError("Physical devices cannot be modified\nafter being initialized")
    problems = enable_memory_growth(FakeTF([physical("GPU", 0), physical("GPU", 1)], growth_error=late))
    assert problems == [f"/physical_device:GPU:{i}: memory growth not enabled (RuntimeError: Physical devices cannot be "
                        "modified after being initialized)" for i in (0, 1)]
    broken = FakeTF([])
    broken.config.list_physical_devices = lambda kind=None: (_ for _ in ()).throw(OSError("driver gone"))
    assert enable_memory_growth(broken) == ["GPUs could not be listed: OSError: driver gone"]
    assert enable_memory_growth() == []  # no GPU here: nothing to do, nothing wrong


# precision_policy --------------------------------------------------------------------------------------


def test_precision_policy_sets_and_restores():
    import keras

    from cnnstudio.core.training.devices import precision_policy

    before = keras.mixed_precision.global_policy().name
    with precision_policy("mixed_float16"):
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        with precision_policy("float32"):
            assert keras.mixed_precision.global_policy().name == "float32"
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
    assert keras.mixed_precision.global_policy().name == before
    with pytest.raises(KeyError), precision_policy("mixed_float16"):
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        raise KeyError("the body failed")
    assert keras.mixed_precision.global_policy().name == before
    with pytest.raises(ValueError):  # an unknown policy is refused and changes nothing
        with precision_policy("float12"):
            pass
    assert keras.mixed_precision.global_policy().name == before


@pytest.mark.parametrize(("on_gpu", "compute", "optimizer"), [(True, "float16", "LossScaleOptimizer"),
                                                              (False, "bfloat16", "Adam")])
def test_mixed_precision_lenet_on_the_cpu(small, tmp_path, on_gpu, compute, optimizer):
    """The app's LeNet-5 built for mixed precision, as a GPU of compute capability 7.0 or more gets
    it (float16 layers, a loss-scaled optimizer; the "GPU" placement falls back to this CPU) or a
    CPU with bfloat16 instructions (bfloat16 layers, no loss scaling: emulated where the CPU lacks
    them): a float32 softmax output; it trains, the global policy is float32 again afterwards, and
    the saved model loads and predicts float32 probabilities on a CPU.
    """
    import keras

    from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
    from cnnstudio.core.files.persistence import load_model, save_model
    from cnnstudio.core.training.devices import DevicePlan, cpu_plan
    from cnnstudio.core.training.execution import Execution
    from cnnstudio.core.training.trainer import fit, new_model

    plan = DevicePlan("gpu", ("/gpu:0",), None, True, ("a GPU",)) if on_gpu else \
        cpu_plan(devices=[DeviceInfo("/physical_device:CPU:0", "CPU", "CPU", bfloat16=True)])
    assert plan.mixed_precision_allowed
    experiment = Experiment(ModelOptions(), TrainOptions(epochs=1, batch_size=32, validation_split=0.0), "small")
    model = new_model(experiment, small, Execution(plan, mixed_precision=True))
    assert keras.mixed_precision.global_policy().name == "float32"  # restored once the model is built
    assert model.get_layer("c1").compute_dtype == compute and model.get_layer("c1").variable_dtype == "float32"
    output = model.get_layer("output")
    assert (output.dtype_policy.name, output.compute_dtype) == ("float32", "float32")
    assert type(model.optimizer).__name__ == optimizer  # compile wraps it under mixed_float16 only
    result = fit(model, small, experiment.train)
    assert result.end.reason.name == "FINISHED" and np.isfinite(result.history["loss"]).all()
    probabilities = model.predict(small.x_test, verbose=0)
    assert probabilities.dtype == np.float32

    save_model(model, tmp_path / "mixed.keras", None)
    loaded, _ = load_model(tmp_path / "mixed.keras")
    again = loaded.predict(small.x_test, verbose=0)
    assert again.dtype == np.float32 and (again.argmax(1) == probabilities.argmax(1)).all()
    assert type(loaded.optimizer).__name__ == "Adam"  # Keras does not restore the loss-scale wrapper
    from cnnstudio.core.training.execution import device_text, model_policy

    assert loaded.dtype_policy.name == "float32"  # the loaded wrapper's own policy says nothing of its layers
    assert model_policy(loaded) == model_policy(model) == f"mixed_{compute}"
    assert device_text(Execution(), loaded, 64) == f"CPU, batch 64, mixed_{compute}"  # what a continued run records
    assert model_policy(new_model(experiment, small, Execution())) == "float32"


def test_a_cpu_with_bfloat16_instructions_is_found_in_cpuinfo(tmp_path):
    from cnnstudio.core.training.devices import cpu_has_bfloat16

    def cpuinfo(flags: str) -> str:
        path = tmp_path / f"cpuinfo-{len(flags)}"
        path.write_text(f"processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: {flags}\nbugs\t\t: sysret_ss_attrs\n")
        return str(path)

    assert cpu_has_bfloat16(cpuinfo("fpu sse2 avx2 avx512f avx512_vnni avx512_bf16 fma"))
    assert cpu_has_bfloat16(cpuinfo("fpu avx512f amx_bf16 amx_tile"))
    assert not cpu_has_bfloat16(cpuinfo("fpu sse2 avx2 avx512f avx512_vnni fma"))  # no bfloat16: emulated, slower
    assert not cpu_has_bfloat16(cpuinfo("fpu xavx512_bf16"))  # whole flags only
    assert not cpu_has_bfloat16(str(tmp_path / "absent"))  # not Linux, or unreadable


def test_mixed_precision_on_the_cpu_is_bfloat16_where_the_cpu_has_it() -> None:
    from cnnstudio.core.training.execution import MIXED_PRECISION_ON_CPU, plan_execution

    fast = DeviceInfo("/physical_device:CPU:0", "CPU", "CPU", bfloat16=True)
    honoured = plan_execution("cpu", mixed_precision=True, devices=[fast])
    assert honoured.notices == () and honoured.policy == "mixed_bfloat16"
    assert honoured.describe(64) == "CPU, batch 64, mixed_bfloat16"
    assert plan_execution("auto", mixed_precision=True, devices=[fast]).policy == "mixed_bfloat16"
    fallback = plan_execution("gpu:0", mixed_precision=True, devices=[fast])  # no GPU: the CPU, still bfloat16
    assert fallback.policy == "mixed_bfloat16" and len(fallback.notices) == 1
    plain = plan_execution("cpu", mixed_precision=True, devices=[DeviceInfo("/physical_device:CPU:0", "CPU", "CPU")])
    assert plain.policy == "float32" and plain.notices == (MIXED_PRECISION_ON_CPU,)
    assert "AVX-512 BF16 or AMX" in MIXED_PRECISION_ON_CPU


# the real thing: MirroredStrategy over two logical CPUs, in a process of its own -----------------------------


def _probe(mode: str, out: Path, *extra: str) -> dict:
    done = subprocess.run([sys.executable, str(PROBE), mode, str(out), *extra], capture_output=True, text=True,
                          timeout=400)
    name = "result.json" if mode == "train" else "loaded.json"
    assert (out / name).is_file(), f"the probe wrote nothing: {done.stderr[-3000:]}"
    figures = json.loads((out / name).read_text())
    assert "error" not in figures, figures.get("traceback", figures["error"])
    return figures


def test_mirrored_training_on_two_logical_cpus(tmp_path):
    """LeNet-5 trained through the app's own new_model/fit/evaluate, on one device and mirrored over two.

    Same seed, same global batch: the mirrored run must learn as well as the single-device one
    (mirroring sums the two half-batch gradients into the full batch's). The mirrored model is
    saved with save_model and loaded in a plain process, where it predicts the same classes.
    """
    mnist = [str(SHARED_MNIST)] if (SHARED_MNIST / "train-images-idx3-ubyte.gz").is_file() else []
    figures = _probe("train", tmp_path, *mnist)
    single, mirrored, evidence = figures["single"], figures["mirrored"], figures["mirrored_auto_steps"]
    print(f"\n{figures['dataset']}; {figures['epochs']} epochs, global batch {figures['global_batch']}")
    for label in ("plain", "single", "mirrored"):
        run = figures[label]
        print(f"{label:>8}: {run['strategy'] or 'no strategy'}, {run['replicas']} replica(s), steps/execution "
              f"{run['steps_per_execution']}, test accuracy {run['test_accuracy']:.4f}, loss {run['test_loss']:.4f}, "
              f"seconds per epoch {', '.join(f'{s:.2f}' for s in run['seconds_per_epoch'])}")
    print(f"mirrored with steps_per_execution from the network's size: {evidence.get('error')}")

    assert figures["logical_cpus"] == ["/device:CPU:0", "/device:CPU:1"]
    assert (mirrored["strategy"], mirrored["replicas"], mirrored["variable"]) == ("MirroredStrategy", 2, "MirroredVariable")
    assert mirrored["model_strategy"] == "MirroredStrategy" and single["model_strategy"] == "OneDeviceStrategy"
    assert mirrored["end"] == single["end"] == "FINISHED"
    assert len(mirrored["seconds_per_epoch"]) == figures["epochs"]
    for run in (figures["plain"], single, mirrored):
        assert run["test_accuracy"] > 0.6  # chance is 0.1
    assert abs(mirrored["test_accuracy"] - single["test_accuracy"]) <= 0.03
    assert abs(mirrored["history_loss"][-1] - single["history_loss"][-1]) <= 0.05 * single["history_loss"][-1]

    # Keras 3's multi-step loop (steps_per_execution > 1: a tf.while_loop over the distributed
    # iterator's get_next_as_optional) fails under MirroredStrategy; a OneDeviceStrategy runs it.
    assert single["steps_per_execution"] > 1
    assert "error" in evidence and "You must feed a value for placeholder tensor" in evidence["error"], evidence

    # continuing: loaded and recompiled inside the scope it trains mirrored; compiling outside the scope breaks fit
    continued = figures["continued"]
    print(f"continued mirrored for a third epoch: {continued}")
    print(f"compiled outside the scope: {figures['compiled_outside']}")
    assert continued.get("variable") == "MirroredVariable" and continued["end"] == "FINISHED", continued
    assert continued["test_accuracy"] >= mirrored["test_accuracy"] - 0.03
    assert "Mixing different tf.distribute.Strategy objects" in figures["compiled_outside"].get("error", "")

    loaded = _probe("load", tmp_path)
    assert loaded["logical_cpus"] == ["/device:CPU:0"] and loaded["model_strategy"] == "_DefaultDistributionStrategy"
    assert loaded["variable"] == "ResourceVariable" and loaded["dtype"] == "float32"
    assert loaded["same_classes"] == 1.0


# executions: what a run is told to do ------------------------------------------------------------------------

def test_plan_execution_turns_every_impossible_part_into_a_notice() -> None:
    from cnnstudio.core.training.devices import DeviceInfo
    from cnnstudio.core.training.execution import MIXED_PRECISION_ON_CPU, MIXED_PRECISION_REFUSED, plan_execution

    cpu = DeviceInfo("/physical_device:CPU:0", "CPU", "CPU")
    old = DeviceInfo("/physical_device:GPU:0", "GPU", "Tesla P100", (6, 0))
    new = DeviceInfo("/physical_device:GPU:1", "GPU", "NVIDIA H100", (9, 0))
    alone = plan_execution("gpu:1", mixed_precision=True, devices=[cpu])
    assert alone.plan.kind == "cpu" and not alone.mixed_precision and len(alone.notices) == 2
    assert alone.notices[1] == MIXED_PRECISION_ON_CPU and all("\n" not in n for n in alone.notices)
    assert alone.describe(64) == "CPU, batch 64, float32"
    h100 = plan_execution("gpu:1", mixed_precision=True, xla=True, devices=[cpu, old, new])
    assert (h100.plan.devices, h100.mixed_precision, h100.notices, h100.jit_compile) == (("/gpu:1",), True, (), True)
    assert h100.describe(64) == "gpu:1 (NVIDIA H100), batch 64, mixed_float16, XLA"
    both = plan_execution("all-gpus", mixed_precision=True, devices=[cpu, old, new])
    assert both.plan.replicas == 2 and not both.mixed_precision and both.notices == (MIXED_PRECISION_REFUSED,)
    assert both.describe(32) == "2 GPUs (MirroredStrategy), global batch 64 = 32 × 2, float32"
    with pytest.raises(ValueError, match="unknown device"):
        plan_execution("tpu", devices=[cpu])


def test_runs_record_where_they_trained_and_calibrations_set_the_batches_per_call(small, tmp_path) -> None:
    """The device line reaches the outcome and the run history; a calibration of this device (not of
    another) changes the batches per compiled call."""
    import dataclasses

    from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
    from cnnstudio.core.experiments.run_history import RunHistory
    from cnnstudio.core.experiments.runner import run_experiment
    from cnnstudio.core.network.cost import Calibration, save_calibration
    from cnnstudio.core.network.shape_table import shape_table
    from cnnstudio.core.training.execution import Execution
    from cnnstudio.core.training.trainer import device_calibration, steps_per_execution_for

    experiment = Experiment(ModelOptions(), TrainOptions(epochs=1, batch_size=32), "small")
    history = RunHistory(tmp_path / "runs")
    outcome = run_experiment(experiment, small, history=history, execution=Execution(xla=False))
    assert outcome.device == "CPU, batch 32, float32, no XLA" and outcome.entry.device == outcome.device
    assert history.entries()[0][0].device == outcome.device

    table = shape_table(experiment.model, small.input_shape, small.num_classes)
    assert device_calibration(Execution()) is None  # nothing measured on this (test) machine yet
    slow = Calibration("CPU", 1e11, 1e-3, "2026-11-26T06:00", "test")  # about 1 ms per LeNet-5 image
    save_calibration(slow)
    assert device_calibration(Execution()) == slow
    assert steps_per_execution_for(table, 32, slow) == 3  # 32 ms per batch: 3 fit in 0.1 s
    assert steps_per_execution_for(table, 32) > 3  # the assumed speed (cost.ASSUMED)
    gpu = dataclasses.replace(Execution().plan, kind="gpu", devices=("/gpu:0",), descriptions=("NVIDIA H100",))
    assert device_calibration(Execution(gpu)) is None  # measured on the CPU: not used for a GPU

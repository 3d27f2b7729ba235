"""Checks and timings on a machine with an NVIDIA GPU, whether or not TensorFlow can use it there.

Written for the lent GPU machines of this project's development (one H100, no network, no
TensorFlow: a CUDA build of TensorFlow and its CUDA 12 libraries are gigabytes, far more than
can be brought to such a machine). What it runs, each part in its own process:

1. ``machine``: the GPU, driver and compute capability as ``nvidia-smi`` reports them; the
   versions of Python, TensorFlow (or why it does not import), Keras, JAX and PyTorch.
2. ``diagnosis``: what the app tells a user there. With TensorFlow: :func:`prepare_gpus` and
   :func:`list_devices`, as the app runs them. Without: :func:`gpu_unavailable_reason` on the
   real driver and loader, for the build of PyPI's ``tensorflow`` 2.21 wheel (its
   ``tf.sysconfig.get_build_info()``, below), i.e. what ``pip install tensorflow`` would show.
3. ``core-float32`` / ``core-mixed``: the app's own trainer (``run_experiment``: LeNet-5, or the
   network ``--model`` gives, with the GUI's default options, validation split 0.1, then the test
   set) on Keras' JAX backend, which places everything on the GPU, in float32 and in
   ``mixed_float16``, with the batches per call the app chooses for a GPU; the trained models
   are saved with the app's ``save_model`` under ``--out`` (``tests/test_gpu_trained_models.py``
   loads such files on the CPU). Placement is JAX's; the app's device plan is TensorFlow's and
   is not exercised here.
4. ``min-pooling``: LeNet-5 with min pooling and a 2-pixel zero border, random weights and
   inputs: logits and the first pooling layer's output on the GPU against the CPU (the relative
   error ‖gpu − cpu‖ / ‖cpu‖), at JAX's default float32 precision (TF32 on Ampere and newer)
   and at its highest.
5. ``torch-gpu``: the classic PyTorch loop of ``train_speed.py`` on the GPU (``cuda``).
6. ``core-torch``: part 3's float32 run on Keras' PyTorch backend (one step per call, the only
   choice that backend allows), should JAX not run there.

    python benchmarks/gpu_machine_checks.py --mnist DIR --out DIR [--epochs 3]

It prints one JSON line per part and a summary table last, and writes ``gpu_checks.json`` to
``--out``. A part that fails prints its error and the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from train_speed import TORCH  # noqa: E402 - the benchmark folder is not a package

# tf.sysconfig.get_build_info() of PyPI's tensorflow 2.21.0 wheel for Linux x86-64
PYPI_TENSORFLOW_BUILD = {"cuda_version": "12.5.1", "cudnn_version": "9", "is_cuda_build": True,
                         "is_rocm_build": False, "is_tensorrt_build": False,
                         "cuda_compute_capabilities": ["sm_60", "sm_70", "sm_80", "sm_89", "compute_90"]}

MACHINE = r"""
import json, platform, subprocess, sys
facts = {"python": platform.python_version()}
try:
    facts["nvidia_smi"] = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,compute_cap,memory.total,driver_version", "--format=csv,noheader"],
        capture_output=True, text=True, timeout=60).stdout.strip()
except (OSError, subprocess.TimeoutExpired) as exc:
    facts["nvidia_smi"] = f"unavailable: {exc}"
import os
for name in ("tensorflow", "jax", "torch", "keras"):
    if name == "keras" and not facts["tensorflow"][0].isdigit():
        os.environ.setdefault("KERAS_BACKEND", "jax")  # Keras' default backend is TensorFlow
    try:
        facts[name] = __import__(name).__version__
    except Exception as exc:
        facts[name] = f"does not import: {type(exc).__name__}: {exc}"
try:
    import jax
    facts["jax_devices"] = [str(d) for d in jax.devices()]
except Exception as exc:
    facts["jax_devices"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(facts))
"""

DIAGNOSIS = r"""
import json, sys, types
build = json.loads(sys.argv[1])
from cnnstudio.core.training.gpu_check import DRIVER_LIBRARY, GpuSystem, cuda_libraries, gpu_unavailable_reason
try:
    import tensorflow as tf
except ImportError as exc:
    tf = None
    why = f"{type(exc).__name__}: {exc}"
if tf is not None:  # the app's own path
    from cnnstudio.core.training.devices import list_devices
    from cnnstudio.core.training.gpu_check import prepare_gpus
    notices = prepare_gpus(tf)
    print(json.dumps({"tensorflow": tf.__version__, "notices": notices,
                      "devices": [d.description for d in list_devices(tf)]}))
    sys.exit()
stand_in = types.SimpleNamespace(sysconfig=types.SimpleNamespace(get_build_info=lambda: build))
system = GpuSystem(tf_module=stand_in)
print(json.dumps({
    "tensorflow": f"not importable ({why}); the PyPI 2.21 wheel's build is assumed",
    "driver": system.driver_version(), "nodes": system.gpu_nodes(),
    "driver_library": system.load(DRIVER_LIBRARY) or "loads", "cuInit": system.cuda_init(),
    "cuda_libraries": {name: system.load(name) or "loads" for name in cuda_libraries(build)},
    "reason": gpu_unavailable_reason(system)}))
"""

CORE = r"""
import json, sys
from pathlib import Path
import keras, numpy as np
from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
from cnnstudio.core.data.datasets import load_dataset
from cnnstudio.core.experiments.runner import run_experiment
from cnnstudio.core.files.persistence import save_model
from cnnstudio.core.network.shape_table import shape_table
from cnnstudio.core.training.devices import cpu_plan
from cnnstudio.core.training.execution import Execution
from cnnstudio.core.training.trainer import ASSUMED_GPU, MOST_STEPS_PER_EXECUTION_GPU, steps_per_execution_for
mnist, epochs, mixed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "mixed", Path(sys.argv[4])
steps = int(sys.argv[5])  # 0: the app's own choice; Keras' torch backend takes only 1
model_options = ModelOptions(**json.loads(sys.argv[6]))
train = json.loads(sys.argv[7])
data = load_dataset(mnist)
if steps == 0 and keras.backend.backend() == "jax":
    import jax
    if jax.devices()[0].platform == "gpu":  # the app's choice for a GPU plan (the plan here is the CPU's)
        table = shape_table(model_options, data.input_shape, data.num_classes)
        steps = steps_per_execution_for(table, TrainOptions(**train).batch_size, ASSUMED_GPU,
                                        most=MOST_STEPS_PER_EXECUTION_GPU)
experiment = Experiment(model_options, TrainOptions(**{**train, "epochs": epochs, "steps_per_execution": steps}), mnist)
# JAX places the work on its default device (the GPU); the plan carries only the precision here
execution = Execution(cpu_plan(), mixed_precision=mixed)
outcome = run_experiment(experiment, data, execution=execution)
model = outcome.model
name = f"{model_options.arch}_{keras.backend.backend()}_{'mixed' if mixed else 'float32'}_gpu.keras"
path = save_model(model, out / name, outcome.record)
variable = model.weights[0].value
where = next(iter(variable.devices())) if hasattr(variable, "devices") else variable.device
probe = model.predict(data.x_test[:256], verbose=0)
seconds = outcome.result.seconds_per_epoch
print(json.dumps({
    "backend": keras.backend.backend(), "weights_on": str(where),
    "policy": model.dtype_policy.name, "output_layer_policy": model.layers[-1].dtype_policy.name,
    "prediction_dtype": str(probe.dtype), "seconds_per_epoch": seconds,
    "steady_seconds_per_epoch": float(np.median(seconds[1:])) if len(seconds) > 1 else None,
    "test_accuracy": outcome.result.test_accuracy, "steps_per_execution": int(model.steps_per_execution),
    "loss": outcome.record.history.get("loss"), "val_accuracy": outcome.record.history.get("val_accuracy"),
    "saved": path.name, "probe_argmax": probe.argmax(axis=1).tolist()}))
"""

MIN_POOLING = r"""
import json
import jax, keras, numpy as np
from cnnstudio.core.config import ModelOptions
from cnnstudio.core.network.model_builder import build_model
options = ModelOptions(arch="lenet5", pooling="min", padding="2")
cpu = jax.devices("cpu")[0]
rng = np.random.default_rng(0)
x = rng.standard_normal((512, 28, 28, 1)).astype("float32")
def outputs(device, weights=None):
    with jax.default_device(device):
        keras.utils.set_random_seed(0)
        model = build_model(options, (28, 28, 1), 10)
        if weights is not None:
            model.set_weights(weights)
        pool = model.get_layer("s2")  # LeNet-5's first subsampling: the min pooling block
        probe = keras.Model(model.inputs, [pool.output, model.outputs[0]])
        first, logits = probe.predict(x, batch_size=128, verbose=0)
        return model.get_weights(), first, logits, str(next(iter(model.weights[0].value.devices())))
def error(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))
result = {}
for precision in ("default", "highest"):
    jax.config.update("jax_default_matmul_precision", None if precision == "default" else "highest")
    weights, pool_cpu, logits_cpu, on_cpu = outputs(cpu)
    _, pool_gpu, logits_gpu, on_gpu = outputs(jax.devices()[0], weights)
    result[precision] = {"pool_relative_error": error(pool_gpu, pool_cpu),
                         "logits_relative_error": error(logits_gpu, logits_cpu),
                         "same_classes": float(np.mean(logits_gpu.argmax(1) == logits_cpu.argmax(1))),
                         "finite": bool(np.isfinite(logits_gpu).all()), "devices": [on_cpu, on_gpu]}
print(json.dumps(result))
"""


def run_part(name: str, code: str, args: list[str], env: dict[str, str], timeout: int) -> dict:
    """Run one part in a fresh Python; its last stdout line is its JSON result."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
                   "TF_CPP_MIN_LOG_LEVEL": "2", **env}
    try:
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=environment,
                              timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"part": name, "error": f"timed out after {timeout} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"part": name, "error": f"exit {done.returncode}: {' '.join(done.stderr.split())[-1500:]}"}
    return {"part": name, **json.loads(lines[-1])}


def summary(results: list[dict]) -> list[str]:
    rows = []
    for result in results:
        if "error" in result:
            rows.append(f"{result['part']:<14} FAILED {result['error'][:300]}")
        elif "steady_seconds_per_epoch" in result:
            steady = result["steady_seconds_per_epoch"]
            rows.append(f"{result['part']:<14} {result['policy']:<14} on {result['weights_on']}: "
                        + (f"{steady:.2f} s/epoch after the first, " if steady is not None else "one epoch only, ")
                        + f"test accuracy {result['test_accuracy']:.4f}, output {result['prediction_dtype']}, "
                        f"{result['steps_per_execution']} steps per call")
        elif "ends" in result:
            ends = result["ends"]
            steady = sorted(b - a for a, b in zip(ends, ends[1:]))
            rows.append(f"{result['part']:<14} torch {result['torch']} on {result.get('device')}: "
                        f"{steady[len(steady) // 2] if steady else ends[0]:.2f} s/epoch after the first, "
                        f"test accuracy {result['accuracy']:.4f}")
        elif "reason" in result or "notices" in result:
            rows.append(f"{result['part']:<14} {result.get('reason') or result.get('notices')}")
        elif "default" in result:
            rows.append(f"{result['part']:<14} " + "; ".join(
                f"{k}: pool {v['pool_relative_error']:.1e}, logits {v['logits_relative_error']:.1e}, "
                f"same class {v['same_classes']:.3f}" for k, v in result.items() if isinstance(v, dict)))
        else:
            rows.append(f"{result['part']:<14} " + json.dumps({k: v for k, v in result.items() if k != "part"}))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=str(REPO.parent / "shared" / "datasets" / "mnist"))
    parser.add_argument("--out", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=0,
                        help="steps per compiled call for the JAX runs (0: the app's own choice)")
    parser.add_argument("--train", default="{}", help='training options as JSON, e.g. \'{"learning_rate": 1e-4}\'')
    parser.add_argument("--model", default='{"arch": "lenet5"}',
                        help='the trained network\'s options as JSON, e.g. \'{"arch": "alexnet", "padding": "same"}\'')
    parser.add_argument("--parts", nargs="*", default=["machine", "diagnosis", "core-float32", "core-mixed",
                                                      "min-pooling", "torch-gpu", "core-torch"])
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jax_env = {"KERAS_BACKEND": "jax", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    parts = {
        "machine": (MACHINE, [], {}, 120),
        "diagnosis": (DIAGNOSIS, [json.dumps(PYPI_TENSORFLOW_BUILD)], {}, 120),
        "core-float32": (CORE, [args.mnist, str(args.epochs), "float32", str(out), str(args.steps), args.model,
                                  args.train], jax_env, 300),
        "core-mixed": (CORE, [args.mnist, str(args.epochs), "mixed", str(out), str(args.steps), args.model,
                                args.train], jax_env, 300),
        "min-pooling": (MIN_POOLING, [], jax_env, 100),
        "torch-gpu": (TORCH, [args.mnist, str(args.epochs), "cuda"], {}, 120),
        "core-torch": (CORE, [args.mnist, str(args.epochs), "float32", str(out), "1", args.model, args.train],
                       {"KERAS_BACKEND": "torch"}, 150),
    }
    results = []
    for name in args.parts:
        result = run_part(name, *parts[name])
        print(json.dumps(result), flush=True)
        results.append(result)
        (out / "gpu_checks.json").write_text(json.dumps(results, indent=1))  # after each part: a killed run keeps them
    print("\n".join(summary(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A model trained on a real GPU loads and predicts on this CPU, as the device checks recorded it.

``tests/data/lenet5_mixed_h100.keras`` is the app's LeNet-5 trained by the app's own trainer in
``mixed_float16`` on an NVIDIA H100 (``benchmarks/gpu_machine_checks.py``, part ``core-mixed``,
through Keras' JAX backend: that machine had no TensorFlow) and saved with the app's
``save_model``. ``docs/gpu-checks/h100-2026-11-26.json`` holds what the GPU said of it: its test
accuracy and its predicted classes for the first 256 test images.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from repo_paths import REPO, SHARED_MNIST

MODEL = REPO / "tests" / "data" / "lenet5_mixed_h100.keras"
CHECKS = REPO / "docs" / "gpu-checks" / "h100-2026-11-26.json"


def test_a_mixed_precision_model_from_an_h100_predicts_on_the_cpu_as_it_did_there():
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the MNIST test images are not in {SHARED_MNIST}")
    from cnnstudio.core.data.datasets import load_dataset
    from cnnstudio.core.files.persistence import load_model
    from cnnstudio.core.inspection import probabilities

    on_gpu = next(part for part in json.loads(CHECKS.read_text()) if part["part"] == "core-mixed")
    assert (on_gpu["policy"], on_gpu["weights_on"]) == ("mixed_float16", "cuda:0")
    model, record = load_model(MODEL)  # safe mode, the record validated
    assert record is not None and record.epochs_trained == 4 and record.test_accuracy == on_gpu["test_accuracy"]
    assert model.get_layer("c1").dtype_policy.name == "mixed_float16"
    assert model.get_layer("output").dtype_policy.name == "float32"  # float32 probabilities

    data = load_dataset(str(SHARED_MNIST))
    predicted = probabilities(model, data.x_test)
    assert predicted.dtype == np.float32 and np.isfinite(predicted).all()
    assert predicted[:256].argmax(axis=1).tolist() == on_gpu["probe_argmax"]
    accuracy = float((predicted.argmax(axis=1) == data.y_test).mean())
    assert abs(accuracy - on_gpu["test_accuracy"]) <= 0.002  # float16 sums may round differently here


def test_the_gpu_check_script_runs_its_parts_and_summarises_them(tmp_path):
    """The script that produced those results runs here too (no GPU: the diagnosis has nothing to
    explain), writes its JSON after each part, and its summary reads the H100's results."""
    import subprocess
    import sys

    script = REPO / "benchmarks" / "gpu_machine_checks.py"
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path), "--parts", "machine", "diagnosis"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    parts = json.loads((tmp_path / "gpu_checks.json").read_text())
    assert [part["part"] for part in parts] == ["machine", "diagnosis"]
    assert not any("error" in part for part in parts), parts
    machine = parts[0]
    assert machine["keras"].startswith("3.") and machine["tensorflow"][0].isdigit()

    sys.path.insert(0, str(script.parent))
    try:
        from gpu_machine_checks import summary
    finally:
        sys.path.remove(str(script.parent))
    rows = summary(json.loads(CHECKS.read_text()))
    assert any(row.startswith("core-mixed") and "mixed_float16" in row and "0.44 s/epoch" in row for row in rows)
    assert any(row.startswith("diagnosis") and "libcudart.so.12, libcublas.so.12" in row for row in rows)


def test_evaluate_says_a_model_computes_in_its_mixed_precision(tmp_path):
    """`cnnstudio evaluate` on the H100's mixed_float16 model: the figures it gave there, and the precision said."""
    import os
    import subprocess
    import sys

    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the MNIST test images are not in {SHARED_MNIST}")
    on_gpu = next(part for part in json.loads(CHECKS.read_text()) if part["part"] == "core-mixed")
    command = [sys.executable, "-m", "cnnstudio", "evaluate", str(MODEL), "--dataset", str(SHARED_MNIST)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    text = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert text.returncode == 0, text.stderr[-2000:]
    assert text.stdout.rstrip().endswith("on 10,000 images (computed in mixed_float16, as the model was built)")
    data = subprocess.run([*command, "--json"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    result = json.loads(data.stdout)
    assert result["precision"] == "mixed_float16" and abs(result["test_accuracy"] - on_gpu["test_accuracy"]) <= 0.002

"""Trains LeNet-5 on one and on two logical CPUs (MirroredStrategy) in a fresh process; see test_devices.py.

Run as ``python tests/mirrored_probe.py train OUT_DIR [MNIST_DIR]`` or ``... load OUT_DIR``. It must be a
process of its own: the CPU can only be split into logical devices before TensorFlow initialises.
``train`` writes ``result.json`` (figures of each run), ``mirrored.keras`` and ``mirrored_classes.npy``
(what the mirrored model predicts for the test images) to OUT_DIR; ``load`` loads ``mirrored.keras``
in a plain process (no split, no strategy) and writes ``loaded.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

from probe_evidence import attempt, evidence  # beside this script

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

TRAIN_IMAGES, TEST_IMAGES = 3000, 1000  # of the real MNIST, where it is there
EPOCHS, GLOBAL_BATCH, SEED = 2, 64, 3


def split_cpu() -> list[str]:
    """Two logical CPUs, before anything initialises TensorFlow's runtime."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def dataset(mnist: str | None):
    from cnnstudio.core.data.datasets import Dataset, load_digits, load_idx_dataset

    if mnist and (Path(mnist) / "train-images-idx3-ubyte.gz").is_file():
        full = load_idx_dataset(Path(mnist))
        return Dataset("mnist-part", full.x_train[:TRAIN_IMAGES], full.y_train[:TRAIN_IMAGES],
                       full.x_test[:TEST_IMAGES], full.y_test[:TEST_IMAGES], full.class_names, digit_like=True)
    return load_digits()


def run(plan, data, experiment, how: str = "scope") -> tuple[dict, object]:
    """Build and compile, train, evaluate. ``how``: "scope" builds inside the plan's strategy scope
    (none for ``plan=None``); "app" goes through the app's ``Execution`` (as ``--device`` does);
    "steps" is "scope" recompiled with 12 batches per call, past what the app allows mirrored."""
    import contextlib

    from cnnstudio.core.training.devices import training_scope
    from cnnstudio.core.training.execution import Execution
    from cnnstudio.core.training.trainer import compile_model, evaluate, fit, new_model, steps_per_epoch

    if how == "app":
        model = new_model(experiment, data, Execution(plan))
        strategy = model.distribute_strategy
    else:
        scope = contextlib.nullcontext() if plan is None else training_scope(plan)
        with scope as strategy:
            model = new_model(experiment, data)
            if how == "steps":
                compile_model(model, experiment.train, 12, steps_per_epoch(data, experiment.train))
    start = time.perf_counter()
    result = fit(model, data, experiment.train)
    train_seconds = time.perf_counter() - start
    loss, accuracy = evaluate(model, data)
    return {
        "strategy": type(strategy).__name__ if strategy is not None else None,
        "replicas": getattr(strategy, "num_replicas_in_sync", 1),
        "model_strategy": type(model.distribute_strategy).__name__,
        "variable": type(model.weights[0].value).__name__,
        "jit_compile": bool(model.jit_compile),
        "steps_per_execution": int(model.steps_per_execution),
        "optimizer": type(model.optimizer).__name__,
        "seconds_per_epoch": result.seconds_per_epoch,
        "train_seconds": train_seconds,
        "history_loss": result.history.get("loss"),
        "end": result.end.reason.name,
        "test_loss": loss,
        "test_accuracy": accuracy,
    }, model


def train(out: Path, mnist: str | None) -> dict:
    logical = split_cpu()
    import dataclasses

    import numpy as np

    from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
    from cnnstudio.core.files.persistence import save_model
    from cnnstudio.core.training.devices import DevicePlan

    data = dataset(mnist)
    experiment = Experiment(ModelOptions(), TrainOptions(epochs=EPOCHS, batch_size=GLOBAL_BATCH, seed=SEED), data.name)
    one_step = dataclasses.replace(experiment, train=dataclasses.replace(experiment.train, steps_per_execution=1))
    per_replica = dataclasses.replace(experiment, train=dataclasses.replace(experiment.train, batch_size=GLOBAL_BATCH // 2))
    single, mirrored = DevicePlan("cpu", ("/cpu:0",)), DevicePlan("mirrored", ("/cpu:0", "/cpu:1"))
    figures: dict = {"logical_cpus": logical, "dataset": data.describe(), "epochs": EPOCHS, "global_batch": GLOBAL_BATCH}
    model = None
    for label, plan, chosen, how in (("plain", None, experiment, "scope"), ("single", single, experiment, "scope"),
                                     ("mirrored_auto_steps", mirrored, per_replica, "steps"),  # 12 batches per call
                                     ("mirrored", mirrored, per_replica, "app")):  # the app picks 1 per call
        try:
            figures[label], trained = run(plan, data, chosen, how)
        except Exception as exc:  # noqa: BLE001 - recorded as evidence; the test decides
            figures[label] = {"error": evidence(exc)}
        else:
            model = trained if label == "mirrored" else model
    if model is not None:
        np.save(out / "mirrored_classes.npy", model.predict(data.x_test, batch_size=256, verbose=0).argmax(axis=1))
        np.save(out / "x_test.npy", data.x_test)
        save_model(model, out / "mirrored.keras", None)
        figures["continued"] = attempt(lambda: continue_mirrored(out / "mirrored.keras", mirrored, data, one_step))
    figures["compiled_outside"] = attempt(lambda: compile_outside(mirrored, data, one_step))
    return figures


def continue_mirrored(path: Path, plan, data, experiment) -> dict:
    """Load a saved model inside the mirrored scope, recompile it there, train one more epoch."""
    import dataclasses

    from cnnstudio.core.files.persistence import load_model
    from cnnstudio.core.training.devices import training_scope
    from cnnstudio.core.training.trainer import evaluate, fit, fresh_optimizer

    with training_scope(plan):
        model, _ = load_model(path)
        fresh_optimizer(model, experiment, data)
    options = dataclasses.replace(experiment.train, epochs=1)
    result = fit(model, data, options, initial_epoch=EPOCHS)
    return {"variable": type(model.weights[0].value).__name__, "end": result.end.reason.name,
            "test_accuracy": evaluate(model, data)[1]}


def compile_outside(plan, data, experiment) -> dict:
    """Build inside the mirrored scope but compile outside it (what a recompile outside the scope does)."""
    import dataclasses

    from cnnstudio.core.network.model_builder import build_model
    from cnnstudio.core.training.devices import training_scope
    from cnnstudio.core.training.trainer import compile_model, fit

    with training_scope(plan):
        model = build_model(experiment.model, data.input_shape, data.num_classes)
    compile_model(model, experiment.train, 1, 10)
    fit(model, data, dataclasses.replace(experiment.train, epochs=1))
    return {"end": "FINISHED"}


def load(out: Path) -> dict:
    import numpy as np
    import tensorflow as tf

    from cnnstudio.core.files.persistence import load_model

    model, _ = load_model(out / "mirrored.keras")
    probabilities = model.predict(np.load(out / "x_test.npy"), batch_size=256, verbose=0)
    same = float((probabilities.argmax(axis=1) == np.load(out / "mirrored_classes.npy")).mean())
    return {"logical_cpus": [d.name for d in tf.config.list_logical_devices("CPU")],
            "model_strategy": type(model.distribute_strategy).__name__,
            "variable": type(model.weights[0].value).__name__,
            "same_classes": same, "dtype": str(probabilities.dtype)}


def main(argv: list[str]) -> int:
    mode, out = argv[1], Path(argv[2])
    name = "result.json" if mode == "train" else "loaded.json"
    try:
        figures = train(out, argv[3] if len(argv) > 3 else None) if mode == "train" else load(out)
    except Exception as exc:  # noqa: BLE001 - the evidence goes to the test, which fails with it
        figures = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    (out / name).write_text(json.dumps(figures, indent=1))
    return 1 if "error" in figures else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main(sys.argv))

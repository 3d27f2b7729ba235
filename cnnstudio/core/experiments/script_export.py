"""Reproducibility: a run record (JSON) and a standalone Keras script that rebuilds and retrains a run."""

from __future__ import annotations

import json
import time
from pathlib import Path

from cnnstudio import __version__
from cnnstudio.core.atomic_write import atomic_text
from cnnstudio.core.config import Experiment
from cnnstudio.core.errors import ModelFileError, printable
from cnnstudio.core.experiments.run_history import RunEntry
from cnnstudio.core.network.architectures import layer_specs
from cnnstudio.core.network.model_builder import model_name

# The training set-up below mirrors cnnstudio.core.training.trainer (make_optimizer, make_loss,
# make_metrics, validation_split, early_stopping); tests/test_script_export.py checks that they agree.

SCRIPT_TEMPLATE = '''\
"""{title}

Exported by CNN Studio {version} on {date}. Needs only Keras (TensorFlow backend) and NumPy:

    python {filename} [--npz DATA.npz] [--build-only]

--build-only prints the layer shapes and parameter count as JSON without training.
"""

import argparse
import json
import math

import keras
import numpy as np
from keras import layers

EXPERIMENT = json.loads({experiment!r})
INPUT_SHAPE = {input_shape!r}
NUM_CLASSES = {num_classes!r}
PRECISION = {precision!r}  # the run's layers computed in this; its output layer stays float32


def build_model():
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = inputs
{layers}
    return keras.Model(inputs, x, name={model_name!r})


def load_data(npz_path):
    """Raw 0..255 pixels (the model rescales them itself) and integer labels."""
    name = EXPERIMENT["dataset"]
    if npz_path:
        data = np.load(npz_path)
        splits = [data[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    elif name in ("mnist", "fashion_mnist", "cifar10"):
        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
        splits = [x_train, y_train, x_test, y_test]
    else:
        raise SystemExit(f"dataset {{name!r}} is not a keras.datasets name: pass --npz with x_train, y_train, x_test, y_test")
    x_train, y_train, x_test, y_test = splits
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    return x_train, y_train.reshape(-1), x_test, y_test.reshape(-1)


def split_validation(x, y, train):
    """The same seeded validation split as CNN Studio: ((x, y), validation or None)."""
    fraction, n = train["validation_split"], len(x)
    n_val = max(1, int(round(n * fraction))) if fraction > 0 else 0
    n_val = n_val if n_val < n else 0
    if not n_val:
        return (x, y), None
    order = np.random.default_rng(train["seed"]).permutation(n)
    val, keep = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (x[keep], y[keep]), (x[val], y[val])


def make_optimizer(train, steps_per_epoch):
    """A fresh optimizer; with the cosine schedule the rate falls to {floor_percent}% by the last planned step."""
    rate = train["learning_rate"]
    if train["lr_schedule"] == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(1, train["epochs"] * steps_per_epoch),
                                                      alpha={cosine_floor!r})
    if train["optimizer"] == "sgd":
        return keras.optimizers.SGD(learning_rate=rate, momentum={sgd_momentum!r})
    return {{"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}}[train["optimizer"]](learning_rate=rate)


def loss_and_metrics():
    return keras.losses.SparseCategoricalCrossentropy(), [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


def make_callbacks(train, validated):
    """Early stopping on the validation loss (the training loss without validation), when asked for."""
    if not train["early_stopping_patience"]:
        return []
    return [keras.callbacks.EarlyStopping(monitor="val_loss" if validated else "loss",
                                          patience=train["early_stopping_patience"], restore_best_weights=True)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", help="data as an .npz with x_train, y_train, x_test, y_test")
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args()
    train = EXPERIMENT["train"]
    keras.utils.set_random_seed(train["seed"])
    keras.mixed_precision.set_global_policy(PRECISION)
    model = build_model()
    if args.build_only:
        shapes = [{{"name": layer.name, "output_shape": list(layer.output.shape[1:]),
                   "precision": layer.dtype_policy.name}} for layer in model.layers[1:]]
        print(json.dumps({{"layers": shapes, "params": model.count_params()}}))
        return
    x, y, x_test, y_test = load_data(args.npz)
    (x, y), validation = split_validation(x, y, train)
    loss, metrics = loss_and_metrics()
    model.compile(optimizer=make_optimizer(train, math.ceil(len(x) / train["batch_size"])), loss=loss, metrics=metrics)
    keras.utils.set_random_seed(train["seed"])
    history = model.fit(x, y, batch_size=train["batch_size"], epochs=train["epochs"], validation_data=validation,
                        validation_batch_size=max(train["batch_size"], {evaluation_batch!r}),
                        shuffle=True, callbacks=make_callbacks(train, validation is not None), verbose=2)
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size={evaluation_batch!r}, verbose=0)
    print(json.dumps({{"test_accuracy": test_accuracy, "test_loss": test_loss, "params": model.count_params(),
                      "history": history.history}}))


if __name__ == "__main__":
    main()
'''


def keras_script(experiment: Experiment, input_shape: tuple[int, int, int], num_classes: int,
                 filename: str = "experiment.py", precision: str = "float32") -> str:
    """Python source that rebuilds the experiment's network with plain Keras and trains it the same way.

    A design is written out layer by layer like a preset: the same names, shapes and parameters.
    ``precision``: the Keras policy the run computed in (a mixed one keeps a float32 output layer).
    """
    from cnnstudio.core.training.trainer import COSINE_FLOOR, EVALUATION_BATCH, SGD_MOMENTUM  # loads Keras

    specs = layer_specs(experiment.model, input_shape, num_classes)
    body = "\n".join(f"    x = {spec.code()}" for spec in specs)
    m = experiment.model
    what = f"the design {m.design.name!r}" if m.design is not None else m.arch
    return SCRIPT_TEMPLATE.format(
        title=f"{what} with {m.pooling} pooling and {m.padding} padding on {experiment.dataset}",
        version=__version__, date=time.strftime("%Y-%m-%d"), filename=filename,
        experiment=json.dumps(experiment.to_dict()), input_shape=tuple(input_shape), num_classes=num_classes,
        precision=precision,
        layers=body, model_name=model_name(m), cosine_floor=COSINE_FLOOR,
        floor_percent=f"{COSINE_FLOOR * 100:g}", sgd_momentum=SGD_MOMENTUM, evaluation_batch=EVALUATION_BATCH,
    )


def export_run(entry: RunEntry, input_shape: tuple[int, int, int], num_classes: int, folder: str | Path) -> tuple[Path, Path]:
    """``run-<id>.json`` (the full record) and ``run-<id>.py`` (the script) in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"could not export the run: the folder {printable(str(folder))} does not exist")
    record, script = folder / f"run-{entry.id}.json", folder / f"run-{entry.id}.py"
    text = keras_script(entry.experiment_config, input_shape, num_classes, script.name, entry.precision)
    try:  # each file whole or not at all
        with atomic_text(record, prefix=f".{record.name}.") as stream:
            stream.write(json.dumps(entry.to_json(), indent=1))
        with atomic_text(script, prefix=f".{script.name}.") as stream:
            stream.write(text)
    except OSError as exc:
        raise ModelFileError(f"could not export the run to {printable(str(folder))}: "
                             f"{printable(exc.strerror or exc)}") from exc
    return record, script

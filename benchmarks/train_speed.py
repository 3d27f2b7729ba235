"""Seconds per epoch of LeNet-5 on the shared MNIST files: CNN Studio vs plain Keras scripts.

Each variant runs in its own process, one after the other, on the same data (22,699 images,
batch 64, no validation) so the figures are measured side by side in one run. The first epoch
(graph tracing) is reported separately; the figure compared is the median of the later epochs.

    python benchmarks/train_speed.py [--mnist ../shared/datasets/mnist] [--epochs 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

PLAIN_KERAS = r"""
import json, sys, time
import keras
from cnnstudio.core.data.idx_format import load_idx_folder
x, y, _, _ = load_idx_folder(__import__("pathlib").Path(sys.argv[1]))
epochs, spe = int(sys.argv[2]), int(sys.argv[3])
keras.utils.set_random_seed(0)
L = keras.layers
model = keras.Sequential([keras.Input((28, 28, 1)), L.Rescaling(1 / 255), L.ZeroPadding2D(2),
    L.Conv2D(6, 5, activation="relu"), L.MaxPooling2D(2), L.Conv2D(16, 5, activation="relu"), L.MaxPooling2D(2),
    L.Flatten(), L.Dense(120, activation="relu"), L.Dense(84, activation="relu"), L.Dense(10, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], steps_per_execution=spe)
times = []
class Timer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None): self.t = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None): times.append(time.perf_counter() - self.t)
model.fit(x, y, batch_size=64, epochs=epochs, verbose=0, callbacks=[Timer()])
print(json.dumps(times))
"""

STUDIO = r"""
import json, sys
from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
from cnnstudio.core.data.datasets import load_dataset
from cnnstudio.core.experiments.runner import run_experiment
data = load_dataset(sys.argv[1])
experiment = Experiment(ModelOptions(arch="lenet5", pooling="max", padding="valid"),
                        TrainOptions(epochs=int(sys.argv[2]), batch_size=64, validation_split=0.0), sys.argv[1])
print(json.dumps(run_experiment(experiment, data).result.seconds_per_epoch))
"""


def run(code: str, *args: str) -> list[float]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="repeat the set of variants, interleaved")
    args = parser.parse_args()
    variants = {
        "plain Keras, steps_per_execution=1": (PLAIN_KERAS, "1"),
        "plain Keras, steps_per_execution=16": (PLAIN_KERAS, "16"),
        "CNN Studio run_experiment": (STUDIO, None),
    }
    later: dict[str, list[float]] = {name: [] for name in variants}
    first: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (code, spe) in variants.items():
            extra = [spe] if spe else []
            times = run(code, args.mnist, str(args.epochs), *extra)
            first[name].append(times[0])
            later[name] += times[1:]
    print(f"LeNet-5, {args.epochs} epochs × {args.rounds} rounds, batch 64, 22,699 MNIST images, {os.cpu_count()} CPUs")
    print(f"{'variant':<40}{'first epoch s':>15}{'later epochs s (median)':>26}")
    medians = {name: statistics.median(values) for name, values in later.items()}
    for name in variants:
        print(f"{name:<40}{statistics.median(first[name]):>15.2f}{medians[name]:>26.2f}")
    best_plain = min(v for k, v in medians.items() if k.startswith("plain"))
    ratio = medians["CNN Studio run_experiment"] / best_plain
    print(f"ratio CNN Studio / best plain Keras: {ratio:.2f} (≤ 1 is as fast or faster)")


if __name__ == "__main__":
    main()

"""Seconds per epoch of LeNet-5 on the shared MNIST files: CNN Studio vs plain Keras vs the classic PyTorch loop.

Every variant trains LeNet-5 (conv 6@5×5 pad 2 → relu → maxpool 2 → conv 16@5×5 → relu → maxpool 2 →
fc 120 → fc 84 → fc 10) with batch 64 for ``--epochs`` epochs on the same IDX files (22,699 training
images, 10,000 test images), each in its own process, one after the other; the whole set is repeated
``--rounds`` times, interleaved, so the figures are measured side by side under the same load.

Epoch times are wall-clock times between consecutive epoch ends as the caller sees them (for the
app: when the GUI thread receives the epoch signal, i.e. after the recovery checkpoint is saved); the
first epoch (tracing, building) is reported on its own, the compared figure is the median of the
later epochs over all rounds ("fastest": the fastest later epoch, the least disturbed by other load on a
shared machine). "run s" is the whole run, from the start of training to the test accuracy.

Variants (``--variants`` picks; default: app-gui keras-spe1 keras-spe16 keras-best torch):
  app-gui       CNN Studio exactly as the GUI runs it: the real TrainingController (worker thread, queued
                progress signals to the GUI thread, recovery checkpoint after every epoch, run history)
                with the GUI's default options: Adam 2e-3 with cosine decay, validation split 0.1, seed 0
  app-noval     the same with validation split 0 (ablation: what the validation pass costs)
  app-nockpt    the same without the recovery checkpoint (ablation: what saving every epoch costs)
  app-spe16     the same with steps_per_execution 16 instead of the app's choice (ablation)
  app-bare      run_experiment alone on the main thread: no listener, no checkpoint, no history,
                validation split 0 (what the trainer itself costs)
  keras-spe1    plain Keras: model.fit on the NumPy arrays (all 22,699 images, no validation), the app's
                recipe (Adam 2e-3 with cosine decay to 5%), steps_per_execution=1
  keras-spe16   the same with steps_per_execution=16
  keras-jit     steps_per_execution=16 and jit_compile=True (XLA)
  keras-tfdata  steps_per_execution=16, tf.data (shuffle, batch, prefetch) instead of NumPy arrays
  keras-best    steps_per_execution=16, jit_compile=True and tf.data with prefetch
  keras-nodnn   keras-spe16 with TF_ENABLE_ONEDNN_OPTS=0: TensorFlow's own CPU kernels instead of oneDNN's
                (what TensorFlow picks by itself on a CPU without AVX-512 VNNI/BF16 or AMX; every other
                keras-* variant sets TF_ENABLE_ONEDNN_OPTS=1, as the best script would)
  app-mixed     app-gui with Mixed precision ticked: bfloat16 on a CPU with AVX-512 BF16 or AMX (fails elsewhere)
  app-nodnn     app-gui with TF_ENABLE_ONEDNN_OPTS=0 (ablation: what asking for oneDNN buys the app)
  torch         the classic PyTorch loop: DataLoader(batch_size=64, shuffle=True) over a TensorDataset
                scaled to 0..1, Adam 1e-3, CrossEntropyLoss, torch.set_num_threads left at its default

    python benchmarks/train_speed.py [--mnist ../shared/datasets/mnist] [--epochs 4] [--rounds 2]
                                     [--variants app-gui keras-best torch] [--json]

PyTorch is optional (pip install torch==2.13.0); without it the torch variant is skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TORCH_PIN = "torch==2.13.0"
REPO = Path(__file__).resolve().parents[1]

# each script prints one JSON line: {"ends": [epoch end times from the start], "run": s, "accuracy": …, …}
PLAIN_KERAS = r"""
import json, sys, time
from pathlib import Path
import keras
import tensorflow as tf
from cnnstudio.core.data.idx_format import load_idx_folder
x, y, xt, yt = load_idx_folder(Path(sys.argv[1]))
epochs, options = int(sys.argv[2]), json.loads(sys.argv[3])
keras.utils.set_random_seed(0)
L = keras.layers
model = keras.Sequential([keras.Input((28, 28, 1)), L.Rescaling(1 / 255), L.ZeroPadding2D(2),
    L.Conv2D(6, 5, activation="relu"), L.MaxPooling2D(2), L.Conv2D(16, 5, activation="relu"), L.MaxPooling2D(2),
    L.Flatten(), L.Dense(120, activation="relu"), L.Dense(84, activation="relu"), L.Dense(10, activation="softmax")])
# the app's recipe, so that the accuracies can be compared: Adam 2e-3, cosine decay to 5% over the planned steps
rate = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=epochs * -(-len(x) // 64), alpha=0.05)
model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy", metrics=["accuracy"],
              steps_per_execution=options["spe"], jit_compile=options["jit"])
ends = []
class Timer(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None): ends.append(time.perf_counter() - start)
if options["tfdata"]:
    data = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0, reshuffle_each_iteration=True)
            .batch(64).prefetch(tf.data.AUTOTUNE))
    fit = dict(x=data)
else:
    fit = dict(x=x, y=y, batch_size=64, shuffle=True)
start = time.perf_counter()
model.fit(epochs=epochs, verbose=0, callbacks=[Timer()], **fit)
_, accuracy = model.evaluate(xt, yt, batch_size=256, verbose=0)
print(json.dumps({"ends": ends, "run": time.perf_counter() - start, "accuracy": float(accuracy)}))
"""

# the GUI's path: the real TrainingController, its worker thread and queued signals, with a recovery
# checkpoint and a run history in a temporary folder, driven by a Qt event loop on the main thread
APP_GUI = r"""
import json, os, sys, tempfile, time
from dataclasses import replace
from pathlib import Path
from cnnstudio.core.training.cpu_kernels import prefer_onednn_kernels
prefer_onednn_kernels()  # what the app's entry point (cnnstudio.cli.main) does before TensorFlow is imported
from PySide6.QtCore import QCoreApplication, QTimer
from cnnstudio.core.config import Experiment, TrainOptions
from cnnstudio.core.experiments.run_history import RunHistory
from cnnstudio.core.workspace import Recovery, Workspace
from cnnstudio.ui.training_controller import TrainingController
import cnnstudio.core.experiments.runner  # imported here, as the GUI does while TensorFlow loads behind the window
mnist, epochs, options = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
app = QCoreApplication([])
scratch = Path(tempfile.mkdtemp(prefix="run-", dir=os.environ["CNNSTUDIO_HOME"]))  # removed with that folder
controller = TrainingController(Workspace(), RunHistory(scratch / "runs"),
                                recovery=None if options.get("no_checkpoint") else Recovery(scratch / "recovery"))
default = Experiment()  # what the GUI's panel shows for a new experiment
train = replace(default.train, epochs=epochs, **options.get("train", {}))
experiment = Experiment(default.model, train, mnist)
times, outcome, failure, batches = {}, [], [], [0]
def started(*_): times["start"] = time.perf_counter()
def epoch(_result): times.setdefault("ends", []).append(time.perf_counter() - times["start"])
def finished(result): outcome.append(result)
def failed(reason, details): failure.append(details)
controller.run_started.connect(started)
controller.epoch.connect(epoch)
controller.batch.connect(lambda _p: batches.__setitem__(0, batches[0] + 1))
controller.run_finished.connect(finished)
controller.failed.connect(failed)
controller.finished.connect(app.quit)
execution = None
if options.get("mixed_precision"):  # the Runs on group's Mixed precision box ticked (bfloat16 on such a CPU)
    from cnnstudio.core.training.execution import plan_execution
    execution = plan_execution("auto", mixed_precision=True)
    if not execution.mixed_precision:
        sys.exit("; ".join(execution.notices))
QTimer.singleShot(0, lambda: controller.train(experiment, execution=execution))
app.exec()
from cnnstudio.ui.background import wait_for_threads
wait_for_threads(60_000)  # the worker thread may still be ending: a QThread destroyed while running aborts
if failure:
    sys.exit(failure[0])
run = time.perf_counter() - times["start"]
result = outcome[0].result
print(json.dumps({"ends": times["ends"], "run": run, "accuracy": result.test_accuracy,
                  "callback_seconds": result.seconds_per_epoch, "progress_updates": batches[0],
                  "steps_per_execution": int(outcome[0].model.steps_per_execution)}))
"""

APP_BARE = r"""
import json, sys, time
from cnnstudio.core.training.cpu_kernels import prefer_onednn_kernels
prefer_onednn_kernels()  # what the app's entry point does before TensorFlow is imported
from cnnstudio.core.config import Experiment, TrainOptions
from cnnstudio.core.data.datasets import load_dataset
from cnnstudio.core.experiments.runner import run_experiment
data = load_dataset(sys.argv[1])
default = Experiment()
experiment = Experiment(default.model, TrainOptions(epochs=int(sys.argv[2]), validation_split=0.0), sys.argv[1])
start = time.perf_counter()
outcome = run_experiment(experiment, data)
run = time.perf_counter() - start
seconds = outcome.result.seconds_per_epoch
ends = [sum(seconds[:i + 1]) for i in range(len(seconds))]  # in-callback epoch times (no checkpoint here)
print(json.dumps({"ends": ends, "run": run, "accuracy": outcome.result.test_accuracy}))
"""

TORCH = r"""
import json, sys, time
from pathlib import Path
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from cnnstudio.core.data.idx_format import load_idx_folder
x, y, xt, yt = load_idx_folder(Path(sys.argv[1]))
epochs = int(sys.argv[2])
device = torch.device(sys.argv[3] if len(sys.argv) > 3 else "cpu")  # gpu_machine_checks.py passes "cuda"
torch.manual_seed(0)
def tensors(images, labels):
    return torch.from_numpy(images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0), torch.from_numpy(labels)
train = DataLoader(TensorDataset(*tensors(x, y)), batch_size=64, shuffle=True)
test = DataLoader(TensorDataset(*tensors(xt, yt)), batch_size=1000)
class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(16 * 5 * 5, 120), nn.Linear(120, 84), nn.Linear(84, 10)
    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))
model = LeNet5().to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
ends = []
start = time.perf_counter()
for epoch in range(epochs):
    model.train()
    for images, labels in train:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()  # the GPU's work is asynchronous: the epoch ends when it is done
    ends.append(time.perf_counter() - start)
model.eval()
correct = 0
with torch.no_grad():
    for images, labels in test:
        correct += int((model(images.to(device)).argmax(1).cpu() == labels).sum())
print(json.dumps({"ends": ends, "run": time.perf_counter() - start, "accuracy": correct / len(xt),
                  "threads": torch.get_num_threads(), "torch": torch.__version__, "device": str(device)}))
"""

KERAS_OPTIONS = {
    "keras-spe1": {"spe": 1, "jit": False, "tfdata": False},
    "keras-spe16": {"spe": 16, "jit": False, "tfdata": False},
    "keras-jit": {"spe": 16, "jit": True, "tfdata": False},
    "keras-tfdata": {"spe": 16, "jit": False, "tfdata": True},
    "keras-best": {"spe": 16, "jit": True, "tfdata": True},
    "keras-nodnn": {"spe": 16, "jit": False, "tfdata": False},
}
ONEDNN = "TF_ENABLE_ONEDNN_OPTS"
# the best plain Keras script asks for oneDNN's kernels; "0" gives TensorFlow's own. The app decides for itself.
VARIANT_ENV = {**{name: {ONEDNN: "1"} for name in KERAS_OPTIONS}, "keras-nodnn": {ONEDNN: "0"},
               "app-nodnn": {ONEDNN: "0"}}
APP_OPTIONS = {
    "app-gui": {},
    "app-nodnn": {},
    "app-noval": {"train": {"validation_split": 0.0}},
    "app-nockpt": {"no_checkpoint": True},
    "app-spe16": {"train": {"steps_per_execution": 16}},
    "app-mixed": {"mixed_precision": True},
}
VARIANTS = [*APP_OPTIONS, "app-bare", *KERAS_OPTIONS, "torch"]
DEFAULT_VARIANTS = ["app-gui", "keras-spe1", "keras-spe16", "keras-best", "torch"]
TARGET_VS_KERAS, TARGET_VS_TORCH, ACCURACY_POINTS = 1.0, 0.5, 0.3


def has_torch() -> bool:
    return importlib.util.find_spec("torch") is not None


def script(variant: str) -> tuple[str, list[str]]:
    if variant in KERAS_OPTIONS:
        return PLAIN_KERAS, [json.dumps(KERAS_OPTIONS[variant])]
    if variant in APP_OPTIONS:
        return APP_GUI, [json.dumps(APP_OPTIONS[variant])]
    return (APP_BARE, []) if variant == "app-bare" else (TORCH, [])


def run(variant: str, mnist: str, epochs: int, home: str) -> dict:
    code, extra = script(variant)
    inherited = {key: value for key, value in os.environ.items() if key != ONEDNN}  # each variant sets its own
    env = {**inherited, "TF_CPP_MIN_LOG_LEVEL": "3", "CNNSTUDIO_HOME": home, "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           **VARIANT_ENV.get(variant, {})}
    out = subprocess.run([sys.executable, "-c", code, mnist, str(epochs), *extra], capture_output=True, text=True,
                         env=env, cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(f"{variant} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> dict:
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "python": sys.version.split()[0],
            "load_average": [round(v, 2) for v in os.getloadavg()]}


def summarise(runs: list[dict]) -> dict:
    firsts = [r["ends"][0] for r in runs]
    later = [b - a for r in runs for a, b in zip(r["ends"], r["ends"][1:])]
    accuracies = [r["accuracy"] for r in runs if r.get("accuracy") is not None]
    summary = {"first_epoch_s": statistics.median(firsts),
               "steady_s_per_epoch": statistics.median(later) if later else None,
               "fastest_epoch_s": min(later) if later else None,  # the least disturbed by other load
               "run_s": statistics.median(r["run"] for r in runs),
               "test_accuracy": statistics.mean(accuracies) if accuracies else None,
               "later_epochs_s": [round(v, 3) for v in later], "rounds": len(runs)}
    for key in ("steps_per_execution", "threads", "torch", "progress_updates"):
        if key in runs[0]:
            summary[key] = runs[0][key]
    if "callback_seconds" in runs[0]:
        summary["callback_steady_s"] = statistics.median(v for r in runs for v in r["callback_seconds"][1:])
    return summary


def verdict(name: str, app: dict, other: dict, target: float) -> dict:
    """Speed (median later epochs; the fastest epochs as a cross-check) and accuracy against ``other``."""
    ratio = app["steady_s_per_epoch"] / other["steady_s_per_epoch"]
    points = 100 * (app["test_accuracy"] - other["test_accuracy"])
    speed, accuracy = ratio <= target, abs(points) <= ACCURACY_POINTS
    return {"what": name, "ratio": ratio, "ratio_fastest_epochs": app["fastest_epoch_s"] / other["fastest_epoch_s"],
            "target": target, "speed": "PASS" if speed else "MISS", "accuracy_difference_points": points,
            "accuracy": "PASS" if accuracy else "MISS", "result": "PASS" if speed and accuracy else "MISS"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=str(REPO.parent / "shared" / "datasets" / "mnist"))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="repeat the set of variants, interleaved")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=DEFAULT_VARIANTS, metavar="VARIANT",
                        help=f"which to run, in this order (default: {' '.join(DEFAULT_VARIANTS)}; all: "
                             f"{' '.join(VARIANTS)})")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object instead")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is reported on its own)")
    variants = list(dict.fromkeys(args.variants))
    skipped = {}
    if "torch" in variants and not has_torch():
        skipped["torch"] = f"skipped: torch is not installed (pip install {TORCH_PIN})"
        variants.remove("torch")
    say = (lambda *a, **k: print(*a, file=sys.stderr, **k)) if args.json else print
    info = machine()
    results: dict[str, list[dict]] = {name: [] for name in variants}
    failures: list[str] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cnnstudio-speed-home-") as home:
        for round_ in range(args.rounds):
            for name in variants:
                say(f"round {round_ + 1}/{args.rounds}: {name}…", flush=True)
                try:
                    results[name].append(run(name, args.mnist, args.epochs, home))
                except RuntimeError as exc:  # one failed run must not cost the others' figures
                    say(str(exc), flush=True)
                    failures.append(f"round {round_ + 1}: {name}: {str(exc).splitlines()[0]}")
    info["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    table = {name: summarise(runs) for name, runs in results.items() if runs}

    app = table.get("app-gui")
    keras_names = [n for n in table if n.startswith("keras-")]
    best = min(keras_names, key=lambda n: table[n]["steady_s_per_epoch"]) if keras_names else None
    verdicts = []
    if app is not None and best is not None:
        verdicts.append(verdict(f"(a) app-gui / (b) best plain Keras ({best})", app, table[best], TARGET_VS_KERAS))
    if app is not None and "torch" in table:
        verdicts.append(verdict("(a) app-gui / (c) PyTorch loop", app, table["torch"], TARGET_VS_TORCH))

    report = {"machine": info, "epochs": args.epochs, "rounds": args.rounds, "batch_size": 64,
              "seconds": round(time.monotonic() - began, 1), "variants": table, "skipped": skipped, "failures": failures,
              "verdicts": verdicts}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"\nLeNet-5 on {args.mnist}: {args.epochs} epochs × {args.rounds} rounds, batch 64; {info['cpu']}, "
          f"{info['cpus']} CPUs; load average {info['load_average'][0]} before, "
          f"{info['load_average_after'][0]} after")
    print(f"{'variant':<14}{'first epoch s':>14}{'steady s/epoch':>16}{'fastest':>9}{'run s':>8}{'test accuracy':>15}  notes")
    for name, s in table.items():
        notes = []
        if "steps_per_execution" in s:
            notes.append(f"steps_per_execution {s['steps_per_execution']}")
        if "callback_steady_s" in s:
            notes.append(f"in-callback epoch {s['callback_steady_s']:.2f} s")
        if "threads" in s:
            notes.append(f"torch {s['torch']}, {s['threads']} threads")
        print(f"{name:<14}{s['first_epoch_s']:>14.2f}{s['steady_s_per_epoch']:>16.2f}{s['fastest_epoch_s']:>9.2f}{s['run_s']:>8.1f}"
              f"{100 * s['test_accuracy']:>14.2f}%  {'; '.join(notes)}")
    for name, why in skipped.items():
        print(f"{name:<14}{why}")
    for failure in failures:
        print(f"failed: {failure}")
    for v in verdicts:
        print(f"{v['what']}: {v['ratio']:.2f} (fastest epochs: {v['ratio_fastest_epochs']:.2f}; target ≤ {v['target']:g}) "
              f"speed {v['speed']}; accuracy {v['accuracy_difference_points']:+.2f} points (within ±{ACCURACY_POINTS}: "
              f"{v['accuracy']}) → {v['result']}")
    if app is None:
        print("no ratios: app-gui was not run")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How fast TensorFlow's LeNet-5 training step can be at batch 64, against PyTorch's, on this machine.

The (a)/(c) ≤ 0.5 target of ``train_speed.py`` asks the app's epoch to take half the classic PyTorch
loop's. This script asks whether that is reachable at all with TensorFlow's kernels: it times, on the
same random batch of 64 images held in memory (no data pipeline, no Keras ``fit``, no callbacks),

  tf forward           the Keras LeNet-5's forward pass, inside one ``tf.function`` looping ``--steps`` times
  tf forward+backward  forward, loss and gradients, no optimizer: the least any TensorFlow step can cost
  tf step              forward, backward and Keras' Adam (what ``fit`` compiles, minus its bookkeeping)
  torch step           the tutorials' LeNet-5: forward, backward, Adam (no DataLoader)
  torch loop           the classic loop, DataLoader(batch_size=64, shuffle=True) over a TensorDataset

each in its own process, ``--rounds`` times interleaved; the figure is the best round's milliseconds a
step. Every trainer has to run at least "tf step" for each batch it trains, so the shortest epoch the
app could have is its 320 training steps (20,429 images: the GUI's validation split holds out 10% of
the 22,699) plus 36 forward passes to validate the other 2,270, against the PyTorch loop's 355 steps.
That ratio is the floor of (a)/(c): above 0.5, no trainer built on these kernels meets the target,
whatever it does around them. "tf forward+backward" shows how much of a step the optimizer's update is.
``--precision bfloat16`` runs the TensorFlow rows in ``mixed_bfloat16``.

    python benchmarks/step_floor.py [--steps 355] [--rounds 3] [--precision float32|bfloat16] [--json]

PyTorch is optional (pip install torch==2.13.0); without it the torch rows are skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

TENSORFLOW = r"""
import json, os, sys, time
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np, tensorflow as tf, keras
steps, precision = int(sys.argv[1]), sys.argv[2]
if precision == "bfloat16":
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
L = keras.layers
model = keras.Sequential([keras.Input((28, 28, 1)), L.ZeroPadding2D(2), L.Conv2D(6, 5, activation="relu"),
    L.MaxPooling2D(), L.Conv2D(16, 5, activation="relu"), L.MaxPooling2D(), L.Flatten(),
    L.Dense(120, activation="relu"), L.Dense(84, activation="relu"), L.Dense(10, activation="softmax", dtype="float32")])
rng = np.random.default_rng(0)
x = tf.constant(rng.random((64, 28, 28, 1), dtype="float32"))
y = tf.constant(rng.integers(0, 10, 64))
loss = keras.losses.SparseCategoricalCrossentropy()
adam = keras.optimizers.Adam(1e-3)
adam.build(model.trainable_variables)

@tf.function
def forward():
    total = tf.constant(0.0)
    for _ in tf.range(steps):
        total += tf.reduce_sum(tf.cast(model(x, training=True), "float32"))
    return total

@tf.function
def forward_backward():
    total = tf.constant(0.0)
    for _ in tf.range(steps):
        with tf.GradientTape() as tape:
            value = loss(y, model(x, training=True))
        grads = tape.gradient(value, model.trainable_variables)
        total += tf.add_n([tf.reduce_sum(tf.cast(g, "float32")) for g in grads])
    return total

@tf.function
def step():
    for _ in tf.range(steps):
        with tf.GradientTape() as tape:
            value = loss(y, model(x, training=True))
        adam.apply(tape.gradient(value, model.trainable_variables), model.trainable_variables)
    return value

TIMED = {"tf forward": forward, "tf forward+backward": forward_backward, "tf step": step}
"""

TORCH = r"""
import json, sys, time
import torch, torch.nn as nn, torch.nn.functional as F
steps = int(sys.argv[1])
torch.manual_seed(0)

class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c3 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
        self.f5, self.f6, self.out = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c3(x)), 2).flatten(1)
        return self.out(F.relu(self.f6(F.relu(self.f5(x)))))

model = LeNet5()
adam = torch.optim.Adam(model.parameters(), 1e-3)
criterion = nn.CrossEntropyLoss()
x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.rand(64 * steps, 1, 28, 28),
    torch.randint(0, 10, (64 * steps,))), batch_size=64, shuffle=True)

def train(images, labels):
    adam.zero_grad()
    criterion(model(images), labels).backward()
    adam.step()

def step():
    for _ in range(steps):
        train(x, y)

def loop():
    for images, labels in loader:
        train(images, labels)

TIMED = {"torch step": step, "torch loop": loop}
"""

# the end of both scripts: each timed function is called once to warm up (trace), then 3 times; the best counts
TIMING = r"""
def ms(function):
    function()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        function()
        best = min(best, (time.perf_counter() - start) / steps * 1000)
    return best

print(json.dumps({name: ms(function) for name, function in TIMED.items()}))
"""

ROWS = ["tf forward", "tf forward+backward", "tf step", "torch step", "torch loop"]
APP_TRAIN_STEPS, APP_VALIDATION_STEPS, TORCH_STEPS = 320, 36, 355  # an epoch of the shared MNIST files at batch 64


def measure(code: str, steps: int, precision: str) -> dict[str, float]:
    """Run one timing script in a fresh process and return its figures (ms a step)."""
    # a file, not ``-c``: AutoGraph reads the source of the tf.function loops
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(code + TIMING)
    try:
        done = subprocess.run([sys.executable, script.name, str(steps), precision], capture_output=True,
                              text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, check=False)
    finally:
        os.unlink(script.name)
    if done.returncode != 0:
        raise SystemExit(f"a timing process failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=TORCH_STEPS,
                        help=f"training steps per timed call (default {TORCH_STEPS}: an epoch)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repeats (default 3)")
    parser.add_argument("--precision", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()
    with_torch = importlib.util.find_spec("torch") is not None
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        scripts = [TENSORFLOW, TORCH] if with_torch else [TENSORFLOW]
        for code in scripts:
            for name, value in measure(code, args.steps, args.precision).items():
                best[name] = min(best.get(name, float("inf")), value)
    loop = best.get("torch loop")
    app_floor = APP_TRAIN_STEPS * best["tf step"] + APP_VALIDATION_STEPS * best["tf forward"]
    ratio = app_floor / (TORCH_STEPS * loop) if loop else None
    result = {"precision": args.precision, "ms_per_step": best, "app_epoch_floor_s": app_floor / 1000,
              "torch_epoch_s": TORCH_STEPS * loop / 1000 if loop else None, "floor_of_a_over_c": ratio,
              "target_reachable": ratio <= 0.5 if ratio else None}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"LeNet-5, batch 64, {args.steps} steps a call, best of {args.rounds} rounds; TensorFlow in {args.precision}")
    for name in ROWS:
        print(f"  {name:22} {best[name]:6.2f} ms a step" if name in best else f"  {name:22} skipped (no torch)")
    print(f"the app's epoch cannot be shorter than {app_floor / 1000:.2f} s "
          f"({APP_TRAIN_STEPS} tf steps + {APP_VALIDATION_STEPS} tf forward passes)")
    if ratio:
        verdict = "reachable only by a trainer that adds nothing" if ratio <= 0.5 else "out of reach"
        print(f"the PyTorch loop's epoch: {TORCH_STEPS * loop / 1000:.2f} s ({TORCH_STEPS} steps)")
        print(f"floor of (a)/(c) = {ratio:.2f}: the target <= 0.5 is {verdict} with these kernels")
    return 0


if __name__ == "__main__":
    sys.exit(main())

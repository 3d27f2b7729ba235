"""Soak test of the real window: reference drift, memory, threads and speed over a long session.

Mode A (default) trains LeNet-5 on the built-in ``digits`` set for N minutes, pressing Train again
whenever a run ends, and prints once a minute: the drift of ``sys.getrefcount(None)`` since the
start and over the last minute, the resident memory, the Python and OS thread counts and the
batches trained per second. PySide6 6.12.0 dropped one reference to None per void Qt call, which
drove the count down to zero and aborted Python 3.11: a falling count is that bug again. A rising
count cannot abort anything; docs/soak.md says where the rise measured here comes from.

Mode B (``--cycles K``) presses Train, waits for the first progress update, presses Stop and waits
for the run to finish, K times; it prints memory, OS threads and the None count after each cycle
and, at the end, the growth per cycle (least-squares slope over the last half of the cycles).

``--gc`` collects garbage before each measurement (dead Keras models are reference cycles that
hold memory and TensorFlow's threads until Python's collector runs). ``--trim`` also hands the
heap memory that glibc's malloc keeps after ``free`` back to the system, so RSS counts memory in
use. ``--diagnose`` implies ``--gc`` and counts, after each cycle or minute, live Keras models,
feature extractors, TensorFlow functions, custom-gradient registry entries, matplotlib artists
and background tasks, and says whether the model of the cycle before is still alive.

    python benchmarks/soak.py --minutes 3
    python benchmarks/soak.py --cycles 20 [--gc] [--trim] [--diagnose]

Everything runs offscreen with its own temporary home, data, Keras and settings folders (removed
at the end); the real user's files are never touched.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

# before anything reads them: every per-user location in a temporary folder
_HOME = Path(tempfile.mkdtemp(prefix="cnnstudio-soak-"))
for _name, _sub in (("HOME", "home"), ("XDG_DATA_HOME", "xdg-data"), ("XDG_CONFIG_HOME", "xdg-config"),
                    ("XDG_CACHE_HOME", "xdg-cache"), ("XDG_STATE_HOME", "xdg-state"),
                    ("CNNSTUDIO_HOME", "cnnstudio-home"), ("KERAS_HOME", "keras-home"), ("MPLCONFIGDIR", "matplotlib")):
    (_HOME / _sub).mkdir()
    os.environ[_name] = str(_HOME / _sub)
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import argparse  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import weakref  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from cnnstudio.malloc_arenas import cap_malloc_arenas  # noqa: E402
from cnnstudio.ui.event_wait import wait, wait_until  # noqa: E402

ARENAS_CAPPED = cap_malloc_arenas()  # as the app does first thing (cnnstudio.app.run_gui)

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as stream:
        return int(stream.read().split()[1]) * PAGE / 2**20


def os_threads() -> int:
    with open("/proc/self/status") as stream:
        for line in stream:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


def slope(values: list[float]) -> float:
    """Least-squares growth per step of ``values`` (0 for fewer than two)."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    return sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values)) / sum((i - mean_x) ** 2 for i in range(n))


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


malloc_trim = _malloc_trim()


def custom_gradients() -> int:
    """Entries in TensorFlow's global gradient registry made by ``@tf.custom_gradient`` in graph mode.

    Each one keeps the whole graph it was traced in alive (tensorflow/tensorflow#97697); -1 when
    this TensorFlow keeps no such registry.
    """
    try:
        from tensorflow.python.framework import ops

        return sum(name.startswith("CustomGradient-") for name in ops._gradient_registry._registry)
    except (ImportError, AttributeError):
        return -1


class Meter:
    """Batches trained, counted from the progress updates of ``window.trainer.batch``."""

    def __init__(self) -> None:
        self.batches = 0
        self.updates = 0
        self._last: tuple[int, int] | None = None  # (epoch, step) of the run in progress

    def new_run(self) -> None:
        self._last = None

    def on_batch(self, progress: Any) -> None:
        self.updates += 1
        epoch, step, steps = progress.epoch, progress.step, progress.steps
        if self._last is None or epoch < self._last[0]:
            done = step
        else:
            done = (epoch - self._last[0]) * steps + step - self._last[1]
        self.batches += max(done, 0)
        self._last = (epoch, step)


class Soak:
    def __init__(self, epochs: int, collect: bool, diagnose: bool, trim: bool = False):
        from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
        from cnnstudio.ui.main_window import MainWindow
        from cnnstudio.ui.settings import Settings

        self.collect, self.diagnose = collect or diagnose, diagnose
        self.trim = malloc_trim if trim else None
        self.app = QApplication.instance() or QApplication([])
        settings = Settings(QSettings(str(_HOME / "settings.ini"), QSettings.IniFormat))
        self.window = window = MainWindow(settings)
        window.show()
        wait_until(lambda: window.runtime is not None, 300, "TensorFlow to load")
        window.panel.set_experiment(Experiment(ModelOptions("lenet5"), TrainOptions(epochs=epochs, batch_size=64),
                                               "digits"))
        wait_until(lambda: window.train_button.isEnabled(), 60, "the Train button")
        self.meter = Meter()
        window.trainer.batch.connect(self.meter.on_batch)
        self.runs = 0
        self.finished = 0
        window.training_finished.connect(self._finished)
        self.previous_model: weakref.ref | None = None

    def _finished(self) -> None:
        self.finished += 1

    def train(self) -> None:
        """Press Train (a finished model is discarded, as the user's 'Don't save' would)."""
        window = self.window
        wait_until(lambda: window.train_button.isEnabled(), 60, "the Train button")
        window.workspace.discard_changes()
        self.meter.new_run()
        self.runs += 1
        window.train_button.click()
        if not window.training:
            raise RuntimeError("Train did not start a run")

    def stop_and_wait(self) -> None:
        finished = self.finished
        if self.window.training:
            self.window.stop_button.click()
            wait_until(lambda: self.finished > finished, 300, "the run to finish after Stop")

    def sample(self) -> dict[str, float]:
        if self.collect:
            gc.collect()
        if self.trim is not None:
            self.trim(0)
        return {"none": sys.getrefcount(None), "rss": rss_mb(), "py_threads": threading.active_count(),
                "os_threads": os_threads()}

    def diagnosis(self) -> str:
        """Live objects that each run could leave behind, counted after a full collection."""
        import keras
        import tensorflow as tf
        from matplotlib.artist import Artist

        from cnnstudio.core.inspection import FeatureExtractor
        from cnnstudio.ui import background

        counts = dict.fromkeys(("models", "extractors", "tf_functions", "artists"), 0)
        for obj in gc.get_objects():
            if isinstance(obj, keras.Model):
                counts["models"] += 1
            elif isinstance(obj, FeatureExtractor):
                counts["extractors"] += 1
            elif isinstance(obj, tf.types.experimental.PolymorphicFunction):
                counts["tf_functions"] += 1
            elif isinstance(obj, Artist):
                counts["artists"] += 1
        tasks = len(background._registry.threads) if background._registry else 0
        gradients = custom_gradients()
        previous = self.previous_model() if self.previous_model is not None else None
        model = self.window.workspace.model
        self.previous_model = weakref.ref(model) if model is not None else None
        alive = "-" if previous is None and self.previous_model is None else ("yes" if previous is not None else "no")
        line = (f"keras models {counts['models']} · extractors {counts['extractors']} · tf functions "
                f"{counts['tf_functions']} · custom gradients {gradients} · artists {counts['artists']} · "
                f"registry tasks {tasks} · previous model alive {alive}")
        del previous, model
        return line

    def close(self) -> int:
        """Stop training, discard the model, close the window, wait for every thread; the threads left."""
        from cnnstudio.ui.background import running_threads, wait_for_threads

        window = self.window
        self.stop_and_wait()
        window.workspace.discard_changes()
        window.close()
        wait(100)
        wait_for_threads(60_000)
        self.app.processEvents()
        return len(running_threads())


def run_minutes(soak: Soak, minutes: float) -> dict[str, Any]:
    print("minute | None drift (last minute) | RSS MB | threads py/os | batches/s | runs", flush=True)
    start = soak.sample()
    began = time.monotonic()
    next_report, last_batches, last_time, last_none = began + 60, 0, began, start["none"]
    rows = []
    soak.train()
    while time.monotonic() - began < minutes * 60:
        if not soak.window.training:
            soak.train()
        wait(100)
        now = time.monotonic()
        if now >= next_report:
            sample = soak.sample()
            rate = (soak.meter.batches - last_batches) / (now - last_time)
            last_batches, last_time, next_report = soak.meter.batches, now, next_report + 60
            rows.append(sample)
            drift = f"{sample['none'] - start['none']:+d} ({sample['none'] - last_none:+d})"
            last_none = sample["none"]
            print(f"{(now - began) / 60:6.1f} | {drift:>25s} | {sample['rss']:6.0f} | "
                  f"{sample['py_threads']:5d}/{sample['os_threads']:<5d} | {rate:9.1f} | {soak.runs}", flush=True)
            if soak.diagnose:
                print("       " + soak.diagnosis(), flush=True)
    return {"start": start, "rows": rows, "seconds": time.monotonic() - began}


def run_cycles(soak: Soak, cycles: int) -> dict[str, Any]:
    print("cycle | seconds | RSS MB | OS threads | None refcount (drift)", flush=True)
    start = soak.sample()
    print(f"{0:5d} | {0:7.1f} | {start['rss']:6.0f} | {start['os_threads']:10d} | {start['none']} (+0)", flush=True)
    rows = []
    for cycle in range(1, cycles + 1):
        began = time.monotonic()
        updates = soak.meter.updates
        soak.train()
        wait_until(lambda: soak.meter.updates > updates, 300, "the first progress update")  # noqa: B023
        soak.stop_and_wait()
        wait(200)  # let the finished run's queued work (views, test images) settle
        sample = soak.sample()
        rows.append(sample)
        print(f"{cycle:5d} | {time.monotonic() - began:7.1f} | {sample['rss']:6.0f} | {sample['os_threads']:10d} | "
              f"{sample['none']} ({sample['none'] - start['none']:+d})", flush=True)
        if soak.diagnose:
            print("        " + soak.diagnosis(), flush=True)
    return {"start": start, "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the training soak (mode A)")
    parser.add_argument("--cycles", type=int, default=0, help="Train/Stop cycles instead of the timed soak (mode B)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per run in mode A (Train is pressed again after)")
    parser.add_argument("--gc", action="store_true", help="a full garbage collection before every measurement")
    parser.add_argument("--trim", action="store_true", help="glibc malloc_trim(0) before every measurement, so RSS "
                        "counts memory in use rather than freed memory that malloc keeps")
    parser.add_argument("--diagnose", action="store_true", help="count live models, functions and tasks (implies --gc)")
    args = parser.parse_args()

    started = time.monotonic()
    try:
        if args.trim and malloc_trim is None:
            parser.error("--trim needs glibc (Linux)")
        soak = Soak(args.epochs, args.gc, args.diagnose, args.trim)
        print(f"window ready after {time.monotonic() - started:.1f} s ({soak.window.runtime.device}, "
              f"{os.cpu_count()} CPUs; temporary home {_HOME})", flush=True)
        if args.cycles:
            result = run_cycles(soak, args.cycles)
        else:
            result = run_minutes(soak, args.minutes)
        left = soak.close()
        end = soak.sample()
        start, rows = result["start"], result["rows"]
        if args.cycles:
            half = rows[len(rows) // 2:] if len(rows) >= 4 else rows
            print(f"per cycle over the last {len(half)} cycles: RSS {slope([r['rss'] for r in half]):+.2f} MB, "
                  f"OS threads {slope([r['os_threads'] for r in half]):+.2f}, "
                  f"None refcount {slope([r['none'] for r in half]):+.1f}", flush=True)
            if len(rows) >= 2:  # the first cycle also pays TensorFlow's one-time start-up: averaged from after it
                n = len(rows) - 1
                print(f"per cycle from cycle 1 to {len(rows)}: RSS {(rows[-1]['rss'] - rows[0]['rss']) / n:+.2f} MB, "
                      f"None refcount {(rows[-1]['none'] - rows[0]['none']) / n:+.1f}", flush=True)
            print(f"summary: {args.cycles} Train/Stop cycles; RSS {start['rss']:.0f} → {rows[-1]['rss']:.0f} MB; "
                  f"OS threads {start['os_threads']} → {rows[-1]['os_threads']}; None drift "
                  f"{rows[-1]['none'] - start['none']:+d}; after closing: {left} threads running, "
                  f"{end['py_threads']} Python threads", flush=True)
        else:
            rate = soak.meter.batches / result["seconds"] if result["seconds"] else 0.0
            last = rows[-1] if rows else end
            print(f"summary: {result['seconds'] / 60:.1f} min, {soak.runs} runs, {soak.meter.batches} batches "
                  f"({rate:.1f}/s); None drift {last['none'] - start['none']:+d}; RSS {start['rss']:.0f} → "
                  f"{last['rss']:.0f} MB; OS threads {start['os_threads']} → {last['os_threads']}; after closing: "
                  f"{left} threads running, {end['py_threads']} Python threads", flush=True)
        return 0 if left == 0 else 1
    finally:
        shutil.rmtree(_HOME, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

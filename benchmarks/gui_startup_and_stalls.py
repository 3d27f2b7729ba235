"""Time to window, and the GUI's longest event-loop stall while a training run goes on.

1. Time to window: ``cnnstudio --report-startup`` is spawned and timed until it prints that the
   window is shown (process start included), next to ``python -c "import tensorflow"``.
2. Stalls: a 10 ms ``QTimer`` runs on the GUI thread while LeNet-5 trains through the real worker
   for N epochs; the longest gap between its ticks is the longest time the window was unresponsive.

    python benchmarks/gui_startup_and_stalls.py [--dataset digits] [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def time_to_line(command: list[str], needle: str) -> float:
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    for line in process.stdout:
        if needle in line:
            elapsed = time.perf_counter() - start
            break
    else:
        elapsed = float("nan")
    process.kill()
    process.wait()
    return elapsed


def stalls(dataset: str, epochs: int) -> tuple[float, float, float, float, int]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
    from cnnstudio.ui.main_window import MainWindow
    from cnnstudio.ui.settings import Settings

    app = QApplication.instance() or QApplication([])
    window = MainWindow(Settings(QSettings(os.devnull, QSettings.IniFormat)))
    window.show()
    while window.runtime is None:
        app.processEvents()
        time.sleep(0.005)
    window.panel.set_experiment(Experiment(ModelOptions(), TrainOptions(epochs=epochs), dataset))
    while not window.train_button.isEnabled():
        app.processEvents()
        time.sleep(0.005)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    window.train_button.click()
    timer.start()
    started = time.perf_counter()
    while window.training:
        app.processEvents()
        time.sleep(0.002)
    seconds = time.perf_counter() - started
    timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    worst = max(range(len(gaps)), key=gaps.__getitem__)
    window.workspace.discard_changes()  # closing would otherwise ask whether to save the model
    window.close()
    ordered = sorted(gaps)
    return (gaps[worst] * 1000, ticks[worst] - started, ordered[int(0.99 * (len(ordered) - 1))] * 1000, seconds,
            window.training_view.redraws)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    window = time_to_line([sys.executable, "-m", "cnnstudio", "--report-startup"], "window shown")
    tensorflow = time_to_line([sys.executable, "-c", "import tensorflow; print('imported', flush=True)"], "imported")
    print(f"time to window (process start → window shown): {window:.2f} s")
    print(f"import tensorflow alone, for comparison:      {tensorflow:.2f} s")
    worst, when, p99, seconds, redraws = stalls(args.dataset, args.epochs)
    print(f"training {args.epochs} epochs of LeNet-5 on {args.dataset}: {seconds:.1f} s, {redraws} plot redraws")
    print(f"longest GUI event-loop stall: {worst:.0f} ms ({when:.1f} s after Train); 99th percentile gap {p99:.0f} ms")


if __name__ == "__main__":
    main()

"""Memory of CNN Studio: peak RSS of one LeNet-5 training run, and RSS growth over Train/Stop cycles in the GUI.

Part 1 (peak): each case runs in its own process and reports ``resource.getrusage(RUSAGE_SELF).ru_maxrss``
at its end (the high-water mark of resident memory over the process's life):
  imports      import TensorFlow, Keras and CNN Studio's trainer, load the shared MNIST files (the floor)
  app          run_experiment of LeNet-5 with the GUI's default options (validation 0.1, Adam 2e-3 cosine),
               ``--epochs`` epochs (default 3), then the test evaluation
  keras        the plain Keras script of benchmarks/train_speed.py (steps_per_execution 16), same epochs
  torch        the classic PyTorch loop of benchmarks/train_speed.py, same epochs (skipped without torch)

Part 2 (``--cycles N``, e.g. 20): runs ``benchmarks/soak.py --cycles N`` (the real window, offscreen, LeNet-5
on the built-in digits set: press Train, wait for the first progress update, press Stop, wait for the run to
end) and reports RSS before the first cycle, after cycle 1 and after the last, and the growth against the
target (≤ 50 MB over 20 cycles, counted from after cycle 1: the first cycle also pays TensorFlow's one-time
start-up). ``--soak-flags`` passes e.g. ``--gc`` or ``--gc --trim`` on to soak.py.

    python benchmarks/memory.py [--epochs 3] [--cycles 20] [--soak-flags=--gc] [--skip-peak] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import train_speed  # noqa: E402  (the same scripts, so the figures belong to the same runs)

GROWTH_TARGET_MB, GROWTH_TARGET_CYCLES = 50.0, 20

PEAK = r"""
import resource
print(__import__("json").dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

IMPORTS = r"""
import json, sys
from pathlib import Path
import keras, tensorflow
import cnnstudio.core.experiments.runner
from cnnstudio.core.data.datasets import load_dataset
data = load_dataset(sys.argv[1])
print(json.dumps({}))
"""

APP = r"""
import json, sys
from cnnstudio.core.config import Experiment
from cnnstudio.core.data.datasets import load_dataset
from cnnstudio.core.experiments.runner import run_experiment
from dataclasses import replace
data = load_dataset(sys.argv[1])
default = Experiment()
experiment = Experiment(default.model, replace(default.train, epochs=int(sys.argv[2])), sys.argv[1])
outcome = run_experiment(experiment, data)
print(json.dumps({"accuracy": outcome.result.test_accuracy}))
"""


def peak(case: str, mnist: str, epochs: int, home: str) -> dict:
    """Run ``case`` in a fresh process; its last JSON line with the peak RSS added."""
    if case == "keras":
        code, extra = train_speed.PLAIN_KERAS, [json.dumps(train_speed.KERAS_OPTIONS["keras-spe16"])]
    elif case == "torch":
        code, extra = train_speed.TORCH, []
    else:
        code, extra = {"imports": IMPORTS, "app": APP}[case], []
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CNNSTUDIO_HOME": home,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    wrapped = f"{code}\n{PEAK}"  # the peak is read after the case's own output, at the end of the process
    out = subprocess.run([sys.executable, "-c", wrapped, mnist, str(epochs), *extra], capture_output=True,
                         text=True, env=env, cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(f"{case} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    lines = out.stdout.strip().splitlines()
    result = {k: v for k, v in json.loads(lines[-2]).items() if k in ("accuracy",)}
    result["peak_mb"] = round(json.loads(lines[-1])["peak_mb"], 1)
    return result


def soak(cycles: int, flags: list[str]) -> dict:
    """Run soak.py's Train/Stop cycles; the RSS per cycle and its summary lines."""
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "soak.py"), "--cycles", str(cycles), *flags],
                         capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "TF_CPP_MIN_LOG_LEVEL": "3"})
    rss = {}
    for line in out.stdout.splitlines():
        match = re.match(r"\s*(\d+) \|\s*[\d.]+ \|\s*(\d+) \|", line)
        if match:
            rss[int(match.group(1))] = float(match.group(2))
    if out.returncode not in (0, 1) or cycles not in rss:
        raise RuntimeError(f"soak.py failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    start, first, last = rss[0], rss[1], rss[cycles]
    growth = last - first
    allowed = GROWTH_TARGET_MB * (cycles - 1) / (GROWTH_TARGET_CYCLES - 1)  # the target scaled to these cycles
    return {"cycles": cycles, "flags": flags, "rss_mb": [rss[i] for i in sorted(rss)], "start_mb": start,
            "after_cycle_1_mb": first, "end_mb": last, "growth_from_start_mb": last - start,
            "growth_after_cycle_1_mb": growth, "growth_per_cycle_mb": round(growth / max(1, cycles - 1), 2),
            "target_mb": round(allowed, 1), "result": "PASS" if growth <= allowed else "MISS",
            "summary": [line for line in out.stdout.splitlines() if line.startswith(("per cycle", "summary"))],
            "diagnosis": [line.strip() for line in out.stdout.splitlines() if line.strip().startswith("keras models")],
            "soak_exit": out.returncode}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=str(REPO.parent / "shared" / "datasets" / "mnist"))
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the peak-RSS training runs")
    parser.add_argument("--cases", nargs="+", default=["imports", "app", "keras", "torch"],
                        choices=["imports", "app", "keras", "torch"])
    parser.add_argument("--skip-peak", action="store_true", help="only the Train/Stop cycles")
    parser.add_argument("--cycles", type=int, default=0, help="Train/Stop cycles in one GUI session (0: none)")
    parser.add_argument("--soak-flags", default="", help="passed on to soak.py, e.g. '--gc' or '--gc --trim'")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    say = (lambda *a, **k: print(*a, file=sys.stderr, **k)) if args.json else print
    report: dict = {"machine": train_speed.machine(), "peak": {}, "skipped": {}}
    if not args.skip_peak:
        with tempfile.TemporaryDirectory(prefix="cnnstudio-memory-home-") as home:
            for case in args.cases:
                if case == "torch" and not train_speed.has_torch():
                    report["skipped"]["torch"] = f"skipped: torch is not installed (pip install {train_speed.TORCH_PIN})"
                    continue
                say(f"peak RSS: {case}…", flush=True)
                report["peak"][case] = peak(case, args.mnist, args.epochs, home)
    if args.cycles:
        say(f"soak.py --cycles {args.cycles} {args.soak_flags}…", flush=True)
        report["cycles"] = soak(args.cycles, shlex.split(args.soak_flags))
    report["machine"]["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    m = report["machine"]
    print(f"\n{m['cpu']}, {m['cpus']} CPUs, Python {m['python']}; load average {m['load_average'][0]} before, "
          f"{m['load_average_after'][0]} after")
    if report["peak"]:
        print(f"peak RSS (ru_maxrss), LeNet-5, {args.epochs} epochs on the shared MNIST, each case in its own process:")
        for case, r in report["peak"].items():
            accuracy = f"  (test accuracy {100 * r['accuracy']:.2f}%)" if r.get("accuracy") is not None else ""
            print(f"  {case:<8}{r['peak_mb']:>8.0f} MB{accuracy}")
    for why in report["skipped"].values():
        print(f"  torch   {why}")
    if "cycles" in report:
        c = report["cycles"]
        print(f"{c['cycles']} Train/Stop cycles in one window (soak.py {' '.join(c['flags'])}): RSS {c['start_mb']:.0f} MB "
              f"before cycle 1, {c['after_cycle_1_mb']:.0f} after it, {c['end_mb']:.0f} after cycle {c['cycles']}")
        print(f"  growth after cycle 1: {c['growth_after_cycle_1_mb']:+.0f} MB ({c['growth_per_cycle_mb']:+.2f} MB a "
              f"cycle); from the start: {c['growth_from_start_mb']:+.0f} MB")
        print(f"  target ≤ {c['target_mb']:g} MB over cycles 1–{c['cycles']}: {c['result']}")
        for line in c["summary"]:
            print(f"  soak.py: {line}")
        for cycle, line in enumerate(c["diagnosis"], 1):  # with --soak-flags=--diagnose
            print(f"  after cycle {cycle}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

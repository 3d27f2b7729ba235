"""Milliseconds per attribution map (Grad-CAM, saliency, SmoothGrad, occlusion) for one image.

LeNet-5 on 28×28 digits and AlexNet-CIFAR on 32×32 colour images (with 'same' padding, which
that size needs), with their initial weights: the cost does not depend on what they learned. The
first call of each method traces its graph and is reported apart; the figure compared is the
median of the later calls. Occlusion uses the GUI's defaults (4×4 patches every 2 pixels) and
SmoothGrad 25 samples.

    python benchmarks/explain_timings.py [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODELS = {"lenet5": ((28, 28, 1), 10), "alexnet_cifar": ((32, 32, 3), 10)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls after the first (default: 5)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()

    import dataclasses

    import numpy as np

    from cnnstudio.core.config import ModelOptions
    from cnnstudio.core.explain.attribution import METHODS, explain
    from cnnstudio.core.network.model_builder import build_model

    figures: dict[str, dict[str, dict[str, float]]] = {}
    for arch, (shape, classes) in MODELS.items():
        model = build_model(dataclasses.replace(ModelOptions(), arch=arch, padding="same"), shape, classes)
        image = np.random.default_rng(0).uniform(0, 255, size=shape).astype("float32")
        figures[arch] = {}
        for method in METHODS:
            times = []
            for _ in range(args.repeats + 1):
                started = time.perf_counter()
                explain(model, image, method)
                times.append((time.perf_counter() - started) * 1000)
            figures[arch][method] = {"first_ms": times[0], "median_ms": statistics.median(times[1:])}
    if args.json:
        print(json.dumps({"load_average": os.getloadavg()[0], "figures": figures}))
        return 0
    print(f"{'model':<14} {'method':<11} {'first call':>11} {'later (median)':>15}")
    for arch, methods in figures.items():
        for method, f in methods.items():
            print(f"{arch:<14} {method:<11} {f['first_ms']:>9.0f} ms {f['median_ms']:>12.1f} ms")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

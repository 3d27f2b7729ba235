"""Inspection speed and sketch-pad quality, measured on the shared MNIST files.

1. Trains LeNet-5 (max pooling, valid padding) for 5 epochs on ../shared/datasets/mnist.
2. Times one full feature-map pass with its pictures (the Feature Maps view's render) and one
   direct model call on a processed sketch (the Sketch Pad's prediction), median of 30.
3. Draws digits 0–9 the way a person might on the 280×280 pad — strokes of varied size, place,
   thickness and slant — runs them through the pad's MNIST-style preprocessing and reports the
   accuracy next to the test-set accuracy.

    python benchmarks/inspection_and_sketch.py [--mnist ../shared/datasets/mnist] [--per-digit 6]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def _arc(cx, cy, rx, ry, start, end, n=24):
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start, end, n)]


# Strokes in a unit box (x right, y down); each digit is a list of polylines.
TEMPLATES = {
    0: [_arc(0.5, 0.5, 0.32, 0.48, 0, 360, 40)],
    1: [[(0.38, 0.18), (0.55, 0.02), (0.55, 1.0)]],
    2: [_arc(0.5, 0.3, 0.32, 0.28, 200, 380) + [(0.15, 1.0), (0.9, 1.0)]],
    3: [_arc(0.45, 0.27, 0.3, 0.25, 220, 450), _arc(0.45, 0.74, 0.34, 0.26, 270, 500)],
    4: [[(0.62, 0.0), (0.08, 0.68), (0.92, 0.68)], [(0.66, 0.3), (0.66, 1.0)]],
    5: [[(0.85, 0.0), (0.25, 0.0), (0.2, 0.42)] + _arc(0.5, 0.68, 0.35, 0.32, 230, 500)],
    6: [[(0.75, 0.0), (0.3, 0.45)] + _arc(0.5, 0.72, 0.3, 0.28, 200, 560)],
    7: [[(0.1, 0.02), (0.9, 0.02), (0.35, 1.0)]],
    8: [_arc(0.5, 0.25, 0.25, 0.24, 90, 450), _arc(0.5, 0.73, 0.32, 0.27, -90, 270)],
    9: [_arc(0.5, 0.3, 0.3, 0.28, 0, 360), [(0.8, 0.3), (0.7, 1.0)]],
}


def draw_digit(digit: int, rng: np.random.Generator) -> np.ndarray:
    """A 280×280 white image with the digit drawn in black at a random size, place, slant and width."""
    size = rng.uniform(60, 230)
    width = rng.uniform(0.55, 0.8) * size
    x0, y0 = rng.uniform(5, 275 - width), rng.uniform(5, 275 - size)
    slant = rng.uniform(-0.25, 0.25)
    image = Image.new("L", (280, 280), 255)
    pen = ImageDraw.Draw(image)
    thickness = int(rng.uniform(0.06, 0.16) * size) + 3
    for stroke in TEMPLATES[digit]:
        points = [(x0 + (x + slant * (1 - y)) * width, y0 + y * size) for x, y in stroke]
        pen.line(points, fill=0, width=thickness, joint="curve")
        for x, y in (points[0], points[-1]):
            pen.ellipse([x - thickness / 2, y - thickness / 2, x + thickness / 2, y + thickness / 2], fill=0)
    return np.asarray(image, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"))
    parser.add_argument("--per-digit", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--save", help="folder to save the drawn digits as PNG")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
    from cnnstudio.core.data.datasets import load_dataset
    from cnnstudio.core.data.digit_preprocessing import mnist_style
    from cnnstudio.core.experiments.runner import run_experiment
    from cnnstudio.core.inspection import FeatureExtractor, probabilities, tile

    data = load_dataset(args.mnist)
    experiment = Experiment(ModelOptions(arch="lenet5", pooling="max", padding="valid"),
                            TrainOptions(epochs=args.epochs), args.mnist)
    outcome = run_experiment(experiment, data)
    model = outcome.model
    print(f"LeNet-5 trained {args.epochs} epochs: test accuracy {outcome.result.test_accuracy:.4f}")

    extractor = FeatureExtractor(model)
    image = data.x_test[0].astype(np.float32)
    render, call = [], []
    for _ in range(30):
        started = time.perf_counter()
        for feature in extractor(image):
            tile(feature.values)
        render.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        probabilities(model, image[np.newaxis])
        call.append((time.perf_counter() - started) * 1000)
    print(f"feature maps of all layers for one image (model pass + tiling): median {statistics.median(render):.1f} ms")
    print(f"sketch prediction (direct model call on the processed 28×28): median {statistics.median(call):.1f} ms")

    rng = np.random.default_rng(0)
    correct, total, wrong = 0, 0, []
    for digit in range(10):
        for k in range(args.per_digit):
            drawn = draw_digit(digit, rng)
            if args.save:
                Path(args.save).mkdir(parents=True, exist_ok=True)
                Image.fromarray(drawn.astype(np.uint8)).save(Path(args.save) / f"{digit}-{k}.png")
            processed = mnist_style(drawn).astype(np.float32)[np.newaxis, ..., np.newaxis]
            predicted = int(np.argmax(probabilities(model, processed)[0]))
            correct += predicted == digit
            total += 1
            if predicted != digit:
                wrong.append(f"{digit}→{predicted}")
    print(f"drawn digits (varied size, place, thickness, slant): {correct}/{total} = {correct / total:.1%} "
          f"recognised; test set {outcome.result.test_accuracy:.1%}")
    print("mistakes:", ", ".join(wrong) or "none")


if __name__ == "__main__":
    main()

"""The ``cnnstudio`` command-line contract, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image, ImageDraw

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def cli(*args: str, cwd=None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnstudio", *args], capture_output=True, text=True,
                          timeout=timeout, env=ENV, cwd=cwd)


def last_json(out: str):
    return json.loads(out.strip().splitlines()[-1])


def assert_one_line_error(result: subprocess.CompletedProcess, needle: str) -> None:
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if not line.startswith(("E0000", "W0000", "I0000"))]
    assert len(lines) == 1, result.stderr
    assert needle in lines[0] and "Traceback" not in result.stderr


def test_summary_json_contract() -> None:
    result = cli("summary", "--arch", "lenet5", "--pooling", "min", "--padding", "valid", "--dataset", "mnist", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["params"] == 61_706
    assert {"name", "kind", "output_shape", "params"} <= set(data["layers"][0])
    shapes = {layer["name"]: layer["output_shape"] for layer in data["layers"]}
    assert shapes["c1"] == [28, 28, 6] and shapes["s4"] == [5, 5, 16] and shapes["output"] == [10]
    assert {layer["kind"] for layer in data["layers"]} >= {"MinPooling2D", "Conv2D", "Dense"}


def test_summary_text_and_cifar_shape() -> None:
    result = cli("summary", "--arch", "alexnet_cifar", "--padding", "same", "--dataset", "cifar10")
    assert result.returncode == 0 and "32×32×3" in result.stdout and "total:" in result.stdout


@pytest.mark.parametrize("args,needle", [
    (("summary", "--arch", "alexnet_cifar", "--padding", "valid"), "layer 'conv4'"),
    (("summary", "--padding", "wide"), "padding must be"),
    (("summary", "--arch", "resnet"), "invalid choice: 'resnet'"),
    (("train", "--dataset", "imagenet", "--epochs", "1"), "unknown dataset 'imagenet'"),
    (("train", "--epochs", "0"), "epochs must be"),
    (("info", "missing.keras"), "no such file"),
    (("predict", "missing.keras", "x.png"), "no such file"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle) -> None:
    assert_one_line_error(cli(*args), needle)


def _digit_png(path, ink_dark: bool, offset: int) -> None:
    paper, ink = (255, 0) if ink_dark else (0, 255)
    image = Image.new("L", (120, 120), paper)
    ImageDraw.Draw(image).line([(20 + offset, 10), (22 + offset, 80)], fill=ink, width=9)
    image.save(path)


def test_train_json_then_info_evaluate_predict(tmp_path) -> None:
    model = tmp_path / "digits.keras"
    result = cli("train", "--arch", "lenet5", "--pooling", "avg", "--padding", "same", "--dataset", "digits",
                 "--epochs", "2", "--seed", "1", "--out", str(model), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = last_json(result.stdout)
    assert {"test_accuracy", "test_loss", "epochs", "seconds_per_epoch", "params"} <= set(summary)
    assert summary["epochs"] == 2 and len(summary["seconds_per_epoch"]) == 2
    assert summary["params"] == 136_586 and 0.3 < summary["test_accuracy"] <= 1.0
    assert "epoch 2/2" in result.stderr  # progress goes to stderr

    info = cli("info", str(model), "--json")
    record = last_json(info.stdout)
    assert record["experiment"]["model"]["pooling"] == "avg" and record["dataset"]["name"] == "digits"
    assert record["test"]["accuracy"] == pytest.approx(summary["test_accuracy"])

    evaluated = cli("evaluate", str(model), "--json")
    assert last_json(evaluated.stdout)["test_accuracy"] == pytest.approx(summary["test_accuracy"], abs=1e-6)

    images = []
    for i, (dark, offset) in enumerate([(True, 0), (False, 60)]):
        images.append(str(tmp_path / f"one{i}.png"))
        _digit_png(images[-1], dark, offset)
    predicted = cli("predict", str(model), *images, "--json")
    assert predicted.returncode == 0, predicted.stderr
    rows = last_json(predicted.stdout)
    assert [row["file"] for row in rows] == images
    assert all(len(row["probabilities"]) == 10 and abs(sum(row["probabilities"]) - 1) < 1e-4 for row in rows)
    assert rows[0]["label"] == rows[1]["label"]  # same digit, other polarity and place: same preprocessing

    resumed = cli("train", "--resume", str(model), "--dataset", "digits", "--epochs", "1", "--out", str(model), "--json")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert last_json(resumed.stdout)["epochs"] == 3


def test_predict_refuses_a_blank_image(tmp_path) -> None:
    model = tmp_path / "m.keras"
    assert cli("train", "--dataset", "digits", "--epochs", "1", "--out", str(model)).returncode == 0
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    assert_one_line_error(cli("predict", str(model), str(blank)), "blank")


@pytest.mark.slow
def test_lenet5_reaches_975_on_real_mnist_in_three_epochs(mnist_dir) -> None:
    """The acceptance run: LeNet-5, max pooling, valid padding, 3 epochs on the shared MNIST files."""
    result = cli("train", "--arch", "lenet5", "--pooling", "max", "--padding", "valid",
                 "--dataset", str(mnist_dir), "--epochs", "3", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = last_json(result.stdout)
    print(f"test accuracy {summary['test_accuracy']:.4f}, seconds per epoch {summary['seconds_per_epoch']}")
    assert summary["test_accuracy"] >= 0.975

"""Cost before training: activation memory, the calibrated time estimate, its cache and the warning."""

from __future__ import annotations

import json
import math

import pytest

from cnnstudio import cli
from cnnstudio.core.config import ModelOptions
from cnnstudio.core.network import cost
from cnnstudio.core.network.cost import (
    Calibration,
    Sample,
    cached_calibration,
    calibrate,
    calibration_path,
    fit_calibration,
    network_cost,
    save_calibration,
)
from cnnstudio.core.network.shape_table import shape_table

LENET = shape_table(ModelOptions(arch="lenet5"), (28, 28, 1), 10)
ALEXNET = shape_table(ModelOptions(arch="alexnet"), (28, 28, 1), 10)
SLOW_CPU = Calibration("CPU", 1e10, 1e-4, "2025-01-01 00:00", "test")


def test_activation_memory_counts_every_layer_output_in_float32() -> None:
    # rescale 28·28, pad 32·32, c1 28·28·6, s2 14·14·6, c3 10·10·16, s4 5·5·16, flatten 400, 120, 84, 10
    elements = 784 + 1024 + 4704 + 1176 + 1600 + 400 + 400 + 120 + 84 + 10
    assert cost.activation_bytes(LENET) == 4 * elements
    result = network_cost(LENET, 54_000, 6_000, SLOW_CPU)
    assert (result.params, result.macs, result.activation_bytes) == (61_706, LENET.macs, 4 * elements)


def test_the_uncalibrated_guess_is_near_the_measured_lenet5_epoch() -> None:
    """docs/benchmarks.md: with oneDNN's kernels the app trained LeNet-5's MNIST epoch (20,429 images, 2,270
    validated) in 3.3-3.5 s on the unloaded 2-core machine; the guess fitted to TensorFlow's own kernels said 4.7 s."""
    guess = network_cost(LENET, 20_429, 2_270).seconds_per_epoch
    assert 3.3 / 1.25 <= guess <= 3.5 * 1.25


def test_the_uncalibrated_guess_is_near_the_measured_alexnet_cifar_image() -> None:
    """AlexNet-CIFAR (padding 'same') trained at about 6.8 ms an image, batch 64, on the same machine."""
    alexnet = shape_table(ModelOptions(arch="alexnet_cifar", padding="same"), (32, 32, 3), 10)
    per_image = network_cost(alexnet, 64).seconds_per_epoch / 64
    assert 6.8e-3 / 1.5 <= per_image <= 6.8e-3 * 1.5


def test_seconds_per_epoch_is_training_at_three_times_forward_plus_validation() -> None:
    result = network_cost(LENET, 1000, 100, SLOW_CPU)
    expected = 1000 * (1e-4 + 3 * LENET.macs / 1e10) + 100 * (1e-4 + LENET.macs / 1e10)
    assert result.seconds_per_epoch == pytest.approx(expected)
    assert result.calibrated and result.warning is None
    assert network_cost(LENET, None).seconds_per_epoch is None


def test_alexnet_at_224_on_a_cpu_is_warned_about() -> None:
    result = network_cost(ALEXNET, 54_000, 6_000, SLOW_CPU)
    assert result.seconds_per_epoch > 600
    assert "alexnet_cifar" in result.warning and "GPU" in result.warning and "estimate" in result.warning
    guessed = network_cost(ALEXNET, 54_000, 6_000, None)
    assert not guessed.calibrated and "not calibrated" in guessed.warning
    assert "a guess" in guessed.format() and "estimate" in result.format()
    assert json.loads(json.dumps(result.to_json()))["warning"] == result.warning


def test_fit_recovers_rate_and_overhead() -> None:
    rate, overhead = 2e10, 3e-5
    samples = [Sample(macs, 1000, 1000 * (overhead + 3 * macs / rate)) for macs in (400_000, 10_000_000)]
    fitted = fit_calibration(samples, "CPU", now=lambda: "then")
    assert fitted.macs_per_second == pytest.approx(rate) and fitted.overhead_seconds_per_image == pytest.approx(overhead)
    assert fitted.measured == "then"


def test_fit_without_a_usable_slope_counts_all_time_as_arithmetic() -> None:
    one = fit_calibration([Sample(1_000_000, 100, 1.0)], "CPU")
    assert one.overhead_seconds_per_image == 0 and one.macs_per_second == pytest.approx(3e8)
    noisy = fit_calibration([Sample(1_000, 100, 2.0), Sample(1_000_000, 100, 1.0)], "CPU")  # bigger ran faster
    assert noisy.overhead_seconds_per_image == 0 and noisy.macs_per_second > 0
    with pytest.raises(ValueError):
        fit_calibration([Sample(1, 0, 0.0)], "CPU")


def test_calibration_is_measured_once_and_cached(tmp_path) -> None:
    calls = []

    def fake_measure():
        calls.append(1)
        return "GPU: fake", [Sample(400_000, 1536, 0.6), Sample(10_000_000, 1536, 5.0)]

    made, problem = calibrate(fake_measure, folder=tmp_path)
    assert problem is None and calls == [1] and made.device == "GPU: fake"
    cached, problem = cached_calibration(tmp_path)
    assert cached == made and problem is None
    assert json.loads(calibration_path(tmp_path).read_text())["format"] == "cnnstudio-calibration"


def test_a_file_in_place_of_the_data_folder_is_named_as_such(tmp_path) -> None:
    """CNNSTUDIO_HOME=/dev/null said "(File exists)": mkdir's words, the opposite of the problem."""
    (tmp_path / "home").write_text("a file")

    def fake_measure():
        return "CPU", [Sample(400_000, 1536, 0.6)]

    made, problem = calibrate(fake_measure, folder=tmp_path / "home")
    assert made.device == "CPU" and problem.endswith("(a file, not a folder, is in its place)")


def test_without_a_cache_nothing_is_calibrated(tmp_path) -> None:
    assert cached_calibration(tmp_path) == (None, None)


def _entry(**changes) -> dict:
    entry = {"device": "CPU", "macs_per_second": 1e10, "overhead_seconds_per_image": 1e-4, "measured": "x",
             "reference": "y"}
    return {**entry, **changes}


@pytest.mark.parametrize("content,needle", [
    (b"not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b" " * 70_000, "larger than"),
    (json.dumps({"format": "other"}).encode(), "not a CNN Studio calibration"),
    (json.dumps({"format": "cnnstudio-calibration", "version": 2, "machines": {}}).encode(), "version"),
    (json.dumps({"format": "cnnstudio-calibration", "version": 1, "machines": []}).encode(), "machines"),
    ("nan", "macs_per_second"),
    ("negative overhead", "overhead"),
    ("bool rate", "macs_per_second"),
    ("escape in device", "device"),
    ("huge rate", "macs_per_second"),
])
def test_a_damaged_cache_is_ignored_with_a_reason(tmp_path, content, needle) -> None:
    entries = {"nan": _entry(macs_per_second=math.nan), "negative overhead": _entry(overhead_seconds_per_image=-1),
               "bool rate": _entry(macs_per_second=True), "escape in device": _entry(device="\x1b[2J"),
               "huge rate": _entry(macs_per_second=1e30)}
    if isinstance(content, str):
        content = json.dumps({"format": "cnnstudio-calibration", "version": 1,
                              "machines": {cost.machine_key(): entries[content]}}).encode()
    calibration_path(tmp_path).write_bytes(content)
    calibration, problem = cached_calibration(tmp_path)
    assert calibration is None and needle in problem and "ignored" in problem and "\n" not in problem


def test_saving_keeps_other_machines_within_the_bound(tmp_path) -> None:
    others = {f"machine{i}": _entry() for i in range(cost.MAX_MACHINES + 5)}
    calibration_path(tmp_path).write_text(json.dumps({"format": "cnnstudio-calibration", "version": 1,
                                                      "machines": others}))
    save_calibration(SLOW_CPU, tmp_path)  # the damaged (too long) cache is replaced
    save_calibration(SLOW_CPU, tmp_path)
    machines = json.loads(calibration_path(tmp_path).read_text())["machines"]
    assert machines == {cost.machine_key(): json.loads(json.dumps(SLOW_CPU.__dict__))}
    assert cached_calibration(tmp_path) == (SLOW_CPU, None)


def _summary(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.run_command(cli.build_parser().parse_args(["summary", *argv]))
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_reports_the_cost_without_tensorflow_by_default(capsys) -> None:
    code, out, _ = _summary(capsys, "--arch", "alexnet", "--json")
    data = json.loads(out)["cost"]
    assert code == 0 and data["calibrated"] is False and data["calibration"] is None
    assert data["train_images"] == 54_000 and data["validation_images"] == 6_000
    assert "alexnet_cifar" in data["warning"]
    save_calibration(SLOW_CPU)  # the test's private data folder
    code, out, _ = _summary(capsys, "--arch", "lenet5", "--dataset", "digits")
    assert code == 0 and "an estimate from this machine's calibration" in out and "warning" not in out


def test_summary_calibrate_measures_and_caches(capsys, monkeypatch) -> None:
    monkeypatch.setattr(cost, "measure_references", lambda: ("CPU", [Sample(1_000, 100, 0.1),
                                                                      Sample(1_000_000, 100, 1.0)]))
    code, out, err = _summary(capsys, "--calibrate", "--json")
    assert code == 0 and "calibrating" in err and json.loads(out)["cost"]["calibrated"] is True
    assert cached_calibration()[0] is not None


def test_the_reference_measurement_really_runs() -> None:
    device, samples = cost.measure_references(steps=3, batch_size=16)
    assert device == "CPU" or device.startswith("GPU")
    assert [s.images for s in samples] == [48, 48] and all(s.seconds > 0 for s in samples)
    assert samples[0].macs < samples[1].macs


def test_no_data_folder_means_no_calibration_and_no_warning(tmp_path) -> None:
    from cnnstudio.core.network.cost import cached_calibration

    (tmp_path / "home").write_text("a file where the data folder should be")
    assert cached_calibration(tmp_path / "home") == (None, None)
    assert cached_calibration(tmp_path / "missing") == (None, None)


def test_a_pipe_as_the_calibration_cache_is_ignored_without_blocking(tmp_path) -> None:
    import os

    from cnnstudio.core.network.cost import cached_calibration, calibration_path

    os.mkfifo(calibration_path(tmp_path))
    calibration, problem = cached_calibration(tmp_path)
    assert calibration is None and "not a regular file" in problem

"""The ``cnnstudio`` command-line contract, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def cli(*args: str, cwd=None, timeout: int = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m cnnstudio``; the environment is the test's own at call time (its private folders)."""
    base = {name: value for name, value in os.environ.items() if name != "CNNSTUDIO_DEBUG"}
    return subprocess.run([sys.executable, "-m", "cnnstudio", *args], capture_output=True, text=True,
                          timeout=timeout, env={**base, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}, cwd=cwd)


def last_json(out: str):
    return json.loads(out.strip().splitlines()[-1])


def assert_one_line_error(result: subprocess.CompletedProcess, needle: str) -> None:
    assert result.returncode == 2
    lines = result.stderr.splitlines()
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
    (("train", "--epochs", "1", "--out", "x.KERAS"), "--out x.KERAS: the file name must end in .keras"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle) -> None:
    assert_one_line_error(cli(*args), needle)


def test_hostile_names_numbers_and_files_are_one_line_and_exit_2(tmp_path) -> None:
    """Names too long to look up, numbers of thousands of digits, a named pipe as a design (it blocked forever)."""
    long_name = "a" * 300
    assert_one_line_error(cli("summary", "--arch", long_name), "invalid choice")
    assert_one_line_error(cli("train", "--dataset", "digits", "--out", str(tmp_path / f"{long_name}.keras")),
                          "the file name is longer than 255 bytes")
    assert_one_line_error(cli("summary", "--save-design", str(tmp_path / long_name / "d.cnn.json")), "--save-design")
    assert_one_line_error(cli("summary", "--padding", "9" * 5000), "padding must be")
    design = tmp_path / "big.cnn.json"
    design.write_text('{"format": "cnnstudio-design", "version": 1, "name": "d", "layers": '
                      f'[{{"kind": "conv", "filters": {"9" * 5000}, "kernel": 3}}, {{"kind": "flatten"}}]}}')
    assert_one_line_error(cli("summary", "--arch", str(design)), "is not a design")
    if hasattr(os, "mkfifo"):
        pipe = tmp_path / "pipe.cnn.json"
        os.mkfifo(pipe)
        assert_one_line_error(cli("summary", "--arch", str(pipe), timeout=60), "not a regular file")


def digit_pngs(images: np.ndarray, labels: np.ndarray, folder: Path, per_class: int = 4) -> tuple[list[str], list[str]]:
    """The first ``per_class`` images of each class as PNG files the way a user might have them: four
    times the size, at different places, dark ink on white or light on black. Returns files and labels."""
    files, truth = [], []
    for label in range(10):
        for k, index in enumerate(np.flatnonzero(labels == label)[:per_class]):
            dark_on_white = k % 2 == 0
            pixels = 255 - images[index, :, :, 0] if dark_on_white else images[index, :, :, 0]
            ink = Image.fromarray(pixels).resize((112, 112), Image.BILINEAR)
            paper = Image.new("L", (150, 130), 255 if dark_on_white else 0)
            paper.paste(ink, (12 * k, 9 * k))
            files.append(str(folder / f"digit{label}_{k}.png"))
            paper.save(files[-1])
            truth.append(str(label))
    return files, truth


def predict_labels(model: Path, files: list[str]) -> list[str]:
    predicted = cli("predict", str(model), *files, "--json")
    assert predicted.returncode == 0 and predicted.stderr == "", predicted.stderr  # TensorFlow's chatter kept off
    rows = last_json(predicted.stdout)
    assert [row["file"] for row in rows] == files
    assert all(len(row["probabilities"]) == 10 and abs(sum(row["probabilities"]) - 1) < 1e-4 for row in rows)
    return [row["label"] for row in rows]


def test_train_json_then_info_evaluate_predict(tmp_path, digits) -> None:
    model = tmp_path / "digits.keras"
    result = cli("train", "--arch", "lenet5", "--pooling", "avg", "--padding", "same", "--dataset", "digits",
                 "--epochs", "2", "--seed", "1", "--out", str(model), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = last_json(result.stdout)
    assert {"test_accuracy", "test_loss", "epochs", "seconds_per_epoch", "params"} <= set(summary)
    assert summary["epochs"] == 2 and len(summary["seconds_per_epoch"]) == 2
    assert summary["params"] == 136_586 and 0.3 < summary["test_accuracy"] <= 1.0
    assert summary["model"] == str(model)  # with --out, the model is there
    assert "epoch 2/2" in result.stderr  # progress goes to stderr

    info = cli("info", str(model), "--json")
    record = last_json(info.stdout)
    assert record["experiment"]["model"]["pooling"] == "avg" and record["dataset"]["name"] == "digits"
    assert record["test"]["accuracy"] == pytest.approx(summary["test_accuracy"])

    evaluated = cli("evaluate", str(model), "--json")
    assert evaluated.stderr == ""  # TensorFlow's start-up chatter never reaches a command's terminal
    assert last_json(evaluated.stdout)["test_accuracy"] == pytest.approx(summary["test_accuracy"], abs=1e-6)

    resumed = cli("train", "--resume", str(model), "--dataset", "digits", "--epochs", "1", "--out", str(model), "--json")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert last_json(resumed.stdout)["epochs"] == 3
    for extra, flags in ((["--pooling", "min"], "--pooling"), (["--padding", "valid", "--batch-norm"], "--padding, --batch-norm"),
                         (["--activation", "relu", "--dropout", "0.5"], "--activation, --dropout")):
        # even a value equal to the saved one: the network is the saved one, not one built from these
        assert_one_line_error(cli("train", "--resume", str(model), "--epochs", "1", *extra),
                              f"--resume continues the saved network as it was built: {flags} cannot change it")

    # Different digits, drawn dark on white and placed anywhere, get different and mostly right answers
    # (this small model gets about 3 in 4 of these right; one that always answered one class, 1 in 10).
    files, truth = digit_pngs(digits.x_test, digits.y_test, tmp_path)
    labels = predict_labels(model, files)
    right = sum(label == true for label, true in zip(labels, truth))
    assert right >= len(files) // 2 and len(set(labels)) >= 8, list(zip(truth, labels))


def test_train_without_out_reports_the_kept_copy_and_predict_refuses_bad_images(tmp_path) -> None:
    result = cli("train", "--dataset", "digits", "--epochs", "1", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    kept = last_json(result.stdout)["model"]
    assert kept is not None and Path(kept).is_file(), result.stdout  # the run history's copy
    assert Path(kept).resolve().is_relative_to(Path(os.environ["CNNSTUDIO_HOME"]).resolve())
    assert last_json(cli("info", kept, "--json").stdout)["dataset"]["name"] == "digits"

    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    assert_one_line_error(cli("predict", kept, str(blank)), "blank")
    for command in (["predict", kept, str(blank)], ["explain", kept, str(blank), "--out", str(tmp_path / "h.png")]):
        refused = subprocess.run(  # the record says how to prepare images: a blank one is refused before TensorFlow
            [sys.executable, "-c", "import sys; from cnnstudio.cli import main; code = main(sys.argv[1:]); "
             "print(code, 'tensorflow' in sys.modules)", *command], capture_output=True, text=True, timeout=300)
        assert refused.stdout.split() == ["2", "False"] and "blank" in refused.stderr, refused
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture at all")
    assert_one_line_error(cli("predict", kept, str(notes)), f"{notes}: not an image file (PNG, JPEG, BMP, GIF, TIFF")
    missing = tmp_path / "absent.png"
    assert_one_line_error(cli("predict", kept, str(blank), str(missing)), f"{missing}: no such file")


@pytest.mark.slow
def test_lenet5_reaches_975_on_real_mnist_in_three_epochs(mnist_dir, tmp_path) -> None:
    """The acceptance run: LeNet-5, max pooling, valid padding, 3 epochs on the shared MNIST files; then predict."""
    model = tmp_path / "mnist.keras"
    result = cli("train", "--arch", "lenet5", "--pooling", "max", "--padding", "valid",
                 "--dataset", str(mnist_dir), "--epochs", "3", "--out", str(model), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = last_json(result.stdout)
    print(f"test accuracy {summary['test_accuracy']:.4f}, seconds per epoch {summary['seconds_per_epoch']}")
    assert summary["test_accuracy"] >= 0.975

    # Real test digits as image files a user might have: each class recognised, nearly all right.
    from cnnstudio.core.data.datasets import load_dataset

    mnist = load_dataset(str(mnist_dir))
    files, truth = digit_pngs(mnist.x_test, mnist.y_test, tmp_path)
    labels = predict_labels(model, files)
    right = sum(label == true for label, true in zip(labels, truth))
    assert right >= len(files) - 4 and set(labels) == set(truth), list(zip(truth, labels))


def test_device_choices_fall_back_with_a_notice_and_are_recorded(tmp_path) -> None:
    """No GPU here: gpu:1 falls back with one notice line, and so does mixed precision unless this CPU has
    bfloat16 instructions (then it trains in bfloat16); the run says where and how it trained."""
    from cnnstudio.core.training.devices import cpu_has_bfloat16
    from cnnstudio.core.training.execution import MIXED_PRECISION_ON_CPU

    result = cli("train", "--dataset", "digits", "--epochs", "1", "--device", "gpu:1", "--mixed-precision",
                 "--xla", "off", "--json")
    assert result.returncode == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if line.startswith("notice: ")]
    bfloat16 = cpu_has_bfloat16()
    assert notices == ["notice: no GPU is visible to TensorFlow: using the CPU instead of gpu:1",
                       *([] if bfloat16 else [f"notice: {MIXED_PRECISION_ON_CPU}"])]
    device = f"CPU, batch 64, {'mixed_bfloat16' if bfloat16 else 'float32'}, no XLA"
    data = last_json(result.stdout)
    assert data["device"] == device and f"on {device}" in result.stderr


def test_an_nvidia_gpu_tensorflow_cannot_use_is_explained(tmp_path) -> None:
    """A machine whose NVIDIA driver files exist but whose libcuda.so.1 does not load: the notice names the cause.

    The driver's files are faked under a temporary root; TensorFlow's build and the library loader are real.
    """
    import ctypes

    try:
        ctypes.CDLL("libcuda.so.1")
        pytest.skip("this machine has a working libcuda.so.1: the next cause would be checked instead")
    except OSError:
        pass
    (tmp_path / "proc/driver/nvidia").mkdir(parents=True)
    (tmp_path / "proc/driver/nvidia/version").write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14\n")
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/nvidia0").write_text("")
    program = ("import sys; from pathlib import Path; import cnnstudio.core.training.gpu_check as check; "
               f"check.GpuSystem.__init__.__defaults__ = (Path({str(tmp_path)!r}), None, None); "
               "from cnnstudio.cli import main; raise SystemExit(main(sys.argv[1:]))")
    base = {name: value for name, value in os.environ.items() if name != "CNNSTUDIO_DEBUG"}
    result = subprocess.run([sys.executable, "-c", program, "train", "--dataset", "digits", "--epochs", "1",
                             "--device", "gpu", "--json"], capture_output=True, text=True, timeout=600,
                            env={**base, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if line.startswith("notice: ")]
    assert len(notices) == 2, result.stderr
    assert notices[0].startswith("notice: an NVIDIA GPU is present (driver 550.54.14), but the NVIDIA driver's "
                                 "libcuda.so.1 cannot be loaded (") and notices[0].endswith(
                                     "): reinstall the driver")
    assert notices[1] == "notice: no GPU is visible to TensorFlow: using the CPU instead of gpu:0"


@pytest.mark.parametrize(("argv", "reason"), [
    (["train", "--device", "tpu"], "unknown device 'tpu'"),
    (["train", "--device", "gpu:-1"], "unknown device"),
    (["evaluate", "m.keras", "--device", "GPUs"], "unknown device 'GPUs': use cpu, gpu, gpu:N (N = 0, 1, 2, …), "
                                                 "all-gpus or auto (any case;"),  # not workers: train only
    (["study", "--device", "workers"], "workers (several machines) is for train only"),
    (["train", "--device", "tpu"], "all-gpus, auto or workers"),
    (["study", "--ray", "local", "--device", "cpu", "--dataset", "digits"], "apply to studies on this computer"),
    (["study", "--ray", "", "--dataset", "digits"], "argument --ray: '' is not a Ray address (local, auto"),
    (["study", "--ray", "bogus::address", "--dataset", "digits"], "'bogus::address' is not a Ray address"),
    (["study", "--ray", "ray://", "--dataset", "digits"], "'ray://' is not a Ray address"),
    (["study", "--ray", "head:99999", "--dataset", "digits"], "'head:99999' is not a Ray address"),
])
def test_bad_device_settings_are_one_line(argv, reason, tmp_path) -> None:
    assert_one_line_error(cli(*argv, cwd=tmp_path), reason)


def test_a_design_named_like_a_preset_is_still_a_design(tmp_path) -> None:
    """Its name is the user's: a 4-layer design called AlexNet trained at AlexNet's rate (1/20) and was listed as AlexNet."""
    design = tmp_path / "mine.cnn.json"
    design.write_text(json.dumps({"format": "cnnstudio-design", "version": 1, "name": "AlexNet", "layers": [
        {"kind": "conv", "filters": 6, "kernel": 5}, {"kind": "pool", "size": 2}, {"kind": "flatten"}]}))
    out = tmp_path / "mine.keras"
    trained = cli("train", "--dataset", "digits", "--arch", str(design), "--epochs", "1", "--out", str(out))
    assert trained.returncode == 0, trained.stderr
    assert "training the design 'AlexNet'" in trained.stderr and "learning rate 0.002 " in trained.stderr
    info = cli("info", str(out))
    assert info.returncode == 0 and "network the design 'AlexNet'" in info.stdout and "architecture" not in info.stdout


def test_outputs_that_would_destroy_an_input_or_fail_late_are_refused_first(tmp_path) -> None:
    image = tmp_path / "digit.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    before = image.read_bytes()
    model = tmp_path / "m.keras"
    model.write_bytes(b"not read: the output is refused before the model is opened")
    assert_one_line_error(cli("explain", str(model), str(image), "--out", str(image)), "is the image being explained")
    assert image.read_bytes() == before
    (tmp_path / "r-curves.png").mkdir()  # where the study's curves would go: refused before any training
    assert_one_line_error(cli("study", "--dataset", "digits", "--epochs", "1", "--report", str(tmp_path / "r.md")),
                          "r-curves.png is a folder")


def test_every_option_of_every_command_says_what_it_does() -> None:
    """``--help`` is how a user learns the commands: no option is listed without a description."""
    import argparse

    from cnnstudio.cli import build_parser

    parser = build_parser()
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    bare = [f"{name} {(action.option_strings or [action.dest])[0]}"
            for name, command in commands.choices.items() for action in command._actions if not action.help]
    assert bare == []


def test_overlapping_study_runs_print_whose_epoch_each_line_is(capsys) -> None:
    """On Ray a study's runs train at once: every progress line names its run, and each run gets its own estimate."""
    from cnnstudio.cli import _StderrProgress
    from cnnstudio.core.training.progress import EpochResult

    progress = _StderrProgress(runs=3)
    for run, epoch in ((1, 0), (0, 0), (1, 1), (0, 1)):
        progress.on_run(run)
        progress.on_epoch(EpochResult(epoch, 3, {"loss": 0.5}, 2.0))
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["run 2/3  epoch 1/3  2.0s  loss 0.5000", "run 1/3  epoch 1/3  2.0s  loss 0.5000",
                     "run 2/3  epoch 2/3  2.0s  loss 0.5000",
                     "run 2/3  estimated time for the remaining 1 epoch: about 2 s at 2.0 s per epoch",
                     "run 1/3  epoch 2/3  2.0s  loss 0.5000",
                     "run 1/3  estimated time for the remaining 1 epoch: about 2 s at 2.0 s per epoch"]
    alone = _StderrProgress()  # one run at a time: no prefix, whatever on_run says
    alone.on_run(4)
    alone.on_epoch(EpochResult(0, 1, {"loss": 0.5}, 2.0))
    assert capsys.readouterr().err == "epoch 1/1  2.0s  loss 0.5000\n"
    short = _StderrProgress()  # two epochs: the first includes compiling, so no estimate from it
    short.on_epoch(EpochResult(0, 2, {"loss": 0.5}, 9.0))
    assert "estimated" not in capsys.readouterr().err


def test_an_interrupted_train_json_still_says_what_was_kept(tmp_path) -> None:
    """Ctrl-C after some epochs: exit 130, and --json's object names the checkpoint and its epochs for a script."""
    import signal

    out = tmp_path / "m.keras"
    base = {name: value for name, value in os.environ.items() if name != "CNNSTUDIO_DEBUG"}
    process = subprocess.Popen([sys.executable, "-m", "cnnstudio", "train", "--dataset", "digits", "--epochs", "500",
                                "--lr-schedule", "constant", "--out", str(out), "--json"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**base, "TF_CPP_MIN_LOG_LEVEL": "2"})
    seen = []
    for line in process.stderr:  # the first finished epoch has been checkpointed when its line appears
        seen.append(line)
        if line.startswith("epoch 1/500"):
            break
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, "".join(seen) + stderr
    summary = last_json(stdout)
    assert summary["stop_reason"] == "interrupted" and summary["model"] == str(out) and summary["evaluated"] is False
    assert summary["epochs"] >= 1 and summary["epochs"] == last_json(cli("info", str(out), "--json").stdout)["epoch_ends"][-1]


def test_train_json_interrupted_before_its_first_checkpoint_still_prints_its_object(tmp_path) -> None:
    """SIGTERM as the run starts (before any epoch is kept): --json's object still comes, saying nothing was kept.

    Before, an interrupt while TensorFlow loaded or the data was read printed nothing on stdout.
    """
    import signal

    from cnnstudio.cli import _interrupted_summary, _TrainSoFar

    early = _interrupted_summary(_TrainSoFar(dataset="digits"))  # TensorFlow still loading: nothing known yet
    assert early["stop_message"] == "interrupted (Ctrl-C or a signal) before training began: nothing was kept"
    assert early["model"] is None and early["epochs"] is None and early["experiment"] is None

    base = {name: value for name, value in os.environ.items() if name != "CNNSTUDIO_DEBUG"}
    process = subprocess.Popen([sys.executable, "-m", "cnnstudio", "train", "--dataset", "digits", "--epochs", "500",
                                "--out", str(tmp_path / "m.keras"), "--json"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**base, "TF_CPP_MIN_LOG_LEVEL": "2"})
    first = process.stderr.readline()  # "digits: 1,438 training and …": the run is about to begin
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, first + stderr
    summary = last_json(stdout)
    assert summary["stop_reason"] == "interrupted" and summary["dataset"] == "digits"
    if summary["model"] is None:  # the usual case: the signal landed while the first epoch compiled
        assert summary["stop_message"] in ("interrupted (Ctrl-C or a signal) before training began: nothing was kept",
                                           "interrupted (Ctrl-C or a signal) before any epoch was checkpointed")
        assert summary["epochs"] is None


@pytest.mark.parametrize(("argv", "reason"), [
    (["train", "--dataset", "digits", "--patience", "10001"], "patience must be a whole number from 0 to 10000, not 10001"),
    (["train", "--dataset", "a\tb.npz"], "--dataset 'a\\tb.npz': the path has a control character (a tab, a newline…)"),
    (["train", "--dataset", "digits", "--out", "~nouser-cnnstudio/x.keras"],
     "~nouser-cnnstudio/x.keras: ~nouser-cnnstudio names no user's home folder here (write the path in full)"),
    (["summary", "--dataset", "~nouser-cnnstudio/data"], "~nouser-cnnstudio names no user's home folder here"),
    (["train", "--dataset", "digits", "--batch-size", "١٢"], "argument --batch-size: '١٢' is not a whole number (use "
                                                            "the digits 0-9)"),
    (["train", "--dataset", "digits", "--dropout", "١٢"], "argument --dropout: '١٢' is not a number (use the digits"),
    (["train", "--dataset", "digits", "--learning-rate", "1e-300"], "learning rate must be from 1e-30 to 10 (smaller "
                                                                   "rates are lost in float32 arithmetic)"),
    (["train", "--dataset", "digits", "--epochs", "9" * 5000], "argument --epochs: 99999999999999999999999… "
                                                              "(5,000 digits) is too large"),
    (["summary", "--arch", "lenet\u200b"], "argument --arch: invalid choice: 'lenet\\u200b' (choose from lenet5,"),
    (["info", "~nouser-cnnstudio/m.keras"], "argument model: ~nouser-cnnstudio/m.keras: ~nouser-cnnstudio names no "
                                            "user's home folder here"),
])
def test_inputs_found_by_attacking_the_cli_are_refused_before_training(argv, reason, tmp_path) -> None:
    """Each of these once trained to the end and then lost the model, crashed, or was read as something else
    (Arabic-Indic digits as 12, a rate that rounds to 0): now one line, at once."""
    assert_one_line_error(cli(*argv, cwd=tmp_path), reason)


def test_files_to_read_expand_a_quoted_tilde_as_outputs_do(tmp_path) -> None:
    """``--out '~/m.keras'`` was written under the home folder, but ``info '~/m.keras'`` looked for a folder named ~."""
    home = tmp_path / "home"
    home.mkdir()
    trained = cli("train", "--dataset", "digits", "--epochs", "1", "--out", "~/m.keras", env={"HOME": str(home)})
    assert trained.returncode == 0, trained.stderr
    assert (home / "m.keras").is_file()
    for argv in (["info", "~/m.keras"], ["evaluate", "~/m.keras"], ["train", "--resume", "~/m.keras", "--epochs", "2"]):
        shown = cli(*argv, cwd=tmp_path, env={"HOME": str(home)})
        assert shown.returncode == 0, (argv, shown.stderr)
    missing = cli("summary", "--arch", "~/none.cnn.json", env={"HOME": str(home)})
    assert_one_line_error(missing, f"{home / 'none.cnn.json'}: cannot read the design")


def test_info_on_a_record_with_half_its_test_figures(tmp_path) -> None:
    """A record with a test accuracy but no test loss is shown as not evaluated, not a crash."""
    from archive_helpers import write_zip, zip_members

    model = tmp_path / "m.keras"
    assert cli("train", "--dataset", "digits", "--epochs", "1", "--out", str(model)).returncode == 0
    members = zip_members(model)
    record = json.loads(members["cnnstudio.json"])
    record["test"]["loss"] = None
    write_zip(model, {**members, "cnnstudio.json": json.dumps(record).encode()})
    shown = cli("info", str(model))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.rstrip().endswith("not evaluated on the test set (both test figures are needed)")


def test_a_network_whose_feature_maps_cannot_fit_is_refused_before_tensorflow(tmp_path) -> None:
    """11 borders of 64 px and 4096 filters: about 31.5 GiB of feature maps an image, so a batch of 64 needs some
    3.9 TiB. TensorFlow's oneDNN kernels ended such a run with a segmentation fault and no word; now one line."""
    layers = ", ".join(["pad 64"] * 11 + ["conv 4096 1", "gap"])
    refused = cli("train", "--layers", layers, "--dataset", "digits", "--epochs", "1", cwd=tmp_path)
    assert_one_line_error(refused, "training needs about 3.9 TiB for the feature maps of a batch of 64 (31.5 GiB an "
                                   "image, kept with their gradients), more than the ")
    assert "use fewer filters, less padding, smaller images or a smaller batch" in refused.stderr


def test_training_memory_is_the_feature_maps_of_a_batch_and_their_gradients() -> None:
    from cnnstudio.core.config import ModelOptions
    from cnnstudio.core.errors import ConfigError
    from cnnstudio.core.network.cost import activation_bytes
    from cnnstudio.core.network.shape_table import shape_table
    from cnnstudio.core.training.memory import check_training_memory, training_bytes

    table = shape_table(ModelOptions(), (28, 28, 1), 10)
    assert training_bytes(table, 64) == 2 * 64 * activation_bytes(table)
    check_training_memory(table, 64, available=training_bytes(table, 64))  # just fits: no error
    with pytest.raises(ConfigError, match=r"^training needs about .* for the feature maps of a batch of 64"):
        check_training_memory(table, 64, available=training_bytes(table, 64) - 1)


def test_an_error_a_stop_signal_caused_is_reported_as_the_interruption(monkeypatch, capsys) -> None:
    """A SIGTERM landing inside TensorFlow's import came out as 'internal error: ImportError: initialization failed'."""
    import argparse

    import cnnstudio.cli as module

    def broken(_args):
        raise ImportError("initialization failed")

    monkeypatch.setitem(module.COMMANDS, "evaluate", broken)
    monkeypatch.setattr(module, "stop_requested", lambda: False)
    assert module.run_command(argparse.Namespace(command="evaluate")) == 1  # no signal: a real failure, said so
    assert "internal error: ImportError: initialization failed" in capsys.readouterr().err
    monkeypatch.setattr(module, "stop_requested", lambda: True)
    assert module.run_command(argparse.Namespace(command="evaluate")) == 130
    assert capsys.readouterr().err == "cnnstudio evaluate: interrupted\n"


def test_stop_signals_are_remembered_and_raise_as_ctrl_c() -> None:
    """In a fresh interpreter: SIGTERM raises KeyboardInterrupt and is remembered for errors it causes elsewhere,
    even when the parent process left it blocked (it would stay pending, and `kill` would do nothing)."""
    code = ("import os, signal\nfrom cnnstudio import stop_signals\n"
            "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})\nstop_signals.end_like_ctrl_c()\n"
            "assert not stop_signals.stop_requested()\ntry:\n    os.kill(os.getpid(), signal.SIGTERM)\n"
            "    import time; time.sleep(5)\nexcept KeyboardInterrupt:\n    print(stop_signals.stop_requested())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout == "True\n", done.stderr


def test_pooling_is_read_in_any_case_as_padding_is() -> None:
    shown = cli("summary", "--pooling", "MIN", "--padding", "VALID")
    assert shown.returncode == 0, shown.stderr
    assert "MinPooling2D" in shown.stdout


def test_a_saved_designs_name_is_printed_escaped(tmp_path) -> None:
    """A file name with a newline (or an escape sequence) must not break the terminal line it is printed on."""
    done = cli("summary", "--save-design", "new\nline", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "design saved: new\\x0aline.cnn.json" in done.stderr.splitlines()
    assert (tmp_path / "new\nline.cnn.json").is_file()

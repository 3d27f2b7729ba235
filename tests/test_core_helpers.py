"""Small shared helpers of the core: one-line error text and the data folders."""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs
import pytest

from cnnstudio.core import paths
from cnnstudio.core.errors import DatasetError, one_line


def test_one_line_names_foreign_errors_and_collapses_whitespace() -> None:
    assert one_line(ValueError("bad\n  value\there")) == "ValueError: bad value here"
    assert one_line(KeyError()) == "KeyError"
    assert one_line(RuntimeError("   ")) == "RuntimeError"


def test_one_line_cuts_long_messages_to_the_limit() -> None:
    text = one_line(OSError("x" * 500), limit=20)
    assert text == "OSError: " + "x" * 19 + "…"
    assert one_line(OSError("x" * 20), limit=20) == "OSError: " + "x" * 20
    assert len(one_line(OSError("word " * 200))) == len("OSError: ") + 300


def test_one_line_keeps_cnnstudio_messages_whole_and_unnamed() -> None:
    message = "could not read " + "very long reason " * 30
    assert one_line(DatasetError(message + "\n")) == message.strip()


def test_data_dir_honours_cnnstudio_home(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CNNSTUDIO_HOME", str(tmp_path))
    assert paths.data_dir() == tmp_path
    assert paths.log_dir() == tmp_path / "logs"


def test_data_dir_is_the_platform_user_data_folder_without_cnnstudio_home(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("CNNSTUDIO_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert paths.data_dir() == Path(platformdirs.user_data_dir("cnnstudio", appauthor=False))
    assert paths.log_dir() == Path(platformdirs.user_log_dir("cnnstudio", appauthor=False))
    if sys.platform.startswith("linux"):  # the old Linux default is kept
        assert paths.data_dir() == tmp_path / "data" / "cnnstudio"


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_data_dir_keeps_the_folder_name_earlier_versions_used_on_windows_and_macos(monkeypatch, platform) -> None:
    monkeypatch.delenv("CNNSTUDIO_HOME", raising=False)
    monkeypatch.setattr(paths.sys, "platform", platform)
    assert paths.data_dir().name == "CNN Studio"


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_cnnstudio_home_is_ignored(monkeypatch, value) -> None:
    monkeypatch.setenv("CNNSTUDIO_HOME", value)
    assert paths.data_dir() == Path(platformdirs.user_data_dir("cnnstudio", appauthor=False))


def test_digit_like_rule() -> None:
    from cnnstudio.core.data.datasets import digit_like

    assert digit_like((28, 28, 1), 10, "digits") and digit_like((28, 28, 1), 10, "MNIST")
    assert not digit_like((28, 28, 1), 10, "fashion-mnist")  # a built-in name decides, not the shape
    assert not digit_like((32, 32, 3), 10, "cifar10")
    assert digit_like((28, 28, 1), 10) and digit_like((28, 28)) and digit_like((28, 28, 1), None, "my_folder")
    assert not digit_like((28, 28, 3), 10)  # colour
    assert not digit_like((28, 28, 1), 26)  # e.g. letters
    assert not digit_like((32, 32, 1), 10)


@pytest.mark.parametrize(("shape", "classes", "expected"), [((28, 28), 10, True), ((28, 28, 1), 10, True),
                                                            ((28, 28), 3, False), ((28, 28, 3), 10, False)])
def test_loaded_datasets_use_the_digit_like_rule(tmp_path, shape, classes, expected) -> None:
    import numpy as np

    from cnnstudio.core.data.datasets import load_dataset

    labels = np.arange(20) % classes
    path = tmp_path / "set.npz"
    np.savez(path, x_train=np.zeros((20, *shape), np.uint8), y_train=labels,
             x_test=np.zeros((20, *shape), np.uint8), y_test=labels)
    assert load_dataset(str(path)).digit_like is expected


def test_a_models_file_stem_names_its_network_pooling_and_padding() -> None:
    from cnnstudio.core.config import ModelOptions
    from cnnstudio.core.network.design import Design, LayerEntry

    assert ModelOptions().file_stem == "lenet5-max-valid"
    assert ModelOptions(pooling="min", padding="2").file_stem == "lenet5-min-pad2"  # an explicit border
    design = Design("my net.v2  1", (LayerEntry("flatten"),))
    assert ModelOptions(design=design, padding="same").file_stem == "my-net-v2-1-max-same"  # only safe characters

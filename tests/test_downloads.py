"""Keras dataset downloads: progress reaches the caller, failures become sentences, nothing is printed."""

from __future__ import annotations

import socket
import urllib.error

import pytest

from cnnstudio.core.data import datasets
from cnnstudio.core.data.downloads import DownloadError, download_failure_reason, reporting_downloads


def test_progress_hook_reports_bytes_and_is_removed_afterwards(monkeypatch, tmp_path) -> None:
    from keras.src.utils import file_utils

    def fake_urlretrieve(url, filename, reporthook=None, data=None):
        for block in range(4):
            reporthook(block, 1000, 2500)
        return filename, None

    monkeypatch.setattr(file_utils, "urlretrieve", fake_urlretrieve)
    seen: list[tuple[int, int | None]] = []
    with reporting_downloads(lambda done, total: seen.append((done, total))):
        file_utils.urlretrieve("https://example.invalid/x.npz", str(tmp_path / "x"), None)
    assert seen == [(0, 2500), (1000, 2500), (2000, 2500), (2500, 2500)]  # never past the total
    assert file_utils.urlretrieve is fake_urlretrieve


def test_cli_train_defaults_to_mnist_and_falls_back_to_digits_with_one_notice(tmp_path) -> None:
    """No network in the tests: the default MNIST cannot be downloaded; stdout stays pure JSON."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "CNNSTUDIO_HOME": str(tmp_path / "home"), "KERAS_HOME": str(tmp_path / "keras")}
    # conftest blocks sockets in this process only; the subprocess gets a loopback proxy where nothing listens
    env.update(http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
    for variable in ("no_proxy", "NO_PROXY"):
        env.pop(variable, None)
    run = subprocess.run([sys.executable, "-m", "cnnstudio", "train", "--epochs", "1", "--json"], capture_output=True,
                         text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout)  # nothing but the JSON line on stdout
    assert result["dataset"] == "digits" and result["experiment"]["dataset"] == "digits"
    notices = [line for line in run.stderr.splitlines() if "could not download mnist" in line]
    assert len(notices) == 1 and notices[0].endswith("using the built-in digits instead") and "URL fetch" not in notices[0]


def _keras_style_failure(cause: BaseException) -> Exception:
    """What keras.utils.get_file raises: a bare Exception raised while handling the real error."""
    failure = Exception("URL fetch failure on https://example.invalid: -2 -- [Errno -2] Name or service not known")
    failure.__context__ = cause
    return failure


@pytest.mark.parametrize(("cause", "words"), [
    (urllib.error.URLError(socket.gaierror(-2, "Name or service not known")), "no network connection"),
    (urllib.error.URLError(TimeoutError("timed out")), "timed out"),
    (urllib.error.URLError(ConnectionRefusedError(111, "refused")), "refused"),
    (urllib.error.HTTPError("https://example.invalid", 503, "Service Unavailable", None, None), "HTTP 503"),
])
def test_failures_are_explained_from_the_exception_type(cause, words) -> None:
    reason = download_failure_reason(_keras_style_failure(cause))
    assert words in reason and "Errno" not in reason and "URL fetch" not in reason


def test_an_offline_mnist_download_is_one_sentence_with_the_offline_options(monkeypatch) -> None:
    """A real keras.datasets download attempt (sockets are refused in the tests, the Keras cache is empty)."""
    assert not (datasets.keras_cache_dir() / "mnist.npz").exists()
    progress: list[tuple[int, int | None]] = []
    with pytest.raises(DownloadError) as info:
        datasets.load_dataset("mnist", progress=lambda done, total: progress.append((done, total)))
    message = str(info.value)
    assert message.startswith("could not download mnist: the network could not be reached") or \
        message.startswith("could not download mnist: there is no network connection"), message
    assert "IDX" in message and "'digits'" in message and "\n" not in message and "URL fetch" not in message


@pytest.mark.parametrize(("given", "words"), [
    ("/nonexistent/mnist", "/nonexistent/mnist: no such file or folder (built-in datasets: digits, mnist"),
    ("data.npz", "data.npz: no such file or folder"),
    ("", "no dataset given"),
    ("imagenet", "unknown dataset 'imagenet'"),
])
def test_missing_paths_and_names_are_told_apart(given, words) -> None:
    with pytest.raises(datasets.DatasetError) as info:
        datasets.load_dataset(given)
    assert words in str(info.value)

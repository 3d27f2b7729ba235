"""oneDNN's CPU kernels: asked for before TensorFlow loads, unless the user chose, and reported in About."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest
from repo_paths import REPO

from cnnstudio.core.training.cpu_kernels import ONEDNN_SWITCH, prefer_onednn_kernels
from cnnstudio.core.training.runtime import RuntimeInfo


def test_asks_for_onednn_when_the_user_did_not_choose():
    environ: dict[str, str] = {}
    assert prefer_onednn_kernels(environ) is True
    assert environ == {ONEDNN_SWITCH: "1"}


@pytest.mark.parametrize("choice", ["0", "false", "1", ""])
def test_the_users_choice_wins(choice):
    environ = {ONEDNN_SWITCH: choice}
    assert prefer_onednn_kernels(environ) is False
    assert environ == {ONEDNN_SWITCH: choice}


def test_runtime_info_names_the_cpu_kernels():
    base = RuntimeInfo("2.21.0", "3.15.1", ())
    assert base.cpu_kernels == ""  # unknown: About says nothing rather than guess
    assert RuntimeInfo("2.21.0", "3.15.1", (), onednn=True).cpu_kernels == "oneDNN"
    off = RuntimeInfo("2.21.0", "3.15.1", (), onednn=False).cpu_kernels
    assert off.startswith("TensorFlow's own") and f"{ONEDNN_SWITCH}=1" in off


def test_about_shows_the_cpu_kernels():
    pytest.importorskip("PySide6")
    from cnnstudio.ui.about import runtime_text

    assert "CPU kernels: oneDNN" in runtime_text(RuntimeInfo("2.21.0", "3.15.1", (), onednn=True))
    assert "CPU kernels" not in runtime_text(RuntimeInfo("2.21.0", "3.15.1", ()))


def test_about_says_a_cuda_build_is_unused_without_a_gpu():
    """"built with CUDA 12.5.1, cuDNN 9" on a CPU-only machine read as if a GPU were in use."""
    pytest.importorskip("PySide6")
    from cnnstudio.ui.about import runtime_text

    cpu_only = RuntimeInfo("2.21.0", "3.15.1", (), cuda_version="12.5.1", cudnn_version="9")
    # a name and its version never part at a line end ("cuDNN⏎9" in the narrow dialog)
    assert "(built with CUDA&nbsp;12.5.1, cuDNN&nbsp;9, unused: no&nbsp;GPU&nbsp;found)" in runtime_text(cpu_only)
    with_gpu = RuntimeInfo("2.21.0", "3.15.1", ("NVIDIA H100",), cuda_version="12.5.1", cudnn_version="9")
    assert "(built with CUDA&nbsp;12.5.1, cuDNN&nbsp;9)<br>" in runtime_text(with_gpu)


PROBE = """
from cnnstudio.cli import _tensorflow_environment
_tensorflow_environment()  # what main() does for the window and every command, before TensorFlow loads
from cnnstudio.core.training.runtime import runtime_info
print(runtime_info([]).cpu_kernels)
"""


@pytest.mark.skipif(platform.machine().lower() not in {"x86_64", "amd64"},
                    reason="TensorFlow's oneDNN kernels are checked on x86-64 builds only")
@pytest.mark.parametrize(("choice", "expected"), [(None, "oneDNN"), ("0", "TensorFlow's own")])
def test_the_entry_point_turns_onednn_on_in_tensorflow_itself(choice, expected):
    env = {key: value for key, value in os.environ.items() if key != ONEDNN_SWITCH}
    if choice is not None:
        env[ONEDNN_SWITCH] = choice
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1].startswith(expected)

"""Why a GPU present on the machine is not used: each cause with a fake machine, and the real loader.

No GPU is needed: the NVIDIA files live under a temporary root, TensorFlow's build and the driver's
answers are replaced, and the library loader is exercised on real shared objects.
"""

from __future__ import annotations

import _ctypes
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from cnnstudio.core.training.gpu_check import (
    CUDA_ERRORS,
    GpuSystem,
    cuda_libraries,
    gpu_unavailable_reason,
    prepare_gpus,
)

CUDA_BUILD = {"is_cuda_build": True, "cuda_version": "12.5.1", "cudnn_version": "9"}
VERSION_FILE = ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024\n"
                "GCC version:  gcc version 12.2.0\n")


class FakeSystem(GpuSystem):
    """A machine with NVIDIA's files under ``root`` and scripted answers from TensorFlow and the driver."""

    def __init__(self, root: Path, build=None, missing=(), init_code=0):
        super().__init__(root, search_path=[])
        self.build, self.missing, self.init_code = build if build is not None else CUDA_BUILD, set(missing), init_code
        self.loaded: list[str] = []

    def build_info(self):
        return dict(self.build)

    def load(self, library):
        self.loaded.append(library)
        return f"{library}: cannot open shared object file: No such file or directory" if library in self.missing else None

    def cuda_init(self):
        return self.init_code


def nvidia_machine(root: Path, version: str | None = VERSION_FILE, nodes=("nvidia0", "nvidiactl")) -> Path:
    if version is not None:
        (root / "proc/driver/nvidia").mkdir(parents=True)
        (root / "proc/driver/nvidia/version").write_text(version)
    (root / "dev").mkdir(exist_ok=True)
    for node in nodes:
        (root / "dev" / node).write_text("")
    return root


def test_no_nvidia_gpu_means_nothing_to_explain(tmp_path):
    system = FakeSystem(tmp_path, missing={"libcuda.so.1"})
    assert gpu_unavailable_reason(system) is None
    assert system.loaded == []  # nothing is even tried
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/nvidiactl").write_text("")  # the control node alone is not a GPU
    assert gpu_unavailable_reason(system) is None


def test_driver_version_and_device_files_are_read(tmp_path):
    system = GpuSystem(nvidia_machine(tmp_path, nodes=("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm")))
    assert system.driver_version() == "550.54.14"
    assert system.gpu_nodes() == ["nvidia0", "nvidia1"]
    (tmp_path / "proc/driver/nvidia/version").write_text("\x00garbage")
    assert system.driver_version() == "unknown version"


# /proc/driver/nvidia/version as NVIDIA's open kernel module wrote it on the H100 lent to this project
# (docs/gpu-checks/h100-2026-11-26.json): the version follows "for x86_64", not "Kernel Module"
OPEN_MODULE_VERSION_FILE = ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  "
                            "(nixbld@)  \nGCC version:  gcc version 15.3.0 (GCC) \n")


def test_the_open_kernel_modules_version_is_read_too(tmp_path):
    system = FakeSystem(nvidia_machine(tmp_path, version=OPEN_MODULE_VERSION_FILE),
                        missing={"libcudart.so.12", "libcublas.so.12"})
    assert system.driver_version() == "580.159.04"
    # what the H100 machine (driver 580, CUDA 13 libraries, no CUDA 12 ones) was told for PyPI's tensorflow 2.21
    assert gpu_unavailable_reason(system) == (
        "an NVIDIA GPU is present (driver 580.159.04), but CUDA libraries this TensorFlow needs (CUDA 12.5.1, "
        'cuDNN 9) are missing: libcudart.so.12, libcublas.so.12; install them with pip install "tensorflow[and-cuda]"')


def test_wsl_counts_only_with_nvidias_library(tmp_path):
    nvidia_machine(tmp_path, version=None, nodes=("dxg",))
    assert GpuSystem(tmp_path).gpu_nodes() == []
    (tmp_path / "usr/lib/wsl/lib").mkdir(parents=True)
    (tmp_path / "usr/lib/wsl/lib/libcuda.so.1").write_text("")
    assert GpuSystem(tmp_path).gpu_nodes() == ["dxg"]


def test_a_tensorflow_without_cuda_says_how_to_get_one(tmp_path):
    reason = gpu_unavailable_reason(FakeSystem(nvidia_machine(tmp_path), build={"is_cuda_build": False}))
    assert reason == ('an NVIDIA GPU is present (driver 550.54.14), but this TensorFlow was built without CUDA: '
                      'on Linux install pip install "tensorflow[and-cuda]"')
    assert gpu_unavailable_reason(FakeSystem(tmp_path, build={})).endswith('"tensorflow[and-cuda]"')  # unknown build


def test_a_missing_driver_library_is_named_with_the_loaders_reason(tmp_path):
    reason = gpu_unavailable_reason(FakeSystem(nvidia_machine(tmp_path, version=None), missing={"libcuda.so.1"}))
    assert reason == ("an NVIDIA GPU is present, but the NVIDIA driver's libcuda.so.1 cannot be loaded (libcuda.so.1: "
                      "cannot open shared object file: No such file or directory): reinstall the driver")


@pytest.mark.parametrize("code", [35, 100, 803, 12345])
def test_a_driver_that_cannot_start_cuda_gives_cuinits_error(tmp_path, code):
    reason = gpu_unavailable_reason(FakeSystem(nvidia_machine(tmp_path), init_code=code))
    assert reason == (f"an NVIDIA GPU is present (driver 550.54.14), but the driver could not start CUDA "
                      f"({CUDA_ERRORS.get(code, f'error {code}')})")
    assert "\n" not in reason


def test_missing_cuda_libraries_are_listed(tmp_path):
    system = FakeSystem(nvidia_machine(tmp_path), missing={"libcudnn.so.9", "libcublas.so.12"})
    assert gpu_unavailable_reason(system) == (
        "an NVIDIA GPU is present (driver 550.54.14), but CUDA libraries this TensorFlow needs (CUDA 12.5.1, cuDNN 9) "
        'are missing: libcublas.so.12, libcudnn.so.9; install them with pip install "tensorflow[and-cuda]"')


def test_when_every_check_passes_the_log_is_named(tmp_path):
    reason = gpu_unavailable_reason(FakeSystem(nvidia_machine(tmp_path)))
    assert reason.endswith("but TensorFlow could not use it: its log says why (run with TF_CPP_MIN_LOG_LEVEL=0)")


def test_cuda_libraries_follow_the_build():
    assert cuda_libraries(CUDA_BUILD) == ["libcudart.so.12", "libcublas.so.12", "libcudnn.so.9"]
    assert cuda_libraries({"cuda_version": "11.8", "cudnn_version": "8.6.0"}) == [
        "libcudart.so.11", "libcublas.so.11", "libcudnn.so.8"]
    assert cuda_libraries({"cuda_version": None, "cudnn_version": "garbage"}) == []


def test_the_real_loader_finds_libraries_by_name_and_in_pip_nvidia_folders(tmp_path):
    real = Path(_ctypes.__file__)  # a shared object every Python with ctypes has
    system = GpuSystem(tmp_path, search_path=[str(tmp_path)])
    missing = system.load("libcnnstudio-test-missing.so.1")
    assert missing is not None and "libcnnstudio-test-missing.so.1" in missing and "\n" not in missing
    assert system.load(str(real)) is None
    folder = tmp_path / "nvidia" / "cudnn" / "lib"  # where tensorflow[and-cuda]'s wheels put them
    folder.mkdir(parents=True)
    shutil.copy(real, folder / "libcnnstudio-test-missing.so.1")
    assert system.load("libcnnstudio-test-missing.so.1") is None


def test_the_real_machine_here(tmp_path):
    """This machine: no NVIDIA driver is loaded, so there is nothing to explain (else a reason, one line)."""
    reason = gpu_unavailable_reason(GpuSystem())
    if Path("/proc/driver/nvidia/version").exists() or list(Path("/dev").glob("nvidia[0-9]*")):
        assert reason is None or "\n" not in reason
    else:
        assert reason is None


class FakeTF:
    def __init__(self, gpus):
        self.gpus, self.growth = gpus, []
        self.config = SimpleNamespace(list_physical_devices=lambda kind=None: list(self.gpus),
                                      experimental=SimpleNamespace(set_memory_growth=self._grow))
        self.sysconfig = SimpleNamespace(get_build_info=lambda: {"is_cuda_build": False})

    def _grow(self, gpu, enabled):
        self.growth.append(gpu.name)


def test_prepare_gpus_enables_growth_or_says_why_there_is_no_gpu(tmp_path):
    gpu = SimpleNamespace(name="/physical_device:GPU:0", device_type="GPU")
    listed = FakeTF([gpu])
    assert prepare_gpus(listed, FakeSystem(nvidia_machine(tmp_path))) == [] and listed.growth == [gpu.name]
    unusable = FakeTF([])
    assert prepare_gpus(unusable, GpuSystem(tmp_path, tf_module=unusable, search_path=[])) == [
        'an NVIDIA GPU is present (driver 550.54.14), but this TensorFlow was built without CUDA: on Linux install '
        'pip install "tensorflow[and-cuda]"']
    assert prepare_gpus(FakeTF([]), FakeSystem(tmp_path / "elsewhere")) == []  # no GPU at all: nothing to say

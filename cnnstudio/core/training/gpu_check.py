"""Why TensorFlow lists no GPU on a machine that has an NVIDIA one: the driver, TensorFlow's build, the CUDA libraries.

TensorFlow leaves out a GPU it cannot initialise and writes the reason only to its own log.
:func:`gpu_unavailable_reason` looks for the usual causes itself, so the app can say in one line
why it trains on the CPU. The checks read the machine through a :class:`GpuSystem`; tests give
it a fake root folder or replace its methods. :func:`prepare_gpus` is what the app runs once
TensorFlow is imported: memory growth first, then this check when no GPU is listed.
"""

from __future__ import annotations

import ctypes
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cnnstudio.core.errors import one_line, printable
from cnnstudio.core.training.devices import enable_memory_growth
from cnnstudio.core.training.tensorflow_module import tensorflow_module

INSTALL_CUDA = 'pip install "tensorflow[and-cuda]"'
DRIVER_LIBRARY = "libcuda.so.1"
WSL_DRIVER_LIBRARY = "usr/lib/wsl/lib/libcuda.so.1"
# cuInit's results that say why (cuda.h); others are shown by number
CUDA_ERRORS = {
    2: "CUDA_ERROR_OUT_OF_MEMORY",
    3: "CUDA_ERROR_NOT_INITIALIZED",
    35: "CUDA_ERROR_INSUFFICIENT_DRIVER: the driver is older than this CUDA needs",
    46: "CUDA_ERROR_DEVICES_UNAVAILABLE: the GPUs are busy or in exclusive mode",
    100: "CUDA_ERROR_NO_DEVICE: the driver sees no CUDA GPU",
    101: "CUDA_ERROR_INVALID_DEVICE",
    304: "CUDA_ERROR_OPERATING_SYSTEM",
    803: "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: the driver library and the kernel module differ in version",
    804: "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
    999: "CUDA_ERROR_UNKNOWN",
}
# "… x86_64 Kernel Module  550.54.14 …", or with the open module "… Open Kernel Module for x86_64  580.159.04 …"
_DRIVER_VERSION = re.compile(r"Kernel Module.*?\s([0-9]+(?:\.[0-9]+)+)\b")


class GpuSystem:
    """The machine as the checks read it: NVIDIA's files under ``root``, libraries through the loader."""

    def __init__(self, root: Path = Path("/"), tf_module: Any = None, search_path: Sequence[str] | None = None):
        self.root, self.tf_module = root, tf_module
        self.search_path = list(sys.path if search_path is None else search_path)

    def driver_version(self) -> str | None:
        """The loaded NVIDIA kernel module's version ("550.54.14"), "unknown version" when unreadable, None without one."""
        path = self.root / "proc/driver/nvidia/version"
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            return None
        except OSError:
            return "unknown version"
        match = _DRIVER_VERSION.search(text)
        return match.group(1) if match else "unknown version"

    def gpu_nodes(self) -> list[str]:
        """NVIDIA's device files (``/dev/nvidia0`` …; ``/dev/dxg`` under WSL with NVIDIA's library)."""
        dev = self.root / "dev"
        nodes = sorted(p.name for p in dev.glob("nvidia[0-9]*"))
        if (dev / "dxg").exists() and (self.root / WSL_DRIVER_LIBRARY).exists():
            nodes.append("dxg")
        return nodes

    def build_info(self) -> dict[str, Any]:
        """TensorFlow's build: ``is_cuda_build``, ``cuda_version``, ``cudnn_version`` (empty when unknown)."""
        try:
            return dict(tensorflow_module(self.tf_module).sysconfig.get_build_info())
        except Exception:  # noqa: BLE001 - an unusual build: nothing is known about it
            return {}

    def load(self, library: str) -> str | None:
        """None when ``library`` loads (by name, or from a pip ``nvidia`` package), else the loader's reason."""
        try:
            ctypes.CDLL(library)
            return None
        except OSError as exc:
            reason = printable(one_line(exc), 160)
        for folder in self.search_path:  # tensorflow[and-cuda] puts the libraries in site-packages/nvidia/*/lib
            for candidate in Path(folder).glob(f"nvidia/*/lib/{library}"):
                try:
                    ctypes.CDLL(str(candidate))
                    return None
                except OSError as exc:
                    reason = printable(one_line(exc), 160)
        return reason

    def cuda_init(self) -> int | None:
        """``cuInit(0)``'s result (0: success), or None when the driver library cannot be loaded."""
        try:
            return int(ctypes.CDLL(DRIVER_LIBRARY).cuInit(0))
        except (OSError, AttributeError):
            return None


def _major(version: Any) -> str | None:
    match = re.match(r"\s*([0-9]+)", str(version or ""))
    return match.group(1) if match else None


def cuda_libraries(build: dict[str, Any]) -> list[str]:
    """The CUDA runtime, cuBLAS and cuDNN libraries a CUDA build of TensorFlow loads ("libcudnn.so.9" …)."""
    cuda, cudnn = _major(build.get("cuda_version")), _major(build.get("cudnn_version"))
    names = [f"libcudart.so.{cuda}", f"libcublas.so.{cuda}"] if cuda else []
    return names + ([f"libcudnn.so.{cudnn}"] if cudnn else [])


def gpu_unavailable_reason(system: GpuSystem | None = None) -> str | None:
    """One line saying why an NVIDIA GPU present here is not usable by TensorFlow; None when there is none.

    Call it when TensorFlow lists no GPU. The causes are checked in the order they would hide each
    other: a TensorFlow built without CUDA, the driver's library, the driver's own start
    (``cuInit``), then the CUDA libraries this TensorFlow was built against.
    """
    system = system or GpuSystem()
    driver, nodes = system.driver_version(), system.gpu_nodes()
    if driver is None and not nodes:
        return None  # no NVIDIA GPU (or no driver for it): nothing to explain
    present = f"an NVIDIA GPU is present (driver {driver})" if driver else "an NVIDIA GPU is present"
    build = system.build_info()
    if not build.get("is_cuda_build"):
        return f"{present}, but this TensorFlow was built without CUDA: on Linux install {INSTALL_CUDA}"
    problem = system.load(DRIVER_LIBRARY)
    if problem is not None:
        return f"{present}, but the NVIDIA driver's {DRIVER_LIBRARY} cannot be loaded ({problem}): reinstall the driver"
    code = system.cuda_init()
    if code:
        return f"{present}, but the driver could not start CUDA ({CUDA_ERRORS.get(code, f'error {code}')})"
    missing = [name for name in cuda_libraries(build) if system.load(name) is not None]
    if missing:
        return (f"{present}, but CUDA libraries this TensorFlow needs (CUDA {build.get('cuda_version')}, cuDNN "
                f"{build.get('cudnn_version')}) are missing: {', '.join(missing)}; install them with {INSTALL_CUDA}")
    return f"{present}, but TensorFlow could not use it: its log says why (run with TF_CPP_MIN_LOG_LEVEL=0)"


def prepare_gpus(tf_module: Any = None, system: GpuSystem | None = None) -> list[str]:
    """Enable memory growth on every GPU, and say why when there is a GPU TensorFlow cannot use.

    Returns one line per problem (none on a machine whose GPUs all work, or that has none). Run it
    right after importing TensorFlow, before its first operation.
    """
    tf = tensorflow_module(tf_module)
    problems = enable_memory_growth(tf)
    try:
        listed = bool(tf.config.list_physical_devices("GPU"))
    except Exception:  # noqa: BLE001 - enable_memory_growth has said so already
        return problems
    if not listed:
        reason = gpu_unavailable_reason(system or GpuSystem(tf_module=tf))
        if reason is not None:
            problems.append(reason)
    return problems

"""What TensorFlow runs on: versions, devices and the CUDA build (imports TensorFlow; call it off the GUI thread)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cnnstudio.core.training.cpu_kernels import ONEDNN_SWITCH, onednn_kernels_on
from cnnstudio.core.training.devices import DeviceInfo


@dataclass(frozen=True)
class RuntimeInfo:
    tensorflow: str
    keras: str
    gpus: tuple[str, ...]
    devices: tuple[DeviceInfo, ...] = ()  # every physical device (list_devices), CPUs first
    notices: tuple[str, ...] = ()  # problems met while preparing the devices (memory growth)
    cuda_version: str | None = None  # None when TensorFlow was not built with CUDA
    cudnn_version: str | None = None
    onednn: bool | None = None  # whether TensorFlow runs oneDNN's CPU kernels; None when unknown

    @property
    def device(self) -> str:
        return f"GPU: {', '.join(self.gpus)}" if self.gpus else "CPU"

    @property
    def cuda(self) -> str:
        """``"CUDA 12.5, cuDNN 9"``, or empty for a build without CUDA."""
        if self.cuda_version is None:
            return ""
        return f"CUDA {self.cuda_version}" + (f", cuDNN {self.cudnn_version}" if self.cudnn_version else "")

    @property
    def cpu_kernels(self) -> str:
        """Whose kernels TensorFlow runs on the CPU, or empty when unknown."""
        if self.onednn is None:
            return ""
        return "oneDNN" if self.onednn else f"TensorFlow's own (oneDNN off; {ONEDNN_SWITCH}=1 turns it on)"


def _build_info(tf: object) -> tuple[str | None, str | None]:
    try:
        info = dict(tf.sysconfig.get_build_info())  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - older or unusual builds: the versions are simply unknown
        return None, None
    if not info.get("is_cuda_build"):
        return None, None
    cudnn = info.get("cudnn_version")
    return str(info.get("cuda_version") or "?"), str(cudnn) if cudnn else None


def runtime_info(devices: Sequence[DeviceInfo] | None = None, notices: Sequence[str] = ()) -> RuntimeInfo:
    """The versions and devices; ``devices`` as :func:`list_devices` gives them (listed here when None)."""
    import keras
    import tensorflow as tf

    if devices is None:
        from cnnstudio.core.training.devices import list_devices

        devices = list_devices()
    gpus = tuple(d.description for d in devices if d.kind.upper() == "GPU")
    cuda, cudnn = _build_info(tf)
    return RuntimeInfo(tf.__version__, keras.__version__, gpus, tuple(devices), tuple(notices), cuda, cudnn,
                       onednn_kernels_on())

"""What TensorFlow runs on: versions and devices (imports TensorFlow; call it off the GUI thread)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuntimeInfo:
    tensorflow: str
    keras: str
    gpus: tuple[str, ...]

    @property
    def device(self) -> str:
        return f"GPU: {', '.join(self.gpus)}" if self.gpus else "CPU"


def runtime_info() -> RuntimeInfo:
    import keras
    import tensorflow as tf

    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        try:
            details = tf.config.experimental.get_device_details(device)
            gpus.append(details.get("device_name") or device.name)
        except (RuntimeError, ValueError):
            gpus.append(device.name)
    return RuntimeInfo(tf.__version__, keras.__version__, tuple(gpus))

"""Every preset as a design: "Start from LeNet-5" copies its layer list into an editable design.

``PRESETS`` maps each preset's name to its :class:`ArchitectureInfo` (title, description);
``preset_design(name, input_shape=(28, 28, 1)) -> Design`` records the builder calls the preset
makes for images of that shape (LeNet-5 pads 28×28 digits to 32×32; AlexNet resizes and makes
gray images RGB only when needed) under the preset's own defaults, so the design built with the
same options gives the same layers, names and parameter count as the preset (a dropout layer of
rate 0 marks where the preset puts dropout: it is left out unless the options set a rate). Presets are also
usable by name wherever ``--arch`` is (``--arch lenet5_allconv``).
"""

from __future__ import annotations

from cnnstudio.core.config import ModelOptions
from cnnstudio.core.errors import ConfigError
from cnnstudio.core.network import layer_specs as ls
from cnnstudio.core.network.architectures import (
    PRESET_ARCHITECTURES,
    TEACHING_ARCHITECTURES,
    ArchitectureInfo,
    NetworkBuilder,
    architecture,
)
from cnnstudio.core.network.design import GLOBAL, Design, LayerEntry

PRESETS: dict[str, ArchitectureInfo] = PRESET_ARCHITECTURES  # the classic four, then the teaching ones
TEACHING_PRESETS = tuple(TEACHING_ARCHITECTURES)  # lenet5_allconv, lenet5_gap
DEFAULT_INPUT: ls.Shape = (28, 28, 1)


class _Recorder(NetworkBuilder):
    """A builder that writes down design entries instead of layer specs (under default options)."""

    def __init__(self, info: ArchitectureInfo, input_shape: ls.Shape) -> None:
        super().__init__(ModelOptions(arch=info.name), info, input_shape, num_classes=10)
        self.info, self.entries = info, []

    def add(self, kind: str, name: str, **fields: object) -> None:
        self.entries.append(LayerEntry(kind, name=name, **fields))

    def pad_input(self, pixels: int, name: str = ls.INPUT_PAD) -> None:
        self.add("pad", name, pixels=pixels)

    def resize_input(self, height: int, width: int, name: str = "resize") -> None:
        if self.input_shape[:2] != (height, width):
            if height != width:  # pragma: no cover - every preset resizes to a square
                raise ConfigError("a design resizes to squares only")
            self.add("resize", name, size=height)

    def ensure_rgb(self, name: str = "to_rgb") -> None:
        if self.input_shape[2] == 1:
            self.add("rgb", name)

    def conv(self, name: str, filters: int, kernel: int, stride: int = 1, padding: str = GLOBAL) -> None:
        self.add("conv", name, filters=filters, kernel=kernel, stride=None if stride == 1 else stride,
                 padding=padding)

    def pool(self, name: str, pooling: str = GLOBAL, size: int | None = None, stride: int | None = None,
             padding: str = GLOBAL) -> None:
        size = self.info.pool_size if size is None else size
        stride = self.info.pool_stride if stride is None else stride
        self.add("pool", name, pooling=pooling, size=size, stride=None if stride == size else stride,
                 padding=padding)

    def flatten(self, name: str = "flatten") -> None:
        self.add("flatten", name)

    def global_average(self, name: str = "gap") -> None:
        self.add("gap", name)

    def dense(self, name: str, units: int) -> None:
        self.add("dense", name, units=units)

    def dropout(self, name: str, rate: float | None = None) -> None:
        # kept at rate 0 too: such a layer is left out of the model unless the options set a rate
        self.add("dropout", name, rate=self.info.dropout if rate is None else rate)

    def zero_pad(self, name: str, pixels: int) -> None:
        self.add("pad", name, pixels=pixels)

    def batch_norm(self, name: str) -> None:
        self.add("bn", name)

    def activation(self, name: str, function: str = GLOBAL) -> None:
        self.add("act", name, activation=function)

    def output(self) -> None:
        pass  # every design gets its output layer when it is built


def preset_design(name: str, input_shape: ls.Shape = DEFAULT_INPUT) -> Design:
    """The preset ``name`` as an editable design, for images of ``input_shape`` (H, W, C)."""
    info = architecture(name)
    recorder = _Recorder(info, tuple(input_shape))
    info.build(recorder)
    return Design(info.name, tuple(recorder.entries), info.description)

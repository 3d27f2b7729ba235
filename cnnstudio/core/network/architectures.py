"""Architectures as lists of layer specs, with the user's options applied uniformly.

Each architecture (a preset) is a function ``(builder) -> None`` that calls :class:`NetworkBuilder`
methods; the builder alone decides how pooling, padding, activation, dropout and batch
normalization are applied, so adding an architecture never touches option code. A user's
:class:`~cnnstudio.core.network.design.Design` goes through the same builder
(:func:`design_architecture`): its layers that follow the global options get them the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cnnstudio.core.config import ModelOptions, TrainOptions, padding_pixels
from cnnstudio.core.errors import ConfigError
from cnnstudio.core.network import layer_specs as ls
from cnnstudio.core.network.design import GLOBAL, Design, DesignError


@dataclass(frozen=True)
class ArchitectureInfo:
    name: str
    title: str
    description: str
    build: Callable[[NetworkBuilder], None]
    pool_size: int
    pool_stride: int
    dropout: float
    learning_rate: float | None = None  # the rate it trains with unless one is given (None: TrainOptions')


class NetworkBuilder:
    """Collects layer specs for one architecture under one set of options."""

    def __init__(self, options: ModelOptions, info: ArchitectureInfo, input_shape: ls.Shape, num_classes: int):
        self.options = options
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.pool_size = options.pool_size or info.pool_size
        self.pool_stride = options.pool_stride or info.pool_stride
        self.dropout_rate = info.dropout if options.dropout is None else options.dropout
        self.specs: list[ls.LayerSpec] = [ls.Rescale("rescale")]
        if options.augment:
            self.specs.append(ls.Augment("augment", colour=self.input_shape[2] == 3))

    # input adaptation -------------------------------------------------------------------
    def pad_input(self, pixels: int, name: str = ls.INPUT_PAD) -> None:
        self.specs.append(ls.ZeroPad(name, pixels))

    def resize_input(self, height: int, width: int, name: str = "resize") -> None:
        if self.input_shape[:2] != (height, width):
            self.specs.append(ls.Resize(name, height, width))

    def ensure_rgb(self, name: str = "to_rgb") -> None:
        if self.input_shape[2] == 1:
            self.specs.append(ls.GrayToRGB(name))

    # option-driven layers (a design may pin a layer's own choice instead) ---------------
    def conv(self, name: str, filters: int, kernel: int, stride: int = 1, padding: str = GLOBAL) -> None:
        padding = self.options.padding if padding == GLOBAL else padding
        pixels = padding_pixels(padding)
        if pixels:
            self.specs.append(ls.ZeroPad(f"{name}_pad", pixels))
        keras_padding = "same" if padding == "same" else "valid"
        activation = None if self.options.batch_norm else self.options.activation
        self.specs.append(ls.Conv(name, filters, kernel, stride, keras_padding, activation))
        if self.options.batch_norm:
            self.specs.append(ls.BatchNorm(f"{name}_bn"))
            self.specs.append(ls.Activation(f"{name}_act", self.options.activation))

    def pool(self, name: str, pooling: str = GLOBAL, size: int | None = None, stride: int | None = None,
             padding: str = GLOBAL) -> None:
        """A pooling layer; without ``size``/``stride`` the architecture's (or the options') window."""
        if padding == GLOBAL:
            padding = "same" if self.options.padding == "same" else "valid"
        pooling = self.options.pooling if pooling == GLOBAL else pooling
        size, stride = (self.pool_size, self.pool_stride) if size is None else (size, stride or size)
        self.specs.append(ls.Pool(name, pooling, size, stride, padding))

    def flatten(self, name: str = "flatten") -> None:
        self.specs.append(ls.Flatten(name))

    def global_average(self, name: str = "gap") -> None:
        self.specs.append(ls.GlobalAvgPool(name))

    def dense(self, name: str, units: int) -> None:
        self.specs.append(ls.Dense(name, units, self.options.activation))

    def dropout(self, name: str, rate: float | None = None) -> None:
        """Dropout at the options' rate when set, else ``rate`` (a design's), else the architecture's."""
        if self.options.dropout is None and rate is not None:
            rate = float(rate)
        else:
            rate = self.dropout_rate
        if rate > 0:
            self.specs.append(ls.Dropout(name, rate))

    def zero_pad(self, name: str, pixels: int) -> None:
        self.specs.append(ls.ZeroPad(name, pixels))

    def batch_norm(self, name: str) -> None:
        self.specs.append(ls.BatchNorm(name))

    def activation(self, name: str, function: str = GLOBAL) -> None:
        self.specs.append(ls.Activation(name, self.options.activation if function == GLOBAL else function))

    def output(self) -> None:
        self.specs.append(ls.Dense("output", self.num_classes, "softmax", dtype="float32"))


def _lenet_input(b: NetworkBuilder) -> None:
    if b.input_shape[:2] == (28, 28):
        b.pad_input(2)  # LeCun et al. feed 32×32 images: MNIST's 28×28 digits get a 2-pixel border


def _lenet_dense_head(b: NetworkBuilder) -> None:
    b.flatten()
    b.dense("c5", 120)
    b.dropout("c5_dropout")
    b.dense("f6", 84)
    b.dropout("f6_dropout")
    b.output()


def _lenet5(b: NetworkBuilder) -> None:
    _lenet_input(b)
    b.conv("c1", 6, 5)
    b.pool("s2")
    b.conv("c3", 16, 5)
    b.pool("s4")
    _lenet_dense_head(b)


def _lenet5_allconv(b: NetworkBuilder) -> None:
    """LeNet-5 with each pooling layer replaced by a learned 2×2 convolution of stride 2."""
    _lenet_input(b)
    b.conv("c1", 6, 5)
    b.conv("s2", 6, 2, stride=2)
    b.conv("c3", 16, 5)
    b.conv("s4", 16, 2, stride=2)
    _lenet_dense_head(b)


def _lenet5_gap(b: NetworkBuilder) -> None:
    """LeNet-5's feature extractor, a 3×3 convolution to 120 maps, then the mean of each map (no dense layers)."""
    _lenet_input(b)
    b.conv("c1", 6, 5)
    b.pool("s2")
    b.conv("c3", 16, 5)
    b.pool("s4")
    b.conv("c5", 120, 3)
    b.global_average("gap")
    b.dropout("gap_dropout")
    b.output()


def _alexnet_topology(b: NetworkBuilder, filters: tuple[int, ...], conv1: tuple[int, int], units: int) -> None:
    """Five convolutions (the first of size/stride ``conv1``), pools after 1, 2 and 5, two dense layers."""
    b.conv("conv1", filters[0], conv1[0], stride=conv1[1])
    b.pool("pool1")
    b.conv("conv2", filters[1], 5)
    b.pool("pool2")
    for i in (3, 4, 5):
        b.conv(f"conv{i}", filters[i - 1], 3)
    b.pool("pool5")
    b.flatten()
    for name in ("fc6", "fc7"):
        b.dropout(f"{name}_dropout")
        b.dense(name, units)
    b.output()


def _alexnet(b: NetworkBuilder) -> None:
    b.resize_input(224, 224)
    b.ensure_rgb()
    _alexnet_topology(b, (64, 192, 384, 256, 256), conv1=(11, 4), units=4096)


def _alexnet_cifar(b: NetworkBuilder) -> None:
    b.resize_input(32, 32)
    _alexnet_topology(b, (32, 96, 192, 128, 128), conv1=(5, 1), units=512)


def _vgg_small(b: NetworkBuilder) -> None:
    for block, filters in ((1, 32), (2, 64)):
        b.conv(f"conv{block}_1", filters, 3)
        b.conv(f"conv{block}_2", filters, 3)
        b.pool(f"pool{block}")
    b.flatten()
    b.dense("fc1", 256)
    b.dropout("fc1_dropout")
    b.output()


ARCHITECTURES: dict[str, ArchitectureInfo] = {
    info.name: info
    for info in (
        ArchitectureInfo(
            "lenet5", "LeNet-5",
            "LeCun et al. 1998: two 5×5 convolutions with 2×2 pooling, then 120-84-N dense layers.",
            _lenet5, pool_size=2, pool_stride=2, dropout=0.0,
        ),
        ArchitectureInfo(
            "alexnet", "AlexNet",
            "Krizhevsky et al. 2012: five convolutions (11×11 stride 4 first), overlapping 3×3/2 pooling, "
            "4096-4096-N dense layers with dropout; images are resized to 224×224 RGB inside the model.",
            # on MNIST with Adam, 0.002 left it at chance (loss ln 10 for 3 epochs); 0.0001 reached 98.96%
            # (docs/benchmarks.md, "On a GPU")
            _alexnet, pool_size=3, pool_stride=2, dropout=0.5, learning_rate=1e-4,
        ),
        ArchitectureInfo(
            "alexnet_cifar", "AlexNet-CIFAR",
            "AlexNet's topology (5 conv, 3 overlapping pools, 3 dense, dropout) scaled for 32×32 images "
            "so that it trains in minutes on a CPU; use 'same' padding (valid shrinks the maps to nothing).",
            _alexnet_cifar, pool_size=3, pool_stride=2, dropout=0.5,
        ),
        ArchitectureInfo(
            "vgg_small", "Small VGG",
            "Two VGG-style blocks of two 3×3 convolutions and a pool each, then a 256-unit dense layer.",
            _vgg_small, pool_size=2, pool_stride=2, dropout=0.3,
        ),
    )
}


# Teaching variations of LeNet-5: usable by name like the classic architectures above.
TEACHING_ARCHITECTURES: dict[str, ArchitectureInfo] = {
    info.name: info
    for info in (
        ArchitectureInfo(
            "lenet5_allconv", "LeNet-5, all convolutional",
            "LeNet-5 with each pooling layer replaced by a learned 2×2 convolution of stride 2, after "
            "Springenberg et al. 2015, \"Striving for Simplicity: The All Convolutional Net\".",
            _lenet5_allconv, pool_size=2, pool_stride=2, dropout=0.0,
        ),
        ArchitectureInfo(
            "lenet5_gap", "LeNet-5, global-average head",
            "LeNet-5's convolutions and pools, a 3×3 convolution to 120 maps, then global average pooling straight "
            "into the output instead of the 120-84 dense layers (Lin et al. 2013, \"Network in Network\").",
            _lenet5_gap, pool_size=2, pool_stride=2, dropout=0.0,
        ),
    )
}
PRESET_ARCHITECTURES: dict[str, ArchitectureInfo] = {**ARCHITECTURES, **TEACHING_ARCHITECTURES}


def default_learning_rate(arch: str | None) -> float:
    """The learning rate preset ``arch`` trains with unless one is given: its own, else :class:`TrainOptions`'
    default (also for a design: None)."""
    info = PRESET_ARCHITECTURES.get(arch) if arch is not None else None
    return info.learning_rate if info is not None and info.learning_rate is not None else TrainOptions.learning_rate


def architecture(name: str) -> ArchitectureInfo:
    """A preset by name: a classic architecture or a teaching variation."""
    try:
        return PRESET_ARCHITECTURES[name]
    except KeyError as exc:
        raise ConfigError(f"unknown architecture {name!r}: choose one of {', '.join(PRESET_ARCHITECTURES)} "
                          "(or a design)") from exc


def design_architecture(design: Design) -> ArchitectureInfo:
    """A design as an architecture: each layer becomes the builder call that applies the options to it."""
    names = design.layer_names()

    def build(b: NetworkBuilder) -> None:
        for name, e in zip(names, design.layers):
            if e.kind == "conv":
                b.conv(name, e.filters, e.kernel, e.stride or 1, e.padding)
            elif e.kind == "pool":
                b.pool(name, e.pooling, e.size, e.stride, e.padding)
            elif e.kind == "pad":
                b.zero_pad(name, e.pixels)
            elif e.kind == "bn":
                b.batch_norm(name)
            elif e.kind == "act":
                b.activation(name, e.activation)
            elif e.kind == "dropout":
                b.dropout(name, e.rate)
            elif e.kind == "flatten":
                b.flatten(name)
            elif e.kind == "gap":
                b.global_average(name)
            elif e.kind == "dense":
                b.dense(name, e.units)
            elif e.kind == "resize":
                b.resize_input(e.size, e.size, name)
            elif e.kind == "rgb":
                b.ensure_rgb(name)
        b.output()

    return ArchitectureInfo(design.name, design.name, design.description, build, pool_size=2, pool_stride=2,
                            dropout=0.0)


def options_architecture(options: ModelOptions) -> ArchitectureInfo:
    """What ``options`` build: their design, else the preset ``options.arch`` names."""
    return design_architecture(options.design) if options.design is not None else architecture(options.arch)


def layer_specs(options: ModelOptions, input_shape: ls.Shape, num_classes: int) -> list[ls.LayerSpec]:
    """The layer specs of ``options.design`` (else ``options.arch``) for images of ``input_shape`` (H, W, C)."""
    if len(input_shape) != 3 or min(input_shape) < 1 or input_shape[2] not in (1, 3):
        raise ConfigError(f"images must be H×W×1 or H×W×3, not {'×'.join(map(str, input_shape))}")
    if num_classes < 2:
        raise ConfigError(f"a classifier needs at least 2 classes, not {num_classes}")
    info = options_architecture(options)
    builder = NetworkBuilder(options, info, input_shape, num_classes)
    info.build(builder)
    seen: set[str] = set()
    for spec in builder.specs:  # a design's own names could meet a derived one (c1 and c1_bn)
        if spec.name.lower() in seen:
            raise DesignError(f"two layers would be named {spec.name!r}: rename one of them")
        seen.add(spec.name.lower())
    return builder.specs

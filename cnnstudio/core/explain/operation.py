"""The operation explorer: how one output value of a convolution or pooling layer was made.

For a cell (row, column, channel) of a layer's output on one image, :class:`OperationExplorer`
returns the window of the layer's input that produced it, which of its cells are padding, and the
arithmetic redone in NumPy (see :mod:`cnnstudio.core.network.operation_window`): the winning cell
for max and min pooling, the mean for average pooling, and for a convolution the kernel, the
element-wise products, their sum plus the bias and the activation. The layer's own output value is
returned beside the recomputed one, so a reader (and the tests) can see that they agree.

Two kinds of padding are told apart: *implicit* cells that 'same' padding adds outside the input
map (zeros for a convolution, ignored by pooling), and *border* cells that explicit
``ZeroPadding2D`` layers added before the layer (real zeros the layer reads like any value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnstudio.core.errors import CnnStudioError
from cnnstudio.core.inspection import layer_kind
from cnnstudio.core.network.operation_window import Window, conv_value, input_window, pool_value, trace_to_input
from cnnstudio.core.network.receptive_field import INPUT_FRAME, WINDOWED_KINDS
from cnnstudio.core.network.shape_table import LayerRow, ShapeTable

POOL_KINDS = {"MaxPooling2D": "max", "MinPooling2D": "min", "AveragePooling2D": "avg"}
OPERATIONS = {"Conv2D": "conv", **POOL_KINDS}


@dataclass(frozen=True)
class CellOperation:
    """One output value and the computation behind it; windows are k×k (conv: k×k×C)."""

    layer: str
    kind: str  # 'conv', 'max', 'min' or 'avg'
    cell: tuple[int, int, int]  # row, column, channel of the layer's output
    source: str  # the layer whose output the window lies on ('input' for the model's input)
    source_map: np.ndarray  # that whole map, H×W×C
    output_map: np.ndarray  # the layer's whole output, H×W×channels
    window: Window
    implicit: np.ndarray  # k×k: cells outside the source map ('same' padding)
    border: np.ndarray  # k×k: zeros an explicit ZeroPadding2D border put inside the source map
    values: np.ndarray  # the window's values (pooling: the cell's channel; conv: every channel), implicit cells 0
    output: float  # what the layer itself computed
    result: float  # the same value, recomputed here
    winner: tuple[int, int] | None = None  # max/min pooling: the winning cell of the window
    kernel: np.ndarray | None = None  # conv: k×k×C weights of the output channel's filter
    products: np.ndarray | None = None  # conv: values × kernel
    bias: float = 0.0
    total: float | None = None  # conv: sum of the products plus the bias, before the activation
    activation: str | None = None
    field: tuple[int, int, int, int] | None = None  # input pixels (top, left, bottom, right) it depends on

    @property
    def padding(self) -> np.ndarray:
        """Every padding cell of the window, implicit or border."""
        return self.implicit | self.border


def _square(value: Any, what: str, layer: str) -> int:
    values = tuple(value) if isinstance(value, list | tuple) else (value, value)
    if len(set(values)) != 1:
        raise CnnStudioError(f"layer '{layer}' has a non-square {what} {values}; the explorer shows square windows only")
    return int(values[0])


def _pool_layer(layer: Any) -> Any:
    """The layer holding pool_size, strides and padding (min pooling nests a max pooling)."""
    if layer_kind(layer) == "MinPooling2D":
        return next(sub for sub in layer.layers if sub.__class__.__name__ == "MaxPooling2D")
    return layer


def window_settings(layer: Any) -> dict[str, Any]:
    """kernel, stride and padding of a Keras conv or pooling layer, as a shape-table row's settings."""
    kind = layer_kind(layer)
    if kind == "Conv2D":
        if _square(getattr(layer, "dilation_rate", 1), "dilation", layer.name) != 1 or getattr(layer, "groups", 1) != 1:
            raise CnnStudioError(f"layer '{layer.name}' is a dilated or grouped convolution, which the explorer "
                                 "does not show")
        kernel, stride, padding = layer.kernel_size, layer.strides, layer.padding
    elif kind in POOL_KINDS:
        pool = _pool_layer(layer)
        kernel, stride, padding = pool.pool_size, pool.strides, pool.padding
    else:
        raise CnnStudioError(f"layer '{layer.name}' ({kind}) is not a convolution or pooling layer")
    return {"kernel": _square(kernel, "kernel", layer.name), "stride": _square(stride, "stride", layer.name),
            "padding": str(padding).lower()}


def _chain(model: Any) -> list[Any] | None:
    """The model's layers after its input when each takes the previous one's output, else None."""
    layers = [layer for layer in model.layers if layer.__class__.__name__ != "InputLayer"]
    previous = model.inputs[0] if len(model.inputs) == 1 else None
    for layer in layers:
        try:
            if previous is None or layer.input is not previous:
                return None
        except (AttributeError, ValueError):  # a layer used twice has no single input
            return None
        previous = layer.output
    return layers


def _border_pixels(layer: Any) -> int | None:
    """A ZeroPadding2D layer's border when it is the same on every side, else None."""
    padding = getattr(layer, "padding", None)
    flat = {int(p) for side in padding for p in side} if isinstance(padding, list | tuple) else set()
    return flat.pop() if len(flat) == 1 else None


def model_table(model: Any) -> ShapeTable | None:
    """A shape table of a chain-shaped Keras model (its kinds, output shapes and window settings), or None."""
    layers = _chain(model)
    if layers is None:
        return None
    rows = []
    for layer in layers:
        kind = layer_kind(layer)
        settings: dict[str, Any] = {}
        if kind in WINDOWED_KINDS:
            try:
                settings = window_settings(layer)
            except CnnStudioError:
                return None
        elif kind == "ZeroPadding2D":
            pixels = _border_pixels(layer)
            if pixels is None:
                return None
            settings = {"pixels": pixels}
        shape = tuple(int(s) for s in layer.output.shape[1:] if s is not None)
        rows.append(LayerRow(layer.name, kind, shape, 0, 0, "", settings))
    return ShapeTable(tuple(int(s) for s in model.input_shape[1:]), tuple(rows))


class OperationExplorer:
    """Explains cells of one model's conv and pooling layers; keeps a small sub-model per layer."""

    def __init__(self, model: Any):
        self.model = model
        self.layers = _chain(model)
        self.table = model_table(model)
        self._probes: dict[str, Any] = {}
        self._last: tuple[str, bytes, np.ndarray, np.ndarray] | None = None  # the latest layer, image and maps

    def explorable(self) -> list[str]:
        """Names of the layers whose cells can be explained, first to last."""
        names = []
        for layer in self.model.layers:
            if layer_kind(layer) in OPERATIONS:
                try:
                    window_settings(layer)
                except CnnStudioError:
                    continue
                names.append(layer.name)
        return names

    def _probe(self, layer: Any) -> Any:
        import keras

        if layer.name not in self._probes:
            self._probes[layer.name] = keras.Model(self.model.input, [layer.input, layer.output])
        return self._probes[layer.name]

    def _maps(self, layer: Any, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The layer's input and output maps for ``image``; clicking around one map reuses them."""
        key = image.tobytes()
        if self._last is None or self._last[:2] != (layer.name, key):
            inputs, outputs = self._probe(layer)(image[np.newaxis], training=False)
            self._last = (layer.name, key, np.asarray(inputs, dtype=np.float64)[0], np.asarray(outputs, dtype=np.float64)[0])
        return self._last[2], self._last[3]

    def _source(self, layer: Any) -> tuple[str, int]:
        """The name of the layer before ``layer`` and the explicit zero border around its map."""
        if self.layers is None or layer not in self.layers:
            return "previous layer", 0
        index = self.layers.index(layer)
        source = self.layers[index - 1].name if index else "input"
        border = 0
        for before in reversed(self.layers[:index]):
            pixels = _border_pixels(before) if layer_kind(before) == "ZeroPadding2D" else None
            if pixels is None:
                break
            border += pixels
        return source, border

    def explain(self, image: np.ndarray, layer_name: str, row: int, col: int, channel: int) -> CellOperation:
        """How output (row, col, channel) of ``layer_name`` was computed for ``image`` (H×W×C, 0..255)."""
        try:
            layer = self.model.get_layer(layer_name)
        except ValueError as exc:
            raise CnnStudioError(f"this model has no layer {layer_name!r}") from exc
        kind = OPERATIONS.get(layer_kind(layer))
        if kind is None:
            raise CnnStudioError(f"layer '{layer_name}' is not a convolution or pooling layer")
        settings = window_settings(layer)
        expected = tuple(int(s) for s in self.model.input_shape[1:])
        if np.shape(image) != expected:
            raise CnnStudioError(f"this model takes {'×'.join(map(str, expected))} images, not "
                                 f"{'×'.join(map(str, np.shape(image)))}")
        source_map, out = self._maps(layer, np.asarray(image, dtype="float32"))
        if not (0 <= row < out.shape[0] and 0 <= col < out.shape[1] and 0 <= channel < out.shape[2]):
            raise CnnStudioError(f"cell ({row}, {col}) channel {channel} is outside the "
                                 f"{out.shape[0]}×{out.shape[1]}×{out.shape[2]} output of '{layer_name}'")
        window = input_window(settings, source_map.shape[:2], (row, col))
        implicit = window.padded()
        source, pixels = self._source(layer)
        border = ~implicit & ~_real_cells(window, pixels)
        common = {"layer": layer_name, "kind": kind, "cell": (row, col, channel), "source": source,
                  "source_map": source_map, "output_map": out, "window": window, "implicit": implicit, "border": border,
                  "output": float(out[row, col, channel]), "field": self._field(layer, row, col)}
        if kind == "conv":
            values = window.take(source_map)
            kernel = np.asarray(layer.kernel, dtype=np.float64)[:, :, :, channel]
            bias = float(np.asarray(layer.bias)[channel]) if layer.use_bias else 0.0
            done = conv_value(values, kernel, bias)
            activated = float(np.asarray(layer.activation(np.array([done.total], dtype="float32")))[0])
            name = getattr(layer.activation, "__name__", None)
            return CellOperation(**common, values=values, result=activated, kernel=kernel, products=done.products,
                                 bias=bias, total=done.total, activation=None if name == "linear" else name)
        values = window.take(source_map[..., channel])
        result, winner = pool_value(values, kind, implicit)
        return CellOperation(**common, values=values, result=result, winner=winner)

    def _field(self, layer: Any, row: int, col: int) -> tuple[int, int, int, int] | None:
        """The input pixels the cell depends on; None after a Resizing layer (the field lies on the resized image)."""
        if self.table is None or self.layers is None:
            return None
        index = self.layers.index(layer)
        field = self.table.receptive_fields()[index]
        if field is None or field.frame != INPUT_FRAME:
            return None
        try:
            return trace_to_input(self.table, index, row, col)
        except ValueError:
            return None


def _real_cells(window: Window, border: int) -> np.ndarray:
    """k×k: True where the window lies inside the source map but off its explicit zero border."""
    rows = np.arange(window.top, window.bottom)
    cols = np.arange(window.left, window.right)
    height, width = window.input_hw
    inside_r = (rows >= border) & (rows < height - border)
    inside_c = (cols >= border) & (cols < width - border)
    return inside_r[:, None] & inside_c[None, :]

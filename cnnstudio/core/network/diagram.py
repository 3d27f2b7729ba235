"""A picture of the network in the style of the LeNet-5 paper's figure, drawn with matplotlib (no Qt).

Feature maps are stacks of planes: each plane's side grows with the logarithm of the map's size and
the stack's depth with the logarithm of its channel count, so a 224×224 AlexNet input and a 1×1 map
fit in one picture. Dense layers are thin bars. Each stack is labelled with its name and
``channels@height×width``; the operation that makes it (``conv 5×5``, ``max pool 2×2``, ``dense``…)
is written under the arrow leading to it. The layout is computed in points for the figure's size:
the gaps between stacks widen until no two labels overlap, and the font shrinks (down to
``MIN_FONT``) only where the labels would otherwise shrink the drawing by more than a third.

    figure = network_figure(shape_table(options, (28, 28, 1), 10))
    figure.savefig("lenet5.svg")
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyArrowPatch, Rectangle
from matplotlib.textpath import TextToPath

from cnnstudio.core.network.layer_specs import INPUT_PAD
from cnnstudio.core.network.shape_table import LayerRow, ShapeTable

POOL_KINDS = {"MaxPooling2D": "max", "AveragePooling2D": "avg", "MinPooling2D": "min"}
ADAPTING_KINDS = {"Resizing": "resize", "GrayToRGB": "gray→RGB"}
PENDING_WORDS = {"Flatten": "flatten", "GlobalAveragePooling2D": "global avg pool", "Augmentation": "augment"}
MAX_FONT, MIN_FONT = 9.0, 5.5
LINE = 1.25  # line height as a multiple of the font size
GAP = 6.0  # points between a label and what it labels
SPACE = 16.0  # points between neighbouring labels in a row, so that each reads as its own
MIN_GAP_UNITS, MAX_GAP_UNITS = 1.3, 4.5  # space between stacks, in plane-size units
EDGE = {"input": "#555555", "conv": "#2f5f98", "pool": "#3f7f33", "dense": "#a5651a", "output": "#a33a3a"}
FACE = {"input": "#e4e4e4", "conv": "#cfdff4", "pool": "#d6ecd0", "dense": "#f7dcb8", "output": "#f3c9c9"}


@dataclass(frozen=True)
class Block:
    """One thing drawn: a stack of feature maps (``maps``) or a vector (``vector``), and the operation before it."""

    name: str
    shape: tuple[int, ...]
    role: str  # input, conv, pool, dense or output: its colours
    operation: tuple[str, ...] = ()  # the lines written under the arrow leading here, in order

    @property
    def is_maps(self) -> bool:
        return len(self.shape) == 3

    @property
    def label(self) -> tuple[str, str]:
        """Its name and its size: ``6@28×28`` for maps (channels@height×width), ``120`` for a vector."""
        if self.is_maps:
            height, width, channels = self.shape
            return self.name, f"{channels}@{height}×{width}"
        return self.name, f"{math.prod(self.shape):,}"


def _kernel(row: LayerRow) -> str:
    kernel = row.settings.get("kernel")
    return f"{kernel}×{kernel}" if kernel else ""


def _pad_words(row: LayerRow) -> str:
    """``pad 2``; an architecture's own input border says it is fixed (under 'valid' padding too)."""
    pixels = row.settings.get("pixels")
    words = f"pad {pixels}" if pixels is not None else "pad"
    return f"{words} (fixed)" if row.name == INPUT_PAD else words


def _operation(row: LayerRow) -> tuple[str, list[str]] | None:
    """The main words and extras of a layer that makes a new block, or None (from the row's settings)."""
    settings = row.settings
    stride, same = settings.get("stride"), settings.get("padding") == "same"
    if row.kind == "Conv2D":
        extras = [f"stride {stride}"] if stride not in (None, 1) else []
        return f"conv {_kernel(row)}".strip(), extras + (["same"] if same else [])
    if row.kind in POOL_KINDS:
        extras = [f"stride {stride}"] if stride is not None and stride != settings.get("kernel") else []
        return f"{POOL_KINDS[row.kind]} pool {_kernel(row)}".strip(), extras + (["same"] if same else [])
    if row.kind == "Dense":
        return "dense", (["softmax"] if settings.get("activation") == "softmax" else [])
    return None


def network_blocks(table: ShapeTable) -> list[Block]:
    """The stacks and bars of ``table``'s network: the input, every convolution, pooling and dense layer,
    and the input adaptations (a border, resizing, gray to RGB) as one stack. Layers that keep the
    shape (rescaling, batch norm, activation, dropout, flatten) are words on the next arrow."""
    blocks = [Block("input", tuple(table.input_shape), "input")]
    pending: list[str] = []  # words for the next arrow
    adapting = False  # the last block is an input adaptation that the next one may extend
    rows = list(table.rows)
    for i, row in enumerate(rows):
        following = rows[i + 1] if i + 1 < len(rows) else None
        made = _operation(row)
        if made is not None:
            main, extras = made
            role = "conv" if row.kind == "Conv2D" else "pool" if row.kind in POOL_KINDS else "dense"
            if row.kind == "Dense" and following is None:
                role = "output"
            blocks.append(Block(row.name, tuple(row.output_shape), role, (*pending, main, *extras)))
            pending, adapting = [], False
        elif row.kind in ADAPTING_KINDS or (row.kind == "ZeroPadding2D" and (
                row.name == INPUT_PAD or following is None or following.kind != "Conv2D")):
            word = ADAPTING_KINDS.get(row.kind) or _pad_words(row)
            if adapting:
                last = blocks.pop()
                blocks.append(Block(row.name, tuple(row.output_shape), "input", (*last.operation, word)))
            else:
                blocks.append(Block(row.name, tuple(row.output_shape), "input", (*pending, word)))
            pending, adapting = [], True
        elif row.kind == "ZeroPadding2D":
            pending.append(_pad_words(row))
        elif row.kind == "BatchNormalization" and blocks[-1].operation:
            last = blocks.pop()
            blocks.append(Block(last.name, last.shape, last.role, (*last.operation, "batch norm")))
        elif row.kind == "Dropout":
            rate = row.settings.get("rate")
            pending.append(f"dropout {rate:g}" if isinstance(rate, (int, float)) else "dropout")
        elif row.kind in PENDING_WORDS:
            pending.append(PENDING_WORDS[row.kind])
        elif tuple(row.output_shape) != blocks[-1].shape and row.kind not in ("Rescaling", "Activation"):
            role = "pool" if len(row.output_shape) == 3 else "dense"  # a kind this picture does not know
            blocks.append(Block(row.name, tuple(row.output_shape), role, (*pending, row.kind)))
            pending, adapting = [], False
    return blocks


# geometry (in plane-size units, then in points) ---------------------------------------------------


def _side(size: int) -> float:
    """A plane's side for a map ``size`` pixels across: logarithmic, so 1 and 224 fit in one picture."""
    return 0.45 + 0.5 * math.log2(max(size, 1))


@dataclass
class _Stack:
    """A block's drawing in units: the front face and the depth offset of the stack of planes behind it."""

    block: Block
    width: float
    height: float
    depth_x: float = 0.0
    depth_y: float = 0.0
    planes: int = 1

    @property
    def extent(self) -> float:
        return self.width + self.depth_x

    @property
    def rise(self) -> float:
        return self.height + self.depth_y


def _stack(block: Block) -> _Stack:
    if block.is_maps:
        height, width, channels = block.shape
        depth = 0.28 * math.log2(max(channels, 1))
        planes = max(1, min(channels, 1 + round(math.log2(max(channels, 1)) * 1.2), 9))
        return _Stack(block, _side(width), _side(height), depth * 0.75, depth * 0.6, planes)
    return _Stack(block, 0.32, 1.15 * _side(round(math.sqrt(math.prod(block.shape)))))


_FONT = FontProperties(size=100)  # the default font, which the labels use, measured at 100 points
_MEASURE = TextToPath()


@lru_cache(maxsize=4096)
def _line_width(line: str) -> float:
    return _MEASURE.get_text_width_height_descent(line, _FONT, ismath=False)[0] / 100


def _text_width(lines: Sequence[str]) -> float:
    """The widest line's width at a 1-point font, in points."""
    return max((_line_width(line) for line in lines if line), default=0.0)


@dataclass(frozen=True)
class _Layout:
    """Everything in points: each stack's left edge, the scale (points per unit), the font and the rows."""

    stacks: list[_Stack]
    lefts: list[float]
    scale: float
    font: float
    centre_y: float  # the line through the stacks' middles
    low: float  # the lowest stack's bottom: the operations are written under it
    stagger: bool  # names and operations alternate between two rows
    rows: tuple[float, float]  # the height of a row of names and of operations

    def box(self, i: int) -> tuple[float, float, float, float]:
        """Left, bottom, right, top of stack ``i``."""
        stack, s = self.stacks[i], self.scale
        bottom = self.centre_y - stack.rise * s / 2
        return self.lefts[i], bottom, self.lefts[i] + stack.extent * s, bottom + stack.rise * s


MIN_ARROW = 16.0  # points: the shortest gap between stacks, room for an arrow
MAX_SCALE = 34.0  # points per unit: a 28×28 plane is then about 1.3 inches high


class _Widths:
    """The labels' widths at a 1-point font."""

    def __init__(self, blocks: list[Block]):
        self.boxes = [_text_width(block.label) for block in blocks]
        self.operations = [0.0, *(_text_width(block.operation) for block in blocks[1:])]
        self.operation_lines = max((len(block.operation) for block in blocks[1:]), default=0)


def _gaps(stacks: list[_Stack], widths: _Widths, font: float, scale: float, stagger: bool) -> list[float]:
    """The narrowest gaps (points) at which no two labels in a row overlap and no name runs into a taller
    neighbour. Staggered, labels alternate between two rows, so only every other one is a neighbour."""
    gaps: list[float] = []
    step = 2 if stagger else 1
    extents = [stack.extent * scale for stack in stacks]
    for i in range(len(stacks) - 1):
        need = max(MIN_GAP_UNITS * scale, MIN_ARROW)
        # names: centres of neighbours in a row (stacks i + 1 - step and i + 1) far enough apart
        j = i + 1 - step
        if j >= 0:
            between = (widths.boxes[j] + widths.boxes[i + 1]) / 2 * font + SPACE
            need = max(need, between - extents[j] / 2 - sum(extents[j + 1:i + 1]) - sum(gaps[j:i]) - extents[i + 1] / 2)
        if not stagger:  # names sit right above their stacks: one wider than its stack must miss a taller neighbour
            a, b = stacks[i], stacks[i + 1]
            if b.rise > a.rise:
                need = max(need, widths.boxes[i] * font / 2 + GAP / 2 - extents[i] / 2)
            if a.rise > b.rise:
                need = max(need, widths.boxes[i + 1] * font / 2 + GAP / 2 - extents[i + 1] / 2)
        # operations: centred in gaps i - step and i
        j = i - step
        if j >= 0:
            between = (widths.operations[j + 1] + widths.operations[i + 1]) / 2 * font + SPACE
            need = max(need, 2 * (between - gaps[j] / 2 - sum(extents[j + 1:i + 1]) - sum(gaps[j + 1:i])))
        gaps.append(need)
    return gaps


def _rows(widths: _Widths, font: float) -> tuple[float, float]:
    """The height of a row of names and of a row of operations, in points."""
    return 2 * LINE * font + GAP, widths.operation_lines * LINE * font + GAP


def _margins(widths: _Widths, font: float, title: bool, stagger: bool) -> tuple[float, float]:
    """Points above the stacks (names, title) and below them (operations)."""
    names, operations = _rows(widths, font)
    rows = 2 if stagger else 1
    return GAP + rows * names + (2 * LINE * MAX_FONT if title else 0.0), GAP + rows * operations


@dataclass(frozen=True)
class _Fit:
    font: float
    stagger: bool
    scale: float
    gaps: list[float]
    side: float


def _fit(stacks: list[_Stack], widths: _Widths, font: float, stagger: bool, width: float, height: float | None,
         title: bool) -> _Fit:
    """The largest scale at which everything fits ``width`` (and ``height``), with its gaps and side margin."""
    top, bottom = _margins(widths, font, title, stagger)
    rise = max(stack.rise for stack in stacks)
    side = max(widths.boxes[0] * font / 2, widths.boxes[-1] * font / 2, widths.operations[-1] * font / 2) + GAP
    highest = MAX_SCALE if height is None else min(MAX_SCALE, max(height - top - bottom, 1.0) / rise)

    def total(scale: float) -> float:
        return sum(stack.extent for stack in stacks) * scale + sum(_gaps(stacks, widths, font, scale, stagger))

    low, high = 0.0, highest
    if total(high) <= width - 2 * side:
        low = high
    else:
        for _ in range(24):  # the total width grows with the scale: bisect
            middle = (low + high) / 2
            if total(middle) <= width - 2 * side:
                low = middle
            else:
                high = middle
    scale = max(low, 1e-3)
    return _Fit(font, stagger, scale, _gaps(stacks, widths, font, scale, stagger), side)


MIN_SCALE = 7.0  # points per unit below which the stacks are too small to read: labels in two rows instead


def _choose(fits: list[_Fit]) -> _Fit:
    """The largest font that shrinks the drawing by at most a third against the smallest font."""
    smallest = fits[-1].scale
    return next(fit for fit in fits if fit.scale >= 0.65 * smallest)


def _layout(blocks: list[Block], width: float, height: float | None, title: bool) -> _Layout:
    """One row of names and one of operations where the stacks stay readable, else two staggered rows; the
    largest font (down to MIN_FONT) that shrinks the drawing by at most a third; the spare width spread."""
    stacks = [_stack(block) for block in blocks]
    widths = _Widths(blocks)
    fonts = [MAX_FONT - 0.5 * i for i in range(int((MAX_FONT - MIN_FONT) / 0.5) + 1)]
    fit = _choose([_fit(stacks, widths, font, False, width, height, title) for font in fonts])
    if fit.scale < MIN_SCALE:
        staggered = _choose([_fit(stacks, widths, font, True, width, height, title) for font in fonts])
        if staggered.scale > fit.scale:
            fit = staggered
    scale, gaps, font = fit.scale, fit.gaps, fit.font
    # spare width (the height limits the drawing): wider gaps, up to MAX_GAP_UNITS, then centred
    spare = width - 2 * fit.side - sum(stack.extent for stack in stacks) * scale - sum(gaps)
    if spare > 0 and gaps:
        gaps = [max(gap, min(gap + spare / len(gaps), MAX_GAP_UNITS * scale)) for gap in gaps]
    used = sum(stack.extent for stack in stacks) * scale + sum(gaps)
    x = max(fit.side, (width - used) / 2)
    lefts = []
    for i, stack in enumerate(stacks):
        lefts.append(x)
        x += stack.extent * scale + (gaps[i] if i < len(gaps) else 0.0)
    top, bottom = _margins(widths, font, title, fit.stagger)
    rise = max(stack.rise for stack in stacks) * scale
    full = height if height is not None else top + rise + bottom
    centre = bottom + (full - top - bottom) / 2
    return _Layout(stacks, lefts, scale, font, centre, centre - rise / 2, fit.stagger, _rows(widths, font))


# drawing ----------------------------------------------------------------------------------------


def _draw_stack(axes: Axes, layout: _Layout, i: int) -> None:
    stack, s = layout.stacks[i], layout.scale
    role = stack.block.role
    face, edge = FACE[role], EDGE[role]
    left, bottom, _right, _top = layout.box(i)
    w, h = stack.width * s, stack.height * s
    if not stack.block.is_maps:
        axes.add_artist(Rectangle((left, bottom), w, h, facecolor=face, edgecolor=edge, linewidth=1.0,
                                 gid=f"vector:{stack.block.name}"))
        return
    planes = stack.planes
    step_x = stack.depth_x * s / (planes - 1) if planes > 1 else 0.0
    step_y = stack.depth_y * s / (planes - 1) if planes > 1 else 0.0
    for k in reversed(range(planes)):  # the back plane first, the front plane (lower left) last
        axes.add_artist(Rectangle((left + k * step_x, bottom + k * step_y), w, h, facecolor=face, edgecolor=edge,
                                 linewidth=0.7 if k else 1.1, gid=None if k else f"maps:{stack.block.name}"))


def drawn_blocks(figure: Figure) -> list[str]:
    """The ``maps:<name>`` and ``vector:<name>`` ids of the stacks and bars drawn on ``figure``, left to right."""
    return [gid for axes in figure.axes for artist in axes.get_children() if (gid := artist.get_gid())]


def draw_network(table: ShapeTable, figure: Figure, title: str | None = None) -> list[Block]:
    """Draw ``table``'s network on ``figure`` (cleared first), fitted to its current size; return the blocks."""
    figure.clear()
    blocks = network_blocks(table)
    width, height = figure.get_figwidth() * 72, figure.get_figheight() * 72
    layout = _layout(blocks, width, height, bool(title))
    _draw(figure, layout, width, height, title)
    return blocks


def _draw(figure: Figure, layout: _Layout, width: float, height: float, title: str | None) -> None:
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    axes.set_xlim(0, width)
    axes.set_ylim(0, height)  # one point is one unit on both axes
    font = layout.font
    highest = max(layout.box(i)[3] for i in range(len(layout.stacks)))
    for i, stack in enumerate(layout.stacks):
        _draw_stack(axes, layout, i)
        left, _bottom, right, top = layout.box(i)
        name, size = stack.block.label
        above = highest + GAP + (i % 2) * layout.rows[0] if layout.stagger else top + GAP
        axes.text((left + right) / 2, above, f"{name}\n{size}", ha="center", va="bottom", fontsize=font,
                  linespacing=LINE, color="#202020")
    for i in range(len(layout.stacks) - 1):
        start, stop = layout.box(i)[2], layout.box(i + 1)[0]
        axes.add_artist(FancyArrowPatch((start + 2, layout.centre_y), (stop - 2, layout.centre_y), arrowstyle="-|>",
                                       mutation_scale=8, color="#606060", linewidth=0.9, shrinkA=0, shrinkB=0))
        lines = layout.stacks[i + 1].block.operation
        if lines:
            below = layout.low - GAP - (i % 2 * layout.rows[1] if layout.stagger else 0.0)
            axes.text((start + stop) / 2, below, "\n".join(lines), ha="center", va="top", fontsize=font,
                      linespacing=LINE, color="#404040", fontstyle="italic")
    if title:
        axes.text(width / 2, height - GAP, title, ha="center", va="top", fontsize=MAX_FONT + 1, color="#202020")


def network_figure(table: ShapeTable, title: str | None = None, width: float | None = None) -> Figure:
    """A figure for ``savefig``: ``width`` inches wide (by default wider for more layers), as high as the
    diagram needs."""
    blocks = network_blocks(table)
    width = width or min(max(0.95 * len(blocks), 7.0), 16.0)
    layout = _layout(blocks, width * 72, None, bool(title))
    top, bottom = _margins(_Widths(blocks), layout.font, bool(title), layout.stagger)
    height = top + bottom + max(stack.rise for stack in layout.stacks) * layout.scale
    figure = Figure(figsize=(width, height / 72), dpi=100)
    _draw(figure, layout, width * 72, height, title)
    return figure

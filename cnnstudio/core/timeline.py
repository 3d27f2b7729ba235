"""The training timeline's data: a small snapshot of the first convolution after every epoch, to watch filters form.

Each :class:`Snapshot` keeps the first convolution layer's kernels (at most 16 filters, the first
3 input channels, float32) and its feature maps for one fixed test image (at most 16 channels,
averaged down to at most ``RECORDED_MAP_SIDE`` pixels a side, each scaled to 0..255 with its own
range). Past ``MAX_SNAPSHOTS`` (or ``MAX_TIMELINE_BYTES``) the timeline is thinned evenly.
A :class:`Timeline` is stored in the model's record as JSON: shapes once, then per snapshot its
epoch, base64 of the raw little-endian bytes and the map ranges. :meth:`Timeline.from_json`
reads untrusted input and refuses anything malformed with a one-line ``ValueError`` or ``TypeError``.

Plain NumPy (no Keras, no Qt), so model records and the GUI can read timelines cheaply;
:class:`cnnstudio.core.training.timeline.TimelineCallback` takes the snapshots during training.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_SNAPSHOTS = 200  # more epochs than this are thinned evenly, the first and the last kept
MAX_FILTERS = 16  # filters (and map channels) kept per snapshot
MAX_INPUT_CHANNELS = 3  # kernel input channels kept
MAX_KERNEL_SIDE = 64
MAX_MAP_SIDE = 512  # what a stored timeline may hold
RECORDED_MAP_SIDE = 32  # larger maps are averaged down by a whole factor before they are kept (AlexNet's 54 → 27)
# Raw bytes of all snapshots: 9.4 MiB as base64, which leaves more than 6 MiB of a record's 16 MiB
# (persistence.MAX_JSON_MEMBER) to the rest; 200 snapshots of AlexNet's first layer take 6.7 MiB.
MAX_TIMELINE_BYTES = 7 * 2**20
KERNEL_DTYPE = np.dtype("<f4")
MAP_DTYPE = np.dtype("u1")


@dataclass(frozen=True, eq=False)
class Snapshot:
    """The first convolution after ``epoch`` epochs (fractional for a stopped epoch).

    ``kernels`` is k×k×C_in×F float32, ``maps`` H×W×F uint8 (0..255 per channel), ``map_ranges``
    the (low, high) value each channel's 0 and 255 stand for.
    """

    epoch: float
    kernels: np.ndarray
    maps: np.ndarray
    map_ranges: tuple[tuple[float, float], ...]

    @property
    def nbytes(self) -> int:
        return int(self.kernels.nbytes + self.maps.nbytes)

    def map_values(self) -> np.ndarray:
        """The maps as float32 values again (to within 1/255 of each channel's range)."""
        low, high = np.asarray(self.map_ranges, dtype=np.float32).T
        return low + self.maps.astype(np.float32) / 255.0 * (high - low)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Snapshot):
            return NotImplemented
        return (self.epoch, self.map_ranges) == (other.epoch, other.map_ranges) and np.array_equal(
            self.kernels, other.kernels) and np.array_equal(self.maps, other.maps)

    __hash__ = None  # type: ignore[assignment]


def quantized(maps: np.ndarray) -> tuple[np.ndarray, tuple[tuple[float, float], ...]]:
    """H×W×C float maps as uint8 scaled per channel to 0..255, with each channel's (low, high)."""
    maps = np.asarray(maps, dtype=np.float32)
    low, high = maps.min(axis=(0, 1)), maps.max(axis=(0, 1))
    span = np.where(high > low, high - low, 1.0)
    scaled = np.rint((maps - low) / span * 255.0)
    return np.clip(scaled, 0, 255).astype(MAP_DTYPE), tuple((float(a), float(b)) for a, b in zip(low, high))


def shrunk(maps: np.ndarray, side: int = RECORDED_MAP_SIDE) -> np.ndarray:
    """H×W×C maps averaged over blocks, each side by the smallest whole factor bringing it to ``side`` or less.

    Square maps get f×f blocks; maps far taller than wide (or wider than tall) keep their short side,
    so no side ever shrinks to nothing.
    """
    height, width = maps.shape[:2]
    down, across = max(1, math.ceil(height / side)), max(1, math.ceil(width / side))
    if down == across == 1:
        return maps
    rows, cols = height // down, width // across
    blocks = maps[:rows * down, :cols * across].reshape(rows, down, cols, across, *maps.shape[2:])
    return blocks.mean(axis=(1, 3))


def thinned(epochs: list[float], keep: int) -> list[int]:
    """Indexes of ``keep`` of the ascending ``epochs`` (first and last included) spread as evenly as possible.

    Repeatedly drops the inner point whose neighbours are closest, so appending one epoch at a time
    and thinning each time keeps the spacing even.
    """
    kept = list(range(len(epochs)))
    keep = max(keep, 2)
    while len(kept) > keep:
        spans = [epochs[kept[i + 1]] - epochs[kept[i - 1]] for i in range(1, len(kept) - 1)]
        del kept[1 + int(np.argmin(spans))]
    return kept


@dataclass
class Timeline:
    """Snapshots of the first convolution layer ``layer`` for test image ``image_index``, by increasing epoch."""

    layer: str
    image_index: int
    snapshots: list[Snapshot] = field(default_factory=list)

    @property
    def epochs(self) -> list[float]:
        return [snapshot.epoch for snapshot in self.snapshots]

    @property
    def capacity(self) -> int:
        """How many snapshots of this size are kept: ``MAX_SNAPSHOTS``, fewer for big ones (``MAX_TIMELINE_BYTES``)."""
        if not self.snapshots:
            return MAX_SNAPSHOTS
        return max(2, min(MAX_SNAPSHOTS, MAX_TIMELINE_BYTES // max(1, self.snapshots[0].nbytes)))

    def copy(self) -> Timeline:
        return Timeline(self.layer, self.image_index, list(self.snapshots))

    def add(self, snapshot: Snapshot) -> None:
        """Append a later snapshot (one of another shape starts the timeline over), thinning past the capacity."""
        if self.snapshots and snapshot.epoch <= self.snapshots[-1].epoch:
            raise ValueError(f"a snapshot at epoch {snapshot.epoch:g} does not follow epoch {self.snapshots[-1].epoch:g}")
        if self.snapshots and (self.snapshots[0].kernels.shape, self.snapshots[0].maps.shape) != (
                snapshot.kernels.shape, snapshot.maps.shape):
            self.snapshots.clear()
        self.snapshots.append(snapshot)
        if len(self.snapshots) > self.capacity:
            self.snapshots[:] = [self.snapshots[i] for i in thinned(self.epochs, self.capacity)]

    def drop_after(self, epoch: float) -> None:
        """Forget the snapshots after ``epoch`` (a diverged run went back to the weights of that epoch)."""
        self.snapshots[:] = [s for s in self.snapshots if s.epoch <= epoch]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"layer": self.layer, "image_index": self.image_index}
        if self.snapshots:
            first = self.snapshots[0]
            data["kernel_shape"], data["map_shape"] = list(first.kernels.shape), list(first.maps.shape)
        data["snapshots"] = [{
            "epoch": s.epoch,
            "kernels": base64.b64encode(np.ascontiguousarray(s.kernels, dtype=KERNEL_DTYPE).tobytes()).decode("ascii"),
            "maps": base64.b64encode(np.ascontiguousarray(s.maps, dtype=MAP_DTYPE).tobytes()).decode("ascii"),
            "map_ranges": [list(pair) for pair in s.map_ranges],
        } for s in self.snapshots]
        return data

    @classmethod
    def from_json(cls, data: Any) -> Timeline:
        """A timeline from a model file (untrusted): every type, shape, size and number is checked."""
        data = _of_type(data, dict, "timeline")
        layer = _of_type(data.get("layer"), str, "timeline layer")
        if not 0 < len(layer) <= 200 or not layer.isprintable():
            raise ValueError("the timeline's layer name must be 1 to 200 printable characters")
        image_index = _count(data.get("image_index"), "timeline image index", 2**31)
        items = _of_type(data.get("snapshots"), list, "timeline snapshots")
        if len(items) > MAX_SNAPSHOTS:
            raise ValueError(f"the timeline has {len(items):,} snapshots, more than {MAX_SNAPSHOTS}")
        if not items:
            return cls(layer, image_index, [])
        kernel_shape = _shape(data.get("kernel_shape"), "timeline kernel shape",
                              (MAX_KERNEL_SIDE, MAX_KERNEL_SIDE, MAX_INPUT_CHANNELS, MAX_FILTERS))
        map_shape = _shape(data.get("map_shape"), "timeline map shape", (MAX_MAP_SIDE, MAX_MAP_SIDE, MAX_FILTERS))
        if map_shape[2] != kernel_shape[3]:
            raise ValueError(f"the timeline has {kernel_shape[3]} kernels but {map_shape[2]} map channels")
        size = (math.prod(kernel_shape) * KERNEL_DTYPE.itemsize + math.prod(map_shape)) * len(items)
        if size > MAX_TIMELINE_BYTES:
            raise ValueError(f"the timeline holds {size:,} bytes, more than {MAX_TIMELINE_BYTES:,}")
        snapshots = [_snapshot(item, kernel_shape, map_shape) for item in items]
        if any(later.epoch <= earlier.epoch for earlier, later in zip(snapshots, snapshots[1:])):
            raise ValueError("the timeline's epochs must increase")
        return cls(layer, image_index, snapshots)


def _of_type(value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind):
        raise TypeError(f"{what} must be a {kind.__name__}, not {type(value).__name__}")
    return value


def _count(value: Any, what: str, maximum: int, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValueError(f"{what} must be a whole number from {minimum} to {maximum}")
    return value


def _shape(value: Any, what: str, bounds: tuple[int, ...]) -> tuple[int, ...]:
    dims = _of_type(value, list, what)
    if len(dims) != len(bounds):
        raise ValueError(f"{what} must have {len(bounds)} sizes, not {len(dims)}")
    return tuple(_count(d, what, bound, minimum=1) for d, bound in zip(dims, bounds))


def _decoded(value: Any, what: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    text = _of_type(value, str, what)
    expected = math.prod(shape) * dtype.itemsize
    if len(text) != 4 * math.ceil(expected / 3):  # checked before decoding: a huge string is refused at once
        raise ValueError(f"{what} must be {expected:,} bytes in base64")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{what} is not valid base64") from exc
    if len(raw) != expected:
        raise ValueError(f"{what} must be {expected:,} bytes, not {len(raw):,}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _snapshot(item: Any, kernel_shape: tuple[int, ...], map_shape: tuple[int, ...]) -> Snapshot:
    item = _of_type(item, dict, "a timeline snapshot")
    epoch = item.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, (int, float)) or not 0 <= epoch <= 1e9:
        raise ValueError("a timeline snapshot's epoch must be a number from 0 to 1e9")
    kernels = _decoded(item.get("kernels"), "a timeline snapshot's kernels", kernel_shape, KERNEL_DTYPE)
    if not np.isfinite(kernels).all():
        raise ValueError("a timeline snapshot's kernels must be finite")
    maps = _decoded(item.get("maps"), "a timeline snapshot's maps", map_shape, MAP_DTYPE)
    ranges = _of_type(item.get("map_ranges"), list, "a timeline snapshot's map ranges")
    if len(ranges) != map_shape[2]:
        raise ValueError(f"a timeline snapshot needs {map_shape[2]} map ranges, not {len(ranges)}")
    pairs = []
    for pair in ranges:
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in pair)
                or pair[0] > pair[1]):
            raise ValueError("a timeline map range must be two finite numbers, low then high")
        pairs.append((float(pair[0]), float(pair[1])))
    return Snapshot(float(epoch), kernels, maps, tuple(pairs))

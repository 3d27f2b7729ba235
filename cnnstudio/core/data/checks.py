"""Checks that treat datasets and images as untrusted input: sizes, memory, pixels, labels, scaling.

Pure NumPy (no TensorFlow): every defect becomes a :class:`DatasetError` with one line for the user,
raised before anything large is allocated where the size can be known in advance.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from cnnstudio.core.errors import DatasetError
from cnnstudio.core.limits import MAX_CLASS_NAME, MAX_CLASSES, MIN_CLASSES

MIN_SIDE = 8  # smallest image height or width a dataset may have
MAX_IMAGE_PIXELS = 50_000_000  # one image file: at most 50 megapixels (a 48 MP phone photo fits)
MEMORY_SHARE = 0.8  # refuse data that would need more than this share of the memory available now


def human_bytes(count: float) -> str:
    """``1536`` → ``"1.5 KiB"``; huge counts stay readable (``"8.7e+18 bytes"``)."""
    if count >= 1024 ** 6:
        return f"{count:.2g} bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{int(count):,} bytes" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} PiB"  # pragma: no cover - the loop always returns


def available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``, else free pages), or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(nbytes: int, what: str) -> None:
    """Refuse ``what`` when its ``nbytes`` would not fit in the memory available now."""
    available = available_memory()
    if available is not None and nbytes > MEMORY_SHARE * available:
        raise DatasetError(f"{what} needs {human_bytes(nbytes)} of memory but only {human_bytes(available)} "
                           "is available")


def shape_text(shape: Sequence[int]) -> str:
    """``(60000, 28, 28)`` → ``"60,000×28×28"``."""
    return "×".join(f"{int(n):,}" for n in shape)


def declared_bytes(shape: Sequence[int], itemsize: int) -> int:
    """Bytes an array of this shape needs, computed without overflow."""
    return math.prod(int(n) for n in shape) * int(itemsize)


def check_image_size(width: int, height: int, where: str) -> None:
    """Refuse an image too large to decode safely or too small for any network."""
    if width * height > MAX_IMAGE_PIXELS:
        raise DatasetError(f"{where}: the image is too large ({width:,}×{height:,} pixels; "
                           f"at most {MAX_IMAGE_PIXELS // 1_000_000} megapixels)")
    if min(width, height) < MIN_SIDE:
        raise DatasetError(f"{where}: images of {width}×{height} pixels are too small; "
                           f"CNN Studio needs at least {MIN_SIDE}×{MIN_SIDE}")


def check_finite(name: str, splits: dict[str, np.ndarray]) -> None:
    """Refuse images with NaN or infinite pixels, counting the affected images of each split."""
    problems = []
    for split, x in splits.items():
        if x.dtype.kind not in "fc" or len(x) == 0:
            continue
        bad = int(np.count_nonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1)))
        if bad:
            problems.append(f"{split}: {bad:,} of {len(x):,} images contain NaN or infinite pixels")
    if problems:
        raise DatasetError(f"{name}: {'; '.join(problems)}; remove or repair them first")


def _scaled(x: np.ndarray, factor: float, offset: float) -> np.ndarray:
    out = np.empty(x.shape, dtype=np.uint8)
    flat_in, flat_out = x.reshape(len(x), -1), out.reshape(len(x), -1)
    step = max(1, 4_000_000 // max(1, flat_in.shape[1]))  # a few MB of float32 at a time
    for start in range(0, len(x), step):
        part = flat_in[start : start + step].astype(np.float32) * np.float32(factor) + np.float32(offset)
        flat_out[start : start + step] = np.clip(np.round(part), 0, 255)
    return out


def to_uint8_pixels(name: str, splits: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Pixels of all splits as uint8 0..255, the scaling decided once from all of them together.

    uint8 stays as it is; values within 0..1 are multiplied by 255 (floats up to 1.5 count as 0..1,
    the excess clipped); whole numbers or floats within 0..255 stay; whole numbers above 255
    (e.g. 16-bit images) are scaled by 255/max; anything else is min-max scaled to 0..255.
    NaN or infinite pixels are refused first. Returns the arrays and notes saying what was done.
    """
    for split, x in splits.items():
        if x.dtype.kind == "b":
            splits = {**splits, split: x.astype(np.uint8)}
        elif x.dtype.kind not in "uif":
            raise DatasetError(f"{name}: {split} images must hold numbers, not {x.dtype}")
    check_finite(name, splits)
    if all(x.dtype == np.uint8 for x in splits.values()):
        return dict(splits), []
    filled = [x for x in splits.values() if x.size]
    lo = min(float(x.min()) for x in filled) if filled else 0.0
    hi = max(float(x.max()) for x in filled) if filled else 0.0
    is_float = any(x.dtype.kind == "f" for x in splits.values())
    found = f"pixel values {lo:g}..{hi:g} ({', '.join(sorted({str(x.dtype) for x in splits.values()}))})"
    if lo >= 0 and hi <= 1:
        factor, offset, note = 255.0, 0.0, f"{found} multiplied by 255"
    elif is_float and lo >= 0 and hi <= 1.5:
        factor, offset, note = 255.0, 0.0, f"{found} taken as 0..1 and multiplied by 255, values above 1 clipped"
    elif lo >= 0 and hi <= 255:
        factor, offset, note = 1.0, 0.0, ""
    elif not is_float and lo >= 0:
        factor, offset, note = 255.0 / hi, 0.0, f"{found} scaled by 255/{hi:,.0f} to 0..255"
    else:
        span = hi - lo
        factor = 255.0 / span if span else 0.0
        offset = -lo * factor
        note = f"{found} min-max scaled to 0..255"
    notes = [f"{name}: {note}"] if note else []
    return {split: _scaled(x, factor, offset) for split, x in splits.items()}, notes


def _label_summary(values: np.ndarray, limit: int = 6) -> str:
    """Distinct labels as runs: ``0..9 and 1000000``; long lists end in ``…``."""
    values = np.unique(values)
    runs: list[str] = []
    start = prev = int(values[0]) if len(values) else 0
    for value in [int(v) for v in values[1:]] + [None]:
        if value is not None and value == prev + 1:
            prev = value
            continue
        runs.append(str(start) if start == prev else f"{start}..{prev}")
        if value is not None:
            start = prev = value
    if len(runs) > limit:
        runs = [*runs[:limit], "…"]
    return ", ".join(runs[:-1]) + " and " + runs[-1] if len(runs) > 1 else (runs[0] if runs else "none")


def labels_as_int(y: np.ndarray, where: str) -> tuple[np.ndarray, list[str]]:
    """Class numbers (int64, 1-D) from integer, whole-float or exactly one-hot labels; else refused."""
    y = np.asarray(y)
    notes = []
    if y.ndim == 2 and y.shape[1] > 1:
        onehot = (y.dtype.kind in "biuf" and len(y) and bool(np.isin(y, (0, 1)).all())
                  and bool((y.sum(axis=1) == 1).all()))
        if not onehot:
            raise DatasetError(f"{where}: labels of shape {shape_text(y.shape)} must be one class number per "
                               "image, or one-hot rows holding a single 1")
        notes.append(f"{where}: one-hot labels ({shape_text(y.shape)}) converted to class numbers")
        y = np.argmax(y, axis=1)
    elif y.ndim > 1 and math.prod(y.shape[1:]) == 1:
        y = y.reshape(len(y))
    elif y.ndim != 1:
        raise DatasetError(f"{where}: labels must be one class number per image, not an array of {shape_text(y.shape)}")
    if y.dtype.kind == "b" or y.dtype.kind not in "iuf":
        raise DatasetError(f"{where} must hold whole-number class labels, not {y.dtype}")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise DatasetError(f"{where} must hold whole-number class labels; it holds NaN or infinite values")
        fractions = y[y != np.round(y)]
        if fractions.size:
            raise DatasetError(f"{where} must hold whole-number class labels, found {fractions[0]:g}")
        if y.size and float(np.abs(y).max()) > 2 ** 53:
            raise DatasetError(f"{where}: label {float(np.abs(y).max()):g} is far too large for a class number")
    if y.dtype == np.uint64 and y.size and int(y.max()) > 2 ** 62:
        raise DatasetError(f"{where}: label {int(y.max()):,} is far too large for a class number")
    y = y.astype(np.int64)
    if y.size and int(y.min()) < 0:
        raise DatasetError(f"{where}: labels must be 0, 1, 2, …; found {int(y.min())}")
    return y, notes


def check_label_set(name: str, y_train: np.ndarray, y_test: np.ndarray,
                    class_names: list[str]) -> tuple[list[str], list[str]]:
    """Class names for these labels (given or 0..K-1) and notes; implausible label sets are refused.

    Given names cover the labels when there are more names than the largest label. Without names
    the labels must be exactly 0..K-1 (no gaps) with K <= ``MAX_CLASSES``. A class found only in the
    test split, or only in the training split, is noted.
    """
    labels = np.concatenate([y_train, y_test])
    top = int(labels.max()) if labels.size else -1
    if class_names:
        if len(class_names) > MAX_CLASSES:
            raise DatasetError(f"{name}: {len(class_names):,} class names; at most {MAX_CLASSES:,} classes")
        if too_long := [n for n in class_names if len(n) > MAX_CLASS_NAME]:
            raise DatasetError(f"{name}: a class name of {len(too_long[0]):,} characters; at most {MAX_CLASS_NAME}")
        if top >= len(class_names):
            raise DatasetError(f"{name}: label {top:,} but only {len(class_names):,} class names (labels count from 0)")
        names = list(class_names)
    else:
        present = np.unique(labels)
        if top + 1 > MAX_CLASSES or len(present) != top + 1:
            raise DatasetError(f"{name}: labels must be 0..K-1 with K <= {MAX_CLASSES:,} classes; found "
                               f"{_label_summary(present)} (renumber them, or store class_names covering them)")
        names = [str(i) for i in range(top + 1)]
    if len(names) < MIN_CLASSES:  # said now, before anything trains (the network could not be built)
        raise DatasetError(f"{name}: only one class ({names[0] if names else 'none'}); a classifier needs two or more"
                           if len(names) == 1 else f"{name}: no labels; a classifier needs two or more classes")
    trained = set(np.unique(y_train).tolist())
    tested = set(np.unique(y_test).tolist())
    notes = []
    for missing, text in ((tested - trained, "the training split has no images of class(es) {}: the model cannot "
                                             "learn them, so their test images are always wrong"),
                          (trained - tested, "the test split has no images of class(es) {}")):
        if missing:
            shown = ", ".join(f"{names[i]!r}" for i in sorted(missing)[:5]) + (", …" if len(missing) > 5 else "")
            notes.append(f"{name}: " + text.format(shown))
    return names, notes

"""Reader for the IDX files MNIST is distributed in (optionally gzip-compressed)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from cnnstudio.core.errors import DatasetError

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Read one IDX file of unsigned bytes; any defect raises ``DatasetError`` naming the file."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"cannot read {path.name}: {exc}") from exc
    if len(raw) < 8:
        raise DatasetError(f"{path.name} is too short to be an IDX file ({len(raw)} bytes)")
    (magic,) = struct.unpack(">I", raw[:4])
    if magic != expected_magic:
        what = "images" if expected_magic == IMAGES_MAGIC else "labels"
        raise DatasetError(f"{path.name} is not an IDX {what} file (magic {magic}, expected {expected_magic})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise DatasetError(
            f"{path.name} is truncated or padded: its header promises {'×'.join(map(str, dims))} "
            f"= {expected:,} bytes of data but it holds {len(raw) - header:,}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find(folder: Path, split_words: tuple[str, ...], kind_words: tuple[str, ...]) -> Path | None:
    for path in sorted(folder.iterdir()):
        name = path.name.lower()
        if path.is_file() and any(w in name for w in split_words) and any(w in name for w in kind_words):
            return path
    return None


def is_idx_folder(folder: Path) -> bool:
    return folder.is_dir() and any("idx" in p.name.lower() for p in folder.iterdir())


def load_idx_folder(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)`` from MNIST-style files such as ``train-images-idx3-ubyte.gz``."""
    arrays = []
    for split_words in (("train",), ("t10k", "test")):
        pair = []
        for kind_words, magic in ((("images", "idx3"), IMAGES_MAGIC), (("labels", "idx1"), LABELS_MAGIC)):
            path = _find(folder, split_words, kind_words)
            if path is None:
                raise DatasetError(
                    f"{folder} has no {split_words[0]} {kind_words[0]} IDX file "
                    f"(expected a name like '{split_words[0]}-{kind_words[0]}-{kind_words[1]}-ubyte.gz')"
                )
            pair.append((path, read_idx(path, magic)))
        (image_path, images), (label_path, labels) = pair
        if len(images) != len(labels):
            raise DatasetError(
                f"{image_path.name} has {len(images):,} images but {label_path.name} has {len(labels):,} labels"
            )
        arrays += [images[..., np.newaxis], labels.astype(np.int64)]
    return arrays[0], arrays[1], arrays[2], arrays[3]

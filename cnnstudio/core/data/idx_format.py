"""Reader for the IDX files MNIST is distributed in (optionally gzip-compressed)."""

from __future__ import annotations

import contextlib
import gzip
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from cnnstudio.core.data.checks import check_memory, shape_text
from cnnstudio.core.errors import DatasetError
from cnnstudio.core.regular_file import NotRegularFileError, open_regular_file

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
_CHUNK = 1 << 22  # read 4 MiB at a time


def _read_exactly(handle: BinaryIO, count: int) -> bytes:
    data = handle.read(count)
    return data if data is not None else b""


def _read_into(handle: BinaryIO, array: np.ndarray) -> int:
    """Fill ``array`` (1-D uint8) from ``handle`` a chunk at a time; the bytes actually read."""
    view = memoryview(array)
    done = 0
    while done < len(array):
        got = handle.readinto(view[done : done + _CHUNK])  # type: ignore[attr-defined]
        if not got:
            break
        done += got
    return done


def _unpacked(file: BinaryIO, path: Path) -> contextlib.AbstractContextManager[BinaryIO]:
    """``file`` decompressed as it is read when ``path`` ends in ``.gz``, else ``file`` itself (left open)."""
    if path.suffix == ".gz":
        return gzip.GzipFile(fileobj=file, mode="rb")  # type: ignore[return-value]
    return contextlib.nullcontext(file)


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Read one IDX file of unsigned bytes; any defect raises ``DatasetError`` naming the file.

    The header's declared size is checked before anything is allocated: against the file's size
    (uncompressed files) and the memory available. A ``.gz`` is decompressed only as far as the
    header promises (plus one byte to tell a longer stream), so a gzip bomb costs nothing.
    """
    what = "images" if expected_magic == IMAGES_MAGIC else "labels"
    try:
        # a pipe or a device would block or never end: only a regular file is opened, without blocking
        with open_regular_file(path) as file, _unpacked(file, path) as handle:
            head = _read_exactly(handle, 4)
            if len(head) < 4:
                raise DatasetError(f"{path.name} is too short to be an IDX file ({len(head)} bytes)")
            (magic,) = struct.unpack(">I", head)
            if magic != expected_magic:
                raise DatasetError(f"{path.name} is not an IDX {what} file (magic {magic}, expected {expected_magic})")
            ndim = magic & 0xFF
            raw_dims = _read_exactly(handle, 4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise DatasetError(f"{path.name} is too short to be an IDX file (its header is cut off)")
            dims = struct.unpack(f">{ndim}I", raw_dims)
            header = 4 + 4 * ndim
            expected = 1
            for n in dims:
                expected *= n
            if dims[0] == 0:
                raise DatasetError(f"{path.name} holds no {what} (its header says 0)")
            if 0 in dims:
                raise DatasetError(f"{path.name} declares empty {what} of {shape_text(dims)}")
            if path.suffix != ".gz":
                actual = os.fstat(file.fileno()).st_size - header
                if actual != expected:
                    raise DatasetError(
                        f"{path.name} is truncated or padded: its header promises {shape_text(dims)} "
                        f"= {expected:,} bytes of data but it holds {actual:,}")
            check_memory(expected, f"{path.name} ({shape_text(dims)} {what})")
            data = np.empty(expected, dtype=np.uint8)
            got = _read_into(handle, data)
            extra = _read_exactly(handle, 1)
    except DatasetError:
        raise
    except NotRegularFileError as exc:
        raise DatasetError(f"{path}: {exc}, so not an IDX file") from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"cannot read {path.name}: {' '.join(str(exc).split())[:160] or exc.__class__.__name__}") from exc
    if got != expected or extra:
        held = f"{got:,}" if not extra else f"more than {expected:,}"
        raise DatasetError(
            f"{path.name} is truncated or padded: its header promises {shape_text(dims)} "
            f"= {expected:,} bytes of data but it holds {held}")
    return data.reshape(dims)


def _find(folder: Path, split_words: tuple[str, ...], kind_words: tuple[str, ...]) -> Path | None:
    for path in sorted(folder.iterdir()):
        name = path.name.lower()
        if not path.is_dir() and any(w in name for w in split_words) and any(w in name for w in kind_words):
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

"""Datasets: built-in names (Keras downloads and the offline ``digits`` set) and files on disk.

Every loader returns a :class:`Dataset` of raw uint8 pixels (N×H×W×C) and integer labels; the
models rescale pixels themselves, so the same raw images work for training and prediction.
"""

from __future__ import annotations

import os
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cnnstudio.core.data.checks import (
    MAX_CLASSES,
    MIN_SIDE,
    check_image_size,
    check_label_set,
    check_memory,
    declared_bytes,
    labels_as_int,
    shape_text,
    to_uint8_pixels,
)
from cnnstudio.core.data.digit_preprocessing import NOT_AN_IMAGE, eight_bit
from cnnstudio.core.data.downloads import DownloadError, DownloadProgress, download_failure_reason, reporting_downloads
from cnnstudio.core.data.idx_format import is_idx_folder, load_idx_folder
from cnnstudio.core.errors import DatasetError, one_line
from cnnstudio.core.limits import MAX_IMAGE_SIDE
from cnnstudio.core.paths import user_path
from cnnstudio.core.regular_file import NotRegularFileError, check_regular_file, is_regular_file, open_regular_file

DIGIT_NAMES = [str(d) for d in range(10)]
KERAS_DATASETS = {
    "mnist": DIGIT_NAMES,
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}
BUILTIN_NAMES = ("digits", *KERAS_DATASETS)
DESCRIPTIONS = {
    "digits": "Built in, works offline: 1,797 handwritten digits scaled to 28×28 like MNIST.",
    "mnist": "70,000 handwritten digits, 28×28 gray (downloaded once by Keras).",
    "fashion_mnist": "70,000 clothing images in 10 classes, 28×28 gray (downloaded once by Keras).",
    "cifar10": "60,000 colour photos in 10 classes, 32×32 (downloaded once by Keras).",
}
DIGIT_SHAPE = (28, 28, 1)  # MNIST's images: what the sketch pad and MNIST-style preprocessing make
DIGIT_DATASETS = ("digits", "mnist")  # the built-in sets of handwritten digits
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
OFFLINE_HINT = (
    "offline you can use 'digits' (built in), a folder of MNIST-format IDX files, "
    "an .npz with x_train/y_train/x_test/y_test, or a folder with one sub-folder of images per class"
)


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] = field(default_factory=list)
    digit_like: bool = False  # handwritten digits: predictions use MNIST-style preprocessing

    notes: list[str] = field(default_factory=list)  # one line each: what loading changed or noticed

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.ndim == 3:
                x = x[..., np.newaxis]
                setattr(self, f"x_{split}", x)
            if x.ndim != 4 or x.shape[-1] not in (1, 3):
                raise DatasetError(f"{self.name}: {split} images must be N×H×W (gray) or N×H×W×3, not {x.shape}")
            if len(x) == 0:
                raise DatasetError(f"{self.name}: the {split} split is empty")
            y, notes = labels_as_int(y, f"{self.name}: y_{split}")
            self.notes += notes
            setattr(self, f"y_{split}", y)
            if len(x) != len(y):
                raise DatasetError(f"{self.name}: {len(x):,} {split} images but {len(y):,} labels")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DatasetError(f"{self.name}: train images are {self.x_train.shape[1:]} but test images {self.x_test.shape[1:]}")
        height, width = self.x_train.shape[1:3]
        if min(height, width) < MIN_SIDE:
            raise DatasetError(f"{self.name}: images of {width}×{height} pixels are too small; "
                               f"CNN Studio needs at least {MIN_SIDE}×{MIN_SIDE}")
        if max(height, width) > MAX_IMAGE_SIDE:
            raise DatasetError(f"{self.name}: images of {width}×{height} pixels are too large; "
                               f"CNN Studio takes at most {MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE}")
        if self.x_train.dtype != np.uint8 or self.x_test.dtype != np.uint8:
            pixels, notes = to_uint8_pixels(self.name, {"train": self.x_train, "test": self.x_test})
            self.x_train, self.x_test = pixels["train"], pixels["test"]
            self.notes += notes
        self.class_names, notes = check_label_set(self.name, self.y_train, self.y_test, list(self.class_names))
        self.notes += notes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self, with_notes: bool = False) -> str:
        """One line: counts, image shape and classes (and, when asked, the notes after it)."""
        h, w, c = self.input_shape
        line = (f"{self.name}: {len(self.x_train):,} training and {len(self.x_test):,} test images, "
                f"{h}×{w}×{c}, {self.num_classes} classes")
        return "; ".join([line, *self.notes]) if with_notes and self.notes else line


def dataset_key(name_or_path: str) -> str:
    """A built-in dataset's name as the loaders know it (``"Fashion-MNIST "`` → ``"fashion_mnist"``)."""
    return name_or_path.strip().lower().replace("-", "_")


def dataset_label(name: str) -> str:
    """A dataset as tables and legends show it: a built-in one by its name, one read from disk as ``…/its name``
    (so a folder called ``mnist`` is not taken for the built-in MNIST; the full path belongs in a tooltip)."""
    base = Path(name).name if dataset_key(name) not in BUILTIN_NAMES else ""
    return f"…/{base}" if base else name


def digit_like(input_shape: tuple[int, ...], num_classes: int | None = None, name: str = "") -> bool:
    """Whether images are MNIST-like handwritten digits, so sketches and image files get MNIST preprocessing.

    Built-in datasets answer by name (``digits`` and ``mnist`` yes; ``fashion_mnist`` and ``cifar10``
    no). Anything else: 28×28 gray images (H×W or H×W×1) with ten classes, when the count is known.
    """
    key = dataset_key(name)
    if key in BUILTIN_NAMES:
        return key in DIGIT_DATASETS
    shape = tuple(int(n) for n in input_shape)
    return shape in (DIGIT_SHAPE, DIGIT_SHAPE[:2]) and num_classes in (None, len(DIGIT_NAMES))


def keras_cache_dir() -> Path:
    """Where ``keras.datasets`` keeps downloads."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def load_dataset(name_or_path: str, progress: DownloadProgress | None = None) -> Dataset:
    """A built-in dataset by name, or a dataset from a folder or ``.npz`` file.

    ``progress(bytes_done, bytes_total)`` reports a first download of a Keras dataset.
    """
    path = user_path(name_or_path)
    key = dataset_key(name_or_path)
    if key == "digits":
        return load_digits()
    if key in KERAS_DATASETS:
        return load_keras_dataset(key, progress)
    if not str(name_or_path).strip():
        raise DatasetError(f"no dataset given: use one of {', '.join(BUILTIN_NAMES)}, or the path of an IDX folder, "
                           "an .npz file or an image folder")
    try:
        if path.is_dir():
            return load_idx_dataset(path) if is_idx_folder(path) else load_image_folder(path)
        if path.exists():
            check_regular_file(path)
            if path.suffix.lower() == ".npz":
                return load_npz(path)
            raise DatasetError(f"{name_or_path}: expected an .npz file or a folder, not {path.suffix or 'this file'}")
    except NotRegularFileError as exc:
        raise DatasetError(f"{name_or_path}: {exc}, so not a dataset") from exc
    except OSError as exc:  # permissions, vanished files and the like, anywhere while reading
        raise DatasetError(f"{name_or_path}: cannot be read ({one_line(exc, 160)})") from exc
    if path.is_absolute() or os.sep in str(name_or_path) or path.suffix:
        raise DatasetError(f"{name_or_path}: no such file or folder (built-in datasets: {', '.join(BUILTIN_NAMES)})")
    raise DatasetError(
        f"unknown dataset {name_or_path!r}: use one of {', '.join(BUILTIN_NAMES)}, "
        "or the path of an IDX folder, an .npz file or an image folder"
    )


KNOWN_SHAPES = {"digits": DIGIT_SHAPE, "mnist": DIGIT_SHAPE, "fashion_mnist": DIGIT_SHAPE, "cifar10": (32, 32, 3)}
KNOWN_TRAIN_IMAGES = {"digits": 1_438, "mnist": 60_000, "fashion_mnist": 60_000, "cifar10": 50_000}  # before validation


def dataset_shape(name_or_path: str) -> tuple[tuple[int, int, int], int]:
    """Image shape and class count; built-in names answer without loading (or downloading) anything."""
    key = dataset_key(name_or_path)
    if key in KNOWN_SHAPES:
        return KNOWN_SHAPES[key], 10
    dataset = load_dataset(name_or_path)
    return dataset.input_shape, dataset.num_classes


def load_digits(test_fraction: float = 0.2) -> Dataset:
    """The built-in offline set: 1,797 8×8 digits scaled MNIST-style to 28×28 (digit in a 20×20 box)."""
    with resources.files("cnnstudio.resources").joinpath("datasets/digits_8x8.npz").open("rb") as handle:
        data = np.load(handle)
        small, labels = data["images"], data["labels"].astype(np.int64)
    images = np.zeros((len(small), 28, 28), dtype=np.uint8)
    for i, image in enumerate(small):
        scaled = Image.fromarray((image.astype(np.float32) * (255.0 / 16.0)), mode="F").resize((20, 20), Image.BICUBIC)
        images[i, 4:24, 4:24] = np.clip(np.asarray(scaled), 0, 255).round().astype(np.uint8)
    order = np.random.default_rng(0).permutation(len(images))
    n_test = int(round(len(images) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return Dataset("digits", images[train], labels[train], images[test], labels[test], DIGIT_NAMES,
                   digit_like=digit_like(DIGIT_SHAPE, name="digits"))


def load_keras_dataset(name: str, progress: DownloadProgress | None = None) -> Dataset:
    """MNIST, Fashion-MNIST or CIFAR-10 through ``keras.datasets`` (downloaded once into its cache).

    ``progress(bytes_done, bytes_total)`` is called while a first download runs.
    """
    import importlib

    module = importlib.import_module(f"keras.datasets.{name}")
    try:
        with reporting_downloads(progress):
            (x_train, y_train), (x_test, y_test) = module.load_data()
    except Exception as exc:  # noqa: BLE001 - any download or cache failure becomes one clear line
        raise DownloadError(
            f"could not download {name}: {download_failure_reason(exc)}. Keras keeps downloaded datasets in "
            f"{keras_cache_dir()}; {OFFLINE_HINT}") from exc
    return Dataset(name, x_train, y_train, x_test, y_test, KERAS_DATASETS[name],
                   digit_like=digit_like(x_train.shape[1:], len(KERAS_DATASETS[name]), name))


def load_idx_dataset(folder: Path) -> Dataset:
    x_train, y_train, x_test, y_test = load_idx_folder(folder)
    classes = int(max(y_train.max(), y_test.max())) + 1
    digits = digit_like(x_train.shape[1:], classes)
    names = DIGIT_NAMES if digits else []
    return Dataset(folder.name or str(folder), x_train, y_train, x_test, y_test, names, digit_like=digits)


NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _npz_header(archive: zipfile.ZipFile, member: str, where: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """An .npz member's shape, dtype and declared bytes, read from its header alone."""
    fmt = np.lib.format
    with archive.open(member) as handle:
        version = fmt.read_magic(handle)
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _fortran, dtype = read_header(handle)
        header_length = handle.tell()
    if dtype.hasobject:
        raise DatasetError(f"{where} holds Python objects, which are never loaded (only plain number arrays)")
    nbytes = declared_bytes(shape, dtype.itemsize)
    stored = archive.getinfo(member).file_size - header_length
    if nbytes > stored:
        raise DatasetError(f"{where} declares {shape_text(shape)} {dtype} values ({nbytes:,} bytes) "
                           f"but holds only {max(stored, 0):,} bytes")
    return tuple(shape), dtype, nbytes


def _npz_class_names(value: np.ndarray, where: str) -> list[str]:
    if value.ndim != 1 or value.dtype.kind not in "USiu":
        found = "a single value" if value.ndim == 0 else f"a {value.dtype} array of {shape_text(value.shape)}"
        raise DatasetError(f"{where}: class_names must be a list of names, one per class (found {found})")
    names = [str(n) for n in value.tolist()]
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise DatasetError(f"{where}: class_names repeats {', '.join(map(repr, repeated[:5]))}")
    return names


def load_npz(path: Path) -> Dataset:
    """An ``.npz`` with ``x_train, y_train, x_test, y_test`` (and optionally ``class_names``).

    Each member's header is read first: object arrays are refused (nothing is unpickled), and a
    declared size larger than the member or than the memory available is refused before allocating.
    """
    try:  # opened without blocking, and only a regular file: a pipe swapped in cannot hang the reading
        with open_regular_file(path) as file, zipfile.ZipFile(file) as archive:
            members = {Path(m).stem: m for m in archive.namelist() if m.endswith(".npy")}
            missing = [k for k in NPZ_KEYS if k not in members]
            if missing:
                raise DatasetError(f"{path.name} lacks {', '.join(missing)} (has {', '.join(members) or 'nothing'})")
            wanted = [k for k in (*NPZ_KEYS, "class_names") if k in members]
            headers = {k: _npz_header(archive, members[k], f"{path.name}: {k}") for k in wanted}
            total = sum(nbytes for _shape, _dtype, nbytes in headers.values())
            check_memory(total, f"{path.name} ({', '.join(f'{k} {shape_text(headers[k][0])}' for k in NPZ_KEYS)})")
            arrays = {}
            for k in wanted:
                with archive.open(members[k]) as handle:
                    arrays[k] = np.lib.format.read_array(handle, allow_pickle=False)
    except DatasetError:
        raise
    except NotRegularFileError as exc:
        raise DatasetError(f"{path}: {exc}, so not a dataset") from exc
    except Exception as exc:  # noqa: BLE001 - zip, zlib and .npy header defects of every kind
        raise DatasetError(f"{path.name} is not a readable .npz file ({one_line(exc, 120)})") from exc
    names = _npz_class_names(arrays["class_names"], path.name) if "class_names" in arrays else []
    dataset = Dataset(path.stem, arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], names)
    dataset.digit_like = digit_like(dataset.input_shape, dataset.num_classes)
    return dataset


MAX_FOLDER_ENTRIES = 200_000  # files and folders looked at while listing an image folder
MAX_FOLDER_DEPTH = 6  # folders below a class folder that are still searched for images


def _class_folders(root: Path) -> list[Path]:
    """Sub-folders of ``root`` (hidden ones skipped); more than MAX_CLASSES of them is refused.

    A class folder may be a symbolic link to a folder elsewhere (a common way to pick classes from a
    larger collection without copying it); it is followed, once: links inside it are not.
    """
    folders = []
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            folders.append(Path(entry.path))
            if len(folders) > MAX_CLASSES:
                raise DatasetError(f"{root} has more than {MAX_CLASSES:,} sub-folders: not an image dataset "
                                   f"(one sub-folder of images per class, at most {MAX_CLASSES:,} classes)")
    return sorted(folders)


class _ImageLister:
    """Lists image files below class folders, looking at no more than ``MAX_FOLDER_ENTRIES`` entries.

    Only regular files count (FIFOs, devices and sockets are skipped); symbolic links to folders
    are not followed (so loops cannot trap it), and folders deeper than ``MAX_FOLDER_DEPTH`` are not searched.
    """

    def __init__(self, root: Path) -> None:
        self.root, self.seen = root, 0

    def images(self, folder: Path) -> list[Path]:
        found: list[Path] = []
        pending = [(folder, 0)]
        while pending:
            current, depth = pending.pop()
            try:
                with os.scandir(current) as entries:
                    for entry in entries:
                        self.seen += 1
                        if self.seen > MAX_FOLDER_ENTRIES:
                            raise DatasetError(f"{self.root}: more than {MAX_FOLDER_ENTRIES:,} files and folders; "
                                               "not an image dataset, or too large to read")
                        if entry.name.startswith("."):
                            continue
                        if entry.is_dir(follow_symlinks=False):
                            if depth < MAX_FOLDER_DEPTH:
                                pending.append((Path(entry.path), depth + 1))
                        elif Path(entry.name).suffix.lower() in IMAGE_SUFFIXES and is_regular_file(entry.path):
                            found.append(Path(entry.path))
            except OSError:
                continue  # an unreadable sub-folder holds no images we could use
        return sorted(found)


def _listed_classes(root: Path, lister: _ImageLister) -> dict[str, list[Path]]:
    classes = _class_folders(root)
    if not classes:
        raise DatasetError(f"{root} holds no class sub-folders (expected e.g. {root}/cat/*.png, {root}/dog/*.png)")
    listed = {}
    for folder in classes:
        files = lister.images(folder)
        if not files:  # stop at the first: a folder such as / is refused without walking all of it
            raise DatasetError(f"{root}: class folder {folder.name} contains no images "
                               f"({', '.join(sorted(IMAGE_SUFFIXES))})")
        listed[folder.name] = files
    return listed


def _image_header(path: Path) -> tuple[int, int, bool]:
    """Width, height and whether gray, from the header alone (nothing decoded)."""
    try:
        with open_regular_file(path) as file, Image.open(file) as image:
            return image.width, image.height, image.mode in ("1", "L", "I", "F", "LA", "I;16", "I;16B", "I;16L")
    except NotRegularFileError as exc:
        raise DatasetError(f"{path}: {exc}, so not an image file") from exc
    except Image.DecompressionBombError as exc:
        raise DatasetError(f"{path}: the image is too large ({one_line(exc, 120)})") from exc
    except UnidentifiedImageError as exc:  # its message names Python's file object, not the file
        raise DatasetError(f"{path}: {NOT_AN_IMAGE}") from exc
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for damaged headers
        raise DatasetError(f"{path}: not a readable image ({one_line(exc, 120)})") from exc


def _read_image(path: Path, size: tuple[int, int], gray: bool) -> np.ndarray:
    """One image as H×W×C uint8 at ``size`` (width, height); its header is checked before decoding."""
    try:
        with open_regular_file(path) as file, Image.open(file) as image:
            check_image_size(image.width, image.height, str(path))
            image.load()
            image = eight_bit(image).convert("L" if gray else "RGB")
            if image.size != size:
                image = image.resize(size, Image.BILINEAR)
            pixels = np.asarray(image, dtype=np.uint8)
    except DatasetError:
        raise
    except NotRegularFileError as exc:
        raise DatasetError(f"{path}: {exc}, so not an image file") from exc
    except Image.DecompressionBombError as exc:
        raise DatasetError(f"{path}: the image is too large ({one_line(exc, 120)})") from exc
    except UnidentifiedImageError as exc:
        raise DatasetError(f"{path}: {NOT_AN_IMAGE}") from exc
    except Exception as exc:  # noqa: BLE001 - truncated, damaged or foreign files of every kind
        raise DatasetError(f"{path}: not a readable image ({one_line(exc, 120)})") from exc
    return pixels[..., np.newaxis] if gray else pixels


def _split(listed: dict[str, list[Path]], test_fraction: float, seed: int) -> tuple[list, list]:
    """(path, label) pairs for training and test: each class split on its own, keeping a training image."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label, files in enumerate(listed.values()):
        order = rng.permutation(len(files))
        n_test = min(int(round(len(files) * test_fraction)), len(files) - 1)
        test += [(files[i], label) for i in order[:n_test]]
        train += [(files[i], label) for i in order[n_test:]]
    return [train[i] for i in rng.permutation(len(train))], test


def load_image_folder(root: Path, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """One sub-folder of images per class (or ``train/`` and ``test/`` folders laid out so).

    Images are decoded with Pillow and resized to the size of the first one; every unreadable,
    too large or too small file is refused by name. Without ``train/`` and ``test/``, each class
    gives ``test_fraction`` of its images to the test split (keeping at least one for training).
    """
    lister = _ImageLister(root)
    split_roots = [root / "train", root / "test"]
    has_splits = all(p.is_dir() for p in split_roots) and bool(_class_folders(split_roots[0]))
    listed = _listed_classes(split_roots[0] if has_splits else root, lister)
    names = list(listed)
    if len(names) < 2:
        raise DatasetError(f"{root}: found only one class folder ({names[0]}); a classifier needs two or more")
    if has_splits:
        test_listed = {f.name: lister.images(f) for f in _class_folders(split_roots[1])}
        strangers = [n for n in test_listed if n not in listed]
        if strangers:
            raise DatasetError(f"{split_roots[1]}: class folder(s) {', '.join(strangers[:5])} have no "
                               f"counterpart in {split_roots[0]}")
        train = [(f, names.index(n)) for n, files in listed.items() for f in files]
        train = [train[i] for i in np.random.default_rng(seed).permutation(len(train))]
        test = [(f, names.index(n)) for n, files in test_listed.items() for f in files]
    else:
        train, test = _split(listed, test_fraction, seed)
        if not test:
            raise DatasetError(f"{root}: too few images to set some aside for testing; add more images per class")
    width, height, gray = _image_header(train[0][0])
    check_image_size(width, height, str(train[0][0]))
    channels = 1 if gray else 3
    check_memory(declared_bytes((len(train) + len(test), height, width, channels), 1),
                 f"{root} ({len(train) + len(test):,} images of {width}×{height}×{channels})")
    arrays = []
    for pairs in (train, test):
        x = np.empty((len(pairs), height, width, channels), dtype=np.uint8)
        for i, (path, _label) in enumerate(pairs):
            x[i] = _read_image(path, (width, height), gray)
        arrays += [x, np.array([label for _path, label in pairs], dtype=np.int64)]
    return Dataset(root.name, *arrays, names, digit_like=digit_like((height, width, channels), len(names)))

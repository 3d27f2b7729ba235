"""Datasets: built-in names (Keras downloads and the offline ``digits`` set) and files on disk.

Every loader returns a :class:`Dataset` of raw uint8 pixels (N×H×W×C) and integer labels; the
models rescale pixels themselves, so the same raw images work for training and prediction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from cnnstudio.core.data.downloads import DownloadError, DownloadProgress, download_failure_reason, reporting_downloads
from cnnstudio.core.data.idx_format import is_idx_folder, load_idx_folder
from cnnstudio.core.errors import DatasetError, one_line

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
            if len(x) != len(y):
                raise DatasetError(f"{self.name}: {len(x):,} {split} images but {len(y):,} labels")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DatasetError(f"{self.name}: train images are {self.x_train.shape[1:]} but test images {self.x_test.shape[1:]}")
        self.y_train = np.asarray(self.y_train).reshape(-1).astype(np.int64)
        self.y_test = np.asarray(self.y_test).reshape(-1).astype(np.int64)
        labels = np.concatenate([self.y_train, self.y_test])
        if labels.min() < 0:
            raise DatasetError(f"{self.name}: labels must be 0, 1, 2, …; found {labels.min()}")
        if not self.class_names:
            self.class_names = [str(i) for i in range(int(labels.max()) + 1)]
        if labels.max() >= len(self.class_names):
            raise DatasetError(f"{self.name}: label {labels.max()} but only {len(self.class_names)} class names")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> str:
        h, w, c = self.input_shape
        return (f"{self.name}: {len(self.x_train):,} training and {len(self.x_test):,} test images, "
                f"{h}×{w}×{c}, {self.num_classes} classes")


def dataset_key(name_or_path: str) -> str:
    """A built-in dataset's name as the loaders know it (``"Fashion-MNIST "`` → ``"fashion_mnist"``)."""
    return name_or_path.strip().lower().replace("-", "_")


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
    path = Path(name_or_path).expanduser()
    key = dataset_key(name_or_path)
    if key == "digits":
        return load_digits()
    if key in KERAS_DATASETS:
        return load_keras_dataset(key, progress)
    if not str(name_or_path).strip():
        raise DatasetError(f"no dataset given: use one of {', '.join(BUILTIN_NAMES)}, or the path of an IDX folder, "
                           "an .npz file or an image folder")
    if path.is_file() and path.suffix.lower() == ".npz":
        return load_npz(path)
    if path.is_dir():
        return load_idx_dataset(path) if is_idx_folder(path) else load_image_folder(path)
    if path.exists():
        raise DatasetError(f"{name_or_path}: expected an .npz file or a folder, not {path.suffix or 'this file'}")
    if path.is_absolute() or os.sep in str(name_or_path) or path.suffix:
        raise DatasetError(f"{name_or_path}: no such file or folder (built-in datasets: {', '.join(BUILTIN_NAMES)})")
    raise DatasetError(
        f"unknown dataset {name_or_path!r}: use one of {', '.join(BUILTIN_NAMES)}, "
        "or the path of an IDX folder, an .npz file or an image folder"
    )


KNOWN_SHAPES = {"digits": DIGIT_SHAPE, "mnist": DIGIT_SHAPE, "fashion_mnist": DIGIT_SHAPE, "cifar10": (32, 32, 3)}


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


def _as_uint8(x: np.ndarray, where: str) -> np.ndarray:
    if x.dtype == np.uint8:
        return x
    if not np.issubdtype(x.dtype, np.number):
        raise DatasetError(f"{where} must hold numbers, not {x.dtype}")
    x = x.astype(np.float32)
    if x.size and float(x.max()) <= 1.0:
        x = x * 255.0
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def load_npz(path: Path) -> Dataset:
    """An ``.npz`` with ``x_train, y_train, x_test, y_test`` (and optionally ``class_names``)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in data]
            if missing:
                raise DatasetError(f"{path.name} lacks {', '.join(missing)} (has {', '.join(data.files) or 'nothing'})")
            arrays = {k: data[k] for k in ("x_train", "y_train", "x_test", "y_test")}
            names = [str(n) for n in data["class_names"]] if "class_names" in data else []
    except DatasetError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path.name} is not a readable .npz file ({exc.__class__.__name__})") from exc
    for key in ("y_train", "y_test"):
        if not np.issubdtype(arrays[key].dtype, np.integer):
            raise DatasetError(f"{path.name}: {key} must hold whole-number class labels, not {arrays[key].dtype}")
    x_train = _as_uint8(arrays["x_train"], f"{path.name}: x_train")
    x_test = _as_uint8(arrays["x_test"], f"{path.name}: x_test")
    classes = len(names) or int(max(arrays["y_train"].max(initial=0), arrays["y_test"].max(initial=0))) + 1
    return Dataset(path.stem, x_train, arrays["y_train"], x_test, arrays["y_test"], names,
                   digit_like=digit_like(x_train.shape[1:], classes))


def _class_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _count_images(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def load_image_folder(root: Path, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """One sub-folder of images per class (or ``train/`` and ``test/`` folders laid out so).

    Images are read with ``keras.utils.image_dataset_from_directory`` at the size of the first one.
    """
    from keras.utils import image_dataset_from_directory

    split_roots = [root / "train", root / "test"]
    has_splits = all(p.is_dir() and _class_folders(p) for p in split_roots)
    class_root = split_roots[0] if has_splits else root
    classes = _class_folders(class_root)
    if not classes:
        raise DatasetError(f"{root} holds no class sub-folders (expected e.g. {root}/cat/*.png, {root}/dog/*.png)")
    counts = {c.name: _count_images(c) for c in classes}
    empty = [name for name, n in counts.items() if n == 0]
    if empty:
        raise DatasetError(f"{root}: class folder(s) {', '.join(empty)} contain no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    if len(classes) < 2:
        raise DatasetError(f"{root}: found only one class folder ({classes[0].name}); a classifier needs two or more")
    first = next(p for p in sorted(classes[0].rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES)
    try:
        with Image.open(first) as image:
            size, gray = (image.height, image.width), image.mode in ("1", "L", "I", "F", "LA")
    except OSError as exc:
        raise DatasetError(f"{first}: not a readable image ({exc})") from exc
    options = dict(labels="inferred", label_mode="int", class_names=[c.name for c in classes],
                   color_mode="grayscale" if gray else "rgb", image_size=size, batch_size=None)
    try:
        if has_splits:
            train = image_dataset_from_directory(split_roots[0], shuffle=True, seed=seed, **options)
            test = image_dataset_from_directory(split_roots[1], shuffle=False, **options)
        else:
            train, test = image_dataset_from_directory(
                root, shuffle=True, seed=seed, validation_split=test_fraction, subset="both", **options)
        x_train, y_train = _to_arrays(train)
        x_test, y_test = _to_arrays(test)
    except DatasetError:
        raise
    except Exception as exc:  # noqa: BLE001 - unreadable image files and the like
        raise DatasetError(f"{root}: cannot read the images ({one_line(exc, 160)})") from exc
    return Dataset(root.name, x_train, y_train, x_test, y_test, [c.name for c in classes],
                   digit_like=digit_like(x_train.shape[1:], len(classes)))


def _to_arrays(dataset) -> tuple[np.ndarray, np.ndarray]:
    pairs = list(dataset.as_numpy_iterator())
    if not pairs:
        raise DatasetError("an image split came out empty: add more images per class")
    images = np.stack([p[0] for p in pairs])
    labels = np.array([p[1] for p in pairs], dtype=np.int64)
    return np.clip(np.round(images), 0, 255).astype(np.uint8), labels

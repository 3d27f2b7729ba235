"""Dataset loaders on tiny generated files, bad inputs, the offline set and the real MNIST files."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from cnnstudio.core.data import datasets
from cnnstudio.core.data.datasets import load_dataset
from cnnstudio.core.errors import DatasetError


def write_idx(path, array: np.ndarray, compress: bool) -> None:
    magic = 0x0800 | array.ndim
    data = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


def make_idx_folder(folder, n_train=12, n_test=5, compress=True, label_count=None):
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_train, 28, 28)), compress)
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", rng.integers(0, 10, label_count or n_train), compress)
    write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_test, 28, 28)), compress)
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n_test), compress)
    return folder


@pytest.mark.parametrize("compress", [True, False])
def test_idx_folder_gz_or_raw(tmp_path, compress: bool) -> None:
    data = load_dataset(str(make_idx_folder(tmp_path / "idx", compress=compress)))
    assert data.x_train.shape == (12, 28, 28, 1) and data.x_test.shape == (5, 28, 28, 1)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64


def test_idx_label_count_mismatch(tmp_path) -> None:
    folder = make_idx_folder(tmp_path / "idx", label_count=11)
    with pytest.raises(DatasetError, match="12 images but .* 11 labels"):
        load_dataset(str(folder))


def test_idx_truncated_and_bad_magic(tmp_path) -> None:
    folder = make_idx_folder(tmp_path / "idx", compress=False)
    images = folder / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-10])
    with pytest.raises(DatasetError, match="truncated"):
        load_dataset(str(folder))
    labels = folder / "t10k-labels-idx1-ubyte"
    make_idx_folder(folder, compress=False)
    labels.write_bytes(struct.pack(">I", 1234) + labels.read_bytes()[4:])
    with pytest.raises(DatasetError, match="not an IDX labels file"):
        load_dataset(str(folder))


def test_idx_missing_test_files(tmp_path) -> None:
    folder = make_idx_folder(tmp_path / "idx")
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="no t10k images IDX file"):
        load_dataset(str(folder))


def test_idx_corrupt_gzip(tmp_path) -> None:
    folder = make_idx_folder(tmp_path / "idx")
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DatasetError, match="cannot read train-images"):
        load_dataset(str(folder))


def test_npz_uint8_and_float(tmp_path) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "set.npz"
    np.savez(path, x_train=rng.random((8, 16, 16, 3)), y_train=np.arange(8) % 3,
             x_test=rng.random((4, 16, 16, 3)), y_test=np.arange(4) % 3, class_names=np.array(["a", "b", "c"]))
    data = load_dataset(str(path))
    assert data.input_shape == (16, 16, 3) and data.class_names == ["a", "b", "c"]
    assert data.x_train.dtype == np.uint8 and data.x_train.max() > 200  # 0..1 floats scaled to 0..255


@pytest.mark.parametrize("arrays,needle", [
    ({"x_train": np.zeros((3, 8, 8))}, "lacks y_train, x_test, y_test"),
    ({"x_train": np.zeros((3, 8, 8)), "y_train": np.zeros(2, int), "x_test": np.zeros((1, 8, 8)),
      "y_test": np.zeros(1, int)}, "3 train images but 2 labels"),
    ({"x_train": np.zeros((3, 8)), "y_train": np.zeros(3, int), "x_test": np.zeros((1, 8)),
      "y_test": np.zeros(1, int)}, "N×H×W"),
    ({"x_train": np.zeros((3, 8, 8)), "y_train": np.full(3, 0.5), "x_test": np.zeros((1, 8, 8)),
      "y_test": np.zeros(1)}, "whole-number class labels, found 0.5"),
    ({"x_train": np.zeros((0, 8, 8)), "y_train": np.zeros(0, int), "x_test": np.zeros((1, 8, 8)),
      "y_test": np.zeros(1, int)}, "train split is empty"),
])
def test_npz_bad_content(tmp_path, arrays: dict, needle: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError, match=needle) as info:
        load_dataset(str(path))
    assert "\n" not in str(info.value)


def test_npz_not_an_archive(tmp_path) -> None:
    path = tmp_path / "junk.npz"
    path.write_bytes(b"junk")
    with pytest.raises(DatasetError, match="not a readable .npz"):
        load_dataset(str(path))


def make_image_folder(root, classes=("cat", "dog"), per_class=5, mode="L"):
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new(mode, (12, 10), color=index * 100 + i).save(root / name / f"{i}.png")
    return root


def test_image_folder_split(tmp_path) -> None:
    data = load_dataset(str(make_image_folder(tmp_path / "pets")))
    assert data.class_names == ["cat", "dog"]
    assert data.input_shape == (10, 12, 1)
    assert len(data.x_train) + len(data.x_test) == 10 and len(data.x_test) == 2
    # labels follow the folders: class 0 images are darker than class 1 images
    assert data.x_train[data.y_train == 0].mean() < data.x_train[data.y_train == 1].mean()


def test_image_folder_with_train_and_test(tmp_path) -> None:
    make_image_folder(tmp_path / "set" / "train", mode="RGB")
    make_image_folder(tmp_path / "set" / "test", per_class=2, mode="RGB")
    data = load_dataset(str(tmp_path / "set"))
    assert data.input_shape == (10, 12, 3) and len(data.x_train) == 10 and len(data.x_test) == 4


@pytest.mark.parametrize("layout,needle", [
    ({}, "no class sub-folders"),
    ({"cat": 3, "dog": 0}, "dog contains no images"),
    ({"cat": 3}, "only one class"),
])
def test_image_folder_problems(tmp_path, layout: dict, needle: str) -> None:
    root = tmp_path / "images"
    root.mkdir()
    for name, count in layout.items():
        (root / name).mkdir()
        for i in range(count):
            Image.new("L", (8, 8)).save(root / name / f"{i}.png")
    with pytest.raises(DatasetError, match=needle):
        load_dataset(str(root))


def test_builtin_digits_are_offline_and_mnist_like(digits) -> None:
    assert digits.input_shape == (28, 28, 1) and digits.num_classes == 10 and digits.digit_like
    assert len(digits.x_train) + len(digits.x_test) == 1797
    assert set(np.unique(digits.y_test)) == set(range(10))
    border = np.concatenate([digits.x_train[:, :4].ravel(), digits.x_train[:, -4:].ravel()])
    assert border.max() == 0 and digits.x_train.max() == 255  # ink inside a 20×20 box, like MNIST


def test_failed_download_says_what_where_and_offline_options(monkeypatch) -> None:
    import keras.datasets.mnist

    def offline():
        raise Exception("URL fetch failure on https://example/mnist.npz: [Errno -3] Temporary failure")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist")
    message = str(info.value)
    assert "could not download mnist" in message and str(datasets.keras_cache_dir()) in message
    assert "'digits'" in message and "IDX" in message and "\n" not in message


def test_unknown_name_lists_choices() -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'imagenet'.*digits, mnist"):
        load_dataset("imagenet")


def _idx_labels(path) -> np.ndarray:
    """Labels read straight from an IDX file (header: magic 2049, count), independently of the loader."""
    raw = gzip.decompress(path.read_bytes())
    magic, count = struct.unpack(">II", raw[:8])
    assert magic == 2049
    return np.frombuffer(raw, np.uint8, count, offset=8)


def test_real_mnist_files(mnist_dir) -> None:
    """Whatever part of MNIST the shared folder holds (a partial or the full training set): all of it, as it is."""
    data = load_dataset(str(mnist_dir))
    train_labels = _idx_labels(mnist_dir / "train-labels-idx1-ubyte.gz")
    test_labels = _idx_labels(mnist_dir / "t10k-labels-idx1-ubyte.gz")
    assert data.x_train.shape == (len(train_labels), 28, 28, 1) and data.x_test.shape == (len(test_labels), 28, 28, 1)
    np.testing.assert_array_equal(data.y_train, train_labels)
    np.testing.assert_array_equal(data.y_test, test_labels)
    assert data.digit_like and data.class_names == [str(d) for d in range(10)]
    assert set(np.unique(data.y_train)) == set(np.unique(data.y_test)) == set(range(10))
    with gzip.open(mnist_dir / "t10k-images-idx3-ubyte.gz") as images:
        header = struct.unpack(">IIII", images.read(16))
        first = np.frombuffer(images.read(28 * 28), np.uint8).reshape(28, 28)
    assert header == (2051, len(test_labels), 28, 28)
    np.testing.assert_array_equal(data.x_test[0, :, :, 0], first)


def test_known_training_counts_are_the_loaded_ones(digits) -> None:
    from cnnstudio.core.data.datasets import KNOWN_TRAIN_IMAGES

    assert KNOWN_TRAIN_IMAGES["digits"] == len(digits.x_train)  # the cost estimate's count before loading

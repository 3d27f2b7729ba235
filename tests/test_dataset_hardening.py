"""Datasets and images as untrusted input: every defect is one DatasetError line, never a crash or a hang."""

from __future__ import annotations

import gzip
import io
import os
import struct
import tempfile
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from cnnstudio.core.data import checks, datasets
from cnnstudio.core.data.datasets import load_dataset
from cnnstudio.core.data.digit_preprocessing import image_for_model, open_image
from cnnstudio.core.data.idx_format import IMAGES_MAGIC, read_idx
from cnnstudio.core.errors import DatasetError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def save_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def small_set(n_train: int = 20, n_test: int = 10, classes: int = 4, side: int = 8, dtype=np.uint8) -> dict:
    rng = np.random.default_rng(0)
    return dict(x_train=rng.integers(0, 256, (n_train, side, side)).astype(dtype), y_train=np.arange(n_train) % classes,
                x_test=rng.integers(0, 256, (n_test, side, side)).astype(dtype), y_test=np.arange(n_test) % classes)


def refusal(path: Path | str) -> str:
    with pytest.raises(DatasetError) as info:
        load_dataset(str(path))
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# 1. NaN and infinite pixels --------------------------------------------------------------------


def test_nan_and_infinite_pixels_are_counted_per_split(tmp_path) -> None:
    data = small_set(dtype=np.float32)
    data["x_train"] /= 255
    data["x_test"] /= 255
    data["x_train"][3, 0, 0] = np.nan
    data["x_train"][5, 2, 1] = np.inf
    data["x_train"][7] = np.nan  # an all-NaN image
    data["x_test"][0, 1, 1] = -np.inf
    message = refusal(save_npz(tmp_path / "nan.npz", **data))
    assert "train: 3 of 20 images contain NaN or infinite pixels" in message
    assert "test: 1 of 10 images" in message


# 2. labels -----------------------------------------------------------------------------------


def test_a_single_huge_label_is_refused_naming_the_labels(tmp_path) -> None:
    data = small_set(classes=10)
    data["y_train"][4] = 1_000_000
    message = refusal(save_npz(tmp_path / "huge.npz", **data))
    assert "labels must be 0..K-1 with K <= 1,000 classes; found 0..9 and 1000000" in message


def test_sparse_labels_are_refused_unless_class_names_cover_them(tmp_path) -> None:
    data = small_set()
    data["y_train"] = np.where(data["y_train"] == 3, 7, data["y_train"])
    data["y_test"] = np.where(data["y_test"] == 3, 7, data["y_test"])
    assert "found 0..2 and 7" in refusal(save_npz(tmp_path / "sparse.npz", **data))
    names = np.array([f"c{i}" for i in range(8)])
    dataset = load_dataset(str(save_npz(tmp_path / "named.npz", **data, class_names=names)))
    assert dataset.num_classes == 8
    assert "label 7 but only 7 class names" in refusal(save_npz(tmp_path / "short.npz", **data, class_names=names[:7]))


def test_a_one_class_dataset_is_refused_when_it_loads(tmp_path) -> None:
    """Before anything trains: the network for one class could not be built."""
    data = small_set()
    data["y_train"], data["y_test"] = np.zeros_like(data["y_train"]), np.zeros_like(data["y_test"])
    assert "only one class (0); a classifier needs two or more" in refusal(save_npz(tmp_path / "one.npz", **data))
    named = save_npz(tmp_path / "named.npz", **data, class_names=np.array(["cat"]))
    assert "only one class (cat)" in refusal(named)


@pytest.mark.parametrize("labels,needle", [
    (np.array([0, 1, -1, 2] * 5), "found -1"),
    (np.array([0, 1, 2.5, 3] * 5), "found 2.5"),
    (np.array([0, 1, np.nan, 3] * 5), "NaN"),
    (np.array(["a", "b", "c", "d"] * 5), "whole-number class labels, not <U1"),
    (np.ones((20, 4)) * 0.25, "one-hot rows holding a single 1"),
    (np.ones((20, 2, 2), int), "one class number per image"),
])
def test_bad_labels_are_refused(tmp_path, labels: np.ndarray, needle: str) -> None:
    data = small_set()
    data["y_train"] = labels
    assert needle in refusal(save_npz(tmp_path / "labels.npz", **data))


def test_whole_float_labels_are_accepted(tmp_path) -> None:
    data = small_set()
    data["y_train"] = data["y_train"].astype(np.float64)
    dataset = load_dataset(str(save_npz(tmp_path / "floats.npz", **data)))
    assert dataset.y_train.dtype == np.int64 and dataset.num_classes == 4


def test_one_hot_labels_are_converted_and_noted(tmp_path) -> None:
    data = small_set()
    data["y_train"] = np.eye(4, dtype=np.float32)[data["y_train"]]
    dataset = load_dataset(str(save_npz(tmp_path / "onehot.npz", **data)))
    assert list(dataset.y_train[:5]) == [0, 1, 2, 3, 0]
    assert any("one-hot labels (20×4) converted to class numbers" in note for note in dataset.notes)
    assert "one-hot" in dataset.describe(with_notes=True) and "one-hot" not in dataset.describe()


@pytest.mark.parametrize("names,needle", [
    (np.array("cats"), "class_names must be a list of names, one per class (found a single value)"),
    (np.array([["a", "b"], ["c", "d"]]), "found a <U1 array of 2×2"),
    (np.array(["a", "b", "a", "c"]), "class_names repeats 'a'"),
])
def test_bad_class_names_are_refused(tmp_path, names: np.ndarray, needle: str) -> None:
    assert needle in refusal(save_npz(tmp_path / "names.npz", **small_set(), class_names=names))


def test_classes_missing_from_a_split_are_noted_by_name(tmp_path) -> None:
    data = small_set()
    data["y_train"] = np.where(data["y_train"] == 2, 1, data["y_train"])
    dataset = load_dataset(str(save_npz(tmp_path / "gap.npz", **data, class_names=np.array(list("abcd")))))
    assert any("training split has no images of class(es) 'c'" in note for note in dataset.notes)


# 3. sizes before allocating ----------------------------------------------------------------------


def idx_bytes(dims: tuple[int, ...], payload: bytes, magic: int = IMAGES_MAGIC) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + payload


def test_idx_declaring_huge_dimensions_is_refused_before_allocating(tmp_path) -> None:
    plain = tmp_path / "train-images-idx3-ubyte"
    plain.write_bytes(idx_bytes((4_000_000_000, 60_000, 60_000), b"\0" * 100))
    with pytest.raises(DatasetError, match="truncated or padded: its header promises 4,000,000,000×60,000×60,000"):
        read_idx(plain, IMAGES_MAGIC)
    packed = tmp_path / "train-images-idx3-ubyte.gz"
    packed.write_bytes(gzip.compress(idx_bytes((4_000_000_000, 60_000, 60_000), b"\0" * 100)))
    with pytest.raises(DatasetError, match=r"needs .* of memory but only .* is available"):
        read_idx(packed, IMAGES_MAGIC)


def test_a_gzip_bomb_is_read_only_as_far_as_its_header_promises(tmp_path) -> None:
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip format
    with bomb.open("wb") as handle:
        handle.write(packer.compress(idx_bytes((10, 28, 28), b"")))
        zeros = bytes(1 << 20)
        for _ in range(200):  # 200 MB of zeros behind a header promising 7,840 bytes
            handle.write(packer.compress(zeros))
        handle.write(packer.flush())
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="truncated or padded.*more than 7,840"):
            read_idx(bomb, IMAGES_MAGIC)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2 ** 20


def test_short_gzip_stream_is_refused(tmp_path) -> None:
    short = tmp_path / "train-images-idx3-ubyte.gz"
    short.write_bytes(gzip.compress(idx_bytes((10, 28, 28), bytes(7000))))
    with pytest.raises(DatasetError, match="promises 10×28×28 = 7,840 bytes of data but it holds 7,000"):
        read_idx(short, IMAGES_MAGIC)


def test_idx_with_no_images_is_refused(tmp_path) -> None:
    empty = tmp_path / "train-images-idx3-ubyte"
    empty.write_bytes(idx_bytes((0, 28, 28), b""))
    with pytest.raises(DatasetError, match="holds no images"):
        read_idx(empty, IMAGES_MAGIC)


def npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()  # the magic string, the version and the header


def test_npz_member_declaring_a_huge_array_is_refused_before_allocating(tmp_path) -> None:
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for key, array in small_set().items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array)
            archive.writestr(f"{key}.npy", buffer.getvalue() if key != "x_test" else npy_header((10 ** 12,)) + bytes(64))
    tracemalloc.start()
    try:
        message = refusal(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "x_test declares 1,000,000,000,000 float64 values" in message and peak < 20 * 2 ** 20


def test_npz_huge_declared_size_is_checked_against_memory(tmp_path, monkeypatch) -> None:
    path = save_npz(tmp_path / "fits.npz", **small_set(n_train=2000))
    monkeypatch.setattr(checks, "available_memory", lambda: 50_000)
    assert "needs 141.3 KiB of memory but only 48.8 KiB is available" in refusal(path)


def test_npz_object_arrays_are_never_unpickled(tmp_path) -> None:
    data = small_set()
    path = tmp_path / "objects.npz"
    np.savez(path, **{**data, "y_train": np.array([{"label": 1}] * 20, dtype=object)})
    assert "holds Python objects, which are never loaded" in refusal(path)


# 4. image folders ------------------------------------------------------------------------------


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header declares ``width``×``height`` gray pixels but holds almost no data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10))
                     + chunk(b"IEND", b""))
    return path


def image_folder(root: Path, per_class: int = 4, size: tuple[int, int] = (12, 10)) -> Path:
    for index, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("L", size, color=index * 100 + i).save(root / name / f"{i}.png")
    return root


@pytest.mark.parametrize("width,height", [(10_000, 6_000), (20_000, 20_000)])
def test_a_huge_image_in_a_folder_is_named_with_the_limit(tmp_path, width: int, height: int) -> None:
    root = image_folder(tmp_path / "pets")
    png_header_only(root / "dog" / "huge.png", width, height)
    message = refusal(root)
    assert "huge.png" in message and "too large" in message


def test_a_huge_first_image_is_refused_before_anything_is_allocated(tmp_path) -> None:
    root = image_folder(tmp_path / "pets")
    png_header_only(root / "cat" / "0.png", 10_000, 6_000)
    assert "0.png: the image is too large (10,000×6,000 pixels; at most 50 megapixels)" in refusal(root)


def test_a_gif_among_pngs_is_read_and_a_broken_file_is_named(tmp_path) -> None:
    root = image_folder(tmp_path / "pets")
    Image.new("P", (12, 10), color=3).save(root / "cat" / "anim.gif")
    dataset = load_dataset(str(root))
    assert len(dataset.x_train) + len(dataset.x_test) == 9
    (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    assert "broken.jpg: not a readable image" in refusal(root)
    (root / "dog" / "broken.jpg").unlink()
    (root / "dog" / "notes.png").write_text("a text file named like an image")
    message = refusal(root)
    assert "notes.png: not an image file (PNG, JPEG" in message and "BufferedReader" not in message


@pytest.mark.parametrize("side", [1, 2, 7])
def test_tiny_images_are_refused_with_the_smallest_size(tmp_path, side: int) -> None:
    message = refusal(image_folder(tmp_path / "tiny", size=(side, side)))
    assert f"images of {side}×{side} pixels are too small; CNN Studio needs at least 8×8" in message
    assert "-" not in message.replace(str(tmp_path), "")


def test_tiny_npz_images_are_refused(tmp_path) -> None:
    assert "images of 2×2 pixels are too small" in refusal(save_npz(tmp_path / "tiny.npz", **small_set(side=2)))


def test_every_class_keeps_a_training_image(tmp_path) -> None:
    root = image_folder(tmp_path / "pets", per_class=2)
    dataset = datasets.load_image_folder(root, test_fraction=0.9)
    assert sorted(dataset.y_train.tolist()) == [0, 1] and sorted(dataset.y_test.tolist()) == [0, 1]
    with pytest.raises(DatasetError, match="too few images to set some aside for testing"):
        datasets.load_image_folder(root, test_fraction=0.2)


# 5. scaling decided once -------------------------------------------------------------------------


def test_scaling_is_decided_once_for_both_splits(tmp_path) -> None:
    data = small_set(dtype=np.float32)
    data["x_train"] = np.full((20, 8, 8), 0.5, np.float32)
    data["x_train"][0, 0, 0] = 1.0001
    data["x_test"] = np.full((10, 8, 8), 0.5, np.float32)
    dataset = load_dataset(str(save_npz(tmp_path / "floats.npz", **data)))
    assert dataset.x_train[1, 0, 0, 0] == dataset.x_test[0, 0, 0, 0] == 128
    assert dataset.x_train[0, 0, 0, 0] == 255
    assert any("taken as 0..1" in note for note in dataset.notes)


def test_sixteen_bit_images_keep_their_contrast(tmp_path) -> None:
    data = small_set()
    data["x_train"] = (np.arange(20 * 64).reshape(20, 8, 8) * 3).astype(np.uint16)  # 0..3837
    data["x_test"] = np.full((10, 8, 8), 1000, np.uint16)
    dataset = load_dataset(str(save_npz(tmp_path / "u16.npz", **data)))
    assert dataset.x_train.max() == 255 and (dataset.x_train == 255).mean() < 0.01
    assert dataset.x_test[0, 0, 0, 0] == round(1000 * 255 / 3837)
    assert any("scaled by 255/3,837" in note for note in dataset.notes)


def test_other_ranges_are_min_max_scaled_and_noted(tmp_path) -> None:
    data = small_set(dtype=np.float32)
    data["x_train"] = np.linspace(-1, 1, 20 * 64, dtype=np.float32).reshape(20, 8, 8)
    data["x_test"] = np.zeros((10, 8, 8), np.float32)
    dataset = load_dataset(str(save_npz(tmp_path / "signed.npz", **data)))
    assert dataset.x_train.min() == 0 and dataset.x_train.max() == 255 and dataset.x_test[0, 0, 0, 0] == 128
    assert any("-1..1" in note and "min-max" in note for note in dataset.notes)


# 6. single images ----------------------------------------------------------------------------------


def test_a_sixteen_bit_digit_is_not_blank(tmp_path) -> None:
    canvas = Image.new("L", (112, 112), 255)
    ImageDraw.Draw(canvas).line([(56, 15), (56, 95)], fill=0, width=10)
    pixels = (np.asarray(canvas, dtype=np.uint16) * 257)  # white paper 65535, black ink 0
    pixels[pixels == 0] = 9000  # dark gray ink: 8-bit clipping would make it white like the paper
    path = tmp_path / "digit16.png"
    Image.fromarray(pixels).save(path)
    assert Image.open(path).mode.startswith("I")
    digit = image_for_model(path, (28, 28, 1), digit_style=True)
    assert digit.max() > 200 and digit[:, :4].max() == 0


def test_a_32_bit_image_of_8_bit_values_is_not_blank(tmp_path) -> None:
    """A TIFF stored as 32-bit integers ("I") but holding 0..255: dividing by 257 as for 16 bits would erase it."""
    canvas = Image.new("L", (112, 112), 255)
    ImageDraw.Draw(canvas).line([(56, 15), (56, 95)], fill=0, width=10)
    path = tmp_path / "digit32.tiff"
    Image.fromarray(np.asarray(canvas, dtype=np.int32)).save(path)
    assert Image.open(path).mode == "I"
    digit = image_for_model(path, (28, 28, 1), digit_style=True)
    assert digit.max() > 200 and digit[:, :4].max() == 0


@pytest.mark.parametrize("width,height", [(10_000, 6_000), (20_000, 20_000)])
def test_a_huge_single_image_is_refused_in_one_line(tmp_path, width: int, height: int) -> None:
    path = png_header_only(tmp_path / "huge.png", width, height)
    with pytest.raises(DatasetError, match="huge.png: the image is too large.*50 megapixels") as info:
        open_image(path)
    assert "\n" not in str(info.value)


def test_truncated_and_garbage_images_name_the_file(tmp_path) -> None:
    whole = tmp_path / "whole.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(whole)
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[:300])
    with pytest.raises(DatasetError, match="cut.png: a damaged or unreadable image"):
        open_image(cut)
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(os.urandom(500))
    with pytest.raises(DatasetError, match="garbage.jpg: not an image file"):
        open_image(garbage)


# 7. names and folders -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   ", "\t"])
def test_an_empty_dataset_name_is_refused(name: str) -> None:
    assert "no dataset given" in refusal(name)


def test_a_folder_with_too_many_sub_folders_is_refused(tmp_path) -> None:
    for i in range(1001):
        (tmp_path / "wide" / f"d{i}").mkdir(parents=True)
    assert "more than 1,000 sub-folders: not an image dataset" in refusal(tmp_path / "wide")


def test_fifos_and_symlink_loops_are_skipped(tmp_path) -> None:
    root = image_folder(tmp_path / "pets")
    os.mkfifo(root / "cat" / "pipe.png")  # reading it would block forever
    (root / "dog" / "loop").symlink_to(root / "dog", target_is_directory=True)
    started = time.monotonic()
    dataset = load_dataset(str(root))
    assert len(dataset.x_train) + len(dataset.x_test) == 8 and time.monotonic() - started < 10


def test_a_linked_class_folder_is_followed_once_and_links_inside_it_are_not(tmp_path) -> None:
    elsewhere = image_folder(tmp_path / "collection")  # cat/ and dog/, 4 images each
    extra = image_folder(tmp_path / "more", per_class=3)
    root = tmp_path / "picked"
    root.mkdir()
    (root / "cat").symlink_to(elsewhere / "cat", target_is_directory=True)
    (root / "dog").symlink_to(elsewhere / "dog", target_is_directory=True)
    (elsewhere / "dog" / "more").symlink_to(extra / "dog", target_is_directory=True)  # not followed
    dataset = load_dataset(str(root))
    assert dataset.class_names == ["cat", "dog"] and len(dataset.x_train) + len(dataset.x_test) == 8


def test_a_huge_tree_is_not_walked(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(datasets, "MAX_FOLDER_ENTRIES", 50)
    root = image_folder(tmp_path / "pets")
    for i in range(60):
        (root / "cat" / f"notes{i}.txt").write_text("x")
    assert "more than 50 files and folders" in refusal(root)


def test_the_root_folder_is_refused_quickly() -> None:
    started = time.monotonic()
    refusal("/")
    assert time.monotonic() - started < 10


# property tests: arbitrary bytes never give anything but a DatasetError (or a valid dataset) ----------


def fuzz_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="cnnstudio-fuzz-"))


FUZZ_ROOT = fuzz_dir()


def try_load(load, *args) -> None:
    try:
        load(*args)
    except DatasetError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(payload=st.binary(max_size=600), compress=st.booleans(), wrap=st.booleans())
def test_arbitrary_bytes_as_idx(payload: bytes, compress: bool, wrap: bool) -> None:
    if wrap:  # a valid header in front makes the reader go further
        payload = idx_bytes((2, 28, 28), payload)
    path = FUZZ_ROOT / ("train-images-idx3-ubyte.gz" if compress else "train-images-idx3-ubyte")
    path.write_bytes(gzip.compress(payload) if compress and len(payload) % 3 else payload)
    try_load(read_idx, path, IMAGES_MAGIC)


def _npz_fuzz_bytes(payload: bytes, mode: int) -> bytes:
    if mode == 0:
        return payload
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED if mode == 2 else zipfile.ZIP_STORED) as archive:
        for key in ("x_train", "y_train", "x_test", "y_test"):
            archive.writestr(f"{key}.npy", (npy_header((len(payload),), "|u1") if mode == 1 else b"") + payload)
    data = buffer.getvalue()
    return data if mode != 3 else data[: len(payload) % max(1, len(data))]


@FUZZ
@given(payload=st.binary(max_size=400), mode=st.integers(0, 3))
def test_arbitrary_bytes_as_npz(payload: bytes, mode: int) -> None:
    path = FUZZ_ROOT / "fuzz.npz"
    path.write_bytes(_npz_fuzz_bytes(payload, mode))
    try_load(load_dataset, str(path))


def _valid_image_bytes(kind: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (16, 16), dtype=np.uint8)).save(buffer, kind)
    return buffer.getvalue()


IMAGE_BYTES = {"PNG": _valid_image_bytes("PNG"), "JPEG": _valid_image_bytes("JPEG")}


@FUZZ
@given(kind=st.sampled_from(["PNG", "JPEG"]), cut=st.integers(0, 2000), junk=st.binary(max_size=200),
       flip=st.integers(0, 2000))
def test_arbitrary_bytes_as_an_image(kind: str, cut: int, junk: bytes, flip: int) -> None:
    data = bytearray(IMAGE_BYTES[kind][:cut] + junk)
    if data:
        data[flip % len(data)] ^= 0x5A
    path = FUZZ_ROOT / f"fuzz.{kind.lower()}"
    path.write_bytes(bytes(data))
    try_load(image_for_model, path, (28, 28, 1), True)
    try_load(image_for_model, path, (16, 16, 3), False)
    try_load(datasets._read_image, path, (16, 16), True)


def test_an_image_name_too_long_to_look_up_is_one_line(tmp_path) -> None:
    from cnnstudio.core.data.digit_preprocessing import open_image

    with pytest.raises(DatasetError, match="cannot be read"):
        open_image(tmp_path / ("a" * 300 + ".png"))


def test_a_blank_image_among_several_is_named(tmp_path) -> None:
    from PIL import Image

    from cnnstudio.core.data.digit_preprocessing import image_for_model

    blank = tmp_path / "blank.png"
    Image.new("L", (40, 40), 255).save(blank)
    with pytest.raises(DatasetError, match=r"blank\.png: the image is blank: no strokes stand out"):
        image_for_model(blank, (28, 28, 1), digit_style=True)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_pipe_named_like_a_dataset_file_says_what_it_is(tmp_path) -> None:
    from cnnstudio.core.data.datasets import load_dataset

    pipe = tmp_path / "x.npz"
    os.mkfifo(pipe)
    with pytest.raises(DatasetError, match=r"x\.npz: not a regular file \(a named pipe\), so not a dataset"):
        load_dataset(str(pipe))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_an_idx_file_that_is_a_pipe_is_called_a_pipe_not_missing(tmp_path) -> None:
    from cnnstudio.core.data.idx_format import load_idx_folder

    os.mkfifo(tmp_path / "train-images-idx3-ubyte")
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte: not a regular file \(a named pipe\), so not an IDX file"):
        load_idx_folder(tmp_path)

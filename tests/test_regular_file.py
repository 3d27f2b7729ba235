"""The one check "is this path a regular file?" and the readers that use it (pipes never block them)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from cnnstudio.core import regular_file
from cnnstudio.core.regular_file import (
    DEVICE,
    FOLDER,
    NAMED_PIPE,
    SYMBOLIC_LINK,
    NotRegularFileError,
    check_regular_file,
    is_regular_file,
    kind_of,
    open_regular_file,
)

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
needs_dev_null = pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")


def _refused(path: Path, **options: bool) -> NotRegularFileError:
    with pytest.raises(NotRegularFileError) as refused:
        check_regular_file(path, **options)
    assert not is_regular_file(path, **options)
    return refused.value


def test_a_regular_file_passes(tmp_path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"12345")
    assert check_regular_file(path).st_size == 5 and is_regular_file(path) and is_regular_file(str(path))
    with open_regular_file(path) as handle:
        assert handle.read() == b"12345"


def test_a_folder_is_named_a_folder(tmp_path) -> None:
    refused = _refused(tmp_path)
    assert refused.kind == FOLDER and refused.path == tmp_path
    assert str(refused) == "not a regular file (a folder)"
    assert isinstance(refused, ValueError)  # callers that catch ValueError keep working


@needs_fifo
def test_a_fifo_is_named_a_named_pipe_and_never_opened(tmp_path, alarm) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert _refused(fifo).kind == NAMED_PIPE
    with pytest.raises(NotRegularFileError, match=r"^not a regular file \(a named pipe\)$"):
        open_regular_file(fifo)


@needs_dev_null
def test_dev_null_is_named_a_device() -> None:
    assert _refused(Path("/dev/null")).kind == DEVICE
    assert str(_refused(Path("/dev/null"))) == "not a regular file (a device)"


def test_a_symbolic_link_to_a_file_is_followed_unless_asked_not_to(tmp_path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("text")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    assert is_regular_file(link)
    with open_regular_file(link) as handle:
        assert handle.read() == b"text"
    assert _refused(link, follow_symlinks=False).kind == SYMBOLIC_LINK
    with pytest.raises(NotRegularFileError, match="a symbolic link"):
        open_regular_file(link, follow_symlinks=False)


@needs_dev_null
def test_a_symbolic_link_to_a_device_is_named_for_its_target(tmp_path) -> None:
    link = tmp_path / "null.txt"
    link.symlink_to("/dev/null")
    assert _refused(link).kind == DEVICE


def test_a_missing_path_raises_file_not_found(tmp_path) -> None:
    missing = tmp_path / "missing.txt"
    with pytest.raises(FileNotFoundError):
        check_regular_file(missing)
    with pytest.raises(FileNotFoundError):
        open_regular_file(missing)
    assert not is_regular_file(missing)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(missing)
    assert not is_regular_file(dangling)


def test_every_kind_has_words() -> None:
    import stat

    assert kind_of(stat.S_IFREG | 0o644) is None
    assert [kind_of(kind) for kind in (stat.S_IFDIR, stat.S_IFIFO, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFSOCK,
                                       stat.S_IFLNK)] == [FOLDER, NAMED_PIPE, DEVICE, DEVICE, "a socket", SYMBOLIC_LINK]


@needs_fifo
def test_a_pipe_swapped_in_after_the_check_is_refused_once_open(tmp_path, monkeypatch, alarm) -> None:
    fifo = tmp_path / "swapped"
    os.mkfifo(fifo)
    monkeypatch.setattr(regular_file, "check_regular_file", lambda path, follow_symlinks=True: None)
    fds = Path("/proc/self/fd")
    before = len(list(fds.iterdir())) if fds.is_dir() else 0
    with pytest.raises(NotRegularFileError, match="a named pipe"):  # opened without blocking, then refused
        open_regular_file(fifo)
    assert (len(list(fds.iterdir())) if fds.is_dir() else 0) == before  # and its descriptor closed


def _readers() -> dict[str, tuple[str, Callable[[Path], object], str]]:
    """Each reader of a user's file: (file name, how it reads, what its message says the file is not)."""
    from cnnstudio.core.data.datasets import load_dataset, load_npz
    from cnnstudio.core.data.digit_preprocessing import open_image
    from cnnstudio.core.data.idx_format import IMAGES_MAGIC, read_idx
    from cnnstudio.core.experiments.run_history import read_entry_file
    from cnnstudio.core.files.persistence import check_model_file
    from cnnstudio.core.network.design import load_design

    return {
        "model file": ("m.keras", check_model_file, "so not a model file"),
        "design": ("d.cnn.json", load_design, "so not a design"),
        "dataset": ("x.npz", lambda p: load_dataset(str(p)), "so not a dataset"),
        "npz": ("x.npz", load_npz, "so not a dataset"),
        "IDX file": ("train-images-idx3-ubyte", lambda p: read_idx(p, IMAGES_MAGIC), "so not an IDX file"),
        "image": ("x.png", open_image, "so not an image file"),
        "run record": ("r.json", read_entry_file, "not read"),
    }


@needs_fifo
@pytest.mark.parametrize("reader", ["model file", "design", "dataset", "npz", "IDX file", "image", "run record"])
def test_every_reader_names_a_pipe_as_a_named_pipe(tmp_path, reader, alarm) -> None:
    name, read, not_what = _readers()[reader]
    fifo = tmp_path / name
    os.mkfifo(fifo)
    with pytest.raises(Exception, match=r"not a regular file \(a named pipe\)") as refused:
        read(fifo)
    assert not_what in str(refused.value) and "\n" not in str(refused.value)


@needs_fifo
def test_the_calibration_cache_names_a_pipe(tmp_path, alarm) -> None:
    from cnnstudio.core.network.cost import cached_calibration, calibration_path

    os.mkfifo(calibration_path(tmp_path))
    calibration, problem = cached_calibration(tmp_path)
    assert calibration is None and "is not a regular file (a named pipe); it is ignored" in (problem or "")


@needs_dev_null
def test_a_design_that_is_a_device_says_so(alarm) -> None:
    from cnnstudio.core.network.design import DesignError, load_design

    with pytest.raises(DesignError, match=r"^/dev/null: not a regular file \(a device\), so not a design$"):
        load_design("/dev/null")


def test_a_folder_is_no_image_and_no_model_file(tmp_path) -> None:
    from cnnstudio.core.data.digit_preprocessing import open_image
    from cnnstudio.core.errors import DatasetError, ModelFileError
    from cnnstudio.core.files.persistence import check_model_file

    with pytest.raises(DatasetError, match="a folder, not an image file"):
        open_image(tmp_path)
    with pytest.raises(ModelFileError, match=r"a folder, not a model file"):
        check_model_file(tmp_path)

"""Generators of hostile inputs for the ``cnnstudio`` command, one family per kind of input.

Each family is a list of :class:`Case`; adding a case is one line. A case names its command line,
writes the files it needs into its own folder (``make(folder)``), and says what must happen:
``refused`` (exit 2, one line on stderr, optionally containing ``needle``) or ``repaired`` (exit 0:
the documented repair, e.g. one-hot labels converted). Every case, whatever its outcome, must show
no ``internal error``, no traceback, no hang, no crash, no code run (marker files) and no file
damaged or left behind outside ``may_create``.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from archive_helpers import write_zip, zip_members
from PIL import Image

MARKER = "CODE-RAN"  # a payload that runs would create this file in the case's folder


@dataclass
class Case:
    family: str
    name: str
    argv: list[str]
    make: Callable[[Path], None] = lambda folder: None
    expect: str = "refused"  # or "repaired"
    needle: str = ""  # text the one stderr line must contain (refusals)
    env: dict[str, str] = field(default_factory=dict)
    may_create: tuple[str, ...] = ()  # files a repaired case may write in its folder
    timeout: int = 60

    @property
    def id(self) -> str:
        return f"{self.family}/{self.name}"


# --- building blocks --------------------------------------------------------------------------------------------


class Inputs:
    """Files several cases start from: a CNN Studio model, a plain Keras model, a digit image and models
    that are not image classifiers. The paths are known at once; :meth:`build` writes the files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.model = folder / "lenet5.keras"
        self.plain = folder / "plain.keras"
        self.digit = folder / "digit.png"
        self.models = {name: folder / f"{name}.keras" for name in NOT_CLASSIFIERS}

    def build(self) -> Inputs:
        import keras

        from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
        from cnnstudio.core.files.model_record import ModelRecord
        from cnnstudio.core.files.persistence import save_model
        from cnnstudio.core.network.model_builder import build_model

        self.folder.mkdir(parents=True, exist_ok=True)
        experiment = Experiment(ModelOptions(), TrainOptions(epochs=1), "digits")
        model = build_model(experiment.model, (28, 28, 1), 10)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        record = ModelRecord(experiment, [str(i) for i in range(10)], (28, 28, 1), digit_like=True,
                             history={"loss": [0.5], "accuracy": [0.8]}, seconds_per_epoch=[1.0],
                             test_loss=0.4, test_accuracy=0.85)
        save_model(model, self.model, record)
        keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")]) \
            .save(self.plain)
        digit = np.zeros((28, 28), np.uint8)
        digit[6:22, 12:16] = 255
        Image.fromarray(digit).save(self.digit)
        for name, build in NOT_CLASSIFIERS.items():
            build().save(self.models[name])
        return self


def _keras() -> Any:
    import keras

    return keras


def _dense_1d() -> Any:
    k = _keras()
    return k.Sequential([k.Input((10,)), k.layers.Dense(10, "softmax")])


def _rank3() -> Any:
    k = _keras()
    return k.Sequential([k.Input((28, 28)), k.layers.Flatten(), k.layers.Dense(10, "softmax")])


def _dynamic() -> Any:
    k = _keras()
    return k.Sequential([k.Input((None, None, 1)), k.layers.Conv2D(4, 3), k.layers.GlobalAveragePooling2D(),
                         k.layers.Dense(10, "softmax")])


def _two_inputs() -> Any:
    k = _keras()
    a, b = k.Input((28, 28, 1)), k.Input((28, 28, 1))
    joined = k.layers.Concatenate()([k.layers.Flatten()(a), k.layers.Flatten()(b)])
    return k.Model([a, b], k.layers.Dense(10, "softmax")(joined))


def _sigmoid() -> Any:
    k = _keras()
    return k.Sequential([k.Input((28, 28, 1)), k.layers.Flatten(), k.layers.Dense(1, "sigmoid")])


def _two_outputs() -> Any:
    k = _keras()
    x = k.Input((28, 28, 1))
    flat = k.layers.Flatten()(x)
    return k.Model(x, [k.layers.Dense(10, "softmax")(flat), k.layers.Dense(10, "softmax")(flat)])


def _spatial_output() -> Any:
    k = _keras()
    return k.Sequential([k.Input((28, 28, 1)), k.layers.Conv2D(10, 3, activation="softmax")])


def _uncompiled() -> Any:
    k = _keras()
    return k.Sequential([k.Input((28, 28, 1)), k.layers.Flatten(), k.layers.Dense(10, "softmax")])


NOT_CLASSIFIERS: dict[str, Callable[[], Any]] = {
    "dense_1d": _dense_1d, "rank3_input": _rank3, "dynamic_input": _dynamic, "two_inputs": _two_inputs,
    "sigmoid_output": _sigmoid, "two_outputs": _two_outputs, "spatial_output": _spatial_output,
}


def _copy(source: Path, name: str | None = None) -> Callable[[Path], None]:
    return lambda folder: shutil.copy(source, folder / (name or source.name))


def _with_record(source: Path, change: Callable[[dict], Any], name: str = "m.keras") -> Callable[[Path], None]:
    """``source`` with its experiment record changed by ``change`` (which edits it or returns a new value)."""

    def make(folder: Path) -> None:
        members = zip_members(source)
        record = json.loads(members["cnnstudio.json"])
        changed = change(record)
        members["cnnstudio.json"] = (changed if isinstance(changed, bytes) else
                                     json.dumps(record if changed is None else changed).encode())
        write_zip(folder / name, members)

    return make


def _with_member(source: Path, member: str, data: bytes, name: str = "m.keras") -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        members = zip_members(source)
        members[member] = data
        write_zip(folder / name, members)

    return make


def _setting(path: list[str], value: Any) -> Callable[[dict], None]:
    def change(record: dict) -> None:
        node = record
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def _nested(depth: int) -> str:
    """JSON text of lists nested ``depth`` deep (too deep for the standard parser's recursion)."""
    return "[" * depth + "0" + "]" * depth


def _lambda_payload(folder: Path) -> None:
    """A model whose Lambda layer would create the marker file if Keras ever ran it."""
    k = _keras()
    marker = str(folder / MARKER)
    k.config.enable_unsafe_deserialization()
    try:
        layer = k.layers.Lambda(lambda x, m=marker: (open(m, "w").close(), x)[1])
        model = k.Sequential([k.Input((28, 28, 1)), layer, k.layers.Flatten(), k.layers.Dense(10, "softmax")])
        model.save(folder / "m.keras")
    finally:
        k.config.disable_unsafe_deserialization() if hasattr(k.config, "disable_unsafe_deserialization") else None
    (folder / MARKER).unlink(missing_ok=True)  # building the model ran it once; loading must not


def _custom_class(source: Path) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        members = zip_members(source)
        config = json.loads(members["config.json"])
        config["config"]["layers"][1]["module"] = "os"
        config["config"]["layers"][1]["class_name"] = "system"
        members["config.json"] = json.dumps(config).encode()
        write_zip(folder / "m.keras", members)

    return change


def _huge_member(source: Path, member: str, size: int) -> Callable[[Path], None]:
    """``member`` replaced by ``size`` bytes of JSON whitespace (a small file that expands hugely)."""

    def make(folder: Path) -> None:
        members = zip_members(source)
        with zipfile.ZipFile(folder / "m.keras", "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                if name != member:
                    archive.writestr(name, data)
            with archive.open(member, "w", force_zip64=True) as stream:
                chunk = b" " * (1 << 20)
                for _ in range(size >> 20):
                    stream.write(chunk)
                stream.write(b"{}")

    return make


def _fifo(name: str) -> Callable[[Path], None]:
    return lambda folder: os.mkfifo(folder / name)


def _symlink(name: str, target: str) -> Callable[[Path], None]:
    return lambda folder: os.symlink(target, folder / name)


def _bytes(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(data)


def _image(name: str, array: np.ndarray | None = None, *, size: tuple[int, int] | None = None,
           mode: str = "L", format: str | None = None, **save: Any) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        image = Image.fromarray(array) if array is not None else Image.new(mode, size or (28, 28))
        image.save(folder / name, format=format, **save)

    return make


def _both(*makers: Callable[[Path], None]) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        for maker in makers:
            maker(folder)

    return make


# --- datasets ---------------------------------------------------------------------------------------------------


def _digits_arrays(n_train: int = 200, n_test: int = 50) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "y_train": np.arange(n_train) % 10, "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "y_test": np.arange(n_test) % 10}


def _npz(change: Callable[[dict[str, np.ndarray]], Any] | None = None, name: str = "d.npz") -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        arrays = _digits_arrays()
        if change is not None:
            change(arrays)
        np.savez(folder / name, **arrays)

    return make


def _set(key: str, value: Any) -> Callable[[dict], None]:
    return lambda arrays: arrays.__setitem__(key, value)


def _poke(key: str, index: tuple, value: float, dtype: Any = np.float32, scale: float = 1 / 255) -> Callable:
    """``key`` as ``dtype`` scaled by ``scale``, with one element set to ``value``."""

    def change(arrays: dict) -> None:
        x = arrays[key].astype(dtype) * scale
        x[index] = value
        arrays[key] = x

    return change


def _declared_npz(shape: tuple[int, ...]) -> Callable[[Path], None]:
    """An .npz whose x_train header declares ``shape`` (no data behind it)."""

    def make(folder: Path) -> None:
        arrays = _digits_arrays()
        with zipfile.ZipFile(folder / "d.npz", "w") as archive:
            for key, array in arrays.items():
                if key == "x_train":
                    header = {"descr": "|u1", "fortran_order": False, "shape": shape}
                    text = repr(header).encode("latin1")
                    text += b" " * (64 - (10 + len(text) + 1) % 64) + b"\n"
                    archive.writestr("x_train.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text)
                else:
                    import io

                    buffer = io.BytesIO()
                    np.save(buffer, array)
                    archive.writestr(f"{key}.npy", buffer.getvalue())

    return make


def _idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _idx_folder(images: int = 60, *, header: bytes | None = None, bomb: int = 0,
                labels: np.ndarray | None = None) -> Callable[[Path], None]:
    """A folder of MNIST-named IDX files: ``images`` each, a raw ``header`` for the training images, or a
    gzip ``bomb`` of that many bytes declared as the training images."""

    def make(folder: Path) -> None:
        data = folder / "idx"
        data.mkdir()
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (images, 28, 28), dtype=np.uint8)
        y = labels if labels is not None else (np.arange(images) % 10).astype(np.uint8)
        files = {"train-images-idx3-ubyte.gz": _idx_bytes(x), "train-labels-idx1-ubyte.gz": _idx_bytes(y),
                 "t10k-images-idx3-ubyte.gz": _idx_bytes(x), "t10k-labels-idx1-ubyte.gz": _idx_bytes(y)}
        for name, content in files.items():
            if name.startswith("train-images") and header is not None:
                content = header
            with gzip.open(data / name, "wb", compresslevel=1) as stream:
                stream.write(content)
                if name.startswith("train-images") and bomb:
                    chunk = bytes(1 << 20)
                    for _ in range(bomb >> 20):
                        stream.write(chunk)

    return make


def _image_folder(sizes: dict[str, list[tuple[int, int]]], fmt: str = "PNG", extra: Callable | None = None
                  ) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        root = folder / "images"
        for label, shapes in sizes.items():
            (root / label).mkdir(parents=True)
            for i, (w, h) in enumerate(shapes):
                Image.new("L", (w, h), 128).save(root / label / f"{i}.{fmt.lower()}", format=fmt)
        if extra is not None:
            extra(root)

    return make


def _ten_each(size: tuple[int, int] = (28, 28)) -> dict[str, list[tuple[int, int]]]:
    return {label: [size] * 6 for label in ("a", "b")}


def _add_gif(root: Path) -> None:
    Image.new("L", (28, 28), 10).save(root / "a" / "zz.gif", format="GIF")
    (root / "a" / "zz.jpg").write_bytes(b"GIF89a" + bytes(40))  # a GIF body with a JPEG name


def _add_huge(root: Path) -> None:
    Image.new("1", (20_000, 20_000)).save(root / "a" / "000-huge.png")


def _add_fifo(root: Path) -> None:
    os.mkfifo(root / "a" / "pipe.png")


def _train(dataset: str, *extra: str) -> list[str]:
    return ["train", "--dataset", dataset, "--epochs", "1", "--batch-size", "32", *extra]


# --- the families -----------------------------------------------------------------------------------------------


def families(inputs: Inputs) -> list[Case]:
    """Every case of every family."""
    return (model_cases(inputs) + record_cases(inputs) + dataset_cases(inputs) + image_cases(inputs)
            + setting_cases(inputs) + folder_cases(inputs))


def model_cases(inputs: Inputs) -> list[Case]:
    cases = []
    for kind in NOT_CLASSIFIERS:
        source = inputs.models[kind]
        for command in (["evaluate", "m.keras", "--dataset", "digits"], ["predict", "m.keras", "d.png"],
                        ["train", "--resume", "m.keras", "--epochs", "1", "--dataset", "digits"]):
            cases.append(Case("models", f"{kind}-{command[0]}", command,
                              _both(_copy(source, "m.keras"), _copy(inputs.digit, "d.png")), needle="m.keras"))
    lenet = inputs.model
    cases += [
        Case("models", "uncompiled-evaluate", ["evaluate", "m.keras", "--dataset", "digits", "--json"],
             lambda f: _uncompiled().save(f / "m.keras"), expect="repaired"),
        Case("models", "lambda-payload-info", ["info", "m.keras"], _lambda_payload, needle="Lambda"),
        Case("models", "lambda-payload-evaluate", ["evaluate", "m.keras", "--dataset", "digits"], _lambda_payload,
             needle="Lambda"),
        Case("models", "lambda-payload-predict", ["predict", "m.keras", "d.png"],
             _both(_lambda_payload, _copy(inputs.digit, "d.png")), needle="Lambda"),
        Case("models", "custom-class-os-system", ["evaluate", "m.keras", "--dataset", "digits"],
             _custom_class(inputs.plain), needle="os.system"),
        Case("models", "legacy-h5", ["info", "m.h5"], _bytes("m.h5", b"\x89HDF\r\n\x1a\n" + bytes(100)),
             needle="HDF5"),
        Case("models", "empty-file", ["info", "m.keras"], _bytes("m.keras", b"")),
        Case("models", "text-file", ["evaluate", "m.keras", "--dataset", "digits"], _bytes("m.keras", b"hello")),
        Case("models", "truncated", ["evaluate", "m.keras", "--dataset", "digits"],
             lambda f: (f / "m.keras").write_bytes(lenet.read_bytes()[: lenet.stat().st_size // 2])),
        Case("models", "folder-named-keras", ["info", "m.keras"], lambda f: (f / "m.keras").mkdir()),
        Case("models", "fifo-named-keras", ["info", "m.keras"], _fifo("m.keras"), timeout=20),
        Case("models", "symlink-to-dev-zero", ["info", "m.keras"], _symlink("m.keras", "/dev/zero"), timeout=20),
        Case("models", "config-not-json", ["info", "m.keras"], _with_member(lenet, "config.json", b"{oops")),
        Case("models", "config-a-list", ["evaluate", "m.keras", "--dataset", "digits"],
             _with_member(lenet, "config.json", b"[1, 2, 3]")),
        Case("models", "config-deeply-nested", ["info", "m.keras"],
             _with_member(lenet, "config.json", f'{{"class_name": "Sequential", "config": {_nested(5000)}}}'.encode())),
        Case("models", "config-expands-to-300MB", ["info", "m.keras"],
             _huge_member(lenet, "config.json", 300 << 20), timeout=60),
        Case("models", "record-expands-to-300MB", ["evaluate", "m.keras", "--dataset", "digits"],
             _huge_member(lenet, "cnnstudio.json", 300 << 20), timeout=60),
        Case("models", "weights-garbage", ["evaluate", "m.keras", "--dataset", "digits"],
             _with_member(lenet, "model.weights.h5", b"not hdf5")),
        Case("models", "unicode-name-missing", ["info", "modèle-数字.keras"], needle="no such file"),
    ]
    return cases


def record_cases(inputs: Inputs) -> list[Case]:
    lenet = inputs.model
    mutations: dict[str, Callable[[dict], Any]] = {
        "test-accuracy-string": _setting(["test", "accuracy"], "abc"),
        "test-accuracy-numeric-string": _setting(["test", "accuracy"], "0.9"),
        "test-accuracy-above-1": _setting(["test", "accuracy"], 7.5),
        "test-loss-negative": _setting(["test", "loss"], -1),
        "unknown-architecture": _setting(["experiment", "model", "arch"], "resnet9000"),
        "architecture-a-number": _setting(["experiment", "model", "arch"], 5),
        "unknown-pooling": _setting(["experiment", "model", "pooling"], "median"),
        "padding-superscript-two": _setting(["experiment", "model", "padding"], "²"),
        "seed-negative": _setting(["experiment", "train", "seed"], -1),
        "epochs-a-string": _setting(["experiment", "train", "epochs"], "5"),
        "learning-rate-nan-string": _setting(["experiment", "train", "learning_rate"], "NaN"),
        "two-million-class-names": _setting(["dataset", "class_names"], [str(i) for i in range(2_000_000)]),
        "class-names-a-scalar": _setting(["dataset", "class_names"], "0123456789"),
        "class-names-too-few": _setting(["dataset", "class_names"], ["a", "b", "c"]),
        "class-name-huge": _setting(["dataset", "class_names"], ["x" * 100_000] + [str(i) for i in range(9)]),
        "input-shape-negative": _setting(["dataset", "input_shape"], [-28, 28, 1]),
        "input-shape-wrong": _setting(["dataset", "input_shape"], [32, 32, 3]),
        "input-shape-strings": _setting(["dataset", "input_shape"], ["a", "b", "c"]),
        "history-not-a-mapping": _setting(["history"], [1, 2, 3]),
        "history-strings": _setting(["history"], {"loss": ["a"], "accuracy": ["b"]}),
        "history-huge": _setting(["history"], {"loss": [0.1] * 3_000_000}),
        "epoch-ends-wrong-length": _setting(["epoch_ends"], [1.0, 2.0]),
        "epoch-ends-negative": _setting(["epoch_ends"], [-1.0]),
        "segments-garbage": _setting(["segments"], [{"optimizer": "adam"}]),
        "seconds-per-epoch-string": _setting(["seconds_per_epoch"], "fast"),
        "record-a-list": lambda record: [record],
        "record-deeply-nested": lambda record: (json.dumps(record)[:-1] + f', "deep": {_nested(100_000)}}}').encode(),
        "record-not-json": lambda record: b"\xff\xfe not json",
        "format-foreign": _setting(["format"], "someone-else"),
        "version-from-the-future": _setting(["version"], 99),
        "experiment-missing": lambda record: {k: v for k, v in record.items() if k != "experiment"},
    }
    # ``info`` reads the record without loading the model, so it cannot see a record that disagrees
    # with the model it describes; loading (evaluate) must refuse it.
    model_mismatch = {"class-names-too-few", "input-shape-wrong"}
    cases = []
    for name, change in mutations.items():
        for command in (["info", "m.keras"], ["evaluate", "m.keras", "--dataset", "digits"]):
            describes = command[0] == "info" and name in model_mismatch
            cases.append(Case("records", f"{name}-{command[0]}", command, _with_record(lenet, change),
                              expect="any" if describes else "refused", needle="m.keras"))
    cases += [
        Case("records", "dataset-is-root-evaluate", ["evaluate", "m.keras"],
             _with_record(lenet, _setting(["experiment", "dataset"], "/")), needle="--dataset"),
        Case("records", "dataset-is-root-resume", ["train", "--resume", "m.keras", "--epochs", "1"],
             _with_record(lenet, _setting(["experiment", "dataset"], "/")), needle="--dataset"),
        Case("records", "dataset-is-home-evaluate", ["evaluate", "m.keras"],
             _with_record(lenet, _setting(["experiment", "dataset"], "~/")), needle="--dataset"),
        Case("records", "dataset-ansi-escape-evaluate", ["evaluate", "m.keras"],
             _with_record(lenet, _setting(["experiment", "dataset"], "\x1b[2J\x1b[31mred")), needle="control"),
        Case("records", "dataset-ansi-escape-info", ["info", "m.keras"],
             _with_record(lenet, _setting(["experiment", "dataset"], "\x1b[2J\x1b[31mred")), needle="control"),
        Case("records", "class-name-control-characters-predict", ["predict", "m.keras", "d.png"],
             _both(_with_record(lenet, _setting(["dataset", "class_names"], [f"\x1b[3{i}m{i}\n" for i in range(10)])),
                   _copy(inputs.digit, "d.png")), expect="repaired"),  # shown escaped
        Case("records", "dataset-a-number-info", ["info", "m.keras"],
             _with_record(lenet, _setting(["experiment", "dataset"], 12))),
    ]
    return cases


def dataset_cases(inputs: Inputs) -> list[Case]:
    nan_train = _poke("x_train", (3, 5, 5), np.nan)
    cases = [
        Case("datasets", "npz-nan-pixel", _train("d.npz"), _npz(nan_train), needle="NaN"),
        Case("datasets", "npz-inf-pixel", _train("d.npz"), _npz(_poke("x_test", (0, 0, 0), np.inf)), needle="inf"),
        Case("datasets", "npz-all-nan", _train("d.npz"),
             _npz(_set("x_train", np.full((200, 28, 28), np.nan, np.float32))), needle="NaN"),
        Case("datasets", "npz-label-million", _train("d.npz"),
             _npz(lambda a: a["y_train"].__setitem__(0, 1_000_000)), needle="1000000"),
        Case("datasets", "npz-label-negative", _train("d.npz"), _npz(lambda a: a["y_train"].__setitem__(0, -3))),
        Case("datasets", "npz-label-fraction", _train("d.npz"),
             _npz(_set("y_train", np.arange(200) % 10 + 0.5))),
        Case("datasets", "npz-label-nan", _train("d.npz"),
             _npz(_set("y_train", np.where(np.arange(200) == 0, np.nan, np.arange(200) % 10)))),
        Case("datasets", "npz-labels-one-hot", _train("d.npz", "--json"),
             _npz(lambda a: [a.__setitem__(k, np.eye(10, dtype=np.float32)[a[k]]) for k in ("y_train", "y_test")]),
             expect="repaired"),
        Case("datasets", "npz-labels-2d-not-one-hot", _train("d.npz"),
             _npz(_set("y_train", np.ones((200, 10), np.float32)))),
        Case("datasets", "npz-class-names-scalar", _train("d.npz"), _npz(_set("class_names", np.array("digits")))),
        Case("datasets", "npz-test-class-missing-in-train", _train("d.npz", "--json"),  # trains, with a note
             _npz(lambda a: a["y_test"].__setitem__(0, 10) or a.__setitem__("y_train", a["y_train"] % 10)),
             expect="repaired"),
        Case("datasets", "npz-declares-10e12-elements", _train("d.npz"), _declared_npz((10**6, 10**3, 10**3))),
        Case("datasets", "npz-zip-header-only", _train("d.npz"), _bytes("d.npz", b"PK\x03\x04" + bytes(60))),
        Case("datasets", "npz-object-array", _train("d.npz"),
             lambda f: np.savez(f / "d.npz", **{**_digits_arrays(), "x_train": np.array([{}] * 200, dtype=object)})),
        Case("datasets", "npz-missing-arrays", _train("d.npz"), _npz(lambda a: a.pop("x_test"))),
        Case("datasets", "npz-shapes-disagree", _train("d.npz"),
             _npz(_set("x_test", np.zeros((50, 14, 14), np.uint8)))),
        Case("datasets", "npz-counts-disagree", _train("d.npz"), _npz(_set("y_train", np.arange(7) % 10))),
        Case("datasets", "npz-images-1x1", _train("d.npz"),
             _npz(lambda a: [a.__setitem__(k, np.zeros((len(a[k]), 1, 1), np.uint8)) for k in ("x_train", "x_test")]),
             needle="small"),
        Case("datasets", "npz-images-2x2", _train("d.npz"),
             _npz(lambda a: [a.__setitem__(k, np.zeros((len(a[k]), 2, 2), np.uint8)) for k in ("x_train", "x_test")]),
             needle="small"),
        Case("datasets", "npz-float-0-1-with-1.0001", _train("d.npz", "--json"),
             _npz(lambda a: [a.__setitem__(k, a[k].astype(np.float32) / 255) for k in ("x_train", "x_test")]
                  and a["x_train"].__setitem__((0, 0, 0), 1.0001)), expect="repaired"),
        Case("datasets", "npz-uint16", _train("d.npz", "--json"),
             _npz(lambda a: [a.__setitem__(k, a[k].astype(np.uint16) * 257) for k in ("x_train", "x_test")]),
             expect="repaired"),
        Case("datasets", "npz-empty-train", _train("d.npz"),
             _npz(lambda a: a.update(x_train=np.zeros((0, 28, 28), np.uint8), y_train=np.zeros(0, np.int64)))),
        Case("datasets", "npz-not-a-zip", _train("d.npz"), _bytes("d.npz", b"\x93NUMPY garbage")),
        Case("datasets", "idx-zero-images", _train("idx"), _idx_folder(0)),
        Case("datasets", "idx-declares-huge", _train("idx"),
             _idx_folder(header=struct.pack(">BBBBIII", 0, 0, 8, 3, 4_000_000, 1000, 1000))),
        Case("datasets", "idx-gzip-bomb-300MB", _train("idx"),
             _idx_folder(header=struct.pack(">BBBBIII", 0, 0, 8, 3, 60, 28, 28) + bytes(60 * 784), bomb=300 << 20),
             timeout=60),
        Case("datasets", "idx-truncated", _train("idx"),
             _idx_folder(header=struct.pack(">BBBBIII", 0, 0, 8, 3, 60, 28, 28) + bytes(100))),
        Case("datasets", "idx-wrong-magic", _train("idx"), _idx_folder(header=b"\x01\x02\x03\x04" + bytes(100))),
        Case("datasets", "folder-huge-first-image", _train("images"), _image_folder(_ten_each(), extra=_add_huge),
             needle="000-huge.png", timeout=60),
        Case("datasets", "folder-gif-among-jpegs", _train("images"), _image_folder(_ten_each(), "JPEG", _add_gif),
             needle="zz."),
        Case("datasets", "folder-images-1x1", _train("images"), _image_folder(_ten_each((1, 1))), needle="small"),
        Case("datasets", "folder-images-2x2", _train("images"), _image_folder(_ten_each((2, 2))), needle="small"),
        Case("datasets", "folder-empty", _train("images"), lambda f: (f / "images").mkdir()),
        Case("datasets", "folder-one-class", _train("images"), _image_folder({"a": [(28, 28)] * 6})),
        Case("datasets", "folder-fifo-image", _train("images"), _image_folder(_ten_each(), extra=_add_fifo),
             timeout=20, expect="any"),
        Case("datasets", "dataset-root", _train("/"), timeout=30),
        Case("datasets", "dataset-proc", _train("/proc/self"), timeout=30),
        Case("datasets", "dataset-dev-zero", _train("/dev/zero"), timeout=20),
        Case("datasets", "dataset-unknown-name", _train("imagenet"), needle="imagenet"),
        Case("datasets", "dataset-empty-string", _train(""), needle="empty"),
        Case("datasets", "evaluate-on-nan-npz", ["evaluate", "m.keras", "--dataset", "d.npz"],
             _both(_copy(inputs.model, "m.keras"), _npz(nan_train)), needle="NaN"),
    ]
    return cases


def image_cases(inputs: Inputs) -> list[Case]:
    def predict(*names: str, json_out: bool = False) -> list[str]:
        return ["predict", "m.keras", *names] + (["--json"] if json_out else [])

    model = _copy(inputs.model, "m.keras")

    def digit16(folder: Path) -> None:
        Image.fromarray(np.asarray(Image.open(inputs.digit)).astype(np.uint16) * 257).save(folder / "d.png")
    return [
        Case("images", "png-16-bit-digit", predict("d.png", json_out=True),
             _both(model, digit16), expect="repaired"),
        Case("images", "png-20000x20000", predict("big.png"), _both(model, _image("big.png", size=(20_000, 20_000),
                                                                              mode="1")), needle="big.png"),
        Case("images", "png-12000x12000", predict("big.png"), _both(model, _image("big.png", size=(12_000, 12_000),
                                                                              mode="1")), needle="big.png"),
        Case("images", "png-truncated", predict("t.png"),
             _both(model, lambda f: (f / "t.png").write_bytes(inputs.digit.read_bytes()[:40])), needle="t.png"),
        Case("images", "empty-file", predict("e.png"), _both(model, _bytes("e.png", b"")), needle="e.png"),
        Case("images", "text-as-png", predict("x.png"), _both(model, _bytes("x.png", b"not an image")),
             needle="x.png"),
        Case("images", "folder-as-image", predict("dir.png"), _both(model, lambda f: (f / "dir.png").mkdir()),
             needle="dir.png"),
        Case("images", "fifo-as-image", predict("p.png"), _both(model, _fifo("p.png")), needle="p.png", timeout=20),
        Case("images", "dev-zero-as-image", predict("/dev/zero"), model, timeout=20),
        Case("images", "missing-image", predict("nope.png"), model, needle="nope.png"),
        Case("images", "image-1x1", predict("one.png", json_out=True), _both(model, _image("one.png", size=(1, 1))),
             expect="any"),
        Case("images", "cmyk-jpeg", predict("c.jpg", json_out=True),
             _both(model, lambda f: Image.open(inputs.digit).convert("CMYK").save(f / "c.jpg")), expect="repaired"),
        Case("images", "animated-gif", predict("a.gif", json_out=True),
             _both(model, lambda f: Image.open(inputs.digit).save(f / "a.gif", save_all=True,
                                                                     append_images=[Image.new("L", (28, 28), 200)])),
             expect="repaired"),
        Case("images", "unicode-file-name", predict("数字-é.png", json_out=True),
             _both(model, _copy(inputs.digit, "数字-é.png")), expect="repaired"),
        Case("images", "nan-model-json", predict("d.png", json_out=True),
             _both(_nan_model(inputs.model), _copy(inputs.digit, "d.png")), needle="NaN or infinite"),
    ]


def _nan_model(source: Path) -> Callable[[Path], None]:
    """A CNN Studio model whose weights are all NaN (what a diverged run used to save)."""

    def make(folder: Path) -> None:
        import keras

        model = keras.saving.load_model(source, safe_mode=True)
        model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
        model.save(folder / "plain-nan.keras")
        members = zip_members(folder / "plain-nan.keras")
        members["cnnstudio.json"] = zip_members(source)["cnnstudio.json"]
        write_zip(folder / "m.keras", members)
        (folder / "plain-nan.keras").unlink()

    return make


def setting_cases(inputs: Inputs) -> list[Case]:
    bad = {
        "seed-negative": ["--seed", "-1"], "seed-2-40": ["--seed", str(2**40)], "seed-text": ["--seed", "x"],
        "padding-superscript": ["--padding", "²"], "padding-arabic-digit": ["--padding", "٣"],
        "padding-negative": ["--padding", "-2"], "padding-huge": ["--padding", "100000"],
        "epochs-0": ["--epochs", "0"], "epochs-10001": ["--epochs", "10001"], "epochs-text": ["--epochs", "many"],
        "batch-0": ["--batch-size", "0"], "batch-huge": ["--batch-size", str(10**9)],
        "lr-nan": ["--learning-rate", "nan"], "lr-inf": ["--learning-rate", "inf"], "lr-negative": ["--learning-rate",
                                                                                                        "-1"],
        "lr-zero": ["--learning-rate", "0"], "validation-0.9999": ["--validation-split", "0.9999"],
        "validation-negative": ["--validation-split", "-0.1"], "validation-nan": ["--validation-split", "nan"],
        "patience-negative": ["--patience", "-1"], "pool-size-0": ["--pool-size", "0"],
        "pool-size-17": ["--pool-size", "17"], "dropout-1": ["--dropout", "1"], "dropout-nan": ["--dropout", "nan"],
        "arch-unknown": ["--arch", "resnet9000"], "pooling-unknown": ["--pooling", "median"],
        "optimizer-unknown": ["--optimizer", "lbfgs"], "out-not-keras": ["--out", "model.h5"],
        "out-missing-folder": ["--out", "nowhere/m.keras"], "out-is-folder": ["--out", "."],
        "out-under-proc": ["--out", "/proc/m.keras"], "out-under-sys": ["--out", "/sys/m.keras"],
        "out-empty": ["--out", ""], "resume-missing": ["--resume", "nope.keras"],
        "resume-plain-keras": ["--resume", "plain.keras"],
    }
    cases = [Case("settings", f"train-{name}", ["train", "--dataset", "digits", "--epochs", "1", *flags],
                  _copy(inputs.plain), timeout=30) for name, flags in bad.items()]
    study_bad = {
        "pooling-junk": ["--pooling", "max,median"], "pooling-empty": ["--pooling", ","],
        "padding-junk": ["--padding", "same,wide"], "activation-junk": ["--activation", "relu,swish9"],
        "report-missing-folder": ["--report", "missing/r.md"], "report-not-md": ["--report", "r.txt"],
        "epochs-0": ["--epochs", "0"], "seed-negative": ["--seed", "-5"], "dataset-empty": ["--dataset", ""],
    }
    cases += [Case("settings", f"study-{name}", ["study", "--dataset", "digits", "--epochs", "1", *flags],
                   timeout=30) for name, flags in study_bad.items()]
    cases += [
        Case("settings", "summary-padding-superscript", ["summary", "--padding", "²"]),
        Case("settings", "summary-too-small-for-valid", ["summary", "--arch", "alexnet_cifar", "--padding", "valid"]),
        Case("settings", "summary-dataset-empty", ["summary", "--dataset", ""]),
        Case("settings", "unknown-command", ["fly"]),
        Case("settings", "predict-no-images", ["predict", "m.keras"]),
    ]
    return cases


def folder_cases(inputs: Inputs) -> list[Case]:
    def home_is_file(folder: Path) -> None:
        (folder / "home").write_text("a file, not a folder")

    def runs_is_file(folder: Path) -> None:
        (folder / "home").mkdir()
        (folder / "home" / "runs").write_text("a file")

    def models_is_file(folder: Path) -> None:
        (folder / "home" / "runs").mkdir(parents=True)
        (folder / "home" / "runs" / "models").write_text("a file")

    def read_only_home(folder: Path) -> None:
        (folder / "home").mkdir()
        (folder / "home").chmod(0o500)

    def read_only_out(folder: Path) -> None:
        (folder / "ro").mkdir()
        (folder / "ro").chmod(0o500)

    train = ["train", "--dataset", "digits", "--epochs", "1", "--json"]
    return [
        Case("folders", "home-dev-null", train, env={"CNNSTUDIO_HOME": "/dev/null"}, expect="repaired"),
        Case("folders", "home-is-a-file", train, home_is_file, env={"CNNSTUDIO_HOME": "home"}, expect="repaired"),
        Case("folders", "runs-is-a-file", train, runs_is_file, env={"CNNSTUDIO_HOME": "home"}, expect="repaired"),
        Case("folders", "run-models-is-a-file", train, models_is_file, env={"CNNSTUDIO_HOME": "home"},
             expect="repaired"),
        Case("folders", "home-read-only", train, read_only_home, env={"CNNSTUDIO_HOME": "home"}, expect="repaired"),
        *([] if os.geteuid() == 0 else [  # permissions do not stop root
            Case("folders", "out-read-only-folder", ["train", "--dataset", "digits", "--out", "ro/m.keras"],
                 read_only_out, needle="ro/m.keras")]),
        Case("folders", "home-dev-null-out", [*train, "--out", "m.keras"], env={"CNNSTUDIO_HOME": "/dev/null"},
             expect="repaired", may_create=("m.keras",)),
    ]

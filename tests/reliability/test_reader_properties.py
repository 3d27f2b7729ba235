"""Property tests: whatever bytes or JSON a model file, a record or a run entry holds, reading it ends in a
clean refusal (CNN Studio's one-line errors) or a valid object, never another exception.

The dataset and image readers have their own property tests in tests/test_dataset_hardening.py.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnstudio.core.errors import CnnStudioError
from cnnstudio.core.files.model_record import ModelRecord
from cnnstudio.core.files.persistence import check_model_file

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner,
                                                                                 max_size=5), max_leaves=30)
MEMBERS = st.sampled_from(["config.json", "metadata.json", "cnnstudio.json", "model.weights.h5", "other"])


def _archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _check(path: Path) -> None:
    try:
        check_model_file(path)
    except CnnStudioError as exc:
        assert str(exc) and "\n" not in str(exc)


@SETTINGS
@given(data=st.binary(max_size=4096))
def test_arbitrary_bytes_as_a_keras_file_are_refused_cleanly(tmp_path, data: bytes) -> None:
    path = tmp_path / "m.keras"
    path.write_bytes(data)
    _check(path)


@SETTINGS
@given(members=st.dictionaries(MEMBERS, st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()),
                               max_size=5))
def test_arbitrary_zip_members_are_refused_cleanly(tmp_path, members: dict[str, bytes]) -> None:
    path = tmp_path / "m.keras"
    path.write_bytes(_archive(members))
    _check(path)


@SETTINGS
@given(data=st.binary(min_size=1, max_size=4096), cut=st.integers(min_value=0, max_value=4096))
def test_a_keras_archive_cut_or_overwritten_anywhere_is_refused_cleanly(tmp_path, data: bytes, cut: int) -> None:
    whole = _archive({"config.json": b'{"class_name": "Sequential", "config": {}}', "metadata.json": b"{}",
                      "model.weights.h5": b"\x89HDF"})
    at = cut % len(whole)
    path = tmp_path / "m.keras"
    path.write_bytes(whole[:at] + data[: len(whole) - at])
    _check(path)


@SETTINGS
@given(record=JSON)
def test_any_json_as_a_record_reads_or_is_refused_cleanly(record) -> None:
    try:
        ModelRecord.from_json(record)
    except CnnStudioError as exc:
        assert str(exc)


@SETTINGS
@given(changes=st.dictionaries(st.sampled_from(["experiment", "dataset", "history", "test", "epoch_ends", "segments",
                                                "seconds_per_epoch", "preprocessing", "version"]), JSON, min_size=1,
                               max_size=3))
def test_a_valid_record_with_fields_replaced_reads_or_is_refused_cleanly(changes) -> None:
    from cnnstudio.core.config import Experiment

    record = ModelRecord(Experiment(), [str(i) for i in range(10)], (28, 28, 1)).to_json()
    record.update(changes)
    try:
        ModelRecord.from_json(record)
    except CnnStudioError as exc:
        assert str(exc)


@SETTINGS
@given(entry=JSON)
def test_any_json_as_a_run_entry_is_listed_or_skipped_with_a_warning(tmp_path, entry) -> None:
    from cnnstudio.core.experiments.run_history import RunHistory

    folder = tmp_path / "runs"
    folder.mkdir(exist_ok=True)
    (folder / "x.json").write_text(json.dumps({"format": "cnnstudio-run", **entry} if isinstance(entry, dict)
                                              else entry), encoding="utf-8")
    runs, warnings = RunHistory(folder).entries()
    assert len(runs) + len(warnings) == 1


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=st.integers(min_value=1, max_value=200_000), bracket=st.sampled_from(["[", '{"a":']))
def test_json_nested_to_any_depth_is_read_or_refused_cleanly(tmp_path, depth: int, bracket: str) -> None:
    closing = "]" if bracket == "[" else "}"
    nested = (bracket * depth + "0" + closing * depth).encode()
    path = tmp_path / "m.keras"
    path.write_bytes(_archive({"config.json": b'{"class_name": "Sequential", "config": {}}', "metadata.json": b"{}",
                               "model.weights.h5": b"", "cnnstudio.json": nested}))
    _check(path)
    from cnnstudio.core.experiments.run_history import RunHistory

    (tmp_path / "runs").mkdir(exist_ok=True)
    (tmp_path / "runs" / "deep.json").write_bytes(nested)
    runs, warnings = RunHistory(tmp_path / "runs").entries()
    assert len(runs) + len(warnings) == 1

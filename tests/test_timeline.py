"""The training timeline: snapshots of the first convolution per epoch, stored in the record, shown by TimelineView."""

from __future__ import annotations

import base64
import copy
import json
import math

import numpy as np
import pytest
from training_helpers import Recorder, experiment

from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions
from cnnstudio.core.errors import ModelFileError
from cnnstudio.core.experiments.runner import run_experiment
from cnnstudio.core.files.model_record import ModelRecord
from cnnstudio.core.files.persistence import load_model, read_record, save_model
from cnnstudio.core.timeline import MAX_SNAPSHOTS, MAX_TIMELINE_BYTES, Snapshot, Timeline, quantized, thinned
from cnnstudio.core.training.progress import BatchProgress
from cnnstudio.core.training.stop_reason import StopReason
from cnnstudio.core.training.timeline import TimelineCallback
from cnnstudio.core.training.trainer import fit, new_model


def _snapshot(epoch: float, seed: int = 0, kernel: tuple = (5, 5, 1, 6), side: int = 28) -> Snapshot:
    rng = np.random.default_rng(seed)
    codes, ranges = quantized(rng.normal(size=(side, side, kernel[3])).astype(np.float32))
    return Snapshot(float(epoch), rng.normal(size=kernel).astype(np.float32), codes, ranges)


def _timeline(count: int = 3) -> Timeline:
    return Timeline("c1", 0, [_snapshot(e, seed=e) for e in range(count)])


def _first_kernel(model, timeline: Timeline) -> np.ndarray:
    return np.asarray(model.get_layer(timeline.layer).kernel)


# the data and its JSON form ----------------------------------------------------------------------


def test_json_round_trip_keeps_every_value() -> None:
    timeline = _timeline(4)
    data = json.loads(json.dumps(timeline.to_json()))
    again = Timeline.from_json(data)
    assert again == timeline and again is not timeline
    assert (again.layer, again.image_index, again.epochs) == ("c1", 0, [0.0, 1.0, 2.0, 3.0])
    assert again.snapshots[2].kernels.dtype == np.float32 and again.snapshots[2].maps.dtype == np.uint8
    assert Timeline.from_json(Timeline("c1", 3, []).to_json()) == Timeline("c1", 3, [])


def test_quantized_maps_come_back_within_one_step_of_each_channels_range() -> None:
    values = np.random.default_rng(1).normal(size=(9, 7, 4)).astype(np.float32) * [1, 10, 0.01, 0]
    codes, ranges = quantized(values)
    snapshot = Snapshot(1.0, np.zeros((3, 3, 1, 4), np.float32), codes, ranges)
    steps = np.array([high - low for low, high in ranges]) / 255
    assert np.all(np.abs(snapshot.map_values() - values) <= steps / 2 + 1e-6)
    assert codes[..., 3].max() == 0 and ranges[3] == (0.0, 0.0)  # a constant channel


def _hostile(change) -> dict:
    data = copy.deepcopy(_timeline(2).to_json())
    change(data)
    return data


HOSTILE = {
    "not a mapping": lambda d: d.clear() or d.update({"x": []}),
    "layer is a number": lambda d: d.update(layer=7),
    "layer has control characters": lambda d: d.update(layer="c1\x1b[2J"),
    "image index is negative": lambda d: d.update(image_index=-1),
    "image index is a bool": lambda d: d.update(image_index=True),
    "snapshots is a mapping": lambda d: d.update(snapshots={}),
    "a snapshot is a list": lambda d: d["snapshots"].__setitem__(0, []),
    "kernel shape missing": lambda d: d.pop("kernel_shape"),
    "kernel shape of floats": lambda d: d.update(kernel_shape=[5.0, 5, 1, 6]),
    "a huge kernel side": lambda d: d.update(kernel_shape=[65, 5, 1, 6]),
    "a huge map side": lambda d: d.update(map_shape=[100_000, 28, 6]),
    "too many channels": lambda d: d.update(map_shape=[28, 28, 17], kernel_shape=[5, 5, 1, 17]),
    "kernels and maps disagree": lambda d: d.update(map_shape=[28, 28, 5]),
    "shape that the bytes do not fit": lambda d: d.update(map_shape=[27, 28, 6]),
    "bad base64": lambda d: d["snapshots"][0].update(kernels="!" * len(d["snapshots"][0]["kernels"])),
    "base64 of too few bytes": lambda d: d["snapshots"][0].update(maps=base64.b64encode(b"\0" * 100).decode()),
    "kernels are bytes of NaN": lambda d: d["snapshots"][0].update(
        kernels=base64.b64encode(np.full((5, 5, 1, 6), np.nan, "<f4").tobytes()).decode()),
    "epoch is NaN": lambda d: d["snapshots"][0].update(epoch=float("nan")),
    "epoch is text": lambda d: d["snapshots"][0].update(epoch="1"),
    "epochs decrease": lambda d: d["snapshots"][1].update(epoch=0.0),
    "a map range is infinite": lambda d: d["snapshots"][0]["map_ranges"].__setitem__(0, [0.0, float("inf")]),
    "a map range is upside down": lambda d: d["snapshots"][0]["map_ranges"].__setitem__(0, [1.0, 0.0]),
    "too few map ranges": lambda d: d["snapshots"][0]["map_ranges"].pop(),
    "too many snapshots": lambda d: d.update(snapshots=d["snapshots"] * (MAX_SNAPSHOTS // 2 + 1)),
    "more bytes than the budget": lambda d: d.update(kernel_shape=[64, 64, 3, 16], map_shape=[512, 512, 16],
                                                     snapshots=d["snapshots"] * 2),
}
REASONS = {  # what each refusal must say (so that each is refused for its own reason)
    "not a mapping": "must be a dict", "layer is a number": "must be a str", "layer has control characters": "printable",
    "image index is negative": "image index", "image index is a bool": "image index",
    "snapshots is a mapping": "must be a list", "a snapshot is a list": "must be a dict",
    "kernel shape missing": "kernel shape", "kernel shape of floats": "kernel shape", "a huge kernel side": "1 to 64",
    "a huge map side": "1 to 512", "too many channels": "1 to 16", "kernels and maps disagree": "6 kernels but 5",
    "shape that the bytes do not fit": "maps must be", "bad base64": "not valid base64",
    "base64 of too few bytes": "maps must be", "kernels are bytes of NaN": "finite", "epoch is NaN": "epoch",
    "epoch is text": "epoch", "epochs decrease": "must increase", "a map range is infinite": "finite numbers",
    "a map range is upside down": "low then high", "too few map ranges": "6 map ranges",
    "too many snapshots": "more than 200", "more bytes than the budget": "bytes, more than",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_json_is_refused_with_a_one_line_reason(name) -> None:
    data = _hostile(HOSTILE[name]) if name != "not a mapping" else ["c1"]
    with pytest.raises((ValueError, TypeError), match=REASONS[name]) as caught:
        Timeline.from_json(data)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200


@pytest.mark.parametrize("name", ["bad base64", "epochs decrease", "a huge map side", "snapshots is a mapping"])
def test_a_record_with_a_hostile_timeline_is_a_model_file_error(name) -> None:
    record = ModelRecord(experiment(), [str(i) for i in range(10)], (28, 28, 1), timeline=_timeline(2))
    data = json.loads(json.dumps(record.to_json()))
    assert ModelRecord.from_json(data).timeline == record.timeline
    data["timeline"] = _hostile(HOSTILE[name])
    with pytest.raises(ModelFileError, match="damaged"):
        ModelRecord.from_json(data)


def test_records_without_a_timeline_write_no_key_and_read_as_none() -> None:
    record = ModelRecord(experiment(), ["a", "b"], (28, 28, 1))
    data = record.to_json()
    assert "timeline" not in data and ModelRecord.from_json(data).timeline is None


def test_thinning_keeps_first_and_last_and_spreads_evenly() -> None:
    timeline = Timeline("c1", 0, [])
    small = _snapshot(0)
    for epoch in range(1000):
        timeline.add(Snapshot(float(epoch), small.kernels, small.maps, small.map_ranges))
        assert len(timeline.snapshots) <= MAX_SNAPSHOTS
    epochs = timeline.epochs
    assert len(epochs) == MAX_SNAPSHOTS and epochs[0] == 0.0 and epochs[-1] == 999.0
    gaps = np.diff(epochs)
    assert gaps.max() <= 4 * gaps.min()  # spread over the whole run, not bunched at its end
    assert thinned([0.0, 1.0, 2.0, 3.0, 10.0], 3) == [0, 3, 4]  # the closest neighbours go first
    with pytest.raises(ValueError, match="does not follow"):
        timeline.add(Snapshot(999.0, small.kernels, small.maps, small.map_ranges))


def test_big_snapshots_keep_fewer_so_the_record_stays_bounded() -> None:
    timeline = Timeline("conv1", 0, [])
    for epoch in range(40):
        timeline.add(_snapshot(epoch, kernel=(64, 64, 3, 16), side=128))
    assert sum(s.nbytes for s in timeline.snapshots) <= MAX_TIMELINE_BYTES
    assert timeline.epochs[0] == 0.0 and timeline.epochs[-1] == 39.0 and len(timeline.snapshots) < 40


def test_200_snapshots_of_alexnets_first_layer_fit_a_model_file_with_room_to_spare() -> None:
    from cnnstudio.core.files.persistence import MAX_JSON_MEMBER

    timeline = Timeline("conv1", 0, [])
    for epoch in range(MAX_SNAPSHOTS):  # 16 of 64 filters of 11×11×3; 54×54 maps averaged down to 27×27
        timeline.add(_snapshot(epoch, seed=epoch % 3, kernel=(11, 11, 3, 16), side=27))
    record = ModelRecord(experiment(), [str(i) for i in range(10)], (28, 28, 1), timeline=timeline)
    size = len(json.dumps(record.to_json()).encode())
    assert len(timeline.snapshots) == MAX_SNAPSHOTS and size < MAX_JSON_MEMBER - 6 * 2**20
    assert ModelRecord.from_json(json.loads(json.dumps(record.to_json()))).timeline == timeline


# recording during training --------------------------------------------------------------------------


def test_a_run_records_epochs_plus_one_snapshots_ending_at_its_weights(small, tmp_path) -> None:
    outcome = run_experiment(experiment(epochs=3), small, checkpoint=tmp_path / "m.keras")
    timeline = outcome.record.timeline
    assert (timeline.layer, timeline.image_index, timeline.epochs) == ("c1", 0, [0.0, 1.0, 2.0, 3.0])
    assert np.array_equal(timeline.snapshots[-1].kernels, _first_kernel(outcome.model, timeline))
    assert not np.array_equal(timeline.snapshots[0].kernels, timeline.snapshots[-1].kernels)  # the filters moved
    first_maps = np.asarray(outcome.model.get_layer("c1").output.shape[1:])
    assert timeline.snapshots[-1].maps.shape == tuple(first_maps)  # 28×28×6 for LeNet-5 on 28×28 digits

    model, record = load_model(tmp_path / "m.keras")
    assert record.timeline == timeline
    assert np.array_equal(record.timeline.snapshots[-1].kernels, _first_kernel(model, timeline))
    again = save_model(model, tmp_path / "again.keras", record)
    assert read_record(again).timeline == timeline


def test_each_checkpoint_already_holds_its_epochs_snapshot(small) -> None:
    model = new_model(experiment(epochs=2), small)
    timeline = Timeline("c1", 0, [])  # extended in place, so a checkpoint written in after_epoch includes the epoch
    seen = []

    def after_epoch(state) -> None:
        seen.append((state.epoch_ends[-1], timeline.epochs[-1],
                     np.array_equal(timeline.snapshots[-1].kernels, _first_kernel(model, timeline))))

    result = fit(model, small, experiment(epochs=2).train, after_epoch=after_epoch, timeline=timeline)
    assert seen == [(1.0, 1.0, True), (2.0, 2.0, True)] and result.timeline is timeline


def test_continuing_appends_after_the_earlier_epochs(small, tmp_path) -> None:
    first = run_experiment(experiment(epochs=2), small)
    path = save_model(first.model, tmp_path / "m.keras", first.record)
    model, record = load_model(path)
    continued = run_experiment(experiment(epochs=2), small, model=model, record=record)
    timeline = continued.record.timeline
    assert timeline.epochs == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert timeline.snapshots[:3] == first.record.timeline.snapshots and record.timeline.epochs == [0.0, 1.0, 2.0]
    assert np.array_equal(timeline.snapshots[-1].kernels, _first_kernel(continued.model, timeline))


def test_a_diverged_epoch_adds_no_snapshot(small, tmp_path) -> None:
    exp = experiment(epochs=3, validation_split=0.0)
    model = new_model(exp, small)

    def break_first_kernel_in_second_epoch(progress: BatchProgress) -> None:
        if progress.epoch == 1 and progress.step == progress.steps:
            kernel = model.get_layer("c1").kernel
            kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))

    path = tmp_path / "ckpt.keras"
    outcome = run_experiment(exp, small, listener=Recorder(break_first_kernel_in_second_epoch), checkpoint=path,
                             model=model)
    assert outcome.result.end.reason is StopReason.NON_FINITE
    for timeline in (outcome.record.timeline, read_record(path).timeline):
        assert timeline.epochs == [0.0, 1.0]
        assert all(np.isfinite(s.kernels).all() for s in timeline.snapshots)
        assert np.array_equal(timeline.snapshots[-1].kernels, _first_kernel(outcome.model, timeline))


def test_a_model_without_convolutions_records_nothing(small) -> None:
    import keras

    inputs = keras.Input(small.input_shape)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs)))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    result = fit(model, small, TrainOptions(epochs=1, batch_size=64))
    assert result.timeline is None


def test_the_callback_alone_counts_whole_epochs_from_its_first_epoch(small) -> None:
    exp = Experiment(ModelOptions(), TrainOptions(epochs=2, batch_size=64), "small")
    model = new_model(exp, small)
    callback = TimelineCallback(small.x_test[5], 5, None, first_epoch=3.0)
    model.fit(small.x_train, small.y_train, epochs=2, batch_size=64, verbose=0, callbacks=[callback])
    assert callback.timeline.epochs == [3.0, 4.0, 5.0] and callback.timeline.image_index == 5
    maps = np.asarray(keras_maps(model, small.x_test[5]))
    codes, ranges = quantized(maps[..., :16])
    assert np.abs(callback.timeline.snapshots[-1].maps.astype(int) - codes).max() <= 1
    assert np.allclose(ranges, callback.timeline.snapshots[-1].map_ranges, atol=1e-5)


def keras_maps(model, image: np.ndarray) -> np.ndarray:
    import keras

    layer = model.get_layer("c1")
    return keras.Model(model.input, layer.output)(image[np.newaxis].astype("float32"))[0]


# the view -----------------------------------------------------------------------------------------------


@pytest.fixture
def view(qtbot):
    pytest.importorskip("pytestqt")
    from cnnstudio.ui.timeline_view import TimelineView

    widget = TimelineView()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_the_slider_changes_the_epoch_shown(view) -> None:
    timeline = _timeline(4)
    view.set_timeline(timeline)
    assert view.epoch_label.text() == "epoch 3 of 3" and view.content.isVisible()
    last = view.kernels.pixmap().toImage()
    view.slider.setValue(1)
    assert view.epoch_label.text() == "epoch 1 of 3" and view.snapshot is timeline.snapshots[1]
    assert view.kernels.pixmap().toImage() != last and not view.maps.pixmap().isNull()


def test_play_runs_to_the_end_and_stops(view) -> None:
    view.set_timeline(_timeline(3))
    view.play_button.click()  # at the end: plays again from the start
    assert view.slider.value() == 0 and view.timer.isActive() and view.play_button.text() == "Pause"
    for _ in range(3):
        view.timer.timeout.emit()
    assert view.slider.value() == 2 and not view.timer.isActive() and view.play_button.text() == "Play"


def test_the_empty_state_says_how_to_get_a_timeline(view) -> None:
    view.set_timeline(_timeline(2))
    for empty in (None, Timeline("c1", 0, [])):
        view.set_timeline(empty, note="Model from an older version.")
        assert "Train a model to record how its first filters form" in view.note.text()
        assert view.note.text().startswith("Model from an older version.")
        assert not view.content.isVisible() and view.snapshot is None


def test_kernels_share_one_symmetric_scale_across_epochs() -> None:
    from cnnstudio.ui.timeline_view import symmetric_tile

    kernels = np.stack([np.full((3, 3), 0.5), np.full((3, 3), -1.0), np.zeros((3, 3))], axis=2)
    tiled = symmetric_tile(kernels, bound=2.0, columns=2)
    assert tiled.shape == (3 + 1 + 3, 3 + 1 + 3)  # the same grid as tile(): 2 columns, 2 rows, 1-pixel gaps
    assert np.allclose(tiled[:3, :3], 0.625) and np.allclose(tiled[:3, 4:], 0.25) and np.allclose(tiled[4:, :3], 0.5)
    assert math.isnan(tiled[3, 0]) and np.isnan(tiled[4:, 4:]).all()


def test_maps_far_taller_than_wide_shrink_without_losing_a_side() -> None:
    """1000×28 images (a dataset of tall strips) gave rows of 0 columns, and the first epoch's snapshot crashed."""
    import numpy as np

    from cnnstudio.core.timeline import RECORDED_MAP_SIDE, shrunk

    tall = np.arange(1000 * 28 * 3, dtype=np.float32).reshape(1000, 28, 3)
    small = shrunk(tall)
    assert small.shape == (1000 // 32, 28, 3) and max(small.shape[:2]) <= RECORDED_MAP_SIDE
    np.testing.assert_allclose(small[0, 0], tall[:32, 0].mean(axis=0))
    assert shrunk(tall.transpose(1, 0, 2)).shape == (28, 1000 // 32, 3)
    square = np.ones((64, 64, 2), dtype=np.float32)
    assert shrunk(square).shape == (32, 32, 2)  # f×f blocks, as before

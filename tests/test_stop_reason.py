"""Why a run ended is a value; stored ends (new and older records) read back to the same value."""

from __future__ import annotations

import pytest

from cnnstudio.core.experiments.run_history import RunEntry
from cnnstudio.core.training.stop_reason import RunEnd, StopReason


def test_every_reason_has_a_message_and_only_finished_is_not_early() -> None:
    for reason in StopReason:
        assert RunEnd(reason).message
        assert reason.early is (reason is not StopReason.FINISHED)


@pytest.mark.parametrize("end", [RunEnd(), RunEnd(StopReason.REQUESTED), RunEnd(StopReason.NON_FINITE, "loss nan")])
def test_round_trip(end: RunEnd) -> None:
    assert RunEnd.from_json(end.to_json()) == RunEnd(end.reason, end.message)


@pytest.mark.parametrize(("stored", "reason"), [
    (None, StopReason.FINISHED), ("stopped on request", StopReason.REQUESTED),
    ("early stopping: validation loss stopped improving", StopReason.EARLY_STOPPING),
    ("the loss became nan at epoch 1, batch 3: try a lower learning rate", StopReason.NON_FINITE),
    ({"reason": "no such reason"}, StopReason.FINISHED), (42, StopReason.FINISHED),
])
def test_older_and_damaged_stored_ends_read_as_a_reason(stored, reason) -> None:
    assert RunEnd.from_json(stored).reason is reason


def test_run_entries_written_by_older_versions_keep_their_reason() -> None:
    entry = RunEntry.from_json({
        "format": "cnnstudio-run", "experiment": {}, "history": {"loss": [1.0]}, "seconds_per_epoch": [1.0],
        "test_accuracy": 0.5, "test_loss": 1.0, "params": 10, "macs": 10, "stop_reason": "stopped on request"})
    assert entry.end.reason is StopReason.REQUESTED
    again = RunEntry.from_json(entry.to_json())
    assert again.end == entry.end

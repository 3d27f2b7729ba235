"""Why a training run ended, as a value to branch on; its message is only for people."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class StopReason(str, Enum):
    FINISHED = "finished"  # every planned epoch ran
    REQUESTED = "requested"  # the user asked (Stop, Ctrl+C, a study being stopped)
    EARLY_STOPPING = "early_stopping"  # the monitored loss stopped improving
    NON_FINITE = "non_finite"  # the loss or the weights became NaN or infinite

    @property
    def early(self) -> bool:
        """True when the run ended before its planned epochs."""
        return self is not StopReason.FINISHED


@dataclass(frozen=True)
class RunEnd:
    """How a run ended: the reason to branch on and a sentence to show."""

    reason: StopReason = StopReason.FINISHED
    detail: str = ""

    @property
    def message(self) -> str:
        return self.detail or DEFAULT_MESSAGES[self.reason]

    def to_json(self) -> dict[str, str]:
        return {"reason": self.reason.value, "message": self.message}

    @classmethod
    def from_json(cls, data: object) -> RunEnd:
        """Read a stored end; older records kept only a message (or None for a finished run)."""
        if isinstance(data, dict):
            try:
                return cls(StopReason(data.get("reason")), str(data.get("message", ""))[:500])
            except ValueError:
                return cls()
        if isinstance(data, str) and data:
            return cls(_legacy_reason(data), data[:500])
        return cls()


DEFAULT_MESSAGES = {
    StopReason.FINISHED: "finished",
    StopReason.REQUESTED: "stopped on request",
    StopReason.EARLY_STOPPING: "early stopping: the monitored loss stopped improving",
    StopReason.NON_FINITE: "training diverged: the loss or the weights became NaN or infinite",
}


def _legacy_reason(text: str) -> StopReason:
    """The reason behind a message written by an older version (read once, when a record is loaded)."""
    for reason, marker in ((StopReason.REQUESTED, "on request"), (StopReason.EARLY_STOPPING, "early stopping"),
                           (StopReason.NON_FINITE, "loss became"), (StopReason.NON_FINITE, "diverged")):
        if marker in text:
            return reason
    return StopReason.FINISHED

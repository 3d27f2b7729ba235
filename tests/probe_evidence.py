"""Failures kept as evidence by the subprocess probes (mirrored_probe.py, multiworker_probe.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def evidence(exc: BaseException) -> str:
    """The exception's class and the part of its message that says what failed: TensorFlow's root
    cause (after "root error") when there is one, else the start and the end of a long message."""
    text = " ".join(str(exc).split())
    root = text.find("root error")
    cut = text.find("INVALID_ARGUMENT", root) if root >= 0 else -1
    if cut >= 0:
        return f"{type(exc).__name__}: {text[:40]} … {text[cut:cut + 300]}"
    if len(text) > 400:
        return f"{type(exc).__name__}: {text[:160]} … {text[-240:]}"
    return f"{type(exc).__name__}: {text}"


def attempt(action: Callable[[], Any]) -> Any:
    """``action()``'s result, or ``{"error": evidence}`` when it raises (the test decides what that means)."""
    try:
        return action()
    except Exception as exc:  # noqa: BLE001 - recorded as evidence; the test decides
        return {"error": evidence(exc)}

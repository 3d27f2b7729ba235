"""Reading untrusted JSON text: every failure is a ``ValueError``, deep nesting included."""

from __future__ import annotations

import json
from typing import Any


class JSONNestingError(ValueError):
    """JSON nested deeper than Python's recursion limit lets the decoder go."""


def parse_json(text: str | bytes) -> Any:
    """``json.loads``, except that nesting too deep for the decoder (a ``RecursionError``) is a ``ValueError`` too."""
    try:
        return json.loads(text)
    except RecursionError:
        raise JSONNestingError("nested too deeply") from None

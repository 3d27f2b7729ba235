"""JSON for other programs: always strict JSON, NaN and infinities written as ``null``.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which no strict JSON reader
accepts; a diverged run's loss or a broken model's prediction must still print valid JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float (Python or NumPy) replaced by None, recursively.

    NumPy scalars and arrays become Python numbers and lists; tuples and sets become lists;
    mapping keys become strings as ``json`` would write them. Anything else is left to ``json``.
    """
    if isinstance(value, bool | None | str | int) and not isinstance(value, np.generic):
        return value
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, Mapping):
        return {_key(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    return value


def _key(key: Any) -> Any:
    """A mapping key as ``json`` accepts it (NumPy scalars as Python ones)."""
    return key.item() if isinstance(key, np.generic) else key


def dumps(value: Any, **options: Any) -> str:
    """Strict JSON for ``value`` (see :func:`json_safe`); ``options`` go to :func:`json.dumps`."""
    return json.dumps(json_safe(value), allow_nan=False, **options)

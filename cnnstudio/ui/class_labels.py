"""Class names as the views show them: bounded in number and length, control characters escaped.

Class names come from files (model records, datasets), so the views never trust their count or
their text: at most :data:`MAX_CLASS_ROWS` classes get a row of widgets each (more: the
:data:`TOP_CLASSES` most probable), lists stop at :data:`MAX_LISTED`, and each name is elided to
:data:`MAX_NAME_CHARS` characters with control characters written as escapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cnnstudio.core.errors import printable

MAX_NAME_CHARS = 32  # a longer class name is elided with '…'
MAX_CLASS_ROWS = 20  # up to this many classes, each gets its own row (sketch pad bars, matrix labels)
TOP_CLASSES = 10  # with more classes, the sketch pad shows the most probable this many
MAX_LISTED = 1000  # lists and tables (per-class accuracy, class filter) stop here


def display_name(name: Any, limit: int = MAX_NAME_CHARS) -> str:
    """``name`` as one short printable line: control characters escaped, elided to ``limit`` characters."""
    return printable(str(name)[: limit + 1], limit)  # escapes only lengthen it: the rest is never looked at


def plot_text(name: Any, limit: int = MAX_NAME_CHARS) -> str:
    """:func:`display_name` safe for matplotlib: a '$' is a dollar sign, never the start of mathtext."""
    return display_name(name, limit).replace("$", r"\$")


class ClassNames:
    """The names of a model's ``count`` output classes: the given ones when they fit, else '0', '1', …

    Names are made on demand, so a model with a huge output layer costs no list of that size.
    """

    def __init__(self, count: int, names: Sequence[Any] | None = None):
        self.count = max(0, int(count))
        self._names = names if names is not None and len(names) == self.count else None

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> str:
        index = int(index)
        if self._names is not None and 0 <= index < self.count:
            return display_name(self._names[index])
        return str(index)

    def first(self, limit: int = MAX_LISTED) -> list[str]:
        """The first ``limit`` names (all, when there are fewer)."""
        return [self[i] for i in range(min(self.count, limit))]


def output_count(model: Any) -> int:
    """The number of classes a single-output classifier predicts; 0 when the model is not one."""
    try:
        return int(model.output_shape[-1])
    except (TypeError, ValueError, IndexError, AttributeError):
        return 0

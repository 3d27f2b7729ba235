"""Errors whose message is one line meant for the user."""

from __future__ import annotations

import re

# Keras sets the message of an error raised inside a layer in bold (ANSI "select graphic rendition")
_TEXT_STYLE = re.compile(r"\x1b\[[0-9;]*m")


class CnnStudioError(Exception):
    """Base class: the message is a complete, one-line reason shown to the user."""


class ConfigError(CnnStudioError):
    """An option value or a combination of options that cannot make a network."""


class LayerError(ConfigError):
    """One layer of the network cannot work: ``layer`` is its name, ``description`` its settings in
    words and ``reason`` why, without the layer; the message is "layer 'c1' (6@5×5, …): <reason>".

    Callers that name the layer their own way (its row in a design) use the fields, not the text.
    """

    def __init__(self, layer: str, description: str, reason: str) -> None:
        super().__init__(f"layer '{layer}' ({description}): {reason}")
        self.layer = layer
        self.description = description
        self.reason = reason

    def __reduce__(self) -> tuple[type[LayerError], tuple[str, str, str]]:
        """Pickled by its fields (a training process may hand it to another)."""
        return self.__class__, (self.layer, self.description, self.reason)


class DatasetError(CnnStudioError):
    """A dataset that cannot be found, downloaded or read."""


class ModelFileError(CnnStudioError):
    """A model file that cannot be saved, or is refused or unreadable on load.

    ``reason`` is the part without the file's name (``info`` words it as "x.keras would be refused:
    <reason>"); it is the whole message when none is given.
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = message if reason is None else reason


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line for the user, whatever its message looks like.

    CNN Studio's own errors are already written for the user: their message, whitespace collapsed.
    Anything else gets its class name in front (``ValueError: …``) and its message is cut to
    ``limit`` characters (ending in ``…`` when cut); without a message, the class name alone. Text
    styles (Keras' bold) are dropped: escaped, they would show as ``\\x1b[1m`` in the line.
    """
    text = " ".join(_TEXT_STYLE.sub("", str(exc)).split())
    if isinstance(exc, CnnStudioError):
        return text or exc.__class__.__name__
    if len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


# Characters that change how a terminal or a label shows the text around them: C0/C1 controls and
# DEL (category Cc, ANSI escapes among them) and the invisible bidirectional-text controls.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_control(char: str) -> bool:
    """Whether ``char`` is a control character: a file's names holding one are refused or escaped."""
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F or char in _BIDI_CONTROLS


def has_controls(text: str) -> bool:
    """Whether ``text`` holds any control character (an ANSI escape, a newline, a bidi override…)."""
    return any(is_control(char) for char in text)


def escape_controls(text: str) -> str:
    """``text`` with its control and other unprintable characters escaped (``\\x1b``), the rest kept."""
    return "".join((f"\\x{ord(c):02x}" if ord(c) <= 0xFF else f"\\u{ord(c):04x}")
                   if is_control(c) or not c.isprintable() else c for c in text)


def printable(text: object, limit: int = 200) -> str:
    """``text`` safe to show on a terminal or in a label: control characters escaped, cut to ``limit``.

    Names from files (a dataset name in a model's record, a file name) are untrusted: an ANSI escape
    in one must show as ``\\x1b[…``, not act on the user's terminal.
    """
    shown = escape_controls(str(text))
    return shown if len(shown) <= limit else shown[: max(0, limit - 1)] + "…"


def shown_epochs(epochs: float) -> int | float:
    """Epochs trained as people read them: whole ones as an int (3), a stopped run's share to 2 places (2.17)."""
    return int(epochs) if float(epochs).is_integer() else round(float(epochs), 2)


def plural(count: int, word: str) -> str:
    """``"1 epoch"``, ``"3 epochs"``, ``"2 classes"``: a count and its noun, for messages."""
    return f"{count} {word}" if count == 1 else f"{count} {word}{'es' if word.endswith('s') else 's'}"

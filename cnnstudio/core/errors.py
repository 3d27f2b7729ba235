"""Errors whose message is one line meant for the user."""

from __future__ import annotations


class CnnStudioError(Exception):
    """Base class: the message is a complete, one-line reason shown to the user."""


class ConfigError(CnnStudioError):
    """An option value or a combination of options that cannot make a network."""


class DatasetError(CnnStudioError):
    """A dataset that cannot be found, downloaded or read."""


class ModelFileError(CnnStudioError):
    """A model file that cannot be saved, or is refused or unreadable on load."""


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line for the user, whatever its message looks like.

    CNN Studio's own errors are already written for the user: their message, whitespace collapsed.
    Anything else gets its class name in front (``ValueError: …``) and its message is cut to
    ``limit`` characters (ending in ``…`` when cut); without a message, the class name alone.
    """
    text = " ".join(str(exc).split())
    if isinstance(exc, CnnStudioError):
        return text or exc.__class__.__name__
    if len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def printable(text: object, limit: int = 200) -> str:
    """``text`` safe to show on a terminal or in a label: control characters escaped, cut to ``limit``.

    Names from files (a dataset name in a model's record, a file name) are untrusted: an ANSI escape
    in one must show as ``\\x1b[…``, not act on the user's terminal.
    """
    shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in str(text))
    return shown if len(shown) <= limit else shown[: max(0, limit - 1)] + "…"

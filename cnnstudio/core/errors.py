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

"""Reading and rewriting the members of a ``.keras`` archive, as a hand-edited or crafted file would be."""

from __future__ import annotations

import zipfile
from pathlib import Path


def zip_members(path: Path) -> dict[str, bytes]:
    """Every member of the archive at ``path``, by name."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """An archive at ``path`` holding exactly ``members``."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path

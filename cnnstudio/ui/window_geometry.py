"""The window's last size and place, restored inside the screen's available area (screens change)."""

from __future__ import annotations

from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QWidget

DEFAULT_SIZE = (1220, 780)


def restore_geometry(window: QWidget, geometry: QByteArray | None) -> None:
    """``geometry`` as saved by ``saveGeometry()`` (else the default size), then moved and shrunk onto the screen."""
    if geometry is None or not window.restoreGeometry(geometry):
        window.resize(*DEFAULT_SIZE)
    screen = window.screen().availableGeometry()
    width, height = min(window.width(), screen.width()), min(window.height(), screen.height())
    if (width, height) != (window.width(), window.height()):
        window.resize(width, height)
    x = min(max(window.x(), screen.left()), screen.right() - width + 1)
    y = min(max(window.y(), screen.top()), screen.bottom() - height + 1)
    window.move(x, y)

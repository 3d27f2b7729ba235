"""NumPy arrays to Qt pixmaps: gray digits and colour-mapped activations, scaled up without blur."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap

GAP_COLOUR = (235, 235, 235, 255)
GAP_COLOURS = {"RdBu_r": (190, 190, 190, 255)}  # a diverging map is near white in its middle: a darker gap


def _to_pixmap(rgba: np.ndarray, scale: int) -> QPixmap:
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    height, width = rgba.shape[:2]
    image = QImage(rgba.data, width, height, width * 4, QImage.Format_RGBA8888).copy()
    return QPixmap.fromImage(image.scaled(width * scale, height * scale, Qt.IgnoreAspectRatio, Qt.FastTransformation))


def heat_pixmap(values: np.ndarray, scale: int = 3, colormap: str = "viridis",
                unused: np.ndarray | None = None) -> QPixmap:
    """A 2-D array of 0..1 values (NaN = gap) through a colour map; ``unused`` pixels are transparent."""
    rgba = colormaps[colormap](np.nan_to_num(values, nan=0.0), bytes=True)
    rgba[np.isnan(values)] = GAP_COLOURS.get(colormap, GAP_COLOUR)
    if unused is not None:
        rgba[unused] = 0
    return _to_pixmap(rgba, scale)


def gray_pixmap(pixels: np.ndarray, scale: int = 4) -> QPixmap:
    """An H×W or H×W×C image of 0..255 values (the first three channels for colour)."""
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim == 3 and pixels.shape[2] >= 3:
        rgb = pixels[..., :3]
    else:
        rgb = np.repeat(pixels.reshape(pixels.shape[0], pixels.shape[1], 1), 3, axis=2)
    alpha = np.full(rgb.shape[:2] + (1,), 255, dtype=np.float32)
    return _to_pixmap(np.clip(np.concatenate([rgb, alpha], axis=2), 0, 255), scale)

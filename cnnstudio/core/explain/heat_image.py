"""A heat map drawn over its image as a PNG with a colour bar (matplotlib's Agg canvas, no GUI)."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from cnnstudio.core.errors import CnnStudioError, printable


def draw_heat(figure: Any, axes: Any, image: np.ndarray, heat: np.ndarray, title: str = "",
              limits: tuple[float, float] | None = None) -> None:
    """``image`` (H×W×C, 0..255) in grey or colour on ``axes``, ``heat`` (H×W) over it, and a colour bar.

    ``limits``: the colour scale's ends, shared by maps drawn side by side (else this map's own range).
    """
    pixels = np.clip(np.asarray(image, dtype=np.float64) / 255.0, 0.0, 1.0)
    if pixels.shape[-1] == 1:
        axes.imshow(pixels[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        axes.imshow(pixels[..., :3], interpolation="nearest")
    low, high = (float(np.min(heat)), float(np.max(heat))) if limits is None else limits
    if float(np.min(heat)) >= float(np.max(heat)) and title:
        title = f"{title}\n(flat: {float(np.min(heat)):.3g} everywhere)"
    if high <= low:  # a flat map: a bar from 0 to its value (0..1 for a map of zeros, Grad-CAM with nothing
        # positive, drawn in the bottom colour), never past what the map holds
        low, high = min(low, 0.0), max(low, 0.0)
        high = high if high > low else low + 1.0
    shown = axes.imshow(heat, cmap="jet", alpha=0.5, interpolation="nearest", vmin=low, vmax=high)
    figure.colorbar(shown, ax=axes, fraction=0.046, pad=0.04)
    axes.set_axis_off()
    if title:
        axes.set_title(title.replace("$", r"\$"), fontsize=9)  # a '$' is a dollar sign, never mathtext


def heat_png_bytes(image: np.ndarray, heat: np.ndarray, title: str = "") -> bytes:
    """PNG bytes of :func:`draw_heat` on a figure of its own (matplotlib's Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    draw_heat(figure, figure.add_subplot(), image, heat, title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def save_heat_png(path: str | Path, image: np.ndarray, heat: np.ndarray, title: str = "") -> Path:
    """Write :func:`heat_png_bytes` to ``path`` atomically (a temporary file beside it, then renamed)."""
    path = Path(path)
    data = heat_png_bytes(image, heat, title)
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)  # a new file's usual permissions, not mkstemp's 0600
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CnnStudioError(f"cannot write {printable(str(path))}: {exc.strerror or exc.__class__.__name__}") from exc
    return path

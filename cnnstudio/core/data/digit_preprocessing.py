"""MNIST-style preprocessing of a drawn or photographed digit.

MNIST digits were cropped to their ink, scaled to fit a 20×20 box (keeping the aspect ratio)
and placed in a 28×28 image so that their centre of mass sits at the centre. Doing the same to a
sketch or an image file is what makes a digit drawn small, large or in a corner still work.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cnnstudio.core.data.checks import MAX_IMAGE_PIXELS
from cnnstudio.core.errors import DatasetError
from cnnstudio.core.regular_file import FOLDER, NotRegularFileError, open_regular_file

BOX = 20
SIZE = 28
NOT_AN_IMAGE = "not an image file (PNG, JPEG, BMP, GIF, TIFF...)"


def to_light_ink(gray: np.ndarray) -> np.ndarray:
    """Return float ink intensity 0..255 on a 0 background, whichever way round the input was."""
    gray = np.asarray(gray, dtype=np.float32)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    ink = background - gray if background > 127 else gray - background
    return np.clip(ink, 0, None)


def mnist_style(gray: np.ndarray) -> np.ndarray:
    """A 28×28 uint8 image (white ink on black) from any-size grayscale pixels (either polarity).

    Raises ``DatasetError`` when there is no ink at all.
    """
    ink = to_light_ink(gray)
    peak = float(ink.max()) if ink.size else 0.0
    if peak < 8.0:
        raise DatasetError("the image is blank: no strokes stand out from the background (one flat shade)")
    ink = ink * (255.0 / peak)
    rows = np.flatnonzero((ink > 0.2 * 255).any(axis=1))
    cols = np.flatnonzero((ink > 0.2 * 255).any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = crop.shape
    scale = BOX / max(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    box = np.asarray(Image.fromarray(crop.astype(np.float32), mode="F").resize((new_w, new_h), Image.LANCZOS))
    box = np.clip(box, 0, 255)
    total = box.sum()
    ys, xs = np.indices(box.shape)
    com_y, com_x = (ys * box).sum() / total, (xs * box).sum() / total
    top = int(round(SIZE / 2 - 0.5 - com_y))
    left = int(round(SIZE / 2 - 0.5 - com_x))
    top = min(max(top, 0), SIZE - new_h)
    left = min(max(left, 0), SIZE - new_w)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top : top + new_h, left : left + new_w] = box
    return np.round(out).astype(np.uint8)


def eight_bit(image: Image.Image) -> Image.Image:
    """The image with 8-bit channels: 16- and 32-bit gray ("I;16", "I") and float ("F") scaled to 0..255.

    Pillow's own conversion clips such pixels at 255, which turns a 16-bit digit into a blank page.
    Pixels already within 0..255 are kept (a 32-bit TIFF of 8-bit values); other whole numbers up to
    65,535 are divided by 257 (the full 16-bit range); larger values and floats above 255 are scaled
    by their maximum; floats within 0..1 are multiplied by 255.
    """
    if image.mode not in ("I", "F") and not image.mode.startswith("I;16"):
        return image
    pixels = np.asarray(image, dtype=np.float64)
    finite = pixels[np.isfinite(pixels)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if image.mode == "F" and low >= 0 and high <= 1:
        factor = 255.0
    elif high <= 255 and low >= 0:
        factor = 1.0
    elif high <= 65535:
        factor = 1 / 257
    else:
        factor = 255.0 / high
    pixels = np.nan_to_num(pixels, nan=0.0, posinf=high, neginf=low)
    return Image.fromarray(np.clip(np.round(pixels * factor), 0, 255).astype(np.uint8), mode="L")


def open_image(path: str | Path) -> Image.Image:
    """A fully loaded image with 8-bit channels; a missing, foreign, damaged or too large file raises
    ``DatasetError`` saying which (images above ``MAX_IMAGE_PIXELS`` are refused before decoding)."""
    try:  # a pipe or a device (/dev/zero) would block or never end: only regular files are read
        file = open_regular_file(path)
    except NotRegularFileError as exc:
        raise DatasetError(f"{path}: a folder, not an image file" if exc.kind == FOLDER
                           else f"{path}: {exc}, so not an image file") from exc
    except FileNotFoundError as exc:
        raise DatasetError(f"{path}: no such file") from exc
    except PermissionError as exc:
        raise DatasetError(f"{path}: permission denied") from exc
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc.__class__.__name__})") from exc
    try:
        with warnings.catch_warnings(), file:
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise DatasetError(f"{path}: the image is too large ({image.width:,}×{image.height:,} pixels; "
                                       f"at most {MAX_IMAGE_PIXELS // 1_000_000} megapixels)")
                image.load()
                return eight_bit(image)
    except DatasetError:
        raise
    except UnidentifiedImageError as exc:
        raise DatasetError(f"{path}: {NOT_AN_IMAGE}") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DatasetError(f"{path}: the image is too large (at most {MAX_IMAGE_PIXELS // 1_000_000} megapixels)") \
            from exc
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for truncated or broken files
        raise DatasetError(f"{path}: a damaged or unreadable image ({exc.__class__.__name__}: "
                           f"{' '.join(str(exc).split())[:120]})") from exc


def read_gray(path: str | Path) -> np.ndarray:
    """Grayscale pixels of an image file, transparent areas counted as white paper."""
    image = open_image(path)
    if image.mode in ("RGBA", "LA", "PA", "P") and (image.mode != "P" or "transparency" in image.info):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return np.asarray(image.convert("L"), dtype=np.float32)


def image_for_model(path: str | Path, input_shape: tuple[int, int, int], digit_style: bool) -> np.ndarray:
    """Pixels (0..255, H×W×C float32) ready for a model: MNIST-style for digit models, else resized."""
    height, width, channels = input_shape
    if digit_style:
        pixels = read_gray(path)  # its errors name the file already
        try:
            gray = mnist_style(pixels).astype(np.float32)
        except DatasetError as exc:  # say which of several images
            raise DatasetError(f"{path}: {exc}") from exc
        if gray.shape != (height, width):
            gray = np.asarray(Image.fromarray(gray, mode="F").resize((width, height), Image.BILINEAR))
        return np.repeat(gray[..., None], channels, axis=-1)
    image = open_image(path).convert("L" if channels == 1 else "RGB").resize((width, height), Image.BILINEAR)
    return np.asarray(image, dtype=np.float32).reshape(input_shape)

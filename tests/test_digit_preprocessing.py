"""MNIST-style preprocessing of drawn digits and image files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnnstudio.core.data.digit_preprocessing import image_for_model, mnist_style
from cnnstudio.core.errors import DatasetError


def drawn_one(size: int, box: tuple[int, int, int, int], dark_on_light: bool, width: int) -> np.ndarray:
    paper, ink = (255, 0) if dark_on_light else (0, 255)
    image = Image.new("L", (size, size), paper)
    x0, y0, x1, y1 = box
    ImageDraw.Draw(image).line([(x0, y0), (x1, y1)], fill=ink, width=width)
    return np.asarray(image, dtype=np.float32)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(image.shape)
    total = image.sum()
    return float((ys * image).sum() / total), float((xs * image).sum() / total)


@pytest.mark.parametrize("size,box,dark,width", [
    (280, (20, 20, 60, 120), True, 12),     # small, top-left corner, dark ink on white
    (280, (140, 10, 150, 270), False, 30),  # tall and thick, light ink on black
    (64, (50, 40, 60, 60), True, 2),        # tiny and thin in a small image
])
def test_digit_is_boxed_and_centred_by_mass(size, box, dark, width) -> None:
    out = mnist_style(drawn_one(size, box, dark, width))
    assert out.shape == (28, 28) and out.dtype == np.uint8
    rows = np.flatnonzero(out.max(axis=1) > 40)
    cols = np.flatnonzero(out.max(axis=0) > 40)
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (19, 20, 21)  # longest side fills the 20-px box
    cy, cx = centre_of_mass(out.astype(float))
    assert abs(cy - 13.5) <= 1.0 and abs(cx - 13.5) <= 1.0
    assert out[0].max() == 0 and out[:, 0].max() == 0  # background is black


def test_polarity_does_not_matter() -> None:
    light = mnist_style(drawn_one(100, (30, 20, 60, 80), dark_on_light=False, width=8))
    dark = mnist_style(drawn_one(100, (30, 20, 60, 80), dark_on_light=True, width=8))
    np.testing.assert_allclose(light.astype(int), dark.astype(int), atol=2)


def test_blank_image_is_refused() -> None:
    with pytest.raises(DatasetError, match="blank"):
        mnist_style(np.full((50, 50), 255.0))


def test_image_file_for_a_colour_model_is_resized(tmp_path) -> None:
    path = tmp_path / "photo.png"
    Image.new("RGB", (40, 20), (10, 200, 30)).save(path)
    pixels = image_for_model(path, (32, 32, 3), digit_style=False)
    assert pixels.shape == (32, 32, 3) and pixels[..., 1].mean() == pytest.approx(200, abs=1)


def test_unreadable_file(tmp_path) -> None:
    path = tmp_path / "x.png"
    path.write_text("no image")
    with pytest.raises(DatasetError, match="x.png: not an image file"):
        image_for_model(path, (28, 28, 1), digit_style=True)


@pytest.mark.parametrize("make,reason", [
    (lambda path: path.write_text("no image"), "not an image file"),
    (lambda path: None, "no such file"),
    (lambda path: path.mkdir(), "a folder, not an image file"),
    (lambda path: Image.new("L", (40, 40), 255).save(path), "the image is blank: no strokes stand out"),
    (lambda path: Image.new("L", (3, 3), 0).save(path), "the image is blank: no strokes stand out"),  # all black
])
def test_a_digit_that_cannot_be_used_is_named_once(tmp_path, make, reason: str) -> None:
    """Errors of reading the file name it already; those of the MNIST-style step get its name in front."""
    path = tmp_path / "digit.png"
    make(path)
    with pytest.raises(DatasetError) as refused:
        image_for_model(path, (28, 28, 1), digit_style=True)
    assert str(refused.value).startswith(f"{path}: {reason}") and str(refused.value).count("digit.png") == 1

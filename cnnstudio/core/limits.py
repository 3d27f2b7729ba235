"""Bounds shared by everything that reads untrusted input, so that what the app can train it can reopen.

A dataset the loaders accept makes a model whose record and signature the model-file checks accept:
both sides take these numbers from here.
"""

from __future__ import annotations

MAX_CLASSES = 1000  # the GUI builds widgets per class, and the output layer grows with it
MIN_CLASSES = 2
MAX_CLASS_NAME = 255  # characters: an image-folder class is a folder name, at most 255 bytes
MAX_IMAGE_SIDE = 4096  # pixels, height or width of the images a network takes
IMAGE_CHANNELS = (1, 3)  # gray or RGB: what the datasets and the image preprocessing make

"""Datasets loaded once and shared; one lock per dataset so a slow download never blocks another set."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from cnnstudio.core.data.datasets import KNOWN_SHAPES, Dataset, load_dataset
from cnnstudio.core.data.downloads import DownloadProgress

Shape = tuple[tuple[int, int, int], int]  # image shape, class count


class DatasetCache:
    """Loads datasets on demand (call :meth:`get` from worker threads only: it may download).

    The ``keep`` most recently used datasets stay in memory. Each name has its own lock, so two
    threads asking for the same set load it once, while a download of MNIST never holds up a
    read of a local folder.
    """

    def __init__(self, loader: Callable[[str, DownloadProgress | None], Dataset] = load_dataset, keep: int = 2):
        self._loader, self._keep = loader, keep
        self._loaded: OrderedDict[str, Dataset] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()  # protects the two dicts, never held while loading
        self._shapes: dict[str, Shape] = {name: (shape, 10) for name, shape in KNOWN_SHAPES.items()}

    def _lock_for(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def get(self, name: str, progress: DownloadProgress | None = None) -> Dataset:
        """The dataset, loaded at most once while it stays cached (blocking: worker threads only).

        ``progress(bytes_done, bytes_total)`` hears about a first download of a Keras dataset.
        """
        with self._lock_for(name):
            with self._guard:
                if name in self._loaded:
                    self._loaded.move_to_end(name)
                    return self._loaded[name]
            dataset = self._loader(name, progress)
            with self._guard:
                self._loaded[name] = dataset
                self._shapes[name] = (dataset.input_shape, dataset.num_classes)
                while len(self._loaded) > self._keep:
                    self._loaded.popitem(last=False)
            return dataset

    def cached(self, name: str) -> Dataset | None:
        with self._guard:
            return self._loaded.get(name)

    def shape(self, name: str) -> Shape | None:
        """Image shape and class count when known without reading the data (built-in or already read)."""
        with self._guard:
            return self._shapes.get(name)

    def remember_shape(self, name: str, shape: Shape) -> None:
        """Learn a dataset's shape from elsewhere (e.g. an opened model's record) unless already known."""
        with self._guard:
            self._shapes.setdefault(name, shape)

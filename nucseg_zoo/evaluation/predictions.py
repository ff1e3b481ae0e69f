"""Predicted label images of an evaluation, stored compressed beside its result.

The store is an ``.npz`` file (a zip archive of one ``<image name>.npy`` per image,
deflate-compressed), written image by image so that memory does not grow with the
split, and readable with ``numpy.load``. Labels are stored as uint16 when they fit (BBBC039
test labels: ~9 KB per 520 x 696 image), else int32.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from types import TracebackType

import numpy as np

from nucseg_zoo._atomic import atomic_path


class LabelStoreWriter:
    """Write label images into a new ``.npz`` store; the file appears only when closed without error.

    Usage::

        with LabelStoreWriter(path) as store:
            store.write("image-name", labels)

    Raises:
        ValueError (``write``): the labels are not a 2-D non-negative integer image, or the
            name was written already.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._names: set[str] = set()

    def __enter__(self) -> "LabelStoreWriter":
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        self._zip = zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9)
        return self

    def write(self, name: str, labels: np.ndarray) -> None:
        """Add the ``(H, W)`` label image of image ``name``."""
        labels = np.asarray(labels)
        if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
            raise ValueError(f"labels of {name!r} must be a 2-D non-negative integer image, "
                             f"got shape {labels.shape}, dtype {labels.dtype}")
        if name in self._names:
            raise ValueError(f"labels of {name!r} were already written to {self.path}")
        self._names.add(name)
        dtype = np.uint16 if labels.size == 0 or labels.max() <= np.iinfo(np.uint16).max else np.int32
        with self._zip.open(f"{name}.npy", "w") as member:
            np.lib.format.write_array(member, np.ascontiguousarray(labels, dtype=dtype), allow_pickle=False)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._zip.close()
        self._atomic.__exit__(kind, error, traceback)


def read_labels(path: str | os.PathLike, name: str) -> np.ndarray:
    """The stored ``(H, W)`` labels of image ``name`` (uint16 or int32).

    Raises:
        KeyError: the store holds no labels for ``name`` (the message lists what it holds).
    """
    with np.load(path, allow_pickle=False) as store:
        if name not in store.files:
            raise KeyError(f"{path} holds no labels for image {name!r} (it holds {len(store.files)} images, "
                           f"e.g. {', '.join(store.files[:3])})")
        return store[name]


def stored_names(path: str | os.PathLike) -> list[str]:
    """Names of the images in a label store, in the order they were written."""
    with np.load(path, allow_pickle=False) as store:
        return list(store.files)

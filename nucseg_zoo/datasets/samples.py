"""Lazy samples of a dataset split: an image and its instance labels, read on access."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, overload

import numpy as np
import xarray as xr

from nucseg_zoo.metrics.errors import SIZE_BINS, check_size_bins
from nucseg_zoo.datasets.formats import SHAPE_FROM_IMAGE, image_reader, mask_decoder
from nucseg_zoo.image_files import Selection, image_size


def split_label(dataset: str, split: str) -> str:
    """How messages name a split: ``"dataset/split"``, or the folder of a lab's own images
    (dataset ``"folder:<path>"``, split ``"folder"``)."""
    return dataset.removeprefix("folder:") if split == "folder" else f"{dataset}/{split}"


@dataclass(frozen=True)
class Sample:
    """One field of view. ``image`` and ``labels`` are read from disk on each access.

    Attributes:
        name: the image stem (unique within its split).
        dataset, split: where it comes from (``split`` is ``"folder"`` for :func:`from_folder`).
        source, license: the dataset's homepage (or folder) and license.
        image_path: the image file.
        mask_paths: the ground-truth file(s): one mask or label image, or one file per nucleus.
        image_format, mask_format: names from :mod:`nucseg_zoo.datasets.formats`.
        connectivity: pixel connectivity of graph-coloured masks (1 = 4-connectivity).
        selection: the plane of a multi-dimensional image file to read (channel, z-plane,
            time point; :class:`~nucseg_zoo.image_files.Selection`); none for 2-D images.
    """

    name: str
    dataset: str
    split: str
    source: str
    license: str
    image_path: Path
    mask_paths: tuple[Path, ...]
    image_format: str = "tiff-uint16"
    mask_format: str = "graph-coloured-png"
    connectivity: int = 1
    selection: Selection = Selection()

    @property
    def mask_path(self) -> Path:
        """The one ground-truth file (for formats with a single file; ``ValueError`` otherwise)."""
        if len(self.mask_paths) != 1:
            raise ValueError(f"{self.name}: its ground truth is {len(self.mask_paths)} files ({self.mask_format}); "
                             "use mask_paths")
        return self.mask_paths[0]

    @property
    def image(self) -> np.ndarray:
        """The raw image, ``(H, W)``, in the dataset's dtype (BBBC039 uint16, DSB2018 uint8): of a
        multi-dimensional file, the plane :attr:`selection` chooses."""
        return image_reader(self.image_format)(self.image_path, self.selection)

    @property
    def labels(self) -> np.ndarray:
        """Ground-truth instance labels, ``(H, W)`` int32, 0 = background."""
        shape = image_size(self.image_path) if self.mask_format in SHAPE_FROM_IMAGE else None
        return mask_decoder(self.mask_format)(self.mask_paths, shape, self.connectivity)

    def to_xarray(self, *, what: str = "image") -> xr.DataArray:
        """An ``xarray.DataArray`` view (dims ``("y", "x")``) of the image or the labels."""
        if what not in ("image", "labels"):
            raise ValueError(f"what must be 'image' or 'labels', got {what!r}")
        data = self.image if what == "image" else self.labels
        attrs = {"name": self.name, "dataset": self.dataset, "split": self.split,
                 "source": self.source, "license": self.license}
        return xr.DataArray(data, dims=("y", "x"), name=what, attrs=attrs)


class DatasetSplit(Sequence[Sample]):
    """An ordered, lazy sequence of :class:`Sample`; index by position or by name.

    ``size_bins`` are the GT-area bins (px) that "missed by size" uses on this data (the
    dataset card's; BBBC039's :data:`nucseg_zoo.metrics.SIZE_BINS` by default).
    """

    def __init__(self, dataset: str, split: str, samples: Sequence[Sample],
                 size_bins: Mapping[str, tuple[float, float]] | None = None):
        self.dataset = dataset
        self.split = split
        self.size_bins = check_size_bins(size_bins) if size_bins else SIZE_BINS
        self._samples = tuple(samples)
        self._by_name = {sample.name: sample for sample in self._samples}
        if len(self._by_name) != len(self._samples):
            raise ValueError(f"{dataset}/{split}: image names are not unique")

    @property
    def label(self) -> str:
        """How messages name it (:func:`split_label`)."""
        return split_label(self.dataset, self.split)

    @property
    def names(self) -> tuple[str, ...]:
        """Image stems in official order."""
        return tuple(self._by_name)

    def __len__(self) -> int:
        return len(self._samples)

    @overload
    def __getitem__(self, index: int | str) -> Sample: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Sample]: ...

    def __getitem__(self, index):
        if isinstance(index, str):
            try:
                return self._by_name[index]
            except KeyError:
                raise KeyError(f"no image named {index!r} in {self.dataset}/{self.split}") from None
        return self._samples[index]

    def __iter__(self) -> Iterator[Sample]:
        return iter(self._samples)

    def __repr__(self) -> str:
        return f"DatasetSplit(dataset={self.dataset!r}, split={self.split!r}, n_images={len(self)})"

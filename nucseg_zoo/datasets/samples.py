"""Lazy samples of a dataset split: an image and its instance labels, read on access."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, overload

import imageio.v3 as iio
import numpy as np
import tifffile
import xarray as xr

from nucseg_zoo.datasets.masks import decode_graph_coloured_mask


@dataclass(frozen=True)
class Sample:
    """One field of view. ``image`` and ``labels`` are read from disk on each access."""

    name: str
    dataset: str
    split: str
    source: str
    license: str
    image_path: Path
    mask_path: Path
    connectivity: int = 1

    @property
    def image(self) -> np.ndarray:
        """The raw image, ``(H, W)`` uint16."""
        image = tifffile.imread(self.image_path)
        if image.ndim != 2 or image.dtype != np.uint16:
            raise ValueError(f"{self.image_path}: expected a 2-D uint16 image, got {image.dtype} {image.shape}")
        return image

    @property
    def labels(self) -> np.ndarray:
        """Ground-truth instance labels, ``(H, W)`` int32, 0 = background."""
        return decode_graph_coloured_mask(iio.imread(self.mask_path), connectivity=self.connectivity)

    def to_xarray(self, *, what: str = "image") -> xr.DataArray:
        """An ``xarray.DataArray`` view (dims ``("y", "x")``) of the image or the labels."""
        if what not in ("image", "labels"):
            raise ValueError(f"what must be 'image' or 'labels', got {what!r}")
        data = self.image if what == "image" else self.labels
        attrs = {"name": self.name, "dataset": self.dataset, "split": self.split,
                 "source": self.source, "license": self.license}
        return xr.DataArray(data, dims=("y", "x"), name=what, attrs=attrs)


class DatasetSplit(Sequence[Sample]):
    """An ordered, lazy sequence of :class:`Sample`; index by position or by name."""

    def __init__(self, dataset: str, split: str, samples: Sequence[Sample]):
        self.dataset = dataset
        self.split = split
        self._samples = tuple(samples)
        self._by_name = {sample.name: sample for sample in self._samples}

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

"""Dataset statistics of models whose preprocessing needs them, fixed by a reference set.

Bioimage.io packages may normalise with statistics over a whole dataset. They are those of a
fixed reference set of images (the package's own test input unless another set is fitted),
never of the images being segmented, so that no image's result depends on the order or
company of the others (:class:`~nucseg_zoo.segmenters.protocols.DatasetStatisticsModel`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from nucseg_zoo.segmenters.protocols import DatasetStatisticsModel, Segmenter


class LazyImages:
    """``read(item)`` for each of ``items``, read again on every iteration: an input set that
    can be iterated any number of times without holding all its images in memory.

    Args:
        items: e.g. dataset samples or image paths (iterable more than once).
        read: item → ``(H, W)`` image.
    """

    def __init__(self, items: Iterable, read: Callable[[Any], np.ndarray]):
        self.items, self.read = items, read

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.read(item) for item in self.items)


def needs_dataset_statistics(segmenter: Segmenter) -> bool:
    """Whether ``segmenter``'s preprocessing uses statistics over a whole dataset."""
    return isinstance(segmenter, DatasetStatisticsModel) and bool(segmenter.needs_dataset_statistics)


def fit_dataset_statistics(segmenter: Segmenter, images: Iterable[np.ndarray], *,
                           reference: str) -> dict[str, Any] | None:
    """Fix the dataset statistics of a segmenter whose preprocessing needs them to those of the
    reference set ``images``; other segmenters are left alone.

    Args:
        segmenter: any segmenter.
        images: the reference set of ``(H, W)`` images, iterable twice (e.g. :class:`LazyImages`).
        reference: what the set is (e.g. its folder), as recorded with the statistics.

    Returns:
        The fitted statistics (``reference``, ``n_images``, then measure → value), or None
        when the segmenter needs none.

    Raises:
        ValueError: ``images`` is empty or holds an invalid image (from the segmenter).
    """
    if not needs_dataset_statistics(segmenter):
        return None
    return segmenter.fit_dataset_statistics(images, reference=reference)


def fitted_statistics(segmenter: Segmenter) -> dict[str, Any] | None:
    """The dataset statistics ``segmenter`` runs with (for provenance), or None when it has none."""
    if not isinstance(segmenter, DatasetStatisticsModel):
        return None
    return segmenter.dataset_statistics or None


def statistics_digest(statistics: dict[str, Any] | None) -> str | None:
    """Hex sha256 of the measure values of ``statistics`` (what the results depend on; not the
    reference's name or size), or None for none: part of an output's identity."""
    if not statistics:
        return None
    values = {name: value for name, value in statistics.items() if name not in ("reference", "n_images")}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()

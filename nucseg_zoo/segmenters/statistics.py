"""Dataset statistics of models whose preprocessing needs them, fitted over a whole input set.

Bioimage.io packages may normalise with statistics over a whole dataset. They are computed
over the whole input set before the first prediction, so that no image's result depends on
the order or company of the others (:class:`~nucseg_zoo.segmenters.protocols.DatasetStatisticsModel`).
"""

from __future__ import annotations

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
    """Whether ``segmenter``'s preprocessing uses statistics over a whole input set."""
    return isinstance(segmenter, DatasetStatisticsModel) and bool(segmenter.needs_dataset_statistics)


def fit_dataset_statistics(segmenter: Segmenter, images: Iterable[np.ndarray]) -> dict[str, Any] | None:
    """Fit the dataset statistics of a segmenter whose preprocessing needs them, over ``images``;
    other segmenters are left alone.

    Args:
        segmenter: any segmenter.
        images: the whole input set of ``(H, W)`` images, iterable twice (e.g. :class:`LazyImages`).

    Returns:
        The fitted statistics (measure → value, plus ``n_images``), or None when the
        segmenter needs none.

    Raises:
        ValueError: ``images`` is empty or holds an invalid image (from the segmenter).
    """
    if not needs_dataset_statistics(segmenter):
        return None
    return segmenter.fit_dataset_statistics(images)


def fitted_statistics(segmenter: Segmenter) -> dict[str, Any] | None:
    """The dataset statistics ``segmenter`` runs with (for provenance), or None when it has none."""
    if not isinstance(segmenter, DatasetStatisticsModel):
        return None
    return segmenter.dataset_statistics or None

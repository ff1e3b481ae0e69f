"""Which objects of one image are errors: missed, extra, split and merged nuclei by label id.

:func:`score_image` counts these same objects (it calls :func:`classify_objects`), so a
picture that marks them (the leaderboard's error atlas) and the scores can never disagree.
Definitions as in :mod:`nucseg_zoo.metrics.scores` (Caicedo et al. 2019): misses and
extras at IoU 0.7, splits and merges at IoU 0.1, misses binned by GT area.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from nucseg_zoo.metrics._frozen import FrozenMapping
from nucseg_zoo.metrics.matching import Matching, match

MISS_THRESHOLD = 0.7
"""IoU threshold for missed objects, extra objects and the error rate."""

SPLIT_MERGE_THRESHOLD = 0.1
"""IoU threshold above which an overlap counts towards a split or a merge."""

SIZE_BINS: FrozenMapping[str, tuple[float, float]] = FrozenMapping({
    "tiny": (0, 250),
    "small": (250, 625),
    "normal": (625, 900),
    "large": (900, np.inf),
})
"""GT-area bins ``name -> (low, high]`` in pixels: the paper's, calibrated to BBBC039's
magnification (its "large" bin ends at 10,000 px; larger objects are counted as "large" here).
Other datasets state their own bins, with these names, in their card (``size_bins``)."""

SizeBins = Mapping[str, tuple[float, float]]


@dataclass(frozen=True, eq=False)
class ObjectErrors:
    """The error objects of one predicted label image, by label id (arrays sorted, read-only).

    Attributes:
        missed: size bin -> GT label ids with no predicted partner of IoU > 0.7.
        true_per_bin: size bin -> number of GT objects in the bin.
        extra: predicted label ids with no GT partner of IoU > 0.7.
        split: GT label ids overlapping more than one predicted object with IoU > 0.1.
        merged: predicted label ids overlapping more than one GT object with IoU > 0.1.
    """

    missed: FrozenMapping[str, np.ndarray]
    true_per_bin: FrozenMapping[str, int]
    extra: np.ndarray
    split: np.ndarray
    merged: np.ndarray

    def __post_init__(self) -> None:
        for array in (*self.missed.values(), self.extra, self.split, self.merged):
            array.flags.writeable = False

    @property
    def n_missed(self) -> int:
        """GT objects missed at IoU 0.7, all sizes."""
        return sum(len(ids) for ids in self.missed.values())


def size_bins(areas: np.ndarray, bins: SizeBins = SIZE_BINS) -> np.ndarray:
    """Index into ``bins`` (default :data:`SIZE_BINS`) of each area (px), ``(n,)`` intp; bins are
    ``(low, high]``, in order, the first starting at 0 and the last open-ended."""
    upper_edges = [high for _, high in bins.values()][:-1]
    return np.searchsorted(upper_edges, areas, side="left")


def check_size_bins(bins: SizeBins) -> SizeBins:
    """``bins`` if they are :data:`SIZE_BINS`' names in order with contiguous edges, else ``ValueError``."""
    if tuple(bins) != tuple(SIZE_BINS):
        raise ValueError(f"size bins must be named {', '.join(SIZE_BINS)} in that order, got {', '.join(bins)}")
    edges = list(bins.values())
    if edges[0][0] != 0 or edges[-1][1] != np.inf or any(a[1] != b[0] or a[0] >= a[1] for a, b in zip(edges, edges[1:])):
        raise ValueError(f"size bins must be contiguous (low, high] intervals from 0 to inf, got {dict(bins)}")
    return bins


def classify_objects(m: Matching, size_bins_px: SizeBins = SIZE_BINS) -> ObjectErrors:
    """The error objects of a :class:`Matching` (see :class:`ObjectErrors`); misses binned by
    ``size_bins_px`` (GT area in px; default :data:`SIZE_BINS`)."""
    strong = m.iou > SPLIT_MERGE_THRESHOLD
    split = np.bincount(m.true_index[strong], minlength=m.n_true) > 1
    merged = np.bincount(m.pred_index[strong], minlength=m.n_pred) > 1
    matched = m.iou > MISS_THRESHOLD
    found = np.zeros(m.n_true, dtype=bool)
    found[m.true_index[matched]] = True
    claimed = np.zeros(m.n_pred, dtype=bool)
    claimed[m.pred_index[matched]] = True
    bins = size_bins(m.true_areas, size_bins_px)
    return ObjectErrors(
        missed=FrozenMapping({name: m.true_labels[(bins == i) & ~found] for i, name in enumerate(size_bins_px)}),
        true_per_bin=FrozenMapping({name: int(np.count_nonzero(bins == i)) for i, name in enumerate(size_bins_px)}),
        extra=m.pred_labels[~claimed],
        split=m.true_labels[split],
        merged=m.pred_labels[merged],
    )


def object_errors(y_true: np.ndarray, y_pred: np.ndarray, size_bins_px: SizeBins = SIZE_BINS) -> ObjectErrors:
    """The missed, extra, split and merged objects of ``y_pred`` against ``y_true``.

    Args:
        y_true, y_pred: ``(H, W)`` instance label images, integer dtype, 0 = background.
        size_bins_px: GT-area bins (px) of the misses (default :data:`SIZE_BINS`; a dataset's
            own are in its card).

    Raises:
        ValueError: as :func:`nucseg_zoo.metrics.match`.
    """
    return classify_objects(match(y_true, y_pred), check_size_bins(size_bins_px))

"""A saturated square (dust, debris, a reflection) on a real field, and the objects away from it;
real nuclei alone on a field of zeros."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

SQUARE = np.s_[245:275, 333:363]
"""30 x 30 px in the middle of a 520 x 696 field (0.25 % of it): the users' report."""


def with_square(image: np.ndarray, value: int = 65535) -> tuple[np.ndarray, np.ndarray]:
    """``image`` with :data:`SQUARE` set to ``value``, and the square's mask."""
    square = np.zeros(image.shape, bool)
    square[SQUARE] = True
    return np.where(square, np.asarray(value, image.dtype), image), square


def away_from(labels: np.ndarray, square: np.ndarray, margin: int = 10) -> np.ndarray:
    """``labels`` without the objects that come within ``margin`` px of ``square``."""
    near = np.unique(labels[ndi.binary_dilation(square, iterations=margin)])
    return np.where(np.isin(labels, near), 0, labels)


def lone_nuclei(sample, n: int = 3, shape: tuple[int, int] = (400, 400)) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` real nuclei of ``sample`` (150-300 px, so under the 0.2 % above p99.8 of ``shape``),
    each background-subtracted and alone at the centre of a uint16 field of zeros: (image, truth)."""
    image, labels = sample.image.astype(np.float32), sample.labels
    background = np.median(image[labels == 0])
    areas = np.bincount(labels.ravel())
    cases = []
    for k in [i for i in range(1, labels.max() + 1) if 150 < areas[i] < 300][:n]:
        (ys, xs), field = np.nonzero(labels == k), np.zeros(shape, np.uint16)
        ty, tx = ys - ys.min() + shape[0] // 2 - 15, xs - xs.min() + shape[1] // 2 - 15
        field[ty, tx] = np.clip(image[ys, xs] - background, 0, None).astype(np.uint16)
        truth = np.zeros(shape, np.int32)
        truth[ty, tx] = 1
        cases.append((field, truth))
    return cases

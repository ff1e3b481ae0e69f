"""A saturated square (dust, debris, a reflection) on a real field, and the objects away from it."""

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

"""Sparse overlap of two instance label images: the overlapping object pairs and their IoU.

Only pairs of objects that share at least one pixel are ever materialised, so the work is
proportional to the number of pixels plus the number of overlapping pairs, never to
``n_true * n_pred``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Matching:
    """The overlapping object pairs of a ground-truth and a predicted label image.

    Objects are addressed by their *index*: ``true_labels[i]`` is the label id of GT object
    ``i``, ``pred_labels[j]`` that of predicted object ``j`` (both sorted ascending, background
    0 excluded). Pair arrays are aligned: pair ``k`` is GT object ``true_index[k]`` and
    predicted object ``pred_index[k]``, sharing ``intersection[k]`` pixels. All arrays are
    read-only.

    Attributes:
        true_labels: ``(n_true,)`` label ids present in ``y_true``, original dtype.
        pred_labels: ``(n_pred,)`` label ids present in ``y_pred``, original dtype.
        true_areas: ``(n_true,)`` int64 object areas in pixels.
        pred_areas: ``(n_pred,)`` int64 object areas in pixels.
        true_index: ``(n_pairs,)`` intp, GT object index of each overlapping pair.
        pred_index: ``(n_pairs,)`` intp, predicted object index of each overlapping pair.
        intersection: ``(n_pairs,)`` int64 shared pixels of each pair (always > 0).
        iou: ``(n_pairs,)`` float64 intersection over union of each pair, in (0, 1].
    """

    true_labels: np.ndarray
    pred_labels: np.ndarray
    true_areas: np.ndarray
    pred_areas: np.ndarray
    true_index: np.ndarray
    pred_index: np.ndarray
    intersection: np.ndarray
    iou: np.ndarray

    def __post_init__(self) -> None:
        for array in (self.true_labels, self.pred_labels, self.true_areas, self.pred_areas,
                      self.true_index, self.pred_index, self.intersection, self.iou):
            array.flags.writeable = False

    @property
    def n_true(self) -> int:
        """Number of GT objects."""
        return len(self.true_labels)

    @property
    def n_pred(self) -> int:
        """Number of predicted objects."""
        return len(self.pred_labels)

    @property
    def union(self) -> np.ndarray:
        """``(n_pairs,)`` int64 pixels in the union of each pair."""
        return self.true_areas[self.true_index] + self.pred_areas[self.pred_index] - self.intersection

    def n_matched(self, thresh: float) -> int:
        """Number of one-to-one matches at IoU strictly greater than ``thresh``.

        For ``thresh >= 0.5`` an object can have at most one partner with IoU > ``thresh``
        (IoU > 0.5 requires covering more than half of both objects), so the matches are the
        pairs above the threshold and no assignment problem needs solving. Float comparison
        is exact here: ``I / U`` is correctly rounded, so it equals the float ``thresh`` when
        the ratio equals the decimal threshold and differs from it by far more than rounding
        otherwise.

        Raises:
            ValueError: ``thresh`` is below 0.5 (matches would not be one-to-one) or above 1.
        """
        if not 0.5 <= thresh <= 1.0:
            raise ValueError(f"thresh must be in [0.5, 1] for one-to-one matching, got {thresh}")
        return int(np.count_nonzero(self.iou > thresh))


def _check_label_image(y: np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """Validate ``y``; return it as an array with its largest label (0 if empty)."""
    y = np.asarray(y)
    if y.ndim != 2:
        raise ValueError(f"{name} must be a 2-D label image, got an array of shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must have an integer dtype, got {y.dtype}")
    if y.size == 0:
        return y, 0
    if np.issubdtype(y.dtype, np.signedinteger) and (smallest := y.min()) < 0:
        raise ValueError(f"{name} must not contain negative labels, got minimum {smallest}")
    return y, int(y.max())


def _compact(y: np.ndarray, largest: int) -> tuple[np.ndarray, np.ndarray]:
    """Renumber a flat label array densely.

    Returns ``(ids, index)`` with ``ids`` the sorted label ids present (``ids[0] == 0`` even
    if there is no background) and ``index`` the intp positions such that ``ids[index] == y``.
    Linear time through a lookup table when the largest label is no larger than the image,
    otherwise ``np.unique`` (a sort).
    """
    if largest <= y.size:
        ids = np.flatnonzero(np.bincount(y.astype(np.intp, copy=False)))
        lookup = np.zeros(largest + 1, dtype=np.intp)
        lookup[ids] = np.arange(len(ids))
        index = lookup[y]
    else:
        ids, index = np.unique(y, return_inverse=True)
        index = index.astype(np.intp, copy=False)
    if not len(ids) or ids[0] != 0:
        ids = np.concatenate([np.zeros(1, ids.dtype), ids])
        index += 1
    return ids, index


def match(y_true: np.ndarray, y_pred: np.ndarray) -> Matching:
    """Overlap two instance label images sparsely.

    Args:
        y_true: ``(H, W)`` ground-truth labels, any integer dtype, 0 = background, other
            values are object ids (need not be sequential or contiguous).
        y_pred: ``(H, W)`` predicted labels, same conventions.

    Returns:
        A :class:`Matching` with every pair of objects sharing at least one pixel.

    Every pixel gets the pair key ``a * n_b + b`` of its (true, pred) ids ``a < n_a``,
    ``b < n_b``, background included; the nonzero key counts give the overlaps, and their
    row and column sums the object areas. When the key range ``n_a * n_b`` is at most twice
    the pixel count (the usual case: up to a few hundred objects) one ``np.bincount`` counts
    the keys; otherwise labels are first renumbered densely and, if the range is still too
    large, the keys are counted with ``np.unique``. Memory stays O(pixels + overlapping
    pairs) and no ``n_true x n_pred`` table is ever built beyond that bound.

    Raises:
        ValueError: an input is not 2-D, has a non-integer dtype or negative labels, or the
            shapes differ (the message names the offending shape, dtype or value).
    """
    y_true, largest_true = _check_label_image(y_true, "y_true")
    y_pred, largest_pred = _check_label_image(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")

    a, b = y_true.ravel(), y_pred.ravel()
    key_limit = 2 * a.size
    if (largest_true + 1) * (largest_pred + 1) <= key_limit:
        ids_true, ids_pred = np.arange(largest_true + 1), np.arange(largest_pred + 1)
    else:
        (ids_true, a), (ids_pred, b) = _compact(a, largest_true), _compact(b, largest_pred)
    n_a, n_b = len(ids_true), len(ids_pred)

    keys = a.astype(np.intp)  # always a copy: the in-place operations must not touch y_true
    keys *= n_b
    keys += b
    if n_a * n_b <= key_limit:
        counts = np.bincount(keys, minlength=n_a * n_b)
        keys = np.flatnonzero(counts)
        counts = counts[keys]
    else:
        keys, counts = np.unique(keys, return_counts=True)
    pair_true, pair_pred = np.divmod(keys, n_b)

    area_true = np.bincount(pair_true, weights=counts, minlength=n_a).astype(np.int64)
    area_pred = np.bincount(pair_pred, weights=counts, minlength=n_b).astype(np.int64)
    objects_true = np.flatnonzero(area_true[1:]) + 1
    objects_pred = np.flatnonzero(area_pred[1:]) + 1
    # id position -> object index (background and absent ids are never looked up)
    position_true = np.zeros(n_a, dtype=np.intp)
    position_true[objects_true] = np.arange(len(objects_true))
    position_pred = np.zeros(n_b, dtype=np.intp)
    position_pred[objects_pred] = np.arange(len(objects_pred))

    foreground = (pair_true > 0) & (pair_pred > 0)
    true_index = position_true[pair_true[foreground]]
    pred_index = position_pred[pair_pred[foreground]]
    intersection = counts[foreground].astype(np.int64)
    true_areas = area_true[objects_true]
    pred_areas = area_pred[objects_pred]
    union = true_areas[true_index] + pred_areas[pred_index] - intersection
    return Matching(
        true_labels=ids_true[objects_true].astype(y_true.dtype),
        pred_labels=ids_pred[objects_pred].astype(y_pred.dtype),
        true_areas=true_areas,
        pred_areas=pred_areas,
        true_index=true_index,
        pred_index=pred_index,
        intersection=intersection,
        iou=intersection / union,
    )

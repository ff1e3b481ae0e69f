"""Property-based checks of nucseg_zoo.metrics on random label images."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nucseg_zoo.metrics import SIZE_BINS, THRESHOLDS, match, score_image

SETTINGS = settings(max_examples=100, deadline=None)


@st.composite
def label_image(draw, shape: tuple[int, int]) -> np.ndarray:
    """Random rectangles with random (non-sequential) ids painted over each other."""
    h, w = shape
    y = np.zeros(shape, np.int32)
    for _ in range(draw(st.integers(0, 8))):
        r0, c0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        r1, c1 = draw(st.integers(r0 + 1, h)), draw(st.integers(c0 + 1, w))
        y[r0:r1, c0:c1] = draw(st.integers(1, 60))
    return y


shapes = st.tuples(st.integers(1, 32), st.integers(1, 32))
images = shapes.flatmap(label_image)
pairs = shapes.flatmap(lambda shape: st.tuples(label_image(shape), label_image(shape)))


def _dense_iou(y_true: np.ndarray, y_pred: np.ndarray) -> dict[tuple[int, int], float]:
    """Reference: IoU of every overlapping pair by brute force over all label pairs."""
    result = {}
    for a in np.unique(y_true[y_true > 0]):
        for b in np.unique(y_pred[y_pred > 0]):
            inter = np.count_nonzero((y_true == a) & (y_pred == b))
            if inter:
                result[int(a), int(b)] = inter / np.count_nonzero((y_true == a) | (y_pred == b))
    return result


def _exceeds(ratio: Fraction, t: float) -> bool:
    return ratio > Fraction(f"{t:.2f}")


@SETTINGS
@given(pairs)
def test_overlap_matches_brute_force(pair):
    y_true, y_pred = pair
    m = match(y_true, y_pred)
    found = {(int(m.true_labels[i]), int(m.pred_labels[j])): iou
             for i, j, iou in zip(m.true_index, m.pred_index, m.iou, strict=True)}
    assert found == _dense_iou(y_true, y_pred)
    assert m.true_areas.tolist() == [np.count_nonzero(y_true == a) for a in m.true_labels]


@SETTINGS
@given(pairs)
def test_count_invariants_and_symmetry(pair):
    y_true, y_pred = pair
    s = score_image(y_true, y_pred)
    tps = [s.tp[t] for t in THRESHOLDS]
    assert tps == sorted(tps, reverse=True)
    for t in THRESHOLDS:
        assert s.tp[t] + s.fn[t] == s.n_true and s.tp[t] + s.fp[t] == s.n_pred
    assert sum(total for _, total in s.missed_by_size.values()) == s.n_true
    assert sum(missed for missed, _ in s.missed_by_size.values()) == s.missed == s.fn[0.7]
    assert s.extra_objects == s.fp[0.7]
    assert np.isnan(s.jaccard) if s.n_pred == 0 else 0.0 <= s.jaccard <= 1.0

    swapped = score_image(y_pred, y_true)
    assert (swapped.n_true, swapped.n_pred) == (s.n_pred, s.n_true)
    assert swapped.tp == s.tp and swapped.fp == s.fn
    assert (swapped.splits, swapped.merges) == (s.merges, s.splits)


@SETTINGS
@given(images)
def test_self_score_is_perfect(y):
    s = score_image(y, y)
    for t in THRESHOLDS:
        assert (s.tp[t], s.fp[t], s.fn[t]) == (s.n_true, 0, 0)
        assert s.f1[t] == 1.0
    assert (s.splits, s.merges, s.missed, s.extra_objects) == (0, 0, 0, 0)
    assert np.isnan(s.jaccard) if s.n_true == 0 else s.jaccard == 1.0


@SETTINGS
@given(pairs, st.randoms(use_true_random=False))
def test_permuting_ids_changes_nothing(pair, random):
    y_true, y_pred = pair

    def permuted(y):
        ids = np.unique(y[y > 0])
        new_ids = random.sample(range(1, 2**31 - 1), len(ids))  # far beyond the pixel count
        lookup = dict(zip(ids.tolist(), new_ids, strict=True))
        return np.vectorize(lambda v: lookup.get(v, 0), otypes=[np.int64])(y)

    reference = score_image(y_true, y_pred).to_dict()
    scores = score_image(permuted(y_true), permuted(y_pred)).to_dict()
    if reference["jaccard"] is not None:  # same IoUs, possibly summed in another order
        assert abs(scores.pop("jaccard") - reference.pop("jaccard")) < 1e-12
    assert scores == reference


@SETTINGS
@given(images.filter(lambda y: y.any()), st.data())
def test_removing_one_object_gives_exactly_one_fn(y, data):
    ids = np.unique(y[y > 0])
    removed = data.draw(st.sampled_from(ids.tolist()))
    y_pred = np.where(y == removed, 0, y)
    base, s = score_image(y, y), score_image(y, y_pred)
    for t in THRESHOLDS:
        assert (s.tp[t], s.fp[t], s.fn[t]) == (base.tp[t] - 1, 0, 1)
    assert (s.splits, s.merges, s.extra_objects) == (0, 0, 0)
    assert s.jaccard == 1.0 or (np.isnan(s.jaccard) and len(ids) == 1)
    area = np.count_nonzero(y == removed)
    bin_of_removed = next(b for b, (low, high) in SIZE_BINS.items() if low < area <= high)
    assert {b: m for b, (m, _) in s.missed_by_size.items() if m} == {bin_of_removed: 1}


@SETTINGS
@given(images.filter(lambda y: (np.bincount(y.ravel())[1:] >= 2).any()), st.data())
def test_splitting_an_object_in_two(y, data):
    areas = np.bincount(y.ravel())
    target = data.draw(st.sampled_from(np.flatnonzero(areas[1:] >= 2).tolist())) + 1
    area = int(areas[target])
    first = data.draw(st.integers(1, area - 1))  # pixels (raster order) kept under the old id
    y_pred = y.copy()
    pixels = np.flatnonzero(y.ravel() == target)
    y_pred.reshape(-1)[pixels[first:]] = y.max() + 1
    s = score_image(y, y_pred)

    parts = (first, area - first)
    assert s.splits == int(all(10 * p > area for p in parts))  # each part has IoU p/area
    assert s.merges == 0
    n = len(np.unique(y[y > 0]))
    assert (s.n_true, s.n_pred) == (n, n + 1)
    for t in THRESHOLDS:
        expected_tp = n - 1 + _exceeds(Fraction(max(parts), area), t)
        assert (s.tp[t], s.fp[t], s.fn[t]) == (expected_tp, n + 1 - expected_tp, n - expected_tp)

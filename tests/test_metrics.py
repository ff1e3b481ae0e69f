"""Hand-made cases with known IoUs for nucseg_zoo.metrics."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from skimage.draw import disk

from nucseg_zoo.metrics import (
    SIZE_BINS,
    THRESHOLDS,
    BinaryMaskWarning,
    DatasetScores,
    ImageScores,
    label_components,
    label_image_warning,
    looks_like_binary_mask,
    match,
    score_image,
    summarize,
)
from nucseg_zoo.postprocessing import to_labels


def _discs(shape, discs):
    """Label image with ``label -> (row, col, radius)`` discs painted in order."""
    y = np.zeros(shape, np.int32)
    for label, (r, c, radius) in discs.items():
        y[disk((r, c), radius, shape=shape)] = label
    return y


def _brute_force_iou(y_true, y_pred, t_label, p_label):
    a, b = y_true == t_label, y_pred == p_label
    return np.count_nonzero(a & b) / np.count_nonzero(a | b)


def _counts(scores: ImageScores, t: float) -> tuple[int, int, int]:
    return scores.tp[t], scores.fp[t], scores.fn[t]


def test_thresholds_and_bins():
    assert THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
    assert list(SIZE_BINS) == ["tiny", "small", "normal", "large"]


@pytest.mark.parametrize("k", range(8, 20))
def test_strict_threshold_at_exact_iou(k):
    """A 20x10 GT box and a 10xk box inside it: IoU = k/20 exactly, so ties hit every threshold."""
    y_true = np.zeros((30, 30), np.int32)
    y_true[5:25, 5:15] = 1
    y_pred = np.zeros_like(y_true)
    y_pred[5:5 + k, 5:15] = 7
    scores = score_image(y_true, y_pred)
    for t in THRESHOLDS:
        hit = k > round(t * 20)  # IoU k/20 strictly above t
        assert _counts(scores, t) == ((1, 0, 0) if hit else (0, 1, 1)), t


def test_discs_known_counts_and_iou():
    shape = (120, 120)
    y_true = _discs(shape, {1: (20, 20, 10), 2: (20, 70, 10), 3: (80, 30, 12)})
    # 1: exact; 2: shifted by 3 px (IoU 0.685); 3: missed; 9: extra
    y_pred = _discs(shape, {4: (20, 20, 10), 5: (20, 73, 10), 9: (90, 95, 8)})
    m = match(y_true, y_pred)
    pairs = {(int(m.true_labels[i]), int(m.pred_labels[j])): iou
             for i, j, iou in zip(m.true_index, m.pred_index, m.iou, strict=True)}
    assert set(pairs) == {(1, 4), (2, 5)}
    assert pairs[1, 4] == 1.0
    shifted = _brute_force_iou(y_true, y_pred, 2, 5)
    assert pairs[2, 5] == shifted
    assert 0.65 < shifted < 0.7

    scores = score_image(y_true, y_pred, name="discs")
    assert (scores.n_true, scores.n_pred) == (3, 3)
    for t in THRESHOLDS:
        expected = (2, 1, 1) if t < shifted else (1, 2, 2)
        assert _counts(scores, t) == expected, t
    assert scores.extra_objects == 2
    assert scores.jaccard == pytest.approx((1.0 + shifted + 0.0) / 3)
    assert (scores.splits, scores.merges) == (0, 0)
    assert scores.f1[0.5] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert scores.precision[0.9] == pytest.approx(1 / 3)
    assert scores.recall[0.9] == pytest.approx(1 / 3)


def test_split_counts_only_parts_above_0_1():
    y_true = np.zeros((20, 30), np.int32)
    y_true[0:10, 0:10] = 1  # 100 px, split 60 / 40
    y_true[0:10, 15:25] = 2  # 100 px, split 95 / 5: the 5 px part has IoU 0.05
    y_pred = np.zeros_like(y_true)
    y_pred[0:6, 0:10] = 1
    y_pred[6:10, 0:10] = 2
    y_pred[0:10, 15:24] = 3
    y_pred[0:5, 24:25] = 4
    scores = score_image(y_true, y_pred)
    assert (scores.splits, scores.merges) == (1, 0)
    assert _counts(scores, 0.5) == (2, 2, 0)  # 0.6 and 0.95 match
    assert _counts(scores, 0.6) == (1, 3, 1)  # 0.6 is not > 0.6


def test_split_part_of_exactly_0_1_is_not_counted():
    y_true = np.zeros((10, 10), np.int32)
    y_true[:, :] = 1
    y_pred = np.ones_like(y_true)
    y_pred[:, 9] = 2  # 10 of 100 px: IoU exactly 0.1
    assert score_image(y_true, y_pred).splits == 0
    y_pred[:, 8] = 2  # 20 px: IoU 0.2
    assert score_image(y_true, y_pred).splits == 1


def test_merge():
    y_true = np.zeros((20, 40), np.int32)
    y_true[0:10, 0:10] = 1
    y_true[0:10, 10:20] = 2
    y_true[0:10, 30:40] = 3
    y_pred = np.zeros_like(y_true)
    y_pred[0:10, 0:20] = 1  # covers GT 1 and 2: IoU 0.5 each
    y_pred[0:10, 30:40] = 2
    scores = score_image(y_true, y_pred)
    assert (scores.splits, scores.merges) == (0, 1)
    assert _counts(scores, 0.5) == (1, 1, 2)  # IoU 0.5 is not a match


def _runs(shape, areas):
    """Label image whose object ``i + 1`` is a run of ``areas[i]`` pixels in raster order."""
    y = np.zeros(shape, np.int32)
    flat = y.reshape(-1)
    start = 0
    for label, area in enumerate(areas, start=1):
        flat[start:start + area] = label
        start += area + 7
    return y


def test_missed_by_size_bins_and_edges():
    areas = [250, 251, 625, 626, 900, 901, 12000]
    y_true = _runs((200, 300), areas)
    scores = score_image(y_true, np.zeros_like(y_true))
    assert dict(scores.missed_by_size) == {"tiny": (1, 1), "small": (2, 2), "normal": (2, 2), "large": (2, 2)}
    assert scores.missed == len(areas)

    kept = y_true * np.isin(y_true, [2, 5, 7])  # keep a small, a normal and the >10000 px object
    scores = score_image(y_true, kept)
    assert dict(scores.missed_by_size) == {"tiny": (1, 1), "small": (1, 2), "normal": (1, 2), "large": (1, 2)}
    dataset = summarize([scores, score_image(y_true, y_true, name="perfect")])
    assert dict(dataset.missed_by_size) == {"tiny": 0.5, "small": 0.25, "normal": 0.25, "large": 0.25}
    assert dataset.error_rate == 4 / 14


def test_both_empty_scores_perfect():
    empty = np.zeros((16, 16), np.uint8)
    scores = score_image(empty, empty)
    assert (scores.n_true, scores.n_pred) == (0, 0)
    for t in THRESHOLDS:
        assert _counts(scores, t) == (0, 0, 0)
        assert scores.precision[t] == scores.recall[t] == scores.f1[t] == 1.0
    assert math.isnan(scores.jaccard)
    assert scores.to_dict()["jaccard"] is None


@pytest.mark.parametrize("shape", [(0, 5), (3, 0)])
def test_image_without_pixels(shape):
    empty = np.zeros(shape, np.int32)
    scores = score_image(empty, empty)
    assert (scores.n_true, scores.n_pred, scores.f1[0.5]) == (0, 0, 1.0)


def test_gt_without_prediction():
    y_true = _discs((40, 40), {1: (10, 10, 5), 2: (30, 30, 5)})
    scores = score_image(y_true, np.zeros_like(y_true))
    for t in THRESHOLDS:
        assert _counts(scores, t) == (0, 0, 2)
        assert scores.precision[t] == scores.recall[t] == scores.f1[t] == 0.0
    assert math.isnan(scores.jaccard)


def test_prediction_without_gt():
    y_pred = _discs((40, 40), {1: (10, 10, 5)})
    scores = score_image(np.zeros_like(y_pred), y_pred)
    for t in THRESHOLDS:
        assert _counts(scores, t) == (0, 1, 0)
        assert scores.precision[t] == scores.recall[t] == scores.f1[t] == 0.0
    assert scores.jaccard == 0.0
    assert scores.extra_objects == 1


def test_dataset_with_empty_images():
    y = _discs((40, 40), {1: (10, 10, 5)})
    empty = np.zeros_like(y)
    dataset = summarize([score_image(y, y, name="a"), score_image(empty, empty, name="b")])
    assert dataset.average_f1 == 1.0
    assert dataset.jaccard == 1.0  # the image without predictions is left out
    nothing = summarize([score_image(empty, empty, name="b")])
    assert math.isnan(nothing.jaccard) and math.isnan(nothing.error_rate)
    as_json = json.dumps(nothing.to_dict(), allow_nan=False)
    assert json.loads(as_json)["error_rate_at_0.7"] is None
    assert json.loads(as_json)["missed_by_size"] == {b: None for b in SIZE_BINS}


def test_an_images_average_f1_is_the_mean_over_thresholds_of_its_f1():
    y = _discs((40, 40), {1: (10, 10, 5), 2: (28, 28, 6)})
    scores = score_image(y, np.where(y == 2, 0, y))  # one of two nuclei found: F1 2/3 at every threshold
    assert scores.average_f1 == pytest.approx(2 / 3)
    assert scores.average_f1 == pytest.approx(sum(scores.f1.values()) / len(THRESHOLDS))


def test_average_f1_is_mean_over_images_then_thresholds():
    y_true = _discs((60, 60), {1: (15, 15, 8), 2: (45, 45, 8)})
    y_pred = _discs((60, 60), {1: (15, 17, 8)})
    a = score_image(y_true, y_pred, name="a")
    b = score_image(y_true, y_true, name="b")
    dataset = summarize([a, b])
    for t in THRESHOLDS:
        assert dataset.f1[t] == pytest.approx((a.f1[t] + b.f1[t]) / 2)
    assert dataset.average_f1 == pytest.approx(np.mean([dataset.f1[t] for t in THRESHOLDS]))
    assert (dataset.n_images, dataset.n_true, dataset.n_pred) == (2, 4, 3)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64])
def test_non_sequential_labels_and_dtypes(dtype):
    shape = (50, 50)
    sequential = _discs(shape, {1: (10, 10, 6), 2: (30, 12, 6), 3: (25, 35, 9)})
    shifted = _discs(shape, {1: (11, 10, 6), 2: (30, 15, 6), 3: (27, 35, 9)})
    reference = score_image(sequential, shifted)
    high = np.iinfo(dtype).max
    true_ids = np.array([0, 3, 70, high], dtype)  # labels far above the pixel count
    pred_ids = np.array([0, high - 1, 5, 9], dtype)
    scores = score_image(true_ids[sequential], pred_ids[shifted])
    assert dataclasses.replace(scores, jaccard=0.0) == dataclasses.replace(reference, jaccard=0.0)
    assert scores.jaccard == pytest.approx(reference.jaccard)
    m = match(true_ids[sequential], pred_ids[shifted])
    assert m.true_labels.tolist() == [3, 70, high] and m.true_labels.dtype == dtype
    assert m.pred_labels.tolist() == [5, 9, high - 1]


def test_many_objects_use_the_sparse_fallback():
    """One object per pixel: the key range (257 x 257) exceeds the image (256 px)."""
    y_true = np.arange(1, 257, dtype=np.int32).reshape(16, 16)
    y_pred = np.roll(y_true, 1, axis=1)
    m = match(y_true, y_pred)
    assert (m.n_true, m.n_pred, len(m.iou)) == (256, 256, 256)
    pairs = set(zip(m.true_labels[m.true_index].tolist(), m.pred_labels[m.pred_index].tolist(), strict=True))
    assert pairs == set(zip(y_true.ravel().tolist(), y_pred.ravel().tolist(), strict=True))
    assert np.all(m.iou == 1.0)
    scores = score_image(y_true, y_pred)
    assert _counts(scores, 0.9) == (256, 0, 0)


def test_inputs_are_not_modified():
    y_true = _discs((30, 30), {5: (10, 10, 5)}).astype(np.intp)
    y_pred = np.roll(y_true, 2, axis=0)
    before = y_true.copy(), y_pred.copy()
    score_image(y_true, y_pred)
    assert np.array_equal(y_true, before[0]) and np.array_equal(y_pred, before[1])


@pytest.mark.parametrize(("y_true", "y_pred", "problem"), [
    (np.zeros((4, 4), np.int32), np.zeros((4, 5), np.int32), r"same shape.*\(4, 4\).*\(4, 5\)"),
    (np.zeros((4, 4), np.float64), np.zeros((4, 4), np.int32), r"y_true.*integer dtype.*float64"),
    (np.zeros((4, 4), np.int32), np.zeros((4, 4), bool), r"y_pred.*integer dtype.*bool"),
    (np.full((4, 4), -1, np.int32), np.zeros((4, 4), np.int32), r"y_true.*negative.*-1"),
    (np.zeros((2, 4, 4), np.int32), np.zeros((2, 4, 4), np.int32), r"y_true.*2-D.*\(2, 4, 4\)"),
    (np.zeros(16, np.int32), np.zeros(16, np.int32), r"y_true.*2-D.*\(16,\)"),
])
def test_bad_inputs(y_true, y_pred, problem):
    with pytest.raises(ValueError, match=problem):
        score_image(y_true, y_pred)


def test_n_matched_refuses_non_one_to_one_thresholds():
    m = match(np.ones((2, 2), np.int32), np.ones((2, 2), np.int32))
    assert m.n_matched(0.5) == 1
    with pytest.raises(ValueError, match=r"0\.3"):
        m.n_matched(0.3)


def test_results_are_immutable_and_hashable():
    y = _discs((30, 30), {1: (10, 10, 5)})
    scores = score_image(y, y, name="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        scores.name = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        scores.tp[0.5] = 3  # type: ignore[index]
    assert hash(scores) == hash(score_image(y, y, name="x"))
    dataset = summarize([scores])
    with pytest.raises(dataclasses.FrozenInstanceError):
        dataset.images = ()  # type: ignore[misc]
    m = match(y, y)
    with pytest.raises(ValueError, match="read-only"):
        m.iou[0] = 0.0


def test_summarize_refuses_empty_and_duplicate_names():
    y = _discs((30, 30), {1: (10, 10, 5)})
    with pytest.raises(ValueError, match="empty"):
        summarize([])
    with pytest.raises(ValueError, match="'img'"):
        summarize([score_image(y, y, name="img"), score_image(y, y, name="img")])


def test_json_and_table_forms():
    y_true = _discs((60, 60), {1: (15, 15, 8), 2: (45, 45, 8)})
    y_pred = _discs((60, 60), {3: (15, 17, 8)})
    dataset = summarize([score_image(y_true, y_pred, name="a"), score_image(y_true, y_true, name="b")])
    as_dict = json.loads(json.dumps(dataset.to_dict(), allow_nan=False))
    for key in ("average_f1", "f1", "jaccard", "error_rate_at_0.7", "missed_by_size", "extra_objects",
                "splits", "merges", "n_images", "n_true", "n_pred", "images"):
        assert key in as_dict
    assert list(as_dict["f1"]) == ["0.50", "0.55", "0.60", "0.65", "0.70", "0.75", "0.80", "0.85", "0.90"]
    assert as_dict["f1"]["0.70"] == dataset.f1[0.7]
    assert as_dict["average_f1"] == dataset.average_f1
    assert [image["name"] for image in as_dict["images"]] == ["a", "b"]
    assert as_dict["images"][0]["tp"]["0.50"] == 1
    assert as_dict["images"][0]["missed_by_size"]["tiny"] == {"missed": 1, "total": 2}

    frame = dataset.to_frame()
    assert list(frame.columns) == ["image", "threshold", "n_true", "n_pred", "tp", "fp", "fn",
                                   "precision", "recall", "f1"]
    assert len(frame) == 2 * len(THRESHOLDS)
    assert frame.groupby("threshold")["f1"].mean().to_dict() == pytest.approx(dict(dataset.f1))
    row = frame[(frame.image == "a") & (frame.threshold == 0.5)].iloc[0]
    assert (row.tp, row.fp, row.fn) == (1, 0, 1)


def test_dataset_scores_direct_construction_matches_summarize():
    y = _discs((30, 30), {1: (10, 10, 5)})
    scores = [score_image(y, y, name="a"), score_image(y, np.zeros_like(y), name="b")]
    assert DatasetScores(scores) == summarize(scores)


# --- binary masks given as labels -------------------------------------------------------

TWO_DISCS = {1: (10, 10, 5), 2: (30, 30, 6)}


@pytest.mark.parametrize(("dtype", "value"), [(np.uint8, 255), (np.uint8, 1), (np.uint16, 65535), (bool, True),
                                              (np.int32, 7), (np.float32, 1.0)])
def test_several_blobs_of_one_value_look_like_a_binary_mask(dtype, value):
    mask = np.where(_discs((40, 40), TWO_DISCS) > 0, value, 0).astype(dtype)
    assert looks_like_binary_mask(mask)
    labels = label_components(mask)
    assert labels.dtype == np.int32 and labels.max() == 2
    np.testing.assert_array_equal(labels, _discs((40, 40), TWO_DISCS))  # raster order: the upper disc is 1


@pytest.mark.parametrize(("labels", "why"), [
    (np.zeros((40, 40), np.uint8), "empty"),
    (np.where(_discs((40, 40), {1: (20, 20, 8)}) > 0, 255, 0).astype(np.uint8), "one blob is one object"),
    (_discs((40, 40), TWO_DISCS), "two labels"),
    (np.where(_discs((40, 40), TWO_DISCS) > 0, 1, 2).astype(np.uint8), "no background, two values"),
    (np.full((40, 40), 255, np.uint8), "one object covering the image"),
])
def test_label_images_do_not_look_like_binary_masks(labels, why):
    assert not looks_like_binary_mask(labels), why


def test_binary_mask_components_are_4_connected():
    """Pixels touching only at a corner are two components, as in the BBBC039 masks."""
    diagonal = np.eye(3, dtype=np.uint8) * 255
    assert looks_like_binary_mask(diagonal)
    np.testing.assert_array_equal(label_components(diagonal), np.diag([1, 2, 3]))
    assert not looks_like_binary_mask(np.array([[255, 255], [0, 0]], np.uint8))


def test_binary_mask_warning_names_source_values_regions_and_remedy():
    """One wording wherever labels come in: files, packages' outputs, Python segmenters."""
    mask = np.where(_discs((40, 40), TWO_DISCS) > 0, 255, 0).astype(np.uint8)
    warning = label_image_warning(mask, "pred/B04.png", binary_hint="pass --label-components", intensity_hint="")
    assert isinstance(warning, BinaryMaskWarning)
    assert str(warning) == ("pred/B04.png looks like a binary mask, not instance labels (uint8 values 0 and 255 in 2 "
                            "separate regions): all of it counts as ONE object; pass --label-components")
    assert label_image_warning(_discs((40, 40), TWO_DISCS), "pred/B04.png", binary_hint="pass --label-components",
                               intensity_hint="") is None


def test_binary_mask_helpers_refuse_non_images():
    with pytest.raises(ValueError, match=r"2-D.*\(2, 4, 4\)"):
        looks_like_binary_mask(np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="dtype <U1"):
        label_components(np.array([["a"]]))


def test_a_labelled_mask_scores_like_the_truth_and_the_mask_does_not():
    truth = _discs((40, 40), TWO_DISCS)
    mask = (truth > 0).astype(np.uint8) * 255
    areas = np.bincount(truth.ravel())[1:]  # 81 and 113 px
    as_mask = score_image(truth, mask)  # one object: only the larger disc can match it
    assert as_mask.n_pred == 1 and as_mask.jaccard == pytest.approx(areas.max() / areas.sum())
    for t in THRESHOLDS:
        assert _counts(as_mask, t) == ((1, 0, 1) if t < areas.max() / areas.sum() else (0, 1, 2))
    assert score_image(truth, label_components(mask)).f1[0.9] == 1.0


@pytest.mark.parametrize(("dtype", "hint"), [(np.uint8, "label_components"), (np.float32, "--output-kind foreground")])
def test_instance_label_output_that_is_a_binary_mask_warns(dtype, hint):
    """A model whose 'instance labels' are a 0/1 mask: still one object, with a warning that says why."""
    output = (_discs((40, 40), TWO_DISCS) > 0).astype(dtype)[None]
    with pytest.warns(BinaryMaskWarning, match=f"binary mask.*values 0 and 1.*ONE object.*{hint}"):
        labels = to_labels(output, "instance_labels")
    np.testing.assert_array_equal(labels, output[0].astype(np.int32))


def test_instance_label_output_with_labels_or_one_blob_does_not_warn(recwarn):
    for output in (_discs((40, 40), TWO_DISCS), (_discs((40, 40), {1: (20, 20, 8)}) > 0).astype(np.uint8)):
        to_labels(output[None], "instance_labels")
    assert not [w for w in recwarn if issubclass(w.category, BinaryMaskWarning)]
    probabilities = np.stack([1.0 - (_discs((40, 40), TWO_DISCS) > 0), _discs((40, 40), TWO_DISCS) > 0])[:1]
    to_labels(probabilities.astype(np.float32), "foreground")  # probabilities are never checked
    assert not [w for w in recwarn if issubclass(w.category, BinaryMaskWarning)]

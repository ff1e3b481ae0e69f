"""Every zoo model on the awkward inputs real screens produce (docs/awkward-inputs.md): blank
and near-blank fields, hot pixels, saturated artefacts, lone nuclei, black frames, sparse and
background-subtracted fields, extreme values. Its name sorts early, so that its slow DeepCell
cases start first in their test worker (``--dist loadfile``) rather than last."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from artefacts import away_from, lone_nuclei, with_square
from blank_fields import blank_fields

import nucseg_zoo
from nucseg_zoo.images import saturated_artefact
from nucseg_zoo.metrics import score_image, summarize
from nucseg_zoo.training.recipe import read_recipe
from nucseg_zoo.zoo.entry import read_entry

# ---------------------------------------------------------------- fields with little or no dynamic range


@pytest.fixture(scope="module", params=nucseg_zoo.list_models())
def zoo_model(request):
    """Every trained zoo model, at its default precision (fp32)."""
    if not read_entry(request.param).trained:
        pytest.skip(f"{request.param} has no trained weights recorded yet")
    return nucseg_zoo.load_model(request.param)


@pytest.fixture(scope="module")
def raw_labels(zoo_model, sample_split):
    """``raw_labels(i)``: ``zoo_model.segment`` of sample image ``i`` as it is, computed once per
    model (the reference that several perturbation tests compare against)."""
    @functools.cache
    def labels(index: int) -> np.ndarray:
        return zoo_model.segment(sample_split[index].image)
    return labels


def test_a_blank_field_with_a_hot_pixel_has_no_nuclei(zoo_model):
    """Users' report: zeros with one pixel at 4095 gave 8 objects (one of 4,947 px); later
    deepcell-bbbc039 version 1 found one nucleus there."""
    image = np.zeros((520, 696), np.uint16)
    image[200, 300] = 4095
    labels = zoo_model.segment(image)
    assert labels.shape == image.shape and labels.max() == 0


@pytest.mark.parametrize("name", list(blank_fields()))
def test_blank_and_near_blank_fields_have_no_nuclei(zoo_model, name):
    assert zoo_model.segment(blank_fields()[name]).max() == 0


@pytest.mark.parametrize("size", [1, 2, 3], ids=["single pixels", "2x2 spots", "3x3 spots"])
@pytest.mark.parametrize("index, hot_value", [(0, 65535), (1, 4095)], ids=["16-bit saturated", "12-bit saturated"])
def test_hot_pixels_in_a_real_field_add_no_nuclei(zoo_model, sample_split, raw_labels, index, hot_value, size,
                                                  request):
    """30 saturated camera hot pixels (or spots of size x size px) in the background of a real
    field: version 1 of deepcell-bbbc039 found 28 more objects on image 0, version 2 of
    unet-bbbc039-fast 11; version 3 of the fast model made a nucleus of each of ten 2x2 spots
    (critic's report)."""
    from scipy import ndimage as ndi

    sample = sample_split[index]
    background = ~ndi.binary_dilation(sample.labels > 0, iterations=10)
    corners = np.argwhere(background[:-size, :-size] if size > 1 else background)
    hot = corners[np.random.default_rng(0).choice(len(corners), 30, replace=False)]
    spots = np.zeros(sample.image.shape, bool)
    for dy in range(size):
        for dx in range(size):
            spots[hot[:, 0] + dy, hot[:, 1] + dx] = True
    image = np.where(spots, np.uint16(hot_value), sample.image)
    hot_pixels = read_recipe(read_entry(zoo_model.id)).augmentation.hot_pixels or {}
    # measured: 1x1 and 2x2 generalise, 3x3 does not, unless the 270 px at 65535 are clipped as an artefact
    if size >= 3 and hot_pixels.get("max_size", 1) < size and saturated_artefact(image) is None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"{zoo_model.id} is not yet trained with "
                                              f"{size}x{size} hot spots (unet-bbbc039: +30 objects, "
                                              "deepcell-bbbc039: +1..3)"))
    raw, with_hot = raw_labels(index), zoo_model.segment(image)
    assert with_hot.max() == raw.max()
    assert (with_hot[spots] == 0).all()


def test_a_saturated_square_leaves_the_nuclei_around_it_as_they_were(zoo_model, sample_split, raw_labels):
    """Users' report: a 30 x 30 px square at 65535 (0.25 % of the field) pinned the p99.8 of the
    normalisation, and unet-bbbc039-fast found 1 object instead of 152 on a test field."""
    image, square = with_square(sample_split[0].image)
    labels = zoo_model.segment(image)
    clean, found = away_from(raw_labels(0), square), away_from(labels, square)
    assert clean.max() > 20 and score_image(clean, found).f1[0.9] == 1.0
    assert labels.max() <= raw_labels(0).max() + 1  # at most the square itself


def test_a_nucleus_alone_on_zeros_is_one_object(zoo_model, sample_split):
    """Issue 37: one real nucleus (background-subtracted) on a zero image gave unet-bbbc039 4
    objects: both percentiles were 0 and the nucleus a flat plateau at the clip. Now the upper
    percentile comes from the pixels above 0 (measured on 24 nuclei: 9 -> 23 single objects)."""
    for image, truth in lone_nuclei(sample_split[0]):
        labels = zoo_model.segment(image)
        assert labels.max() == 1 and score_image(truth, labels).f1[0.7] == 1.0


@pytest.mark.parametrize("width", [5, 20])
def test_a_black_frame_around_a_real_field_adds_no_nuclei(zoo_model, sample_split, raw_labels, width, request):
    """Critic's report: a 20-px zero frame around test image B04 gave unet-bbbc039-fast 21 and
    unet-bbbc039 22 more objects along the frame (bands of background read as nuclei);
    on the three sample images version 3 of the fast model went from 1-8 to 16-41 extra
    objects (F1 at IoU 0.7 down by up to 0.10). Trained with ``padded_borders``, versions 4
    and 5 add 0-5 (F1 down by at most 0.028: the frame also changes the field's normalisation),
    within the bound asserted here."""
    if not read_recipe(read_entry(zoo_model.id)).augmentation.padded_borders:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"{zoo_model.id} is not yet trained with "
                                              "black frames (augmentation padded_borders)"))
    for index, sample in enumerate(sample_split):
        raw = score_image(sample.labels, raw_labels(index))
        framed_image = np.pad(sample.image, width)
        framed = score_image(sample.labels, zoo_model.segment(framed_image)[width:-width, width:-width])
        assert framed.extra_objects <= raw.extra_objects + 6, (sample.name, raw, framed)
        assert framed.f1[0.7] >= raw.f1[0.7] - 0.03, (sample.name, raw, framed)


def _sparse_field(sample, *, flat: bool) -> tuple[np.ndarray, np.ndarray]:
    """Three real nuclei of ``sample`` on a background with nothing else (flat, or the
    image's own background pixels shuffled); returns the image and its true labels."""
    from scipy import ndimage as ndi

    image, labels = sample.image.astype(np.float32), sample.labels
    areas = np.bincount(labels.ravel())
    keep_ids = [i for i in range(1, labels.max() + 1) if 150 < areas[i] < 600][:3]
    keep = np.isin(labels, keep_ids)
    near = ndi.binary_dilation(keep, iterations=6)
    background = image[~ndi.binary_dilation(labels > 0, iterations=8)]
    fill = np.median(background) if flat else np.random.default_rng(1).choice(background, size=image.shape)
    return np.where(near, image, fill).astype(np.uint16), np.where(keep, labels, 0)


@pytest.mark.parametrize("flat", [True, False], ids=["flat background", "background texture"])
def test_a_sparse_field_keeps_its_nuclei(zoo_model, sample_split, flat):
    """With 3 nuclei p99.8 lies in the background, so the nuclei normalise far above 1;
    the clip turns them into bright plateaus that are still found, one object each."""
    image, truth = _sparse_field(sample_split[0], flat=flat)
    scores = score_image(truth, zoo_model.segment(image))
    assert scores.n_true == 3 and scores.f1[0.7] == 1.0, scores


def test_a_background_subtracted_field_is_segmented_like_the_raw_one(zoo_model, sample_split, raw_labels):
    sample = sample_split[0]
    subtracted = np.clip(sample.image.astype(np.float32) - np.percentile(sample.image, 60), 0, None)
    raw = summarize([score_image(sample.labels, raw_labels(0))])
    assert np.mean(subtracted == 0) >= 0.6
    result = summarize([score_image(sample.labels, zoo_model.segment(subtracted.astype(np.uint16)))])
    assert result.f1[0.7] >= raw.f1[0.7] - 0.01 and result.f1[0.5] > 0.95


def test_extreme_finite_values_are_refused_like_nan_by_every_zoo_model(zoo_model):
    """Issue 37: a band of float32's maximum (a no-data fill) gave 0 nuclei and "ok"."""
    image = np.random.default_rng(0).integers(0, 4000, (520, 696), dtype=np.uint16).astype(np.float32)
    image[:40] = np.finfo(np.float32).max
    with pytest.raises(ValueError, match=r"^image contains extreme values: 27,840 pixels of 361,920 have a "
                                         r"magnitude above 1e\+18 \(the largest 3.4e\+38\), within rows 0-39 and "
                                         r"columns 0-695 \(first at row 0, column 0\); such values are no intensities"):
        zoo_model.segment(image)
    from nucseg_zoo.images import as_image

    assert as_image(np.full((4, 4), 1e17)).shape == (4, 4)  # below the bound: accepted

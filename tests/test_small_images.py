"""Tiny and small images through the zoo U-Net and its bioimage.io package.

Every segmenter either segments an image of at least 1 x 1 px (labels of the input's shape,
numbered 1..N) or refuses it with a ValueError naming its minimum size. The classical
baselines are checked in tests/test_baselines.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import ndimage as ndi

torch = pytest.importorskip("torch")

from nucseg_zoo import load_model  # noqa: E402
from nucseg_zoo.metrics import score_image  # noqa: E402

MODEL_ID = "unet-bbbc039"
TINY_SHAPES = [(1, 1), (1, 696), (520, 1), (2, 2), (3, 5), (7, 7), (8, 8), (16, 16)]
# Found while writing these tests: the postprocessing's hole filling took the whole
# background of an image of <= 64 px for a hole (fixed: holes no longer touch the border),
# and 1-px strips of background gave objects (refused now: nucleus models need 2 x 2 px).


def _shape_id(shape: tuple[int, int]) -> str:
    return f"{shape[0]}x{shape[1]}"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def zoo_model():
    return load_model(MODEL_ID)


@pytest.fixture(scope="module")
def package_model(tmp_path_factory):
    """The shipped model as a bioimage.io package (built without test_model: seconds)."""
    from nucseg_zoo.packaging import build_package
    from nucseg_zoo.zoo.entry import read_entry

    return load_model(str(build_package(read_entry(MODEL_ID), tmp_path_factory.mktemp("dist")).path))


@pytest.fixture(params=["zoo", "package"])
def model(request):
    return request.getfixturevalue(f"{request.param}_model")


def _segment_or_refuse(model, image: np.ndarray) -> np.ndarray | None:
    """The labels, checked; or None after a ValueError that names a minimum size."""
    try:
        labels = model.segment(image)
    except ValueError as err:
        assert re.search(r"at least \d+\s*[x×]\s*\d+ px", str(err)), err
        return None
    assert labels.shape == image.shape and labels.dtype == np.int32
    np.testing.assert_array_equal(np.setdiff1d(labels, [0]), np.arange(1, labels.max() + 1))  # 1..N
    return labels


def _background(sample_split, shape: tuple[int, int]) -> np.ndarray:
    """A crop of sample image 0 farther than 15 px from every true nucleus."""
    sample = sample_split[0]
    far = ndi.distance_transform_edt(sample.labels == 0) > 15
    for r in range(0, far.shape[0] - shape[0] + 1, 8):
        for c in range(0, far.shape[1] - shape[1] + 1, 8):
            if far[r:r + shape[0], c:c + shape[1]].all():
                return sample.image[r:r + shape[0], c:c + shape[1]]
    raise AssertionError(f"no background window of {shape} px")


@pytest.mark.parametrize("shape", TINY_SHAPES, ids=_shape_id)
def test_tiny_images_are_segmented_or_refused(model, sample_split, shape):
    sample = sample_split[2]  # the densest image: crops through nuclei
    r, c = (int(v) for v in ndi.center_of_mass(sample.labels == 1))
    top = min(max(0, r - shape[0] // 2), sample.image.shape[0] - shape[0])
    left = min(max(0, c - shape[1] // 2), sample.image.shape[1] - shape[1])
    for image in (np.zeros(shape, np.uint16), sample.image[top:top + shape[0], left:left + shape[1]]):
        _segment_or_refuse(model, image)


@pytest.mark.parametrize("shape", TINY_SHAPES, ids=_shape_id)
def test_tiny_images_without_nuclei_have_none(model, sample_split, shape):
    for image in (np.zeros(shape, np.uint16), np.full(shape, 150, np.uint16), _background(sample_split, shape)):
        labels = _segment_or_refuse(model, image)
        assert labels is None or labels.max() == 0


def test_a_nucleus_is_found_in_a_40_px_crop(model, sample_split):
    sample = sample_split[1]
    label = 8  # alone in its 40 x 40 window
    r, c = (int(v) for v in ndi.center_of_mass(sample.labels == label))
    window = (slice(r - 20, r + 20), slice(c - 20, c + 20))
    assert set(np.unique(sample.labels[window])) == {0, label}
    labels = _segment_or_refuse(model, sample.image[window])
    assert score_image((sample.labels[window] == label).astype(np.int32), labels).tp[0.5] == 1


@pytest.mark.parametrize("shape", [(1, 1), (1, 696), (520, 1)], ids=_shape_id)
def test_a_one_pixel_side_is_refused_with_the_minimum_size(model, shape):
    with pytest.raises(ValueError, match=r"at least 2 × 2 px, got \d+ × \d+ px"):
        model.segment(np.full(shape, 150, np.uint16))

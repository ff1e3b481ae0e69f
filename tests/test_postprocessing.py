"""Shared postprocessing and its adapters recover instances from ideal network outputs."""

from dataclasses import replace

import numpy as np
import pytest

from nucseg_zoo.metrics import score_image, summarize
from nucseg_zoo.postprocessing import (
    InstanceLabelParams,
    PostprocessingParams,
    from_foreground,
    from_foreground_boundary,
    from_instance_labels,
    probabilities_to_labels,
    to_labels,
)
from nucseg_zoo.targets import three_class_targets


def _one_hot(classes: np.ndarray) -> np.ndarray:
    return np.stack([(classes == c) for c in range(3)]).astype(np.float32)


@pytest.mark.parametrize("method", ["grow", "watershed"])
def test_ideal_three_class_map_gives_back_the_ground_truth(sample_split, method):
    # on an ideal map the band's outer ring has P(background) = 1, so growth stops there
    params = PostprocessingParams(method=method, grow_distance=2)
    scores = [score_image(s.labels, probabilities_to_labels(_one_hot(three_class_targets(s.labels)), params),
                          name=s.name) for s in sample_split]
    summary = summarize(scores)
    # tiny nuclei (< 4 px across) have no interior class and are lost by design
    assert summary.average_f1 > 0.95
    assert summary.f1[0.5] > 0.98


def test_growing_restores_full_nuclei_size():
    labels = np.zeros((40, 40), np.int32)
    labels[5:25, 5:25] = 1
    out = probabilities_to_labels(_one_hot(three_class_targets(labels)), PostprocessingParams(grow_distance=2))
    assert out.dtype == np.int32 and out.max() == 1
    assert abs(int((out == 1).sum()) - 400) <= 20


def test_rescue_adds_isolated_compact_blobs_that_no_seed_reached():
    classes = np.zeros((48, 48), np.int64)
    classes[19:29, 19:29] = 2
    classes[20:28, 20:28] = 1   # a nucleus: interior inside a boundary ring
    classes[29:34, 22:27] = 2   # a boundary blob touching it: part of the nucleus, not a new object
    classes[4:9, 4:9] = 2       # a micronucleus predicted as boundary only (25 px, no interior seed)
    classes[40:42, 4:40] = 2    # a thin boundary band (eccentric)
    probs = _one_hot(classes)
    rescue = PostprocessingParams(grow_distance=1, rescue_background_threshold=0.05, rescue_max_eccentricity=0.8)
    out = probabilities_to_labels(probs, rescue)
    assert out.max() == 2
    assert len(np.unique(out[4:9, 4:9])) == 1 and out[6, 6] > 0 and out[6, 6] != out[24, 24]
    assert not out[40:42, 4:40].any()
    assert probabilities_to_labels(probs, replace(rescue, rescue_background_threshold=0.0)).max() == 1
    assert probabilities_to_labels(probs, replace(rescue, rescue_max_eccentricity=1.0)).max() == 3


def test_adapters_for_other_output_conventions(sample_split):
    truth = sample_split[1].labels
    classes = three_class_targets(truth)
    foreground = (truth > 0).astype(np.float32)
    boundary = (classes == 2).astype(np.float32)
    fb = from_foreground_boundary(np.stack([foreground, boundary]))
    assert summarize([score_image(truth, fb, name="fb")]).average_f1 > 0.9
    fg = from_foreground(foreground)  # no boundary: touching nuclei merge, but objects are found
    assert fg.max() > 0.7 * truth.max()
    relabelled = from_instance_labels(truth * 3, InstanceLabelParams(min_size=0))
    assert relabelled.max() == truth.max() and relabelled.dtype == np.int32
    np.testing.assert_array_equal(to_labels(truth, "instance_labels"), from_instance_labels(truth))


def test_min_size_removes_small_objects():
    labels = np.zeros((30, 30), np.int32)
    labels[2:5, 2:5] = 1   # 9 px
    labels[10:20, 10:20] = 2
    assert from_instance_labels(labels, InstanceLabelParams(min_size=16)).max() == 1


def test_params_round_trip_and_validation():
    params = PostprocessingParams(interior_threshold=0.4, method="watershed")
    assert PostprocessingParams.from_dict(params.to_dict()) == params
    with pytest.raises(ValueError, match="unknown postprocessing parameters"):
        PostprocessingParams.from_dict({"threshold": 0.5})
    with pytest.raises(ValueError, match="method"):
        PostprocessingParams(method="magic")
    with pytest.raises(ValueError, match="interior_threshold"):
        PostprocessingParams(interior_threshold=1.5)
    with pytest.raises(ValueError, match="rescue_max_eccentricity"):
        PostprocessingParams(rescue_max_eccentricity=-0.1)


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        probabilities_to_labels(np.zeros((2, 8, 8), np.float32))
    with pytest.raises(ValueError, match="floating-point"):
        probabilities_to_labels(np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="unknown output kind"):
        to_labels(np.zeros((8, 8)), "heatmap")
    with pytest.raises(ValueError, match="whole numbers"):
        from_instance_labels(np.full((4, 4), 0.5))


def test_an_instance_label_output_that_is_an_image_warns(sample_split):
    """A package whose "instance labels" are an image (every value in many separate places)."""
    from nucseg_zoo.metrics import IntensityImageWarning

    image = (sample_split[0].image // 16).astype(np.uint8)
    with pytest.warns(IntensityImageWarning, match=r"the model's instance-label output looks like an intensity "
                                                   r"image.*--output-kind"):
        to_labels(image[None].astype(np.float32), "instance_labels", InstanceLabelParams(min_size=0))

"""Three-class targets on hand-made label images."""

import numpy as np
import pytest

from nucseg_zoo.targets import BACKGROUND, BOUNDARY, INTERIOR, three_class_targets


def test_single_square_has_a_three_pixel_band_around_its_contour():
    labels = np.zeros((12, 12), np.int32)
    labels[2:10, 2:10] = 1
    classes = three_class_targets(labels)
    # contour ring at rows/cols 2 and 9, widened one inside (3, 8) and one outside (1, 10)
    assert classes[1, 5] == BOUNDARY and classes[2, 5] == BOUNDARY and classes[3, 5] == BOUNDARY
    assert classes[4, 5] == INTERIOR and classes[0, 5] == BACKGROUND
    np.testing.assert_array_equal(classes[4:8, 4:8], INTERIOR)
    assert (classes == INTERIOR).sum() == 16


def test_touching_objects_are_separated_by_boundary():
    labels = np.zeros((10, 16), np.int32)
    labels[1:9, 1:8] = 1
    labels[1:9, 8:15] = 2
    classes = three_class_targets(labels)
    # columns 7 and 8 are both contours; the band covers 6..9
    np.testing.assert_array_equal(classes[4, 6:10], BOUNDARY)
    assert classes[4, 4] == INTERIOR and classes[4, 11] == INTERIOR


def test_image_border_is_not_an_object_edge():
    labels = np.zeros((10, 10), np.int32)
    labels[0:6, 0:6] = 1
    classes = three_class_targets(labels)
    assert classes[0, 0] == INTERIOR and classes[0, 3] == INTERIOR
    assert classes[0, 5] == BOUNDARY and classes[5, 0] == BOUNDARY


def test_one_pixel_object_is_all_boundary():
    labels = np.zeros((5, 5), np.int32)
    labels[2, 2] = 7
    classes = three_class_targets(labels)
    assert classes.dtype == np.uint8
    np.testing.assert_array_equal(classes[1:4, 1:4], BOUNDARY)
    assert (classes == INTERIOR).sum() == 0 and (classes == BOUNDARY).sum() == 9


def test_rejects_non_integer_or_non_2d():
    with pytest.raises(ValueError, match="2-D integer"):
        three_class_targets(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="2-D integer"):
        three_class_targets(np.zeros((2, 4, 4), np.int32))

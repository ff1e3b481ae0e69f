"""Three-class targets on hand-made label images."""

import numpy as np
import pytest

from nucseg_zoo.targets import BACKGROUND, BOUNDARY, INTERIOR, pixel_weights, three_class_targets


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


def test_tiny_nucleus_has_no_interior_with_the_papers_band_but_keeps_one_with_a_thin_boundary():
    labels = np.zeros((12, 12), np.int32)
    labels[4:8, 4:8] = 3  # a 4x4 micronucleus (16 px)
    paper = three_class_targets(labels)
    assert (paper == INTERIOR).sum() == 0
    thin = three_class_targets(labels, thin_boundary_max_area=16)
    np.testing.assert_array_equal(thin[5:7, 5:7], INTERIOR)  # the 2x2 centre
    assert (thin == BOUNDARY).sum() == 12  # its contour only
    assert (thin[labels == 0] == BACKGROUND).all()  # no band outside the nucleus
    # one pixel larger than the limit: the paper's band again
    np.testing.assert_array_equal(three_class_targets(labels, thin_boundary_max_area=15), paper)


def test_thin_boundary_leaves_large_nuclei_and_their_band_unchanged():
    labels = np.zeros((14, 20), np.int32)
    labels[1:13, 1:11] = 1  # 120 px nucleus
    labels[5:9, 11:15] = 2  # 16 px micronucleus touching it on the right
    thin = three_class_targets(labels, thin_boundary_max_area=16)
    paper = three_class_targets(labels)
    np.testing.assert_array_equal(thin[:, :11], paper[:, :11])
    # the large nucleus's band reaches one pixel into the micronucleus (column 11)
    np.testing.assert_array_equal(thin[5:9, 11], BOUNDARY)
    np.testing.assert_array_equal(thin[6:8, 12:14], INTERIOR)


def test_thin_boundary_area_must_not_be_negative():
    with pytest.raises(ValueError, match="thin_boundary_max_area"):
        three_class_targets(np.zeros((4, 4), np.int32), thin_boundary_max_area=-1)


def test_pixel_weights_are_class_weights_unless_the_interior_of_a_small_nucleus_is_overridden():
    labels = np.zeros((14, 20), np.int32)
    labels[1:13, 1:11] = 1  # 120 px nucleus
    labels[4:8, 14:18] = 2  # 16 px micronucleus, apart
    classes = three_class_targets(labels, thin_boundary_max_area=16)
    plain = pixel_weights(labels, classes, (1.0, 2.0, 10.0), small_max_area=16)
    np.testing.assert_array_equal(plain, np.array([1.0, 2.0, 10.0], np.float32)[classes])
    assert plain.dtype == np.float32

    weighted = pixel_weights(labels, classes, (1.0, 2.0, 10.0), small_max_area=16, small_interior_weight=7.0)
    np.testing.assert_array_equal(weighted[5:7, 15:17], 7.0)  # the micronucleus's 2x2 interior
    changed = weighted != plain
    np.testing.assert_array_equal(changed, (labels == 2) & (classes == INTERIOR))

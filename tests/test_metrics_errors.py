"""object_errors names the objects that score_image counts (one source of truth)."""

from __future__ import annotations

import numpy as np
from skimage.draw import disk

from nucseg_zoo.metrics import SIZE_BINS, object_errors, score_image


def _paint(shape, discs):
    y = np.zeros(shape, np.int32)
    for label, (r, c, radius) in discs.items():
        y[disk((r, c), radius, shape=shape)] = label
    return y


def test_each_kind_of_error_is_named_by_label_id():
    shape = (120, 200)
    truth = _paint(shape, {1: (20, 20, 12),    # found
                           2: (20, 60, 5),     # tiny (~80 px), missed
                           3: (60, 30, 10),    # small (~310 px), split in two
                           4: (60, 80, 10),    # } merged by one predicted object
                           5: (60, 104, 10),   # }
                           6: (100, 150, 18)})  # large (~1000 px), found
    prediction = np.zeros(shape, np.int32)
    prediction[truth == 1] = 7
    prediction[(truth == 3) & (np.arange(shape[1]) < 30)] = 8
    prediction[(truth == 3) & (np.arange(shape[1]) >= 30)] = 9
    prediction[(truth == 4) | (truth == 5)] = 10
    prediction[truth == 6] = 11
    prediction[_paint(shape, {1: (100, 40, 6)}) == 1] = 12  # extra: no GT there

    errors = object_errors(truth, prediction)
    assert {b: ids.tolist() for b, ids in errors.missed.items()} == {
        "tiny": [2], "small": [3, 4, 5], "normal": [], "large": []}
    assert dict(errors.true_per_bin) == {"tiny": 1, "small": 4, "normal": 0, "large": 1}
    assert errors.extra.tolist() == [8, 9, 10, 12]
    assert errors.split.tolist() == [3] and errors.merged.tolist() == [10]
    assert errors.n_missed == 4

    scores = score_image(truth, prediction)
    assert scores.splits == 1 and scores.merges == 1 and scores.extra_objects == 4 and scores.missed == 4
    assert {b: scores.missed_by_size[b] for b in SIZE_BINS} == {
        "tiny": (1, 1), "small": (3, 4), "normal": (0, 0), "large": (0, 1)}


def test_label_ids_keep_their_dtype_and_values_and_arrays_are_read_only():
    truth = np.zeros((10, 10), np.uint16)
    truth[1:4, 1:4] = 500
    prediction = np.zeros((10, 10), np.int64)
    prediction[6:9, 6:9] = 70_000
    errors = object_errors(truth, prediction)
    assert errors.missed["tiny"].tolist() == [500] and errors.missed["tiny"].dtype == np.uint16
    assert errors.extra.tolist() == [70_000]
    assert not errors.extra.flags.writeable


def test_empty_images_have_no_errors():
    errors = object_errors(np.zeros((5, 5), np.int32), np.zeros((5, 5), np.int32))
    assert errors.n_missed == 0 and not len(errors.extra) and not len(errors.split) and not len(errors.merged)

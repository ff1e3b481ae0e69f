"""The inputs of a batch run: files, folders and patterns, their keys, images read as 2-D."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from screen_plate import write_plate

from nucseg_zoo.image_files import read_image
from nucseg_zoo.screens.inputs import find_inputs


@pytest.fixture
def plate(tmp_path, sample_split) -> Path:
    """A small screen: plate/A/<3 fields>, plate/B/<the first again> (:func:`screen_plate.write_plate`)."""
    return write_plate(tmp_path / "plate", sample_split)


def test_inputs_from_folders_patterns_and_files_mirror_their_folders(plate):
    by_folder = find_inputs([plate])
    assert [i.key for i in by_folder] == ["plate/A/f1", "plate/A/f2", "plate/A/f3", "plate/B/f1"]
    assert [i.key for i in find_inputs([str(plate / "**" / "f1.*")])] == ["A/f1", "B/f1"]
    assert [i.key for i in find_inputs([plate / "A" / "f2.tif"])] == ["f2"]
    assert len(find_inputs([plate, plate / "A" / "f1.tif"])) == 4  # named twice, segmented once
    with pytest.raises(ValueError, match="matches no"):
        find_inputs([str(plate / "*.jpg")])
    with pytest.raises(FileNotFoundError, match="neither a file"):
        find_inputs([plate / "missing.tif"])
    assert [i.key for i in find_inputs(str(plate / "A"))] == ["A/f1", "A/f2", "A/f3"]  # one spec as a string


def test_single_plane_hyperstacks_and_ome_tiffs_read_as_2d(plate, sample_split):
    np.testing.assert_array_equal(read_image(plate / "A" / "f2.tif"), sample_split[1].image)
    np.testing.assert_array_equal(read_image(plate / "A" / "f3.ome.tif"), sample_split[2].image)
    tifffile.imwrite(plate / "two.tif", np.zeros((2, 8, 8), np.uint16))
    with pytest.raises(ValueError, match=r"two.tif: expected a 2-D \(y, x\) single-channel image, found axes QYX, "
                                         r"shape \(2, 8, 8\): 2 planes; pass --plane 0 or 1 \(plane= in Python\)$"):
        read_image(plate / "two.tif")

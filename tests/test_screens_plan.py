"""The plan of a batch run: where each output goes, and the checks made before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from screen_plate import write_plate

from nucseg_zoo.screens import segment_images
from nucseg_zoo.screens.plan import image_outputs, removed_if_left_empty


@pytest.fixture
def plate(tmp_path, sample_split) -> Path:
    """A small screen: plate/A/<3 fields>, plate/B/<the first again> (:func:`screen_plate.write_plate`)."""
    return write_plate(tmp_path / "plate", sample_split)


def test_the_plan_is_checked_before_the_cluster_starts(plate, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "nuclei.parquet").write_bytes(b"someone else's table")
    with pytest.raises(ValueError, match="was not written by `nucseg-zoo segment`"):
        segment_images([plate], model="cp-basic", out=out, workers=2, progress=False)
    assert (out / "nuclei.parquet").read_bytes() == b"someone else's table"
    with pytest.raises(ValueError, match="either workers"):
        segment_images([plate], model="cp-basic", out=out, workers=2, scheduler="tcp://localhost:1")


def test_bad_arguments_write_nothing(plate, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="unknown"):
        segment_images([plate], model="cp-basik", out=out, progress=False)
    with pytest.raises(ValueError, match="positive pixel value"):
        segment_images([plate], model="cp-basic", out=out, saturation_value=-5, progress=False)
    assert not out.exists()


def test_an_images_files_lie_below_out_at_its_key(tmp_path):
    assert image_outputs(tmp_path, "plate1/A01") == {"labels": tmp_path / "plate1" / "A01.tif",
                                                     "nuclei": tmp_path / "plate1" / "A01.nuclei.parquet",
                                                     "rois": tmp_path / "plate1" / "A01.rois.zip"}


def test_a_failed_start_removes_the_empty_folders_it_created_and_no_other(tmp_path):
    existing = tmp_path / "existing"
    existing.mkdir()
    out = existing / "new" / "out"
    with pytest.raises(RuntimeError), removed_if_left_empty(out):
        (out / "plate" / "A").mkdir(parents=True)
        raise RuntimeError("the model failed")
    assert existing.is_dir() and list(existing.iterdir()) == []
    with pytest.raises(RuntimeError), removed_if_left_empty(out):
        out.mkdir(parents=True)
        (out / "kept.txt").write_text("an output")
        raise RuntimeError("the model failed")
    assert (out / "kept.txt").is_file()  # a folder with a file in it stays

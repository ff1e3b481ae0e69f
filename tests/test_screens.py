"""Batch runs over a screen, end to end: every output of a run, bad images reported and skipped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from screen_plate import write_plate

from nucseg_zoo.baselines import get_baseline
from nucseg_zoo.cli import main
from nucseg_zoo.screens import MEASURE_COLUMNS, dna_content, measure, readout_intensities, segment_images


@pytest.fixture
def plate(tmp_path, sample_split) -> Path:
    """A small screen: plate/A/<3 fields>, plate/B/<the first again> (:func:`screen_plate.write_plate`)."""
    return write_plate(tmp_path / "plate", sample_split)


def test_a_batch_run_writes_labels_tables_readout_and_manifest(plate, tmp_path, sample_split):
    out = tmp_path / "out"
    summary = segment_images([plate], model="cp-basic", out=out, csv=True, rois=True, saturation_value=4095,
                             progress=False)
    assert summary.counts() == {"segmented": 4, "skipped": 0, "failed": 0}
    expected = get_baseline("cp-basic").segment(sample_split[0].image)
    for key in ("plate/A/f1", "plate/B/f1"):  # the PNG holds the same pixels as the TIFF
        np.testing.assert_array_equal(tifffile.imread(out / f"{key}.tif"), expected)
    nuclei = pd.read_parquet(out / "nuclei.parquet")
    assert list(nuclei.columns) == list(MEASURE_COLUMNS)
    assert nuclei["image"].tolist()[:1] == ["plate/A/f1"] and set(nuclei["image"]) == {"plate/A/f1", "plate/A/f2", "plate/A/f3", "plate/B/f1"}
    first = nuclei[nuclei["image"] == "plate/A/f1"].reset_index(drop=True)
    pd.testing.assert_frame_equal(first.astype({"image": object}),
                                  measure(expected, sample_split[0].image, image_name="plate/A/f1"))
    pd.testing.assert_frame_equal(pd.read_csv(out / "nuclei.csv").astype(nuclei.dtypes.to_dict()), nuclei,
                                  check_exact=False)
    images = pd.read_parquet(out / "images.parquet")
    assert images["image"].tolist() == ["plate/A/f1", "plate/A/f2", "plate/A/f3", "plate/B/f1"]
    assert images["n_nuclei"].tolist() == nuclei.groupby("image", sort=False).size().tolist()
    assert (images["status"] == "ok").all() and not images["blank_field"].any()
    assert images["g1_peak"].notna().all() and ((images["fraction_2n"] > 0.3) & (images["fraction_2n"] <= 1)).all()
    for image, rows in nuclei.groupby("image", sort=False):  # cut-off nuclei are not in the DNA readout
        readout = dna_content(readout_intensities(rows))
        assert rows["touches_border"].any()
        assert images.set_index("image").loc[image, "g1_peak"] == pytest.approx(readout.g1_peak)
        assert images.set_index("image").loc[image, "fraction_2n"] == pytest.approx(readout.fraction_2n)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"] == "cp-basic" and len(manifest["model_sha256"]) == 64
    assert manifest["counts"] == {"segmented": 4, "skipped": 0, "failed": 0, "not_reached": 0}
    assert manifest["complete"] is True and manifest["parameters"]["selection"] == {}
    assert manifest["parameters"]["saturation_value"] == 4095 and "nucseg-zoo" in manifest["versions"]
    assert [image["status"] for image in manifest["images"]] == ["segmented"] * 4
    import roifile

    assert len(roifile.roiread(out / "plate" / "A" / "f1.rois.zip")) == int(expected.max())
    assert (out / "dna_content.png").read_bytes()[:4] == b"\x89PNG"


def test_a_bad_image_is_reported_and_skipped_and_the_exit_status_says_so(plate, tmp_path, capsys):
    (plate / "A" / "broken.tif").write_bytes(b"II*\x00 truncated")
    out = tmp_path / "out"
    assert main(["segment", "cp-basic", str(plate), "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "4 images segmented, 0 skipped (done in an earlier run), 1 failed" in err
    assert f"failed: {plate / 'A' / 'broken.tif'}: ValueError" in err
    images = pd.read_parquet(out / "images.parquet").set_index("image")
    assert images.loc["plate/A/broken", "status"] == "failed" and "cannot read it" in images.loc["plate/A/broken", "reason"]
    assert not (out / "plate" / "A" / "broken.tif").exists()

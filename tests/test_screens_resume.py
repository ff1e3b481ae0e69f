"""Resumed batch runs: what an earlier run did is skipped, what it left unfinished is redone,
every output is kept current, and outputs are a model's by its identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from screen_plate import run_files, write_plate

from nucseg_zoo.screens import segment_images
from nucseg_zoo.screens.records import RunOptions
from nucseg_zoo.screens.resume import same_model


@pytest.fixture
def plate(tmp_path, sample_split) -> Path:
    """A small screen: plate/A/<3 fields>, plate/B/<the first again> (:func:`screen_plate.write_plate`)."""
    return write_plate(tmp_path / "plate", sample_split)


def test_a_folders_keys_do_not_change_as_it_fills_and_out_inside_it_is_not_read(plate, tmp_path, sample_split):
    """Critic's report: a plate with only A/ gave key `f1`, then `A/f1` once B/ existed, so the
    resumed run redid everything; and an --out folder inside the plate was read as input."""
    only_a = tmp_path / "growing"
    (only_a / "A").mkdir(parents=True)
    tifffile.imwrite(only_a / "A" / "f1.tif", sample_split[0].image)
    out = only_a / "results"
    segment_images([only_a], model="cp-basic", out=out, progress=False)
    assert (out / "growing" / "A" / "f1.tif").is_file()
    (only_a / "B").mkdir()
    tifffile.imwrite(only_a / "B" / "f2.tif", sample_split[1].image)
    again = segment_images([only_a], model="cp-basic", out=out, progress=False)
    assert [(r.image, r.status) for r in again.results] == [("growing/A/f1", "skipped"), ("growing/B/f2", "segmented")]


def test_a_resumed_run_skips_finished_images_and_redoes_unfinished_ones(plate, tmp_path):
    out = tmp_path / "out"
    segment_images([plate], model="cp-basic", out=out, progress=False)
    first = run_files(out)
    (out / "plate" / "A" / "f2.nuclei.parquet").unlink()  # interrupted after the labels, before the measurements
    summary = segment_images([plate], model="cp-basic", out=out, progress=False)
    assert [r.status for r in summary.results] == ["skipped", "segmented", "skipped", "skipped"]
    assert run_files(out) == first
    # a changed input is not silently replaced
    tifffile.imwrite(plate / "A" / "f1.tif", np.zeros((64, 64), np.uint16))
    again = segment_images([plate], model="cp-basic", out=out, progress=False)
    assert again.results[0].status == "failed" and "pass --overwrite" in again.results[0].reason


def test_a_resumed_run_keeps_every_output_current(plate, tmp_path):
    """Critic's report: after --overwrite without --csv/--rois the earlier CSV and ROIs kept the old
    labels' numbers, and a resumed run with a new --saturation-value kept the old flags."""
    import roifile

    out = tmp_path / "out"
    segment_images([plate], model="cp-basic", out=out, csv=True, rois=True, progress=False)
    tifffile.imwrite(plate / "A" / "f1.tif", np.zeros((64, 64), np.uint16) + 7)  # a changed input
    segment_images([plate], model="cp-basic", out=out, overwrite=True, progress=False)  # no --csv, no --rois
    images = pd.read_csv(out / "images.csv").set_index("image")
    assert images.loc["plate/A/f1", "n_nuclei"] == 0 == len(roifile.roiread(out / "plate" / "A" / "f1.rois.zip"))
    resumed = segment_images([plate], model="cp-basic", out=out, saturation_value=7, progress=False)
    assert resumed.results[0].status == "skipped" and resumed.results[0].quality["saturated_fraction"] == 1.0
    table = pd.read_parquet(out / "images.parquet")
    assert str(table["n_nuclei"].dtype) == "Int64" and str(table["blank_field"].dtype) == "boolean"


def test_rois_asked_for_on_resume_are_added_without_segmenting_again(plate, tmp_path):
    out = tmp_path / "out"
    segment_images([plate], model="cp-basic", out=out, progress=False)
    again = segment_images([plate], model="cp-basic", out=out, rois=True, progress=False)
    assert {r.status for r in again.results} == {"skipped"}
    assert (out / "plate" / "B" / "f1.rois.zip").is_file()


def test_outputs_are_a_models_by_its_sha256_and_by_its_spelling_only_without_one():
    now = RunOptions(source="unet-bbbc039", model_sha256="a" * 64)
    assert same_model({"model": "./unet.zip", "model_sha256": "a" * 64}, now)  # spelled otherwise, same weights
    assert not same_model({"model": "unet-bbbc039", "model_sha256": "b" * 64}, now)  # same name, other weights
    assert same_model({"model": "unet-bbbc039"}, now)  # recorded by a version that kept no sha256
    assert not same_model({"model": "cp-basic"}, now)

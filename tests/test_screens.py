"""Batch runs over a screen: inputs, mirrored outputs, tables, resume, bad images, Dask."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from nucseg_zoo.baselines import get_baseline
from nucseg_zoo.cli import main
from nucseg_zoo.screens import MEASURE_COLUMNS, dna_content, measure, segment_images
from nucseg_zoo.screens.inputs import find_inputs, read_image


@pytest.fixture
def plate(tmp_path, sample_split) -> Path:
    """A small screen: plate/A/<3 fields>.tif (one as a single-plane ImageJ hyperstack, one as
    an OME-TIFF with singleton axes), plate/B/<the first field again>.png."""
    import imageio.v3 as iio

    root = tmp_path / "plate"
    (root / "A").mkdir(parents=True)
    (root / "B").mkdir()
    first, second, third = (sample.image for sample in sample_split)
    tifffile.imwrite(root / "A" / "f1.tif", first)
    tifffile.imwrite(root / "A" / "f2.tif", second[None, None, None], imagej=True)  # TZCYX, one plane
    tifffile.imwrite(root / "A" / "f3.ome.tif", third[None, None], ome=True, metadata={"axes": "CZYX"})
    iio.imwrite(root / "B" / "f1.png", first)
    return root


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}


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


def test_single_plane_hyperstacks_and_ome_tiffs_read_as_2d(plate, sample_split):
    np.testing.assert_array_equal(read_image(plate / "A" / "f2.tif"), sample_split[1].image)
    np.testing.assert_array_equal(read_image(plate / "A" / "f3.ome.tif"), sample_split[2].image)
    tifffile.imwrite(plate / "two.tif", np.zeros((2, 8, 8), np.uint16))
    with pytest.raises(ValueError, match=r"2-D \(y, x\) single-channel image, got shape \(2, 8, 8\): 2 channels or "
                                         r"planes \(first axis\); pass the nuclear-stain channel alone"):
        read_image(plate / "two.tif")


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
        readout = dna_content(rows.loc[~rows["touches_border"], "integrated_intensity"].to_numpy())
        assert rows["touches_border"].any()
        assert images.set_index("image").loc[image, "g1_peak"] == pytest.approx(readout.g1_peak)
        assert images.set_index("image").loc[image, "fraction_2n"] == pytest.approx(readout.fraction_2n)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"] == "cp-basic" and len(manifest["model_sha256"]) == 64
    assert manifest["counts"] == {"segmented": 4, "skipped": 0, "failed": 0}
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


def test_a_resumed_run_skips_finished_images_and_redoes_unfinished_ones(plate, tmp_path):
    out = tmp_path / "out"
    segment_images([plate], model="cp-basic", out=out, progress=False)
    first = _files(out)
    (out / "plate" / "A" / "f2.nuclei.parquet").unlink()  # interrupted after the labels, before the measurements
    summary = segment_images([plate], model="cp-basic", out=out, progress=False)
    assert [r.status for r in summary.results] == ["skipped", "segmented", "skipped", "skipped"]
    assert _files(out) == first
    # a changed input is not silently replaced
    tifffile.imwrite(plate / "A" / "f1.tif", np.zeros((64, 64), np.uint16))
    again = segment_images([plate], model="cp-basic", out=out, progress=False)
    assert again.results[0].status == "failed" and "pass --overwrite" in again.results[0].reason


@pytest.mark.parametrize("model", ["cp-basic", "unet-bbbc039-fast"])
def test_a_local_cluster_gives_byte_identical_results_and_loads_the_model_once_per_worker(plate, tmp_path, model):
    (plate / "B" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    single, cluster = tmp_path / "single", tmp_path / "cluster"
    one = segment_images([plate], model=model, out=single, progress=False)
    two = segment_images([plate], model=model, out=cluster, workers=2, progress=False)
    assert [r.status for r in two.results] == [r.status for r in one.results] == ["segmented"] * 3 + ["failed", "segmented"]
    assert _files(cluster) == _files(single)
    workers = {r.process for r in two.results}
    assert len(workers) == 2 and all(r.model_loads == 1 for r in two.results if r.status == "segmented")
    # resumed on the cluster: everything done is skipped, the result is unchanged
    (cluster / "plate" / "A" / "f3.nuclei.parquet").unlink()
    resumed = segment_images([plate], model=model, out=cluster, workers=2, progress=False)
    assert [r.status for r in resumed.results] == ["skipped", "skipped", "segmented", "failed", "skipped"]
    assert _files(cluster) == _files(single)


def test_the_plan_is_checked_before_the_cluster_starts(plate, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "nuclei.parquet").write_bytes(b"someone else's table")
    with pytest.raises(ValueError, match="was not written by `nucseg-zoo segment`"):
        segment_images([plate], model="cp-basic", out=out, workers=2, progress=False)
    assert (out / "nuclei.parquet").read_bytes() == b"someone else's table"
    with pytest.raises(ValueError, match="either workers"):
        segment_images([plate], model="cp-basic", out=out, workers=2, scheduler="tcp://localhost:1")


@pytest.mark.parametrize("workers", [None, 2])
def test_batched_network_with_postprocessing_in_workers_gives_the_per_image_labels(plate, tmp_path, workers):
    """The GPU pipeline (network in batches here, postprocessing in the workers), run on the CPU."""
    (plate / "B" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    single = tmp_path / "single"
    segment_images([plate], model="unet-bbbc039-fast", out=single, progress=False)
    batched = tmp_path / "batched"
    summary = segment_images([plate], model="unet-bbbc039-fast", out=batched, batch_size=2, workers=workers,
                             progress=False)
    assert [r.status for r in summary.results] == ["segmented"] * 3 + ["failed", "segmented"]
    for key in ("plate/A/f1", "plate/A/f2", "plate/A/f3", "plate/B/f1"):
        a, b = tifffile.imread(single / f"{key}.tif"), tifffile.imread(batched / f"{key}.tif")
        assert np.mean(a == b) > 0.999, key  # batching may change rounding (bf16, GPUs), not the nuclei
    manifest = json.loads((batched / "manifest.json").read_text())
    assert manifest["parameters"]["batch_size"] == 2
    assert manifest["parameters"]["precision"] == "fp32"  # the one default precision
    if workers:
        assert len({r.process for r in summary.results if r.status == "segmented"}) >= 2  # postprocessed there


def test_an_image_without_nuclei_joins_the_tables(plate, tmp_path):
    """An empty field (BBBC039's validation split has one) gives a table part without rows; the
    run's tables still combine (it failed with a schema mismatch)."""
    tifffile.imwrite(plate / "A" / "empty.tif", np.zeros((520, 696), np.uint16))
    out = tmp_path / "out"
    summary = segment_images([plate], model="cp-basic", out=out, csv=True, progress=False)
    assert summary.counts()["failed"] == 0
    images = pd.read_parquet(out / "images.parquet").set_index("image")
    assert images.loc["plate/A/empty", "n_nuclei"] == 0 and images.loc["plate/A/empty", "blank_field"]
    assert pd.read_parquet(out / "plate" / "A" / "empty.nuclei.parquet").empty
    nuclei = pd.read_parquet(out / "nuclei.parquet")
    assert "plate/A/empty" not in set(nuclei["image"]) and len(nuclei) == images["n_nuclei"].sum()
    assert len(pd.read_csv(out / "nuclei.csv")) == len(nuclei)


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


def test_bad_arguments_write_nothing(plate, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="unknown"):
        segment_images([plate], model="cp-basik", out=out, progress=False)
    with pytest.raises(ValueError, match="positive pixel value"):
        segment_images([plate], model="cp-basic", out=out, saturation_value=-5, progress=False)
    assert not out.exists()


def test_the_images_table_keeps_its_dtypes_whatever_images_failed(plate, tmp_path):
    """Critic's report: in an all-failed run's images.parquet, `saturated_fraction` and
    `g1_peak` were None (object dtype), so the tables of several runs concatenated badly."""
    import pyarrow.parquet as pq

    from nucseg_zoo.screens.batch import IMAGES_COLUMNS, images_schema

    bad = tmp_path / "bad"
    bad.mkdir()
    for k in range(6):
        (bad / f"A0{k}.tif").write_text("not an image")
    segment_images([bad], model="cp-basic", out=tmp_path / "failed", progress=False)
    segment_images([plate], model="cp-basic", out=tmp_path / "ok", progress=False)
    tables = []
    for run in ("failed", "ok"):
        assert pq.read_schema(tmp_path / run / "images.parquet").remove_metadata().equals(images_schema())
        table = pd.read_parquet(tmp_path / run / "images.parquet")
        assert list(table.columns) == list(IMAGES_COLUMNS)
        assert {name: str(dtype) for name, dtype in table.dtypes.items() if IMAGES_COLUMNS[name] != "object"} == {
            name: dtype for name, dtype in IMAGES_COLUMNS.items() if dtype != "object"}
        assert all(pd.api.types.is_string_dtype(table[name]) for name in ("image", "input", "status", "reason"))
        tables.append(table)
    failed = tables[0]
    assert failed[["saturated_fraction", "area_fraction", "g1_peak", "fraction_2n", "fraction_4n"]].isna().all().all()
    assert failed["n_nuclei"].isna().all() and failed["blank_field"].isna().all()
    both = pd.concat(tables, ignore_index=True)
    assert both.dtypes.to_dict() == tables[1].dtypes.to_dict() and len(both) == 10
    assert both["g1_peak"].notna().sum() == 4 and both["reason"].isna().sum() == 4

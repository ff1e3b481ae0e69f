"""``nucseg-zoo segment`` and the other commands that write files never lose data:
inputs are never overwritten, earlier results are skipped unless ``--overwrite``, and
every output is written atomically."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile

from nucseg_zoo.cli import main


@pytest.fixture
def field(tmp_path, sample_split):
    """``a/field.tif``: a raw uint16 BBBC039 image in a folder of its own."""
    folder = tmp_path / "a"
    folder.mkdir()
    path = folder / "field.tif"
    tifffile.imwrite(path, sample_split[0].image)
    return path


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


RUN_FILES = ["dna_content.png", "images.parquet", "manifest.json", "nuclei.parquet"]
"""What every run writes into --out besides each image's label file and measurements."""


def test_segmenting_into_the_input_folder_never_overwrites_the_input(field, capsys):
    """Users' report: `segment cp-basic a/field.tif --out a` replaced the raw image with labels."""
    before = _snapshot(field.parent)
    assert main(["segment", "cp-basic", str(field), "--out", str(field.parent)]) == 2
    assert "is an input image" in capsys.readouterr().err
    assert _snapshot(field.parent) == before
    # also with --overwrite, and when the same file is named another way
    other_spelling = field.parent / ".." / "a" / "field.tif"
    assert main(["segment", "cp-basic", str(other_spelling), "--out", str(field.parent), "--overwrite"]) == 2
    assert _snapshot(field.parent) == before


@pytest.mark.parametrize("spec", ["a", "a/*.tif"], ids=["folder", "pattern"])
def test_inputs_inside_the_output_folder_are_refused_with_that_reason(field, capsys, monkeypatch, spec):
    """Critic's report: `segment cp-basic plate --out .` said the folder "holds no images"."""
    monkeypatch.chdir(field.parent.parent)
    before = _snapshot(field.parent)
    assert main(["segment", "cp-basic", spec, "--out", "."]) == 2
    err = capsys.readouterr().err
    assert "the 1 image it names lies inside the output folder --out ." in err and "holds no" not in err
    assert "matches no" not in err and _snapshot(field.parent) == before


def test_a_hard_link_to_the_input_is_not_overwritten(field, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    os.link(field, out / "field.tif")
    before = field.read_bytes()
    assert main(["segment", "cp-basic", str(field), "--out", str(out), "--overwrite"]) == 2
    assert field.read_bytes() == before


def test_two_inputs_that_would_write_the_same_file_are_refused_before_any_work(field, tmp_path, capsys):
    other = field.parent / "field.png"  # same folder, same stem
    import imageio.v3 as iio

    iio.imwrite(other, (tifffile.imread(field) // 16).astype(np.uint8))
    out = tmp_path / "out"
    assert main(["segment", "cp-basic", str(field), str(other), "--out", str(out)]) == 2
    assert "would write the same outputs" in capsys.readouterr().err
    assert not out.exists()


def test_equal_names_in_different_folders_are_mirrored_not_mixed_up(field, tmp_path, sample_split):
    other = tmp_path / "b" / "field.tif"
    other.parent.mkdir()
    tifffile.imwrite(other, sample_split[1].image)
    out = tmp_path / "out"
    assert main(["segment", "cp-basic", str(field), str(other), "--out", str(out)]) == 0
    from nucseg_zoo.baselines import get_baseline

    for name, sample in (("a", sample_split[0]), ("b", sample_split[1])):
        np.testing.assert_array_equal(tifffile.imread(out / name / "field.tif"),
                                      get_baseline("cp-basic").segment(sample.image))


def test_a_png_input_beside_its_output_is_fine(tmp_path, sample_split):
    import imageio.v3 as iio

    image = tmp_path / "field.png"
    iio.imwrite(image, sample_split[0].image)
    assert main(["segment", "cp-basic", str(image), "--out", str(tmp_path)]) == 0
    from nucseg_zoo.baselines import get_baseline

    expected = get_baseline("cp-basic").segment(sample_split[0].image)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "field.tif"), expected)
    assert iio.imread(image).dtype == np.uint16  # the input is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["field.png", "field.tif", "field.nuclei.parquet", *RUN_FILES])  # no temporary files


def test_an_earlier_result_is_skipped_unless_overwrite(field, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["segment", "cp-basic", str(field), "--out", str(out)]) == 0
    first = (out / "field.tif").read_bytes()
    os.utime(out / "field.tif", (0, 0))
    assert main(["segment", "cp-basic", str(field), "--out", str(out)]) == 0
    assert "skipped" in capsys.readouterr().err
    assert (out / "field.tif").stat().st_mtime == 0  # not rewritten
    assert main(["segment", "cp-basic", str(field), "--out", str(out), "--overwrite"]) == 0
    assert (out / "field.tif").read_bytes() == first and (out / "field.tif").stat().st_mtime > 0
    assert sorted(p.name for p in out.iterdir()) == sorted(["field.tif", "field.nuclei.parquet", *RUN_FILES])


def test_a_file_the_command_did_not_write_is_never_replaced(tmp_path, sample_split, capsys):
    """A raw `c/x.tif` beside its 8-bit copy `c/x.png`: segmenting the PNG into `c` must
    neither call the raw image an earlier result nor replace it, even with --overwrite."""
    import imageio.v3 as iio

    raw, copy = tmp_path / "x.tif", tmp_path / "x.png"
    tifffile.imwrite(raw, sample_split[0].image)
    iio.imwrite(copy, (sample_split[0].image // 16).astype(np.uint8))
    before = raw.read_bytes()
    for extra in ([], ["--overwrite"]):
        assert main(["segment", "cp-basic", str(copy), "--out", str(tmp_path), *extra]) == 2
        assert "was not written by `nucseg-zoo segment`" in capsys.readouterr().err
        assert raw.read_bytes() == before


def test_labels_of_another_image_are_replaced_only_with_overwrite(tmp_path, sample_split, capsys):
    first, second = tmp_path / "a" / "field.tif", tmp_path / "b" / "field.tif"
    for path, sample in ((first, sample_split[0]), (second, sample_split[1])):
        path.parent.mkdir()
        tifffile.imwrite(path, sample.image)
    out = tmp_path / "out"
    assert main(["segment", "cp-basic", str(first), "--out", str(out)]) == 0
    kept = (out / "field.tif").read_bytes()
    assert main(["segment", "cp-basic", str(second), "--out", str(out)]) == 2
    assert "holds the labels of" in capsys.readouterr().err and (out / "field.tif").read_bytes() == kept
    assert main(["segment", "cp-basic", str(second), "--out", str(out), "--overwrite"]) == 0
    from nucseg_zoo.baselines import get_baseline

    np.testing.assert_array_equal(tifffile.imread(out / "field.tif"), get_baseline("cp-basic").segment(
        sample_split[1].image))


@pytest.mark.parametrize("content", [b"", b"hello, not a tiff", "3-D"], ids=["empty", "not-an-image", "3-D"])
def test_a_bad_input_is_named_skipped_and_the_others_are_done(field, tmp_path, capsys, content):
    bad = tmp_path / "bad.tif"
    if content == "3-D":
        tifffile.imwrite(bad, np.zeros((2, 8, 8), np.uint16))
    else:
        bad.write_bytes(content)
    out = tmp_path / "out"
    assert main(["segment", "cp-basic", str(field), str(bad), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"failed: {bad}" in err and ("(2, 8, 8)" in err if content == "3-D" else "cannot read it" in err)
    assert (out / "a" / "field.tif").is_file() and not (out / "bad.tif").exists()


def test_an_unwritable_output_folder_fails_before_any_work(field, tmp_path, capsys, monkeypatch):
    import nucseg_zoo.segmenters as segmenters

    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    if os.access(out, os.W_OK):  # root ignores permissions: make the probe fail instead
        monkeypatch.setattr("nucseg_zoo.screens.batch._check_writable",
                            lambda folder: (_ for _ in ()).throw(PermissionError(f"{folder}: read-only")))
    monkeypatch.setattr(segmenters, "get_segmenter", lambda *a, **k: pytest.fail("the model was loaded"))
    assert main(["segment", "cp-basic", str(field), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "read-only" in err or "Permission denied" in err
    assert list(out.iterdir()) == []


def test_the_same_file_named_twice_is_segmented_once(field, tmp_path):
    out = tmp_path / "out"
    assert main(["segment", "cp-basic", str(field), str(field.parent / ".." / "a" / "field.tif"), "--out",
                 str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(["field.tif", "field.nuclei.parquet", *RUN_FILES])


def test_a_failed_write_leaves_no_partial_file_and_is_reported(field, tmp_path, monkeypatch, capsys):
    def broken_write(path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"half a tiff")
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", broken_write)
    out = tmp_path / "out"
    assert main(["segment", "cp-basic", str(field), "--out", str(out)]) == 1
    assert "disk full" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == RUN_FILES  # no label file, no temporary file


def test_demo_does_not_replace_earlier_outputs_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--model", "cp-basic", "--out", str(out)]) == 0
    written = _snapshot(out / "cp-basic")
    assert len(written) == 4  # three label images and overview.png
    (out / "cp-basic" / "overview.png").write_bytes(b"kept")
    assert main(["demo", "--model", "cp-basic", "--out", str(out)]) == 2
    assert "not replacing it" in capsys.readouterr().err
    assert (out / "cp-basic" / "overview.png").read_bytes() == b"kept"
    assert main(["demo", "--model", "cp-basic", "--out", str(out), "--overwrite"]) == 0
    assert _snapshot(out / "cp-basic") == written


def _junk(path, kind):
    """An input file that cannot be segmented: ``kind`` says why."""
    if kind == "text":
        path.write_text("not an image, renamed .tif")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "3-D":
        tifffile.imwrite(path, np.zeros((2, 8, 8), np.uint16))
    elif kind == "NaN":
        tifffile.imwrite(path, np.full((16, 16), np.nan, np.float32))
    elif kind == "complex":
        tifffile.imwrite(path, np.zeros((16, 16), np.complex64))


@pytest.mark.parametrize("kind", ["text", "empty", "3-D", "NaN", "complex"])
def test_unreadable_files_at_the_start_of_a_folder_never_stop_the_plate(tmp_path, sample_split, capsys, kind):
    """Critic's report: five junk files A00..A04.tif (text renamed .tif) before two good
    images stopped the plate (exit 2, "the first 5 images all failed"), no tables, the good
    images never segmented. Files that cannot be read or fail the image checks do not count
    towards the early stop; only the model's failures do."""
    import json

    import pandas as pd

    from nucseg_zoo.baselines import get_baseline

    plate = tmp_path / "plate"
    plate.mkdir()
    for k in range(5):
        _junk(plate / f"A0{k}.tif", kind)
    tifffile.imwrite(plate / "B01.tif", sample_split[0].image)
    tifffile.imwrite(plate / "B02.tif", sample_split[1].image)
    out = tmp_path / "o"
    assert main(["segment", "cp-basic", str(plate), "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "2 images segmented, 0 skipped (done in an earlier run), 5 failed" in err and "stopped" not in err
    for k, sample in ((1, sample_split[0]), (2, sample_split[1])):
        np.testing.assert_array_equal(tifffile.imread(out / "plate" / f"B0{k}.tif"),
                                      get_baseline("cp-basic").segment(sample.image))
    images = pd.read_parquet(out / "images.parquet")
    assert images["status"].tolist() == ["failed"] * 5 + ["ok"] * 2
    assert all(reason.startswith("ValueError: ") and f"A0{k}.tif" in reason
               for k, reason in enumerate(images["reason"][:5]))
    manifest = json.loads((out / "manifest.json").read_text())
    assert [image["failed_while"] for image in manifest["images"]] == ["reading"] * 5 + [None] * 2


def test_a_folder_of_unreadable_files_only_finishes_and_lists_each_failure(tmp_path, capsys):
    """However many they are, unreadable files never stop a run: it finishes with exit 1 and
    tables that list each file with its reason (as a run of fewer files did already)."""
    import pandas as pd

    plate = tmp_path / "plate"
    plate.mkdir()
    for k, kind in enumerate(["text", "empty", "3-D", "NaN", "complex", "text", "text"]):
        _junk(plate / f"A0{k}.tif", kind)
    out = tmp_path / "o"
    assert main(["segment", "cp-basic", str(plate), "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "0 images segmented, 0 skipped (done in an earlier run), 7 failed" in err
    assert err.count("  failed: ") == 7
    images = pd.read_parquet(out / "images.parquet")
    assert (images["status"] == "failed").all() and images["reason"].str.contains("ValueError: ").all()
    assert "NaN or infinite" in images["reason"][3] and "complex64" in images["reason"][4]
    assert sorted(p.name for p in out.iterdir()) == RUN_FILES


def test_the_summary_counts_one_image_in_the_singular(field, tmp_path, capsys):
    assert main(["segment", "cp-basic", str(field), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    assert "1 image segmented, 0 skipped" in capsys.readouterr().err


@pytest.mark.parametrize("named", ["folder", "file"])
def test_a_moved_copy_of_the_same_bytes_is_skipped_and_another_image_still_refused(
        tmp_path, sample_split, capsys, named):
    """Critic's report: after copying imgs/ to moved/imgs/, a run into the earlier output
    folder exited 2 ("holds the labels of .../imgs/X.tif ... not of moved/imgs/X.tif"), although
    the bytes and the model were the same. Reuse follows the bytes (sha256), not the path."""
    import json
    import shutil

    import pandas as pd

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for k in range(2):
        tifffile.imwrite(imgs / f"X{k}.tif", sample_split[k].image)
    moved = tmp_path / "moved" / "imgs"
    shutil.copytree(imgs, moved)

    def spec(folder):
        return [str(folder)] if named == "folder" else [str(folder / "X0.tif"), str(folder / "X1.tif")]

    out = tmp_path / "out5"
    assert main(["segment", "cp-basic", *spec(imgs), "--out", str(out), "--no-progress"]) == 0
    key = "imgs/X0" if named == "folder" else "X0"
    os.utime(out / f"{key}.tif", (0, 0))
    assert main(["segment", "cp-basic", *spec(moved), "--out", str(out), "--no-progress"]) == 0
    assert "0 images segmented, 2 skipped" in capsys.readouterr().err
    assert (out / f"{key}.tif").stat().st_mtime == 0  # reused, not segmented again
    assert pd.read_parquet(out / "images.parquet")["input"].tolist() == [str(moved / "X0.tif"), str(moved / "X1.tif")]
    assert [image["input"] for image in json.loads((out / "manifest.json").read_text())["images"]] == [
        str(moved / "X0.tif"), str(moved / "X1.tif")]
    assert json.loads(tifffile.TiffFile(out / f"{key}.tif").pages[0].description)["input"] == str(
        (imgs / "X0.tif").absolute())  # the labels' own record: the file they were made from

    tifffile.imwrite(moved / "X0.tif", sample_split[2].image)  # another image under that name now
    kept = (out / f"{key}.tif").read_bytes()
    assert main(["segment", "cp-basic", *spec(moved), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "holds the labels of" in err and "bytes differ" in err and "--overwrite" in err
    assert (out / f"{key}.tif").read_bytes() == kept


@pytest.mark.parametrize("extra, message", [
    (["--scheduler", "nonsense"], "missing port number"),
    (["--device", "nonsense"], "unknown device"),
])
def test_a_run_that_writes_nothing_leaves_no_output_folder_behind(field, tmp_path, capsys, extra, message):
    """Critic's report: runs refused or stopped before writing anything left an empty --out
    folder that did not exist before. The folders a run created are removed while empty;
    one that existed before is kept."""
    out = tmp_path / "new" / "deeper" / "out"
    assert main(["segment", "cp-basic", str(field), "--out", str(out), "--no-progress", *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    assert main(["segment", "cp-basic", str(field), "--out", str(existing), "--no-progress", *extra]) == 2
    assert existing.is_dir() and list(existing.iterdir()) == []

"""The nucseg-zoo command line: datasets, score."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from nucseg_zoo.cli import main


def test_help_lists_the_commands():
    result = subprocess.run([sys.executable, "-m", "nucseg_zoo.cli", "--help"], capture_output=True, text=True,
                            check=True)
    for command in ("demo", "datasets", "score", "evaluate", "train"):
        assert command in result.stdout


def test_demo_table_shows_whole_names_in_aligned_columns(sample_split, capsys, tmp_path, monkeypatch):
    """Critic's report: the demo's table cut image names to 22 characters and a segmenter name
    longer than 18 pushed its row out of line."""
    name = "a_long_lab_segmenter_module_name"
    (tmp_path / f"{name}.py").write_text("from nucseg_zoo.segmenters import get_segmenter\n"
                                         "segment = get_segmenter('cp-basic').segment\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["demo", "--model", "cp-basic", "--model", f"{name}:segment"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[0], lines[1:]
    assert len(rows) == 2 * (len(sample_split) + 1)
    for row in rows:
        assert len(row) in (len(header), len(header) - len(" s/img") - 1)  # the "all" rows have no s/img
        assert row.index(row.split()[1]) == header.index("image")  # the image column starts in line
    images = [row.split()[1] for row in rows]
    assert images == (list(sample_split.names) + ["all"]) * 2  # whole names, not cut
    assert [row.split()[0] for row in rows] == ["cp-basic"] * 4 + [f"{name}:segment"] * 4


def test_demo_runs_the_fast_segmenters_unless_told_otherwise():
    """Issue 34: the demo ran every model (the DeepCell ensemble takes 10-40 s per image on a
    CPU), so a newcomer waited minutes for the first table."""
    from nucseg_zoo.cli import build_parser
    from nucseg_zoo.commands.demo import FAST_SEGMENTERS, chosen_segmenters, every_segmenter

    parser = build_parser()
    every = every_segmenter()
    assert set(FAST_SEGMENTERS) < set(every)  # each fast one exists; some are left out
    assert "deepcell-bbbc039" in every and "deepcell-bbbc039" not in FAST_SEGMENTERS
    assert chosen_segmenters(parser.parse_args(["demo"])) == [name for name in every if name in FAST_SEGMENTERS]
    assert chosen_segmenters(parser.parse_args(["demo", "--all"])) == every
    assert chosen_segmenters(parser.parse_args(["demo", "--model", "cp-advanced", "--model", "cp-basic"])) == [
        "cp-advanced", "cp-basic"]
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "--all", "--model", "cp-basic"])


def test_demo_says_how_long_each_segmenter_took_and_what_it_left_out(capsys, monkeypatch):
    import nucseg_zoo.commands.demo as demo

    monkeypatch.setattr(demo, "FAST_SEGMENTERS", ("cp-basic",))  # the default run, one cheap segmenter
    assert main(["demo"]) == 0
    captured = capsys.readouterr()
    assert [row.split()[0] for row in captured.out.splitlines()[1:]] == ["cp-basic"] * 4
    assert "segmenting them with cp-basic (the fast segmenters; --all: every one)" in captured.err
    assert re.search(r"^  cp-basic +\d+\.\d s \(loading \d+\.\d s, \d+\.\d\d s per image\)$", captured.err, re.M)
    left_out = [name for name in demo.every_segmenter() if name != "cp-basic"]
    assert f"not run (slower on a CPU): {', '.join(left_out)}\n`nucseg-zoo demo --all` runs every model" in captured.err
    assert main(["demo", "--model", "cp-basic"]) == 0
    assert "not run" not in capsys.readouterr().err  # the segmenters named are the ones wanted


def test_datasets_list_and_info(capsys):
    assert main(["datasets", "list"]) == 0
    assert capsys.readouterr().out.split() == ["bbbc039", "bbbc039-sample", "dsb2018-fluo"]
    assert main(["datasets", "info", "bbbc039-sample", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["splits"] == {"test": {"n_images": 3, "n_nuclei": 317}}


def test_unknown_dataset_is_a_clear_error(capsys):
    assert main(["datasets", "info", "nope"]) == 2
    assert "valid datasets: bbbc039, bbbc039-sample, dsb2018-fluo" in capsys.readouterr().err


def test_datasets_verify_and_info_on_the_mirror(bbbc039_mirror, capsys):
    assert main(["datasets", "verify", "bbbc039", "--mirror", bbbc039_mirror]) == 0
    captured = capsys.readouterr()
    assert "every file hashed again and verified" in captured.err and "the card facts hold" in captured.out
    assert main(["datasets", "info", "bbbc039", "--json", "--mirror", bbbc039_mirror]) == 0
    splits = json.loads(capsys.readouterr().out)["splits"]
    assert {k: v["n_nuclei"] for k, v in splits.items()} == {"training": 12001, "validation": 5896, "test": 5720}


def test_score_a_prediction_folder(tmp_path, sample_split, capsys, monkeypatch):
    """Ground truth scored as a prediction is perfect; a missing file counts as empty."""
    for sample in sample_split[:2]:
        tifffile.imwrite(tmp_path / f"{sample.name}.tif", sample.labels)
    assert main(["score", str(tmp_path), "--dataset", "bbbc039-sample", "--split", "test", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("average_f1", "f1", "jaccard", "error_rate_at_0.7", "missed_by_size", "extra_objects", "splits",
                "merges", "n_images", "n_true", "n_pred"):
        assert key in result
    assert result["missing_predictions"] == [sample_split[2].name]
    per_image = {r["name"]: r for r in result["images"]}
    assert per_image[sample_split[0].name]["f1"]["0.90"] == 1.0
    assert per_image[sample_split[2].name]["n_pred"] == 0
    assert result["average_f1"] == pytest.approx(2 / 3)
    assert result["n_true"] == 317 and result["n_pred"] == 26 + 93


def test_score_binary_masks_warns_and_label_components_labels_them(tmp_path, sample_split, capsys):
    """0/255 PNG masks: one object each, with a warning per file; --label-components labels them."""
    import imageio.v3 as iio
    import numpy as np
    from skimage.measure import label

    from nucseg_zoo.metrics import score_image, summarize

    for sample in sample_split:
        iio.imwrite(tmp_path / f"{sample.name}.png", (sample.labels > 0).astype(np.uint8) * 255)
    command = ["score", str(tmp_path), "--dataset", "bbbc039-sample", "--split", "test", "--json"]

    assert main(command) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    warnings = [line for line in err.splitlines() if line.startswith("nucseg-zoo score: warning: ")]
    assert len(warnings) == len(sample_split)
    for line, sample in zip(warnings, sample_split):
        n = label(sample.labels > 0, connectivity=1).max()
        assert f"{sample.name}.png looks like a binary mask" in line
        assert f"values 0 and 255 in {n} separate regions" in line and "--label-components" in line
    assert result["label_components"] is False
    assert result["binary_mask_predictions"] == list(sample_split.names)
    assert result["n_pred"] == len(sample_split) and result["average_f1"] < 0.05

    assert main([*command, "--label-components"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert "warning" not in err
    assert result["label_components"] is True
    assert result["binary_mask_predictions"] == list(sample_split.names)
    expected = summarize(score_image(s.labels, label(s.labels > 0, connectivity=1), name=s.name)
                         for s in sample_split)
    assert result["average_f1"] == pytest.approx(expected.average_f1) and result["average_f1"] > 0.5
    assert result["n_pred"] == expected.n_pred

    assert main(command[:-1]) == 0  # the table says the same
    out, err = capsys.readouterr()
    assert "average F1 (IoU 0.50-0.90): 0.0000" in out
    assert "scored as one object each (--label-components labels them)" in err
    assert main([*command[:-1], "--label-components"]) == 0
    out, err = capsys.readouterr()
    assert f"average F1 (IoU 0.50-0.90): {expected.average_f1:.4f}" in out
    assert "labelled into connected components" in err


def test_segment_image_files_then_score_them(tmp_path, sample_split, capsys):
    """`segment` writes one label TIFF per input image; `score` reads them back."""
    inputs = [sample.image_path for sample in sample_split]
    out = tmp_path / "labels"
    assert main(["segment", "cp-basic", *map(str, inputs), "--out", str(out)]) == 0
    written = capsys.readouterr().out.split()
    assert written == [str(out / f"{sample.name}.tif") for sample in sample_split]
    labels = tifffile.imread(written[1])
    assert labels.shape == (520, 696) and labels.max() > 50
    assert main(["score", str(out), "--dataset", "bbbc039-sample", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["average_f1"] > 0.8


@pytest.mark.parametrize("name", ["grey.tif", "grey.png"])
def test_segment_names_a_grey_image_saved_as_rgb_and_the_remedy(tmp_path, capsys, sample_split, name):
    """Critic's report: a Fiji RGB export of a grey field failed with only its shape on the CLI."""
    import imageio.v3 as iio

    grey = (sample_split[0].image // 16).astype(np.uint8)
    path = tmp_path / name
    (tifffile.imwrite if name.endswith(".tif") else iio.imwrite)(path, np.stack([grey] * 3, -1))
    assert main(["segment", "cp-basic", str(path), "--out", str(tmp_path / "out")]) == 1  # reported and skipped
    err = capsys.readouterr().err
    assert "expected a 2-D (y, x) single-channel image, found axes YXS, shape (520, 696, 3): 3 channels" in err
    assert "an RGB image whose colour channels are identical" in err and "single-channel (greyscale)" in err
    assert "pass --channel 0 to 2 (channel= in Python)" in err


def test_segment_names_the_channels_of_a_multichannel_image(tmp_path, capsys):
    two = tmp_path / "two.tif"
    tifffile.imwrite(two, np.stack([np.zeros((16, 16), np.uint16), np.ones((16, 16), np.uint16)]))
    assert main(["segment", "cp-basic", str(two), "--out", str(tmp_path / "out")]) == 1
    assert (f"{two}: expected a 2-D (y, x) single-channel image, found axes QYX, shape (2, 16, 16): 2 planes; "
            "pass --plane 0 or 1 (plane= in Python)") in capsys.readouterr().err


def test_score_warns_when_no_file_is_named_like_an_image(tmp_path, capsys):
    """Critic's report: a folder of `<stem>_labels.tif` files scored F1 0 without a word."""
    tifffile.imwrite(tmp_path / "IXMtest_A02_labels.tif", np.zeros((4, 4), np.int32))
    assert main(["score", str(tmp_path), "--dataset", "bbbc039-sample", "--split", "test", "--json"]) == 0
    captured = capsys.readouterr()
    assert "none of the 3 images of bbbc039-sample/test has a prediction" in captured.err
    assert "IXMtest_A02_labels.tif" in captured.err and json.loads(captured.out)["average_f1"] == 0.0


# --- a device this machine lacks: one line, exit 2, before any work ---------------------------

@pytest.fixture
def cpu_only_build(monkeypatch):
    """A torch build without CUDA, as the report's (torch 2.x+cpu), whatever this machine has."""
    import torch

    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"nucseg-zoo {command}: error: "), err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("model", ["unet-bbbc039-fast", "cp-basic"])
def test_segment_on_a_missing_gpu_stops_with_exit_2(cpu_only_build, tmp_path, sample_split, capsys, model):
    """The report: `segment unet-bbbc039-fast imgs --out o --device cuda` ended in torch's
    AssertionError (exit 1, traceback)."""
    images = tmp_path / "imgs"
    images.mkdir()
    tifffile.imwrite(images / "field.tif", sample_split[0].image)
    assert main(["segment", model, str(images), "--out", str(tmp_path / "o"), "--device", "cuda"]) == 2
    err = _one_line_error(capsys, "segment")
    assert "device 'cuda' requested but this torch build has no CUDA support" in err and "--device cpu" in err
    assert not list((tmp_path / "o").rglob("*.tif"))


@pytest.mark.parametrize(("device", "message"), [
    ("cuda", "device 'cuda' requested but this torch build has no CUDA support"),
    ("cuda:7", "device 'cuda:7' requested but this torch build has no CUDA support"),
    ("gpu", "unknown device 'gpu'; expected cpu, cuda, cuda:N (N = GPU index) or mps"),
])
def test_evaluate_on_a_missing_or_unknown_device_stops_with_exit_2(cpu_only_build, capsys, device, message):
    assert main(["evaluate", "unet-bbbc039-fast", "--dataset", "bbbc039-sample", "--device", device]) == 2
    assert message in _one_line_error(capsys, "evaluate")


def test_train_on_a_missing_gpu_stops_before_any_work(cpu_only_build, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "unet-bbbc039-fast", "--device", "cuda", "--out", str(out)]) == 2
    assert "no CUDA support" in _one_line_error(capsys, "train")
    assert not out.exists()


def test_demo_refuses_an_unknown_model_before_printing_anything(capsys):
    """The report: `demo --model nonexist` printed the table header, then the error."""
    assert main(["demo", "--model", "cp-basic", "--model", "nonexist"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("nucseg-zoo demo: error: unknown source 'nonexist'")
    assert len(captured.err.splitlines()) == 1


def test_score_states_how_many_predictions_are_missing_and_only_present_leaves_them_out(tmp_path, sample_split,
                                                                                       capsys):
    first, second, third = sample_split
    tifffile.imwrite(tmp_path / f"{first.name}.tif", first.labels)
    command = ["score", str(tmp_path), "--dataset", "bbbc039-sample", "--split", "test"]
    assert main(command) == 0
    captured = capsys.readouterr()
    assert "warning: 2 of the 3 images of bbbc039-sample/test have no prediction" in captured.err
    assert (f"  missing predictions: 2 of 3 images scored as empty (every nucleus missed): {second.name}, "
            f"{third.name}") in captured.err.splitlines()
    assert ": 3 images, 317 true / 26 predicted objects" in captured.out
    assert main([*command, "--only-present", "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert [image["name"] for image in result["images"]] == [first.name] and result["average_f1"] == 1.0
    assert result["missing_predictions"] == [second.name, third.name] and result["only_present"] is True
    assert "they are left out (only_present): the scores cover 1 image, not the whole split" in captured.err


def test_score_warns_about_input_images_given_as_predictions(tmp_path, sample_split, capsys):
    for sample in sample_split:
        tifffile.imwrite(tmp_path / f"{sample.name}.tif", sample.image)
    assert main(["score", str(tmp_path), "--dataset", "bbbc039-sample", "--split", "test"]) == 0
    err = capsys.readouterr().err
    assert err.count("looks like an intensity image, not instance labels") == len(sample_split)
    assert f"  predictions that look like intensity images, not labels: {', '.join(sample_split.names)}" in err

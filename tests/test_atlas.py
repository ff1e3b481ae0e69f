"""Error atlas and comparison: the marks are the metric suite's objects, drawn where they are."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nucseg_zoo.cli import main
from nucseg_zoo.evaluation import evaluate_source
from nucseg_zoo.evaluation.predictions import LabelStoreWriter, read_labels, stored_names
from nucseg_zoo.leaderboard import read_results
from nucseg_zoo.leaderboard.atlas import (
    EXTRA_OUTLINE,
    MISSED_COLOURS,
    check_errors_match_scores,
    overlay,
    predictions_path,
)
from nucseg_zoo.leaderboard.compare import compare
from nucseg_zoo.leaderboard.render import stale_pages
from nucseg_zoo.metrics import object_errors, score_image

COMMITTED = Path(__file__).resolve().parent.parent / "validation"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NUCSEG_ZOO_DATA_DIR", str(tmp_path / "cache"))


# ---------------------------------------------------------------- the label store


def test_label_store_round_trip_keeps_values_and_order(tmp_path):
    path = tmp_path / "labels.npz"
    big = np.zeros((4, 5), np.int64)
    big[0, 0] = 70_000
    with LabelStoreWriter(path) as store:
        store.write("b", np.arange(20, dtype=np.int32).reshape(4, 5))
        store.write("a", big)
    assert stored_names(path) == ["b", "a"]
    assert read_labels(path, "b").dtype == np.uint16 and (read_labels(path, "b") == np.arange(20).reshape(4, 5)).all()
    assert read_labels(path, "a").dtype == np.int32 and read_labels(path, "a")[0, 0] == 70_000
    assert zipfile.ZipFile(path).getinfo("b.npy").compress_type == zipfile.ZIP_DEFLATED
    with pytest.raises(KeyError, match="holds no labels for image 'c'"):
        read_labels(path, "c")


@pytest.mark.parametrize("labels, problem", [
    (np.zeros((2, 2, 2), np.int32), "2-D"), (np.zeros((2, 2), np.float32), "integer"),
    (-np.ones((2, 2), np.int32), "non-negative")])
def test_label_store_refuses_non_labels_and_leaves_no_file(tmp_path, labels, problem):
    path = tmp_path / "labels.npz"
    with pytest.raises(ValueError, match=problem):
        with LabelStoreWriter(path) as store:
            store.write("ok", np.zeros((2, 2), np.int32))
            store.write("bad", labels)
    assert list(tmp_path.iterdir()) == []


def test_label_store_refuses_a_name_twice(tmp_path):
    with pytest.raises(ValueError, match="already written"):
        with LabelStoreWriter(tmp_path / "labels.npz") as store:
            store.write("x", np.zeros((2, 2), np.int32))
            store.write("x", np.zeros((2, 2), np.int32))


def test_the_harness_stores_the_labels_it_scored(sample_split):
    result = evaluate_source("cp-basic", dataset="bbbc039-sample", split="test")
    assert stored_names(result.labels_path) == list(sample_split.names)
    for sample, scores in zip(sample_split, result.scores.images):
        assert score_image(sample.labels, read_labels(result.labels_path, sample.name), name=sample.name) == scores
    again = evaluate_source("cp-basic", dataset="bbbc039-sample", split="test")
    assert again.cached and again.labels_path == result.labels_path
    result.labels_path.unlink()  # a result without its labels is recomputed
    assert not evaluate_source("cp-basic", dataset="bbbc039-sample", split="test").cached
    assert result.labels_path.is_file()


# ---------------------------------------------------------------- the marks


def _marked(rgba: np.ndarray, colour) -> np.ndarray:
    return (rgba == np.array(colour, np.uint8)).all(axis=-1)


def test_overlay_draws_each_error_on_its_object(sample_split):
    """On real images with a baseline's labels: every missed GT nucleus carries its size bin's colour,
    every extra object sky blue, every merge and split its fill — on exactly those objects."""
    from nucseg_zoo.segmenters import get_segmenter

    segmenter = get_segmenter("cp-basic")
    for sample in sample_split:
        truth = sample.labels
        prediction = segmenter.segment(sample.image)
        errors = object_errors(truth, prediction)
        check_errors_match_scores(errors, score_image(truth, prediction), where=sample.name)
        rgba = overlay(truth, prediction, errors)
        for size_bin, ids in errors.missed.items():
            drawn = np.unique(truth[_marked(rgba, MISSED_COLOURS[size_bin])])
            assert drawn.tolist() == ids.tolist(), size_bin
        assert set(np.unique(prediction[_marked(rgba, EXTRA_OUTLINE)])) <= set(errors.extra.tolist())
        under_merge_colour = rgba[..., 1] > rgba[..., 2]  # bluish green: green channel above blue
        assert set(np.unique(prediction[(rgba[..., 3] > 0) & under_merge_colour & (prediction > 0)])) \
            >= set(errors.merged.tolist())
        split_only = np.isin(truth, errors.split) & ~np.isin(prediction, errors.merged)
        assert (rgba[split_only][:, 3] > 0).all()
        assert (rgba[(truth == 0) & (prediction == 0)] == 0).all()  # nothing drawn on background
        assert errors.n_missed + len(errors.extra) > 0  # the baseline does make errors here


def test_marks_that_disagree_with_the_recorded_counts_are_refused(sample_split):
    sample = sample_split[0]
    scores = score_image(sample.labels, sample.labels, name=sample.name)
    wrong = np.where(sample.labels == sample.labels.max(), 0, sample.labels)
    with pytest.raises(ValueError, match="do not reproduce the recorded scores"):
        check_errors_match_scores(object_errors(sample.labels, wrong), scores, where=sample.name)


# ---------------------------------------------------------------- the committed atlases


def test_every_leaderboard_entry_links_to_its_atlas():
    data = json.loads((COMMITTED / "leaderboard.json").read_text())
    for row in data["entries"]:
        assert row["atlas"] == f"atlas/{row['id']}.html", row["id"]
        assert predictions_path(COMMITTED, row["id"]).is_file()
        page = (COMMITTED / row["atlas"]).read_text()
        assert page.count("<figure") == 50 and "<script" not in page and 'src="http' not in page
        assert f'href="{row["atlas"]}"' in (COMMITTED / "leaderboard.html").read_text()


def test_stored_predictions_reproduce_every_recorded_count(bbbc039_mirror):
    """The atlas marks come from the stored labels: they must give each image's recorded scores."""
    from nucseg_zoo import datasets

    samples = datasets.load("bbbc039", "test")
    truths = {sample.name: sample.labels for sample in samples}
    for record in read_results(COMMITTED / "results"):
        store = predictions_path(COMMITTED, record.entry.id)
        for scores in record.evaluation.scores.images:
            assert score_image(truths[scores.name], read_labels(store, scores.name), name=scores.name) == scores


def test_committed_atlases_are_generated_from_the_stored_predictions(bbbc039_mirror):
    """One entry's atlas and the shared images here; every entry's in `.ci/run`
    (`nucseg-zoo leaderboard --check`, which re-renders them all in about a minute)."""
    first = read_results(COMMITTED / "results")[0].entry.id
    assert stale_pages(COMMITTED, atlases=True, atlas_entries=[first]) == [], \
        "run `nucseg-zoo leaderboard` and commit validation/"


def test_a_stale_atlas_file_of_the_checked_entry_is_found_and_others_are_left_alone(tmp_path, bbbc039_mirror):
    import shutil

    board = tmp_path / "validation"
    shutil.copytree(COMMITTED, board, ignore=shutil.ignore_patterns("tracks", "experiments"))
    first, second = [record.entry.id for record in read_results(board / "results")][:2]
    (board / "atlas" / f"{first}.html").write_text("edited")
    (board / "atlas" / first / "orphan.png").write_bytes(b"")
    (board / "atlas" / f"{second}.html").write_text("edited too")  # not checked in this call
    assert stale_pages(board, atlases=True, atlas_entries=[first]) == [
        f"atlas/{first}.html", f"atlas/{first}/orphan.png"]


def test_atlas_lists_images_worst_first():
    record = read_results(COMMITTED / "results")[0]
    page = (COMMITTED / "atlas" / f"{record.entry.id}.html").read_text()
    order = [chunk.split('"')[0] for chunk in page.split('<figure id="')[1:]]
    by_f1 = {s.name: s.average_f1 for s in record.evaluation.scores.images}
    assert [by_f1[name] for name in order] == sorted(by_f1.values())


# ---------------------------------------------------------------- comparison


def test_compare_partitions_the_nuclei_by_who_finds_them(bbbc039_mirror, tmp_path, capsys):
    records = {r.entry.id: r for r in read_results(COMMITTED / "results")}
    comparison, picture = compare(COMMITTED, "unet-bbbc039", "cp-basic")
    image = comparison.image
    a, b = (next(s for s in records[i].evaluation.scores.images if s.name == image) for i in ("unet-bbbc039", "cp-basic"))
    assert len(comparison.only_first) + len(comparison.both) == a.n_true - a.missed
    assert len(comparison.only_second) + len(comparison.both) == b.n_true - b.missed
    assert len(comparison.only_first) + len(comparison.only_second) + len(comparison.both) \
        + len(comparison.neither) == a.n_true
    assert picture.shape == (520, 3 * 696 + 16, 3)
    out = tmp_path / "cmp.png"
    assert main(["compare", "unet-bbbc039", "cp-basic", "--image", image, "--out", str(out)]) == 0
    assert Image.open(out).size[0] == 3 * 696 + 16
    assert main(["compare", "unet-bbbc039", "cp-basic", "--image", image, "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["compare", "unet-bbbc039", "no-such-entry"]) == 2
    assert "no leaderboard entry 'no-such-entry'" in capsys.readouterr().err


def test_the_results_page_shows_the_comparison_the_command_draws(bbbc039_mirror):
    comparison, _ = compare(COMMITTED, "unet-bbbc039", "unet-bbbc039-fast")
    page = (COMMITTED.parent / "docs" / "results.md").read_text()
    assert comparison.summary() in page
    assert (COMMITTED / "compare-unet-bbbc039-unet-bbbc039-fast.png").is_file()


def test_compare_refuses_unclear_requests_before_drawing(tmp_path, capsys):
    assert main(["compare", "cp-basic", "cp-basic", "--dir", str(COMMITTED)]) == 2
    assert "two different entries" in capsys.readouterr().err
    assert main(["compare", "cp-basic", "unet-bbbc039", "--dir", str(tmp_path)]) == 2
    assert "not a leaderboard folder" in capsys.readouterr().err
    assert main(["compare", "cp-basic", "unet-bbbc039", "--dir", str(COMMITTED),
                 "--out", str(tmp_path / "missing" / "x.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"my own file")
    assert main(["compare", "cp-basic", "unet-bbbc039", "--dir", str(COMMITTED), "--out", str(mine)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err and mine.read_bytes() == b"my own file"

"""Reading predicted label images from a folder (nucseg_zoo.metrics.folder) and scoring them
(nucseg_zoo.evaluation.score_folder), binary masks included."""

from __future__ import annotations

import warnings

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from skimage.measure import label

from nucseg_zoo.evaluation import score_folder
from nucseg_zoo.metrics import BinaryMaskWarning, IntensityImageWarning, score_image, summarize
from nucseg_zoo.metrics.folder import find_predictions, folders_with_predictions, read_label_image

LABELS = np.array([[0, 1, 1], [0, 300, 2]], np.uint16)


@pytest.mark.parametrize("suffix", [".tif", ".tiff", ".TIF", ".png"])
def test_read_label_image_round_trip(tmp_path, suffix):
    path = tmp_path / f"x{suffix}"
    if suffix.lower() == ".png":
        iio.imwrite(path, LABELS)
    else:
        tifffile.imwrite(path, LABELS)
    labels = read_label_image(path)
    assert labels.dtype == np.int32
    assert np.array_equal(labels, LABELS)


@pytest.mark.parametrize(("array", "problem"), [
    (np.zeros((2, 3, 3), np.uint16), r"2-D.*\(2, 3, 3\)"),
    (np.zeros((3, 3), np.float32), "integer label image .*float32: an intensity image or probability map"),
    (np.array([[0, -2]], np.int32), r"\[-2, 0\]"),
    (np.array([[0, 2**40]], np.int64), "1099511627776"),
])
def test_read_label_image_rejects_non_label_images(tmp_path, array, problem):
    path = tmp_path / "bad.tif"
    tifffile.imwrite(path, array)
    with pytest.raises(ValueError, match=problem):
        read_label_image(path)


def test_read_label_image_rejects_rgb_png(tmp_path):
    path = tmp_path / "rgb.png"
    iio.imwrite(path, np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match=r"rgb.png: expected a 2-D label image \(one integer label per pixel, "
                                         r"0 = background\), got shape \(4, 4, 3\) \(a colour image, e\.g\. a label "
                                         r"overlay\?\); write the label image itself"):
        read_label_image(path)


def test_read_label_image_rejects_unknown_suffix(tmp_path):
    path = tmp_path / "x.jpg"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"'\.jpg'.*\.tif, \.tiff, \.png"):
        read_label_image(path)


def test_find_predictions(tmp_path):
    for name in ("a.tif", "b.TIFF", "c.png", "d.txt", "unrelated.tif"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "e.tif").mkdir()  # a folder is not a prediction
    found, missing = find_predictions(tmp_path, ["a", "b", "c", "d", "e", "f"])
    assert found == {"a": tmp_path / "a.tif", "b": tmp_path / "b.TIFF", "c": tmp_path / "c.png"}
    assert missing == ["d", "e", "f"]


def test_find_predictions_refuses_ambiguity_and_missing_folder(tmp_path):
    (tmp_path / "a.tif").write_bytes(b"")
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"'a'.*a\.png, a\.tif"):
        find_predictions(tmp_path, ["a"])
    with pytest.raises(NotADirectoryError, match="nowhere"):
        find_predictions(tmp_path / "nowhere", ["a"])


def test_read_label_image_reads_a_boolean_mask_as_0_1(tmp_path):
    mask = np.array([[True, False], [False, True]])
    for path in (tmp_path / "m.tif", tmp_path / "m.png"):
        (tifffile.imwrite if path.suffix == ".tif" else iio.imwrite)(path, mask)
        labels = read_label_image(path)
        assert labels.dtype == np.int32
        np.testing.assert_array_equal(labels, mask.astype(np.int32))


# --- binary masks given as label images ----------------------------------------------------
# BBBC039's ground truth written as foreground masks: each file is one "object" as it stands.

def _write(path, array):
    (iio.imwrite if path.suffix == ".png" else tifffile.imwrite)(path, array)


def _score_quietly(pred_dir, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluation = score_folder(pred_dir, dataset="bbbc039-sample", split="test", **kwargs)
    return evaluation, [w for w in caught if issubclass(w.category, BinaryMaskWarning)]


@pytest.mark.parametrize(("suffix", "dtype", "value"), [
    (".png", np.uint8, 255),      # the report: 0/255 PNG masks
    (".png", np.uint8, 1),        # 0/1, bool-like
    (".tif", np.uint16, 65535),   # 0/65535 TIFF
    (".tif", bool, True),         # boolean TIFF, read as 0/1
])
def test_binary_mask_predictions_warn_and_are_labelled_on_request(tmp_path, sample_split, suffix, dtype, value):
    paths = {}
    for sample in sample_split:
        paths[sample.name] = tmp_path / f"{sample.name}{suffix}"
        _write(paths[sample.name], np.where(sample.labels > 0, value, 0).astype(dtype))
    masks = [(sample.labels > 0).astype(np.int32) * int(value) for sample in sample_split]
    components = [label(sample.labels > 0, connectivity=1) for sample in sample_split]

    as_is, caught = _score_quietly(tmp_path)
    assert len(caught) == len(sample_split)
    for warning, sample, labelled in zip(caught, sample_split, components):
        message = str(warning.message)
        assert str(paths[sample.name]) in message
        assert f"values 0 and {int(value)} in {labelled.max()} separate regions" in message
        assert "--label-components" in message and "label_components=True" in message
    expected = summarize(score_image(s.labels, m, name=s.name) for s, m in zip(sample_split, masks))
    assert as_is.scores.to_dict() == expected.to_dict()
    assert as_is.scores.average_f1 < 0.05 and as_is.scores.n_pred == len(sample_split)
    assert as_is.provenance == {"label_components": False, "binary_mask_predictions": list(sample_split.names),
                                "intensity_image_predictions": [], "only_present": False}

    labelled, caught = _score_quietly(tmp_path, label_components=True)
    assert caught == []
    expected = summarize(score_image(s.labels, c, name=s.name) for s, c in zip(sample_split, components))
    assert labelled.scores.average_f1 == expected.average_f1 > 0.5
    assert labelled.scores.to_dict() == expected.to_dict()
    assert labelled.provenance == {"label_components": True, "binary_mask_predictions": list(sample_split.names),
                                   "intensity_image_predictions": [], "only_present": False}
    assert labelled.to_dict()["binary_mask_predictions"] == list(sample_split.names)


def test_label_images_are_not_flagged_or_changed(tmp_path, sample_split):
    """One blob (one object is a legitimate label image), two labels, an empty image, a missing file."""
    first, second, third = sample_split
    blob = np.where(first.labels == np.bincount(first.labels.ravel())[1:].argmax() + 1, 255, 0).astype(np.uint8)
    two = np.where(np.isin(second.labels, [1, 2]), second.labels, 0).astype(np.uint16)
    assert len(np.unique(two)) == 3
    iio.imwrite(tmp_path / f"{first.name}.png", blob)
    tifffile.imwrite(tmp_path / f"{second.name}.tif", two)
    tifffile.imwrite(tmp_path / f"{third.name}.tif", np.zeros_like(third.labels, np.uint16))
    expected = summarize([score_image(first.labels, blob, name=first.name),
                          score_image(second.labels, two, name=second.name),
                          score_image(third.labels, np.zeros_like(third.labels), name=third.name)])
    for flag in (False, True):
        evaluation, caught = _score_quietly(tmp_path, label_components=flag)
        assert caught == []
        assert evaluation.provenance == {"label_components": flag, "binary_mask_predictions": [],
                                         "intensity_image_predictions": [], "only_present": False}
        assert evaluation.scores.to_dict() == expected.to_dict()
    (tmp_path / f"{third.name}.tif").unlink()
    evaluation, caught = _score_quietly(tmp_path)
    assert caught == [] and evaluation.missing_predictions == (third.name,)
    assert evaluation.provenance["binary_mask_predictions"] == []


# --- intensity images, predictions in a subfolder, missing predictions --------------------------

def _warnings_of(pred_dir, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluation = score_folder(pred_dir, dataset="bbbc039-sample", split="test", **kwargs)
    return evaluation, [str(w.message) for w in caught]


@pytest.mark.parametrize("scale", [1, 16], ids=["uint16 raw", "uint8 /16"])
def test_intensity_images_given_as_predictions_warn(tmp_path, sample_split, scale):
    """The report: the input images scored as predictions gave 8,596 "predicted objects" and F1
    0.000 without a word."""
    dtype = np.uint16 if scale == 1 else np.uint8
    for sample in sample_split:
        tifffile.imwrite(tmp_path / f"{sample.name}.tif", (sample.image // scale).astype(dtype))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluation = score_folder(tmp_path, dataset="bbbc039-sample", split="test")
    assert [w.category for w in caught] == [IntensityImageWarning] * len(sample_split)
    intensity = [str(w.message) for w in caught]
    for message, sample in zip(intensity, sample_split):
        values = len(np.unique(sample.image[sample.image // scale > 0] // scale))
        assert message.startswith(f"{tmp_path / sample.name}.tif looks like an intensity image, not instance labels "
                                  f"(int32, {values:,} distinct non-zero values in ")  # as read
        assert "every value counts as one object; score the label images a segmentation wrote" in message
    assert evaluation.provenance["intensity_image_predictions"] == list(sample_split.names)
    assert evaluation.provenance["binary_mask_predictions"] == []


def test_label_images_are_not_taken_for_intensity_images(sample_split, bbbc039_mirror):
    """Ground truth, its graph colouring undone or not, and a zoo-like result are labels."""
    from nucseg_zoo import datasets
    from nucseg_zoo.metrics import looks_like_intensity_image

    for sample in [*sample_split, *datasets.load("bbbc039", "validation", mirror=bbbc039_mirror)]:
        assert not looks_like_intensity_image(sample.labels), sample.name
        assert looks_like_intensity_image(sample.image), sample.name
    fragments = np.zeros((40, 40), np.int32)
    fragments[::4, ::4] = np.arange(1, 101).reshape(10, 10)  # 100 labels of one pixel: one region each
    assert not looks_like_intensity_image(fragments)
    few = np.tile(np.array([[1, 0], [0, 2]], np.int32), (20, 20))  # 2 values, 400 regions: not for this rule
    assert not looks_like_intensity_image(few)


def test_predictions_in_a_subfolder_are_named(tmp_path, sample_split):
    """The report: `score OUT` on a `segment` output whose label files are in OUT/imgs found
    nothing and printed zeros."""
    (tmp_path / "imgs").mkdir()
    (tmp_path / "other" / "deeper").mkdir(parents=True)
    for sample in sample_split:
        tifffile.imwrite(tmp_path / "imgs" / f"{sample.name}.tif", sample.labels)
    tifffile.imwrite(tmp_path / "other" / "deeper" / f"{sample_split[0].name}.tif", sample_split[0].labels)
    tifffile.imwrite(tmp_path / "images.tif", np.zeros((2, 2), np.uint8))
    assert folders_with_predictions(tmp_path, sample_split.names) == {tmp_path / "imgs": 3,
                                                                      tmp_path / "other" / "deeper": 1}
    evaluation, messages = _warnings_of(tmp_path)
    assert messages == [f"none of the 3 images of bbbc039-sample/test has a prediction in {tmp_path} (its "
                        f"subfolders do: {tmp_path / 'imgs'} holds 3 of them; {tmp_path / 'other' / 'deeper'} holds "
                        f"1 of them; pass that folder); predictions are named by image stem, e.g. "
                        f"{sample_split.names[0]}.tif, and every image is now scored as an empty prediction"]
    assert evaluation.scores.average_f1 == 0.0
    with pytest.raises(ValueError, match="has a prediction in .*pass that folder.*: nothing to score"):
        score_folder(tmp_path, dataset="bbbc039-sample", split="test", only_present=True)


def test_missing_predictions_are_counted_and_only_present_leaves_them_out(tmp_path, sample_split):
    first, second, third = sample_split
    tifffile.imwrite(tmp_path / f"{first.name}.tif", first.labels)
    evaluation, messages = _warnings_of(tmp_path)
    assert messages == [f"2 of the 3 images of bbbc039-sample/test have no prediction in {tmp_path} "
                        f"({second.name}, {third.name}); they are scored as empty predictions (every nucleus "
                        "missed); --only-present (CLI) or only_present=True (Python) scores only the images with one"]
    assert evaluation.missing_predictions == (second.name, third.name)
    assert evaluation.scores.n_images == 3 and evaluation.scores.average_f1 == pytest.approx(1 / 3)

    present, messages = _warnings_of(tmp_path, only_present=True)
    assert messages == [f"2 of the 3 images of bbbc039-sample/test have no prediction in {tmp_path} "
                        f"({second.name}, {third.name}); they are left out (only_present): the scores cover "
                        "1 image, not the whole split"]
    assert present.missing_predictions == (second.name, third.name) and present.provenance["only_present"]
    assert [image.name for image in present.scores.images] == [first.name]
    assert present.scores.average_f1 == 1.0 and present.scores.n_true == present.scores.n_pred

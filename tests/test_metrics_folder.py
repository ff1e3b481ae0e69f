"""Reading predicted label images from a folder (nucseg_zoo.metrics.folder)."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from nucseg_zoo.metrics.folder import find_predictions, read_label_image

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
    (np.zeros((3, 3), np.float32), "integer.*float32"),
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
    with pytest.raises(ValueError, match=r"rgb.png.*\(4, 4, 3\)"):
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

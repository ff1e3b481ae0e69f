"""A lab's own folder of images and labels as a split (nucseg_zoo.datasets.folder)."""

from __future__ import annotations

import re
import shutil
import warnings
import zipfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from roifile import ROI_OPTIONS, ROI_SUBTYPE, ROI_TYPE, ImagejRoi, roiwrite

from nucseg_zoo.datasets.folder import folder_fingerprint, from_folder, read_imagej_rois
from nucseg_zoo.datasets.formats import MASK_FORMATS, SHAPE_FROM_IMAGE, mask_decoder
from nucseg_zoo.datasets.masks import decode_graph_coloured_mask
from nucseg_zoo.metrics.binary_masks import BinaryMaskWarning
from nucseg_zoo.screens.rois import write_imagej_rois

SAMPLE = Path(__file__).resolve().parent.parent / "nucseg_zoo" / "sample_data" / "bbbc039"
MASKS = sorted((SAMPLE / "masks").glob("*.png"))


def sequential(labels: np.ndarray) -> np.ndarray:
    """``labels`` renumbered 1..N in ascending order of their values (the writer's ROI order)."""
    values = np.unique(labels[labels > 0])
    lut = np.zeros(int(labels.max()) + 1, dtype=np.int32)
    lut[values] = np.arange(1, len(values) + 1)
    return lut[labels]


def bbbc039(index: int = 0, crop: tuple[slice, slice] = (slice(None), slice(None))) -> tuple[np.ndarray, np.ndarray]:
    """``(image uint16, labels int32 1..N)`` of a bundled BBBC039 image, optionally cropped."""
    image = tifffile.imread(SAMPLE / "images" / f"{MASKS[index].stem}.tif")[crop]
    labels = decode_graph_coloured_mask(iio.imread(MASKS[index])[crop])
    return image, sequential(labels)


def small_labels() -> np.ndarray:
    """A 20x30 label image with three nuclei (values 1, 2, 5)."""
    labels = np.zeros((20, 30), dtype=np.uint16)
    labels[2:7, 3:9] = 1
    labels[10:16, 12:21] = 2
    labels[3:6, 22:28] = 5
    return labels


def write_image(path: Path, shape: tuple[int, int] = (20, 30)) -> Path:
    image = (np.arange(shape[0] * shape[1]) % 251).reshape(shape).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    (tifffile.imwrite if path.suffix == ".tif" else iio.imwrite)(path, image)
    return path


def rect(left: int, top: int, right: int, bottom: int, *, name: str = "r", roitype=ROI_TYPE.RECT) -> ImagejRoi:
    roi = ImagejRoi()
    roi.roitype, roi.name = roitype, name
    roi.left, roi.top, roi.right, roi.bottom = left, top, right, bottom
    return roi


def rois_zip(path: Path, rois: list[ImagejRoi]) -> Path:
    roiwrite(path, rois, mode="w")
    return path


# ---------------------------------------------------------------------------------------------
# read_imagej_rois


def test_writer_then_reader_round_trip_is_exact_on_bbbc039(tmp_path):
    # measured: pixel-exact on all three bundled images (317 nuclei): every IoU 1.0
    for index in range(len(MASKS)):
        _, labels = bbbc039(index)
        path = write_imagej_rois(labels, tmp_path / f"{index}.zip")
        back = read_imagej_rois(path, labels.shape)
        assert back.dtype == np.int32 and back.shape == labels.shape
        ious = [np.sum((back == n) & (labels == n)) / np.sum((back == n) | (labels == n))
                for n in range(1, labels.max() + 1)]
        assert min(ious) >= 0.9 and np.mean(ious) >= 0.95
        assert min(ious) == 1.0
        np.testing.assert_array_equal(back, labels)


def test_rectangle_oval_polygon_and_composite_rois(tmp_path):
    traced = ImagejRoi.frompoints(np.array([[1, 1], [4, 1], [4, 2], [3, 2], [3, 4], [1, 4]]), name="t")
    traced.roitype = ROI_TYPE.TRACED  # integer vertices on pixel corners: an L of 8 pixels
    square = [0, 1, 1, 1, 9, 1, 1, 9, 9, 1, 1, 9, 4]
    hole = [0, 3, 3, 1, 6, 3, 1, 6, 6, 1, 3, 6, 4]
    composite = rect(1, 1, 9, 9, name="c")
    composite.multi_coordinates = np.array(square + hole, np.float32)
    composite.shape_roi_size = len(square + hole)
    rois = [rect(1, 2, 5, 4, name="rect"), rect(0, 0, 8, 6, name="oval", roitype=ROI_TYPE.OVAL), traced, composite]
    expected_rect = np.zeros((10, 10), bool)
    expected_rect[2:4, 1:5] = True
    expected_traced = np.zeros((10, 10), bool)
    expected_traced[1:2, 1:4] = expected_traced[2:4, 1:3] = True
    expected_composite = np.zeros((10, 10), bool)
    expected_composite[1:9, 1:9] = True
    expected_composite[3:6, 3:6] = False  # the hole (even-odd, as ImageJ's ShapeRoi)
    # ImageJ's OvalRoi: pixel centres inside the ellipse inscribed in 8x6 at (0, 0)
    expected_oval = np.array([[0, 0, 1, 1, 1, 1, 0, 0], [0, 1, 1, 1, 1, 1, 1, 0], [1] * 8, [1] * 8,
                              [0, 1, 1, 1, 1, 1, 1, 0], [0, 0, 1, 1, 1, 1, 0, 0]], bool)
    for roi, expected in [(rois[0], expected_rect), (rois[2], expected_traced), (rois[3], expected_composite)]:
        labels = read_imagej_rois(rois_zip(tmp_path / "one.zip", [roi]), (10, 10))
        np.testing.assert_array_equal(labels, expected.astype(np.int32))
    oval = read_imagej_rois(rois_zip(tmp_path / "one.zip", [rois[1]]), (10, 10))
    np.testing.assert_array_equal(oval[:6, :8], expected_oval.astype(np.int32))
    assert oval[6:].sum() == oval[:, 8:].sum() == 0


def test_subpixel_and_rounded_rectangles_and_spline_polygons(tmp_path):
    subpixel = rect(1, 0, 4, 3)
    subpixel.options |= ROI_OPTIONS.SUB_PIXEL_RESOLUTION
    subpixel.xd, subpixel.yd, subpixel.widthd, subpixel.heightd = 1.2, 0.6, 2.0, 2.0
    labels = read_imagej_rois(rois_zip(tmp_path / "s.zip", [subpixel]), (6, 6))
    assert sorted(zip(*np.nonzero(labels))) == [(1, 1), (1, 2), (2, 1), (2, 2)]  # centres in [1.2, 3.2) x [0.6, 2.6)
    rounded = rect(0, 0, 8, 8)
    rounded.rounded_rect_arc_size = 4
    labels = read_imagej_rois(rois_zip(tmp_path / "r.zip", [rounded]), (10, 10))
    assert labels.sum() == 60 and labels[0, 0] == labels[7, 7] == 0 and labels[0, 1] == 1
    corners = np.array([[10, 10], [30, 10], [30, 30], [10, 30]], float)
    plain = ImagejRoi.frompoints(corners, name="p")
    spline = ImagejRoi.frompoints(corners, name="p")
    spline.options |= ROI_OPTIONS.SPLINE_FIT
    area_plain = read_imagej_rois(rois_zip(tmp_path / "p.zip", [plain]), (40, 40)).sum()
    area_spline = read_imagej_rois(rois_zip(tmp_path / "q.zip", [spline]), (40, 40)).sum()
    assert area_plain == 400 and 450 < area_spline < 2 * 400 * np.pi / 4  # about the circle through the corners


def test_overlapping_rois_go_to_the_smallest_and_partly_outside_ones_are_clipped(tmp_path):
    big, small = rect(0, 0, 8, 8, name="big"), rect(2, 2, 4, 4, name="small")
    for order, small_label in (([big, small], 2), ([small, big], 1)):
        labels = read_imagej_rois(rois_zip(tmp_path / "o.zip", order), (10, 10))
        assert np.sum(labels == small_label) == 4 and np.all(labels[2:4, 2:4] == small_label)
        assert np.sum(labels == 3 - small_label) == 60
    labels = read_imagej_rois(rois_zip(tmp_path / "c.zip", [rect(-3, 7, 3, 20)]), (10, 10))
    assert labels.sum() == 9 and np.all(labels[7:, :3] == 1)


def test_single_roi_file_and_zip_entries_that_imagej_skips(tmp_path):
    roi = rect(1, 1, 3, 3, name="one")
    roi.tofile(tmp_path / "one.roi")
    assert read_imagej_rois(tmp_path / "one.roi", (4, 4)).sum() == 4
    with zipfile.ZipFile(tmp_path / "mac.zip", "w") as archive:
        archive.writestr("nucleus.roi", roi.tobytes())
        archive.writestr("__MACOSX/._nucleus.roi", b"resource fork")
        archive.writestr("notes.txt", b"not a roi")
    assert read_imagej_rois(tmp_path / "mac.zip", (4, 4)).sum() == 4
    assert read_imagej_rois(rois_zip(tmp_path / "none.zip", []), (3, 5)).shape == (3, 5)


def test_non_area_and_empty_rois_are_refused_naming_the_file_roi_and_type(tmp_path):
    line = rect(0, 0, 0, 0, name="a-line", roitype=ROI_TYPE.LINE)
    line.x1, line.y1, line.x2, line.y2 = 1.0, 1.0, 5.0, 5.0
    point = ImagejRoi.frompoints(np.array([[2, 2], [3, 3]]), name="dots")
    point.roitype = ROI_TYPE.POINT
    polyline = ImagejRoi.frompoints(np.array([[1, 1], [5, 2], [3, 6]]), name="path")
    polyline.roitype = ROI_TYPE.POLYLINE
    text = rect(1, 1, 6, 4, name="label")
    text.subtype = ROI_SUBTYPE.TEXT
    curved = rect(1, 1, 9, 9, name="blob")
    curved.multi_coordinates = np.array([0, 1, 1, 2, 5, 0, 9, 1, 1, 9, 9, 4], np.float32)  # a QUADTO
    curved.shape_roi_size = len(curved.multi_coordinates)
    ok = rect(1, 1, 3, 3, name="fine")
    cases = [
        (line, r"ROI 2 \('a-line'\) is a line ROI, not an area"),
        (point, r"ROI 2 \('dots'\) is a point ROI, not an area"),
        (polyline, r"ROI 2 \('path'\) is a polyline ROI, not an area"),
        (text, r"ROI 2 \('label'\) is a rect text ROI, not an area"),
        (ImagejRoi.frompoints(np.array([[1, 1], [4, 4], [8, 8]]), name="flat"),
         r"ROI 2 \('flat'\) is a freehand ROI with no area"),
        (rect(3, 3, 3, 8, name="thin"), r"ROI 2 \('thin'\) is a rect ROI with no area"),
        (ImagejRoi.frompoints(np.array([[1.1, 1.1], [1.3, 1.1], [1.3, 1.3]]), name="speck"),
         r"ROI 2 \('speck'\) is a freehand ROI that covers no pixel centre of the 10x10 \(HxW\) image"),
        (rect(12, 1, 20, 5, name="away"),
         r"ROI 2 \('away'\), a rect ROI, lies entirely outside the 10x10 \(HxW\) image: x 12..20, y 1..5"),
        (curved, r"ROI 2 \('blob'\) is a composite ROI with curved edges, which are not supported"),
    ]
    for roi, message in cases:
        path = rois_zip(tmp_path / "bad.zip", [ok, roi])
        with pytest.raises(ValueError, match=re.escape(str(path)) + ": " + message):
            read_imagej_rois(path, (10, 10))


def test_files_that_are_not_rois(tmp_path):
    (tmp_path / "junk.zip").write_bytes(b"no zip")
    with pytest.raises(ValueError, match=r"junk.zip: not a zip file"):
        read_imagej_rois(tmp_path / "junk.zip", (4, 4))
    (tmp_path / "junk.roi").write_bytes(b"no roi at all")
    with pytest.raises(ValueError, match=r"junk.roi: not an ImageJ ROI"):
        read_imagej_rois(tmp_path / "junk.roi", (4, 4))
    with pytest.raises(FileNotFoundError, match="gone.zip does not exist"):
        read_imagej_rois(tmp_path / "gone.zip", (4, 4))
    assert "imagej-rois" in MASK_FORMATS and "imagej-rois" in SHAPE_FROM_IMAGE
    rois_zip(tmp_path / "r.zip", [rect(0, 0, 2, 2)])
    assert mask_decoder("imagej-rois")([tmp_path / "r.zip"], (3, 3), 1).sum() == 4


# ---------------------------------------------------------------------------------------------
# from_folder


def test_every_label_format_pairs_by_stem_with_the_documented_tags(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    expected = small_labels()
    for stem in ("a", "b", "c", "d", "e", "f", "g"):
        write_image(images / f"{stem}.{'png' if stem in 'bd' else 'tif'}")
    labels.mkdir()
    tifffile.imwrite(labels / "a.tif", expected)                       # label TIFF
    iio.imwrite(labels / "b_cp_masks.png", expected.astype(np.uint16))  # Cellpose's PNG
    tifffile.imwrite(labels / "c_labels.ome.tif", expected)             # OME-TIFF, tagged
    (labels / "d_masks").mkdir()                                        # one mask per nucleus, PNG and TIFF
    for index, value in enumerate((1, 2, 5)):
        mask = (expected == value).astype(np.uint8) * 255
        write = iio.imwrite if index % 2 else tifffile.imwrite
        write(labels / "d_masks" / f"m{index}.{'png' if index % 2 else 'tif'}", mask)
    write_imagej_rois(expected, labels / "e.zip")                       # ImageJ ROI set
    rect(3, 2, 9, 7, name="n").tofile(labels / "f_mask.roi")           # a single ROI
    iio.imwrite(labels / "g-labels.png", expected.astype(np.uint8))     # QuPath-style
    (labels / "notes.txt").write_text("ignored")
    split = from_folder(images, labels)
    assert split.names == ("a", "b", "c", "d", "e", "f", "g")
    formats = {sample.name: sample.mask_format for sample in split}
    assert formats == {"a": "label-image", "b": "label-image", "c": "label-image", "d": "instance-mask-pngs",
                       "e": "imagej-rois", "f": "imagej-rois", "g": "label-image"}
    for stem in "abcg":
        np.testing.assert_array_equal(split[stem].labels, expected.astype(np.int32))
    np.testing.assert_array_equal(split["d"].labels, sequential(expected))
    np.testing.assert_array_equal(split["e"].labels, sequential(expected))
    np.testing.assert_array_equal(split["f"].labels, (expected == 1).astype(np.int32))
    assert split["d"].mask_paths == tuple(labels / "d_masks" / name for name in ("m0.tif", "m1.png", "m2.tif"))
    assert split["a"].labels.dtype == np.int32 and split["a"].image.shape == (20, 30)
    assert split.dataset == f"folder:{images.resolve()}" and split.split == "folder"
    assert {(s.source, s.license, s.split) for s in split} == {(str(images.resolve()), "unknown (own data)", "folder")}
    assert from_folder(images, labels, name="my-lab").dataset == "my-lab"


def test_bbbc039_crop_of_odd_size_in_three_formats(tmp_path):
    image, labels = bbbc039(1, (slice(100, 400), slice(50, 507)))
    labels = sequential(labels)
    assert image.shape == labels.shape == (300, 457)
    images, label_dir = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    label_dir.mkdir()
    for stem in ("tiff", "folder", "rois"):
        tifffile.imwrite(images / f"crop-{stem}.tif", image)
    tifffile.imwrite(label_dir / "crop-tiff_masks.tif", labels.astype(np.uint16))
    (label_dir / "crop-folder").mkdir()
    for value in range(1, labels.max() + 1):
        iio.imwrite(label_dir / "crop-folder" / f"{value:04d}.png", (labels == value).astype(np.uint8) * 255)
    write_imagej_rois(labels, label_dir / "crop-rois.zip")
    split = from_folder(images, label_dir)
    assert split.names == ("crop-folder", "crop-rois", "crop-tiff")
    for sample in split:
        np.testing.assert_array_equal(sample.image, image)
        np.testing.assert_array_equal(sample.labels, labels)


def test_cellpose_masks_next_to_their_images(tmp_path):
    write_image(tmp_path / "a.png")
    iio.imwrite(tmp_path / "a_cp_masks.png", small_labels())
    write_image(tmp_path / "b.png")
    tifffile.imwrite(tmp_path / "b_masks.tif", small_labels())
    split = from_folder(tmp_path, tmp_path)
    assert split.names == ("a", "b")
    assert split["a"].mask_paths == (tmp_path.resolve() / "a_cp_masks.png",)


def test_missing_folders_and_no_images(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"images folder .*nowhere does not exist"):
        from_folder(tmp_path / "nowhere", tmp_path)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"labels folder .*file.txt is not a folder"):
        from_folder(tmp_path, tmp_path / "file.txt")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    write_image(tmp_path / "empty" / "sub" / "deep.tif")
    write_image(tmp_path / "empty" / "._hidden.tif")
    with pytest.raises(ValueError, match=r"empty: no image \(files ending in .tif, .tiff, .png\); subfolders"):
        from_folder(tmp_path / "empty", tmp_path)


def test_ambiguous_pairings_are_refused_naming_the_files(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    write_image(images / "a.tif")
    labels.mkdir()
    tifffile.imwrite(labels / "a.tif", small_labels())
    iio.imwrite(labels / "a_masks.png", small_labels())
    with pytest.raises(ValueError, match=r"image 'a' has several label entries, keep one: a.tif, a_masks.png"):
        from_folder(images, labels)
    (labels / "a_masks.png").unlink()
    (labels / "a").mkdir()
    with pytest.raises(ValueError, match=r"image 'a' has several label entries, keep one: a/, a.tif"):
        from_folder(images, labels)
    (labels / "a").rmdir()
    write_image(images / "a.png")
    with pytest.raises(ValueError, match=r"several images share a stem.*: a.png, a.tif"):
        from_folder(images, labels)
    (images / "a.png").rename(images / "a_masks.png")
    (labels / "a.tif").rename(labels / "a_masks.tif")
    with pytest.raises(ValueError, match=r"a label entry fits several images: a_masks.tif \(a, a_masks\)"):
        from_folder(images, labels)


def test_images_without_labels_are_an_error_and_labels_without_images_a_warning(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    for stem in ("a", "b", "c"):
        write_image(images / f"{stem}.tif")
    labels.mkdir()
    tifffile.imwrite(labels / "a.tif", small_labels())
    with pytest.raises(ValueError, match=r"no labels for 2 image\(s\): b, c\. The labels of image 'a' are .*_cp_masks"):
        from_folder(images, labels)
    (images / "b.tif").unlink()
    (images / "c.tif").unlink()
    tifffile.imwrite(labels / "z.tif", small_labels())
    write_imagej_rois(small_labels(), labels / "y.zip")
    with pytest.warns(UserWarning, match=r"2 label entries without an image .*, left out: y.zip, z.tif"):
        split = from_folder(images, labels)
    assert split.names == ("a",)


def test_unreadable_and_inconsistent_files_are_named(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    write_image(images / "a.tif")
    labels.mkdir()
    (labels / "a.tif").write_bytes(b"this is no TIFF")
    with pytest.raises(ValueError, match=re.escape(str((labels / "a.tif").resolve())) + ": cannot read"):
        from_folder(images, labels)
    split = from_folder(images, labels, check=False)  # pairs only; the file fails when read
    with pytest.raises(Exception):
        split[0].labels
    tifffile.imwrite(labels / "a.tif", np.zeros((21, 30), np.uint16))
    with pytest.raises(ValueError, match=r"a.tif: labels of shape \(21, 30\), but its image a.tif is 20x30"):
        from_folder(images, labels)
    tifffile.imwrite(labels / "a.tif", np.zeros((20, 30, 3), np.uint8))
    with pytest.raises(ValueError, match=r"a.tif: expected a 2-D label image"):
        from_folder(images, labels)
    (labels / "a.tif").unlink()
    (labels / "a").mkdir()
    iio.imwrite(labels / "a" / "n1.png", np.zeros((20, 31), np.uint8))
    with pytest.raises(ValueError, match=r"n1.png: labels of shape \(20, 31\), but its image a.tif is 20x30"):
        from_folder(images, labels)
    shutil.rmtree(labels / "a")
    rois_zip(labels / "a.zip", [rect(50, 50, 60, 60, name="far")])
    with pytest.raises(ValueError, match=r"a.zip: ROI 1 \('far'\), a rect ROI, lies entirely outside the 20x30"):
        from_folder(images, labels)
    (labels / "a.zip").unlink()
    tifffile.imwrite(labels / "a.tif", small_labels())
    (images / "a.tif").write_bytes(b"broken image")
    with pytest.raises(ValueError, match=re.escape(str((images / "a.tif").resolve())) + ": cannot read"):
        from_folder(images, labels)


def test_binary_mask_label_images_warn(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    write_image(images / "a.png")
    labels.mkdir()
    iio.imwrite(labels / "a.png", ((small_labels() > 0) * 255).astype(np.uint8))
    with pytest.warns(BinaryMaskWarning, match=r"a.png looks like a binary mask, not instance labels \(int32 values "
                                               r"0 and 255 in 3 separate regions\): all of it counts as ONE object; "
                                               r"give each nucleus its own value"):
        from_folder(images, labels)
    iio.imwrite(labels / "a.png", small_labels().astype(np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_folder(images, labels)


def test_fingerprint_follows_content_not_location(tmp_path):
    images, labels = tmp_path / "lab" / "images", tmp_path / "lab" / "labels"
    for stem in ("a", "b"):
        write_image(images / f"{stem}.tif")
    labels.mkdir()
    tifffile.imwrite(labels / "a.tif", small_labels())
    (labels / "b").mkdir()
    iio.imwrite(labels / "b" / "n.png", (small_labels() == 2).astype(np.uint8))
    first = folder_fingerprint(from_folder(images, labels))
    assert re.fullmatch(r"[0-9a-f]{64}", first) and folder_fingerprint(from_folder(images, labels)) == first
    shutil.copytree(tmp_path / "lab", tmp_path / "moved")
    assert folder_fingerprint(from_folder(tmp_path / "moved" / "images", tmp_path / "moved" / "labels")) == first
    changed = small_labels()
    changed[0, 0] = 7
    tifffile.imwrite(labels / "a.tif", changed)
    second = folder_fingerprint(from_folder(images, labels))
    assert second != first
    iio.imwrite(labels / "b" / "m.png", (small_labels() == 1).astype(np.uint8))  # a nucleus added
    assert folder_fingerprint(from_folder(images, labels)) not in (first, second)

"""A lab's own annotated images as a dataset split: a folder of images and a folder of labels.

:func:`from_folder` pairs the images with their ground truth by file stem and returns a
:class:`~nucseg_zoo.datasets.samples.DatasetSplit` that evaluates like an official split;
:func:`folder_fingerprint` hashes its files (the analogue of an official split's manifest),
so results can be cached and invalidated by content. :func:`read_imagej_rois` turns an
ImageJ/Fiji ROI Manager set into instance labels (mask format ``"imagej-rois"``).

Layout (``images`` and ``labels`` may be the same folder, as Cellpose writes its masks next
to the images)::

    images/a.tif          labels/a.tif | a.png          one integer label image
                          labels/a/                     one binary mask per nucleus (PNG/TIFF)
                          labels/a.zip | a.roi          ImageJ ROIs, one per nucleus

The label entry of image ``a`` may also be named ``a`` + one of :data:`LABEL_TAGS`
(``a_cp_masks.png`` as Cellpose writes, ``a_masks.tif``, ``a_labels.png``, ...).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from roifile import ROI_OPTIONS, ROI_SUBTYPE, ROI_TYPE, ImagejRoi

from nucseg_zoo._hashing import sha256_of
from nucseg_zoo.datasets.formats import check_any_image
from nucseg_zoo.datasets.samples import DatasetSplit, Sample
from nucseg_zoo.image_files import Selection, image_size

IMAGE_SUFFIXES: tuple[str, ...] = (".tif", ".tiff", ".png")
"""Suffixes (case-insensitive) of images, label images and per-nucleus masks; ``.ome.tif``
and ``.ome.tiff`` count as one suffix (``a.ome.tif`` has stem ``a``)."""

ROI_SUFFIXES: tuple[str, ...] = (".zip", ".roi")
"""Suffixes (case-insensitive) of ImageJ ROI files: a ROI Manager set, or one ROI."""

LABEL_TAGS: tuple[str, ...] = ("", "_cp_masks", "_masks", "_mask", "_labels", "_label", "-labels", ".rois")
"""What may follow an image's stem in the name of its label entry (case-sensitive):
nothing, Cellpose's ``_cp_masks``, the common ``_masks``/``_mask``/``_labels``/``_label``,
``-labels`` of QuPath's label-image export scripts, and ``.rois`` of ``nucseg-zoo segment
--rois`` (``<stem>.rois.zip``)."""

T = TypeVar("T")

SPLIT = "folder"
LICENSE = "unknown (own data)"

LABEL_IMAGE, MASK_FOLDER, IMAGEJ_ROIS = "label-image", "instance-mask-pngs", "imagej-rois"
"""Mask formats (:mod:`nucseg_zoo.datasets.formats`) of the three kinds of label entry."""

_POLYGON_TYPES = {ROI_TYPE.POLYGON: "polygon", ROI_TYPE.FREEHAND: "freehand", ROI_TYPE.TRACED: "traced"}
_BOX_TYPES = {ROI_TYPE.RECT: "rectangle", ROI_TYPE.OVAL: "oval"}
_REFUSED_SUBTYPES = {ROI_SUBTYPE.TEXT: "text", ROI_SUBTYPE.ARROW: "arrow", ROI_SUBTYPE.IMAGE: "image"}
_SPLINE_POINTS_PER_VERTEX = 8


# ----------------------------------------------------------------------------------------------
# ImageJ ROIs


Frame = tuple[int, int, int, int]
"""``(top, left, height, width)`` of a block of image pixels."""


@dataclass(frozen=True)
class _Area:
    """The pixels of one ROI inside the image: ``mask`` (bool) placed at ``(top, left)``."""

    top: int
    left: int
    mask: np.ndarray


def read_imagej_rois(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """Rasterise an ImageJ/Fiji ROI set (``.zip`` of the ROI Manager) or one ``.roi`` file.

    ROI ``i`` (in file order; in a zip, the ``.roi`` entries as stored, skipping macOS
    ``__MACOSX/`` and ``._`` entries like ImageJ) becomes label ``i + 1``. Coordinates are
    ImageJ's: integers are pixel *corners*, the centre of pixel ``(row, col)`` is
    ``(x, y) = (col + 0.5, row + 0.5)``, and a pixel belongs to a ROI when its centre lies
    inside it, as in ImageJ's masks:

    * polygon, freehand, traced (also fitted ellipses, rotated rectangles): the polygon, even-odd
      rule; spline-fitted ones through a closed cubic spline of their vertices;
    * rectangle (also rounded), oval: the shape inscribed in its (sub-pixel) bounds;
    * composite (shape) ROIs: their straight-edged sub-paths, even-odd (holes stay holes).

    A pixel covered by several ROIs goes to the smallest of them (fewest pixels in the image;
    ties to the earlier), the rule of :func:`~nucseg_zoo.datasets.masks.decode_instance_masks`.
    ROIs partly outside the image are clipped. Stack positions (slice, channel, frame) are
    ignored: the result is one 2-D plane.

    Args:
        path: a ``.zip`` or ``.roi`` file.
        shape: ``(H, W)`` of the image, in pixels.

    Returns:
        ``(H, W)`` int32 labels, 0 = background (all 0 for an empty set); a ROI whose pixels
        all went to smaller ones keeps its label and has no pixels.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: not a ROI file (names it); or a ROI, named by file, position and name,
            is a line, point, text, arrow or image ROI, has a curved composite outline,
            has no area, lies entirely outside the image or covers none of its pixel centres.
    """
    path = Path(path)
    shape = (int(shape[0]), int(shape[1]))
    areas = [_rasterise(roi, shape, f"{path}: ROI {index + 1} ({name!r})")
             for index, (name, roi) in enumerate(_read_rois(path))]
    return _paint(areas, shape)


def _read_rois(path: Path) -> list[tuple[str, ImagejRoi]]:
    """``(name, roi)`` of every ROI of a ``.zip`` or ``.roi`` file, in file order."""
    if not path.is_file():
        raise FileNotFoundError(f"ImageJ ROI file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".roi":
        roi = _decode(path.read_bytes(), f"{path}")
        return [(roi.name or path.stem, roi)]
    if suffix != ".zip":
        raise ValueError(f"{path}: not an ImageJ ROI file (expected {' or '.join(ROI_SUFFIXES)})")
    try:
        with zipfile.ZipFile(path) as archive:
            entries = [entry for entry in archive.namelist() if _is_roi_entry(entry)]
            data = [(entry, archive.read(entry)) for entry in entries]
    except zipfile.BadZipFile as err:
        raise ValueError(f"{path}: not a zip file, so not an ImageJ ROI set ({err})") from None
    rois = []
    for entry, payload in data:
        roi = _decode(payload, f"{path}: entry {entry!r}")
        rois.append((roi.name or Path(entry).stem, roi))
    return rois


def _is_roi_entry(entry: str) -> bool:
    """Whether a zip entry is a ROI that ImageJ's ROI Manager opens (macOS metadata is not)."""
    name = entry.rsplit("/", 1)[-1]
    return entry.lower().endswith(".roi") and not entry.startswith("__MACOSX/") and not name.startswith("._")


def _decode(payload: bytes, where: str) -> ImagejRoi:
    try:
        return ImagejRoi.frombytes(payload)
    except Exception as err:  # roifile raises ValueError, struct.error, ... on foreign bytes
        raise ValueError(f"{where}: not an ImageJ ROI ({type(err).__name__}: {err})") from None


def _type_name(roi: ImagejRoi) -> str:
    if roi.composite:
        return "composite"
    subtype = f" {roi.subtype.name.lower()}" if roi.subtype != ROI_SUBTYPE.UNDEFINED else ""
    return f"{roi.roitype.name.lower()}{subtype}"


def _rasterise(roi: ImagejRoi, shape: tuple[int, int], where: str) -> _Area:
    """The pixels of ``roi`` inside an image of ``shape``; ``where`` names it in errors."""
    if roi.subtype in _REFUSED_SUBTYPES or not (
            roi.composite or roi.roitype in _POLYGON_TYPES or roi.roitype in _BOX_TYPES):
        raise ValueError(f"{where} is a {_type_name(roi)} ROI, not an area; nuclei must be polygon, freehand, "
                         "traced, rectangle, oval or composite ROIs")
    polygons = _polygons(roi, where) if roi.composite or roi.roitype in _POLYGON_TYPES else None
    bounds = _polygon_bounds(polygons) if polygons is not None else _box(roi)
    if bounds[2] <= bounds[0] or bounds[3] <= bounds[1]:
        raise ValueError(f"{where} is a {_type_name(roi)} ROI with no area (width or height 0)")
    frame = _frame(bounds, shape)
    if frame is None:
        raise ValueError(f"{where}, a {_type_name(roi)} ROI, lies entirely outside the {shape[0]}x{shape[1]} "
                         f"(HxW) image: x {bounds[0]:g}..{bounds[2]:g}, y {bounds[1]:g}..{bounds[3]:g}")
    if polygons is not None:
        mask = _fill_polygons(polygons, frame)
    elif roi.roitype == ROI_TYPE.OVAL:
        mask = _fill_oval(bounds, frame)
    else:
        mask = _fill_rectangle(bounds, roi.rounded_rect_arc_size, frame)
    if not mask.any():
        raise ValueError(f"{where} is a {_type_name(roi)} ROI that covers no pixel centre of the "
                         f"{shape[0]}x{shape[1]} (HxW) image (no area)")
    return _Area(frame[0], frame[1], mask)


def _polygons(roi: ImagejRoi, where: str) -> list[np.ndarray]:
    """The closed outline(s) of a polygon-type or composite ROI, ``(n, 2)`` float64 ``(x, y)``."""
    if roi.composite:
        try:
            paths = roi.coordinates(multi=True)
        except NotImplementedError:
            raise ValueError(f"{where} is a composite ROI with curved edges, which are not supported; "
                             "convert it to polygon ROIs first") from None
        polygons = [np.asarray(p, dtype=np.float64) for p in paths]
    else:
        xy = np.asarray(roi.coordinates(), dtype=np.float64)
        polygons = [_spline(xy) if roi.options & ROI_OPTIONS.SPLINE_FIT and len(xy) >= 3 else xy]
    polygons = [p for p in polygons if len(p) >= 3 and _area(p) > 0]
    if not polygons:
        raise ValueError(f"{where} is a {_type_name(roi)} ROI with no area (fewer than 3 vertices, or all on a line)")
    return polygons


def _area(xy: np.ndarray) -> float:
    """Absolute shoelace area of a closed polygon ``(n, 2)``, in square pixels."""
    x, y = xy[:, 0], xy[:, 1]
    return abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))) / 2


def _spline(xy: np.ndarray) -> np.ndarray:
    """The closed cubic spline through the vertices of a spline-fitted ImageJ polygon
    (uniform parameter, like ImageJ's ``fitSpline``), sampled densely as a polygon."""
    from scipy.interpolate import CubicSpline

    if np.array_equal(xy[0], xy[-1]):
        xy = xy[:-1]
    closed = np.vstack([xy, xy[:1]])
    spline = CubicSpline(np.arange(len(closed)), closed, bc_type="periodic")
    return spline(np.linspace(0, len(xy), len(xy) * _SPLINE_POINTS_PER_VERTEX, endpoint=False))


def _polygon_bounds(polygons: Sequence[np.ndarray]) -> tuple[float, float, float, float]:
    stacked = np.vstack(polygons)
    (x0, y0), (x1, y1) = stacked.min(axis=0), stacked.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def _box(roi: ImagejRoi) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` bounds of a rectangle or oval ROI, sub-pixel where stored so."""
    if roi.subpixelrect and (roi.widthd > 0 or roi.heightd > 0):
        return roi.xd, roi.yd, roi.xd + roi.widthd, roi.yd + roi.heightd
    return float(roi.left), float(roi.top), float(roi.right), float(roi.bottom)


def _frame(bounds: tuple[float, float, float, float], shape: tuple[int, int]) -> Frame | None:
    """``(top, left, height, width)`` of the image pixels that ``bounds`` may cover, or None."""
    x0, y0, x1, y1 = bounds
    top, left = max(math.floor(y0), 0), max(math.floor(x0), 0)
    bottom, right = min(math.ceil(y1), shape[0]), min(math.ceil(x1), shape[1])
    if bottom <= top or right <= left:
        return None
    return top, left, bottom - top, right - left


def _fill_polygons(polygons: Sequence[np.ndarray], frame: Frame) -> np.ndarray:
    """Pixels of the frame whose centres are inside the polygons (even-odd), ``(h, w)`` bool.

    :func:`skimage.draw.polygon` tests integer ``(row, col)``, i.e. skimage's pixel centres;
    ImageJ's centre of pixel ``(row, col)`` is ``(col + 0.5, row + 0.5)``, hence the shift.
    """
    from skimage.draw import polygon

    top, left, height, width = frame
    mask = np.zeros((height, width), dtype=bool)
    for xy in polygons:
        rows, cols = polygon(xy[:, 1] - top - 0.5, xy[:, 0] - left - 0.5, shape=(height, width))
        piece = np.zeros_like(mask)
        piece[rows, cols] = True
        mask ^= piece
    return mask


def _centres(frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    """ImageJ ``(y, x)`` pixel-centre coordinates of the frame, broadcastable to ``(h, w)``."""
    top, left, height, width = frame
    return top + 0.5 + np.arange(height)[:, None], left + 0.5 + np.arange(width)[None, :]


def _fill_oval(bounds: tuple[float, float, float, float], frame: Frame) -> np.ndarray:
    """Pixels whose centres are inside the ellipse inscribed in ``bounds`` (ImageJ's OvalRoi mask)."""
    y, x = _centres(frame)
    x0, y0, x1, y1 = bounds
    rx, ry = (x1 - x0) / 2, (y1 - y0) / 2
    return ((x - x0 - rx) / rx) ** 2 + ((y - y0 - ry) / ry) ** 2 <= 1.0


def _fill_rectangle(bounds: tuple[float, float, float, float], arc: int, frame: Frame) -> np.ndarray:
    """Pixels whose centres are inside the rectangle ``bounds`` (half-open, like Java's), with
    corners rounded to a circle of diameter ``arc`` (ImageJ's corner diameter; 0 = square)."""
    y, x = _centres(frame)
    x0, y0, x1, y1 = bounds
    inside = (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
    radius = min(arc / 2, (x1 - x0) / 2, (y1 - y0) / 2)
    if radius > 0:
        dx = np.maximum(np.maximum(x0 + radius - x, x - (x1 - radius)), 0)
        dy = np.maximum(np.maximum(y0 + radius - y, y - (y1 - radius)), 0)
        inside &= dx ** 2 + dy ** 2 <= radius ** 2
    return inside


def _paint(areas: Sequence[_Area], shape: tuple[int, int]) -> np.ndarray:
    """Labels ``1..N`` of ``areas`` in order; shared pixels go to the smallest (ties: earlier)."""
    labels = np.zeros(shape, dtype=np.int32)
    sizes = [int(np.count_nonzero(area.mask)) for area in areas]
    for index in sorted(range(len(areas)), key=lambda i: (-sizes[i], -i)):
        area = areas[index]
        height, width = area.mask.shape
        labels[area.top:area.top + height, area.left:area.left + width][area.mask] = index + 1
    return labels


# ----------------------------------------------------------------------------------------------
# A folder of images and a folder of labels


@dataclass(frozen=True)
class _Entry:
    """A label entry of the labels folder: its stem, mask format and file(s)."""

    stem: str
    path: Path
    mask_format: str

    def files(self) -> tuple[Path, ...]:
        """The files that hold the labels (a mask folder's images, sorted by name)."""
        if self.mask_format == MASK_FOLDER:
            return tuple(sorted((p for p in self.path.iterdir() if _image_stem(p) is not None),
                                key=lambda p: p.name))
        return (self.path,)


def _image_stem(path: Path) -> str | None:
    """The stem of an image file (``a.ome.tif`` -> ``a``), or None for other files and
    hidden ones (``.DS_Store``, macOS ``._a.tif``)."""
    name = path.name
    if name.startswith(".") or not path.is_file():
        return None
    lower = name.lower()
    for suffix in (".ome.tif", ".ome.tiff", *IMAGE_SUFFIXES):
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)]
    return None


def _entry(path: Path) -> _Entry | None:
    """The label entry of a labels-folder item, or None when it is none (other files)."""
    if path.name.startswith("."):
        return None
    if path.is_dir():
        return _Entry(path.name, path, MASK_FOLDER)
    stem = _image_stem(path)
    if stem is not None:
        return _Entry(stem, path, LABEL_IMAGE)
    if path.is_file() and path.suffix.lower() in ROI_SUFFIXES and path.stem:
        return _Entry(path.stem, path, IMAGEJ_ROIS)
    return None


def _folder(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} folder {path} does not exist")
    if not path.is_dir():
        raise NotADirectoryError(f"{what} folder {path} is not a folder")
    return path.resolve()


def _images(folder: Path) -> dict[str, Path]:
    """``stem -> image file`` of a folder (not its subfolders), sorted by stem."""
    by_stem: dict[str, list[Path]] = {}
    for path in folder.iterdir():
        stem = _image_stem(path)
        if stem is not None:
            by_stem.setdefault(stem, []).append(path)
    doubled = {stem: paths for stem, paths in by_stem.items() if len(paths) > 1}
    if doubled:
        raise ValueError(f"{folder}: several images share a stem, so labels cannot be paired with them: "
                         + "; ".join(", ".join(sorted(p.name for p in paths)) for paths in doubled.values()))
    if not by_stem:
        raise ValueError(f"{folder}: no image (files ending in {', '.join(IMAGE_SUFFIXES)}); subfolders "
                         "are not searched")
    return {stem: by_stem[stem][0] for stem in sorted(by_stem)}


def _drop_labels_among_images(images: dict[str, Path]) -> dict[str, Path]:
    """Images of a folder that also holds the labels: without the files named like the label
    of another image (``a_cp_masks.png`` next to ``a.png``)."""
    labels = {stem + tag for stem in images for tag in LABEL_TAGS if tag}
    return {stem: path for stem, path in images.items() if stem not in labels}


def _pair(images: dict[str, Path], entries: Sequence[_Entry], tags: Sequence[str],
          label_dir: Path) -> tuple[dict[str, _Entry], list[str], list[_Entry]]:
    """``(stem -> its label entry, images without one, entries of no image)``.

    Raises:
        ValueError: an image has several candidate entries, or an entry fits several images.
    """
    by_stem: dict[str, list[_Entry]] = {}
    for entry in entries:
        by_stem.setdefault(entry.stem, []).append(entry)
    paired: dict[str, _Entry] = {}
    claimed: dict[Path, list[str]] = {}
    for stem in images:
        candidates = [entry for tag in tags for entry in by_stem.get(stem + tag, [])]
        if len(candidates) > 1:
            raise ValueError(f"{label_dir}: image {stem!r} has several label entries, keep one: "
                             + ", ".join(_shown(entry) for entry in candidates))
        if candidates:
            paired[stem] = candidates[0]
            claimed.setdefault(candidates[0].path, []).append(stem)
    shared = {path: stems for path, stems in claimed.items() if len(stems) > 1}
    if shared:
        raise ValueError(f"{label_dir}: a label entry fits several images: "
                         + "; ".join(f"{path.name} ({', '.join(stems)})" for path, stems in shared.items()))
    missing = [stem for stem in images if stem not in paired]
    unused = [entry for entry in entries if entry.path not in claimed and entry.path not in images.values()]
    return paired, missing, unused


def _shown(entry: _Entry) -> str:
    return entry.path.name + ("/" if entry.mask_format == MASK_FOLDER else "")


def _missing_error(missing: Sequence[str], label_dir: Path) -> ValueError:
    listed = ", ".join(missing[:20]) + (f", ... ({len(missing)} in all)" if len(missing) > 20 else "")
    return ValueError(
        f"{label_dir}: no labels for {len(missing)} image(s): {listed}. The labels of image 'a' are "
        f"a.tif/a.png (label image), a/ (one mask per nucleus) or a.zip/a.roi (ImageJ ROIs), the stem "
        f"optionally followed by {', '.join(repr(t) for t in LABEL_TAGS if t)}; add them, or move those "
        "images out of the images folder")


def _read_check(sample: Sample, entry: _Entry) -> None:
    """Read the labels of ``sample`` once: file errors name the file, an image that a chosen
    plane does not fit is refused (from its header), labels of another size than the image
    are refused, a label image that looks like a binary mask or an intensity image warns."""
    if sample.selection.record():
        _checked(lambda: check_any_image(sample.image_path, sample.selection), sample.image_path, "image")
    shape = _checked(lambda: image_size(sample.image_path), sample.image_path, "image")
    for path in sample.mask_paths if entry.mask_format == MASK_FOLDER else ():
        _same_shape(_checked(lambda: image_size(path), path, "mask"), shape, path, sample.image_path)
    labels = _checked(lambda: sample.labels, entry.path, "labels")
    _same_shape(labels.shape, shape, entry.path, sample.image_path)
    if entry.mask_format == LABEL_IMAGE:
        _warn_if_not_instances(labels, entry.path)


def _checked(read: Callable[[], T], path: Path, what: str) -> T:
    """``read()``, its errors re-raised as ``ValueError`` naming ``path`` (once)."""
    try:
        return read()
    except (ValueError, FileNotFoundError) as err:
        if str(path) in str(err):
            raise
        raise ValueError(f"{path}: cannot read these {what}: {err}") from err
    except Exception as err:  # tifffile / PIL / zlib errors on damaged files
        raise ValueError(f"{path}: cannot read these {what} ({type(err).__name__}: {err})") from err


def _same_shape(got: tuple[int, ...], expected: tuple[int, int], path: Path, image_path: Path) -> None:
    if tuple(got) != tuple(expected):
        raise ValueError(f"{path}: labels of shape {tuple(got)}, but its image {image_path.name} is "
                         f"{expected[0]}x{expected[1]} (HxW)")


def _warn_if_not_instances(labels: np.ndarray, path: Path) -> None:
    from nucseg_zoo.metrics.binary_masks import label_image_warning

    warning = label_image_warning(
        labels, str(path),
        binary_hint="give each nucleus its own value (e.g. save skimage.measure.label(mask)), or put one "
                    "mask per nucleus in a folder named after the image",
        intensity_hint="the labels folder should hold instance label images, not intensity images")
    if warning is not None:
        warnings.warn(warning, stacklevel=4)


def from_folder(images: str | os.PathLike, labels: str | os.PathLike, *, name: str | None = None,
                check: bool = True, channel: int | None = None, plane: int | None = None,
                time: int | None = None) -> DatasetSplit:
    """A split of a lab's own annotated images, paired with their labels by file stem.

    ``images`` holds TIFF/PNG images (:data:`IMAGE_SUFFIXES`; subfolders and hidden files are
    ignored). The labels of image ``a`` are the entry of ``labels`` named ``a`` + a tag of
    :data:`LABEL_TAGS`: ``a.tif``/``a.png`` an integer label image (``"label-image"``),
    ``a/`` a folder of one binary mask per nucleus, PNG or TIFF, sorted by file name
    (``"instance-mask-pngs"``; an empty folder is an image without nuclei), ``a.zip``/``a.roi``
    ImageJ ROIs (``"imagej-rois"``, :func:`read_imagej_rois`). Other files are ignored. When
    ``labels`` is ``images`` (Cellpose's default), an image file named like the label of
    another image (``a_cp_masks.png`` next to ``a.png``) is a label, and a label must carry
    a tag.

    Every image must have labels (one missing would score its image as having no nuclei):
    the error lists those without. Label entries of no image warn (:class:`UserWarning`,
    listing them) and are left out, as a labels folder often holds more than is evaluated.

    With ``check`` (the default) every label is read once here, so that a damaged file, a
    label image of another size than its image, a bad ROI, ... fails now, naming the file,
    not in the middle of an evaluation; a label image that looks like a binary mask (all
    nuclei one value) warns with :class:`~nucseg_zoo.metrics.binary_masks.BinaryMaskWarning`
    (or :class:`~nucseg_zoo.metrics.binary_masks.IntensityImageWarning`). This reads every
    label file twice in all (here, and when evaluated); ``check=False`` only pairs the files.
    Images are only opened for their header (size; axes when a plane is chosen). Images of any
    size are accepted.

    Multi-dimensional images (channels, z-planes, time points) are read as ``nucseg-zoo
    segment`` reads them: ``channel``, ``plane`` and ``time`` (0-based) choose the one 2-D plane
    of each image that is segmented and scored, as ``segment --channel/--plane/--time`` do
    (:class:`~nucseg_zoo.image_files.Selection`); an axis of several entries left unchosen is
    refused with a message naming the axes found (here when a plane is chosen, else when the
    image is read). A TIFF of several fields (series) is refused when read: an annotated image
    is one field.

    Args:
        images: folder of images.
        labels: folder of label entries (may be ``images``).
        name: the split's dataset id; default ``"folder:<absolute images folder>"``.
        check: read and check every label now (see above).
        channel, plane, time: the plane of multi-dimensional images (see above).

    Returns:
        :class:`~nucseg_zoo.datasets.samples.DatasetSplit` with split ``"folder"``, samples
        sorted by stem, ``source`` the absolute images folder, license ``"unknown (own data)"``,
        image format ``"image"`` (values as stored), labels ``(H, W)`` int32.

    Raises:
        FileNotFoundError: a folder does not exist (``NotADirectoryError``: is a file).
        ValueError: no image; several images with one stem (``a.tif`` and ``a.png``); an image
            with several label entries, or an entry that fits several images (named); images
            without labels (listed); a negative ``channel``/``plane``/``time``; with ``check``,
            an unreadable or inconsistent label or image, or an image whose axes a chosen plane
            does not fit (named).
    """
    selection = Selection(channel=channel, plane=plane, time=time)
    image_dir, label_dir = _folder(images, "images"), _folder(labels, "labels")
    same = image_dir == label_dir
    found = _images(image_dir)
    if same:
        found = _drop_labels_among_images(found)
    entries = [entry for path in sorted(label_dir.iterdir()) if (entry := _entry(path)) is not None]
    paired, missing, unused = _pair(found, entries, LABEL_TAGS[1:] if same else LABEL_TAGS, label_dir)
    if missing:
        raise _missing_error(missing, label_dir)
    if unused:
        warnings.warn(f"{label_dir}: {len(unused)} label entr{'y' if len(unused) == 1 else 'ies'} without an image "
                      f"in {image_dir}, left out: {', '.join(_shown(entry) for entry in unused)}", stacklevel=2)
    dataset = name or f"folder:{image_dir}"
    samples = [Sample(name=stem, dataset=dataset, split=SPLIT, source=str(image_dir), license=LICENSE,
                      image_path=path, mask_paths=paired[stem].files(), image_format="image",
                      mask_format=paired[stem].mask_format, selection=selection)
               for stem, path in found.items()]
    if check:
        for sample in samples:
            _read_check(sample, paired[sample.name])
    return DatasetSplit(dataset, SPLIT, samples)


def folder_fingerprint(split: DatasetSplit) -> str:
    """Hex sha256 identifying the content of a split's files, for caching its evaluations.

    The sha256 of the lines ``<relative path>\\0<sha256 of the file>\\n`` of every file of the
    split, sample by sample in order, the image then its label file(s) (in ``mask_paths``
    order); paths are relative to the folder that holds all of them (POSIX separators), so the
    fingerprint survives moving the whole project, and changes when any file's content or
    name changes, or a file is added to or removed from the split; a plane selection
    (:attr:`~nucseg_zoo.datasets.samples.Sample.selection`, when set) is a line of its own.
    Reads every file once.

    Args:
        split: e.g. from :func:`from_folder` (works for any split).

    Raises:
        FileNotFoundError: a file of the split has gone.
    """
    files = [path.resolve() for sample in split for path in (sample.image_path, *sample.mask_paths)]
    root = _common_folder(files)
    digest = hashlib.sha256()
    for path in files:
        relative = path.relative_to(root).as_posix() if root is not None else path.as_posix()
        digest.update(f"{relative}\0{sha256_of(path)}\n".encode())
    chosen = {json.dumps(sample.selection.record(), sort_keys=True) for sample in split if sample.selection.record()}
    for selection in sorted(chosen):  # the plane read of multi-dimensional images (none: as before)
        digest.update(f"selection\0{selection}\n".encode())
    return digest.hexdigest()


def _common_folder(files: Sequence[Path]) -> Path | None:
    """The deepest folder holding all ``files`` (None when there is none, e.g. two drives)."""
    if not files:
        return None
    try:
        return Path(os.path.commonpath([str(path.parent) for path in files]))
    except ValueError:
        return None

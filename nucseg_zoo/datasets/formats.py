"""How a dataset's files are read: image readers and mask decoders, by the name a card uses.

A dataset card names one image format and one mask format (``image_format``,
``mask_format``); :class:`~nucseg_zoo.datasets.samples.Sample` reads its files with them.

Image formats (values unchanged; each reader takes the :class:`~nucseg_zoo.image_files.Selection`
of the plane to read, which for the 2-D formats can only be index 0):

* ``tiff-uint16``: a 2-D 16-bit TIFF (BBBC039).
* ``png-grey``: an 8-bit grey, RGB or RGBA PNG whose colour channels are equal (a grey
  image saved as colour, as DSB2018's fluorescence images are); uint8. Colour images
  (channels that differ) are refused.
* ``image``: any TIFF/PNG as stored (a lab's own folder): the plane the selection chooses
  (channel, z-plane, time point), read as ``segment`` reads it
  (:func:`~nucseg_zoo.image_files.read_plane`); a file of several fields is refused.

Mask formats (each returns ``(H, W)`` int32 instance labels, 0 = background):

* ``graph-coloured-png``: one PNG whose red channel holds a colour 1..3 per nucleus
  (:func:`~nucseg_zoo.datasets.masks.decode_graph_coloured_mask`).
* ``instance-mask-pngs``: one binary PNG per nucleus
  (:func:`~nucseg_zoo.datasets.masks.decode_instance_masks`, overlaps to the smallest mask);
  TIFF masks are read too (a lab's folder of masks, :func:`~nucseg_zoo.datasets.folder.from_folder`).
* ``label-image``: one integer label image (TIFF/PNG, 0 = background).
* ``imagej-rois``: an ImageJ/Fiji ROI set (``.zip``) or one ``.roi``, one area ROI per
  nucleus (:func:`~nucseg_zoo.datasets.folder.read_imagej_rois`, overlaps to the smallest ROI).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from nucseg_zoo.datasets.masks import decode_graph_coloured_mask, decode_instance_masks
from nucseg_zoo.image_files import Selection, SelectionError, check_plane, read_plane, select, tiff_fields

ImageReader = Callable[[Path, Selection], np.ndarray]
MaskDecoder = Callable[[Sequence[Path], "tuple[int, int] | None", int], np.ndarray]


def _imread(path: Path) -> np.ndarray:
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        return tifffile.imread(path)
    import imageio.v3 as iio

    return iio.imread(path)


def _only_plane(image: np.ndarray, path: Path, selection: Selection) -> np.ndarray:
    """A 2-D image, checked against ``selection`` (which can only choose index 0 of it)."""
    try:
        return select(image, "YX", selection)
    except SelectionError as err:
        raise ValueError(f"{path}: {err}") from None


def read_uint16_tiff(path: Path, selection: Selection = Selection()) -> np.ndarray:
    """A 2-D uint16 TIFF, ``(H, W)`` uint16.

    Raises:
        ValueError: the file is not a 2-D uint16 image (names the file, dtype and shape), or
            ``selection`` chooses a plane it does not have.
    """
    import tifffile

    image = tifffile.imread(path)
    if image.ndim != 2 or image.dtype != np.uint16:
        raise ValueError(f"{path}: expected a 2-D uint16 image, got {image.dtype} {image.shape}")
    return _only_plane(image, path, selection)


def _grey_of(image: np.ndarray) -> np.ndarray | None:
    """The grey plane of an ``(H, W, 3|4)`` image whose colour channels are equal, else None."""
    colour = image[..., :3]
    if np.array_equal(colour[..., 0], colour[..., 1]) and np.array_equal(colour[..., 1], colour[..., 2]):
        return np.ascontiguousarray(colour[..., 0])
    return None


def read_grey_png(path: Path, selection: Selection = Selection()) -> np.ndarray:
    """An 8-bit PNG holding a grey image (grey, or RGB(A) with equal channels), ``(H, W)`` uint8.

    Raises:
        ValueError: not 8-bit, or a colour image (channels differ), naming the file; or
            ``selection`` chooses a plane it does not have.
    """
    image = _imread(path)
    if image.dtype != np.uint8:
        raise ValueError(f"{path}: expected an 8-bit PNG, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        grey = _grey_of(image)
        if grey is None:
            raise ValueError(f"{path}: expected a grey image (equal R, G and B channels), got a colour image")
        return _only_plane(grey, path, selection)
    if image.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D grey image, got shape {image.shape}")
    return _only_plane(image, path, selection)


def read_any_image(path: Path, selection: Selection = Selection()) -> np.ndarray:
    """The ``(H, W)`` plane that ``selection`` chooses of a TIFF/PNG image, values as stored,
    read as ``nucseg-zoo segment`` reads it (:func:`~nucseg_zoo.image_files.read_plane`).

    Raises:
        ValueError: naming the file: it holds several fields (TIFF series: an annotated image
            must be one field), or it has channels, planes or time points that ``selection``
            does not choose among (the axes found are named, with the option to pass).
    """
    return read_plane(path, series=_one_field(path), selection=selection)


def check_any_image(path: Path, selection: Selection = Selection()) -> None:
    """Check, from its header, that :func:`read_any_image` can read ``path`` with ``selection``
    (no pixels decoded when it can).

    Raises:
        ValueError: what :func:`read_any_image` raises.
    """
    _one_field(path)
    check_plane(path, selection)


def _one_field(path: Path) -> int | None:
    """The TIFF series that is the one field of ``path`` (None: not a TIFF, or unreadable).

    Raises:
        ValueError: the file holds several fields (:func:`~nucseg_zoo.image_files.tiff_fields`).
    """
    fields = tiff_fields(path) if path.suffix.lower() in (".tif", ".tiff") else None
    if fields is not None and len(fields) > 1:
        raise ValueError(f"{path}: holds {len(fields)} fields (TIFF series {', '.join(map(str, fields))}); an "
                         "annotated image must be one field: save each field as its own image, with its own labels")
    return fields[0] if fields else None


def _graph_coloured(paths: Sequence[Path], shape: tuple[int, int] | None, connectivity: int) -> np.ndarray:
    (path,) = paths
    return decode_graph_coloured_mask(_imread(path), connectivity=connectivity)


def _instance_masks(paths: Sequence[Path], shape: tuple[int, int] | None, connectivity: int) -> np.ndarray:
    assert shape is not None  # in SHAPE_FROM_IMAGE
    return decode_instance_masks([_imread(path) for path in paths], shape=shape)


def _label_image(paths: Sequence[Path], shape: tuple[int, int] | None, connectivity: int) -> np.ndarray:
    from nucseg_zoo.metrics.folder import read_label_image

    (path,) = paths
    return read_label_image(path)


def _imagej_rois(paths: Sequence[Path], shape: tuple[int, int] | None, connectivity: int) -> np.ndarray:
    from nucseg_zoo.datasets.folder import read_imagej_rois  # here: folder.py imports samples.py, which imports us

    assert shape is not None  # in SHAPE_FROM_IMAGE
    (path,) = paths
    return read_imagej_rois(path, shape)


IMAGE_FORMATS: dict[str, ImageReader] = {
    "tiff-uint16": read_uint16_tiff,
    "png-grey": read_grey_png,
    "image": read_any_image,
}
"""Image format name (as a card writes it) -> reader."""

MASK_FORMATS: dict[str, MaskDecoder] = {
    "graph-coloured-png": _graph_coloured,
    "instance-mask-pngs": _instance_masks,
    "label-image": _label_image,
    "imagej-rois": _imagej_rois,
}
"""Mask format name -> decoder ``(paths, image shape or None, connectivity) -> labels``."""

SHAPE_FROM_IMAGE: frozenset[str] = frozenset({"instance-mask-pngs", "imagej-rois"})
"""Mask formats whose decoder needs the image's ``(H, W)`` (the others carry their own shape)."""


def image_reader(name: str) -> ImageReader:
    """The reader of image format ``name``; ``ValueError`` lists the known formats."""
    try:
        return IMAGE_FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown image format {name!r}; known: {', '.join(IMAGE_FORMATS)}") from None


def mask_decoder(name: str) -> MaskDecoder:
    """The decoder of mask format ``name``; ``ValueError`` lists the known formats."""
    try:
        return MASK_FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown mask format {name!r}; known: {', '.join(MASK_FORMATS)}") from None

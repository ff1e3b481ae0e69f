"""Nucleus outlines as an ImageJ/Fiji ROI set (a ``.zip`` for the ROI Manager), via roifile."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from roifile import ImagejRoi, roiwrite
from skimage.measure import find_contours, regionprops

from nucseg_zoo._atomic import atomic_path, refuse_to_overwrite
from nucseg_zoo.metrics.matching import _check_label_image


def _outline(mask: np.ndarray) -> np.ndarray:
    """Outer outline ``(n, 2)`` (row, col) of a binary ``mask``, in the mask's pixel coordinates.

    The iso-line at 0.5 (:func:`skimage.measure.find_contours`, 8-connected foreground) of
    the mask padded by one pixel, so that outlines close at its edge; of several (holes,
    separate pieces) the one enclosing the largest area (shoelace formula).
    """
    contours = find_contours(np.pad(mask, 1).astype(np.float64), 0.5, fully_connected="high")
    areas = [abs(np.dot(c[:, 0], np.roll(c[:, 1], 1)) - np.dot(c[:, 1], np.roll(c[:, 0], 1))) for c in contours]
    return contours[int(np.argmax(areas))][:-1] - 1  # closed: drop the repeated first point; undo the pad


def write_imagej_rois(labels: np.ndarray, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write one outline ROI per nucleus of ``labels`` to an ImageJ ROI set ``path``.

    Each ROI is the nucleus's outer outline (the iso-line half-way between its pixels and
    the background; holes are filled, a label in several pieces keeps its largest piece)
    with sub-pixel vertices, made by :meth:`roifile.ImagejRoi.frompoints`: a closed polygon
    of ImageJ type "freehand" (a ``PolygonRoi``; no vertex handles on hundreds of points).
    ImageJ puts pixel centres at ``+0.5``, skimage at integers, so vertex ``(row, col)`` is
    stored as ``x = col + 0.5, y = row + 0.5``; ImageJ's mask of the ROI is then the
    nucleus (up to diagonal corners). ROIs are named ``nucleus-0007`` after label 7, in label
    order. An image without nuclei gives an empty ROI set.

    Args:
        labels: ``(H, W)`` instance label image, integer dtype, 0 = background.
        path: the ``.zip`` file to write (atomically).
        overwrite: replace an existing ``path``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: ``labels`` is not 2-D, not of an integer dtype or has negative labels,
            or ``path`` does not end in ``.zip`` (ImageJ opens ROI sets by that suffix).
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    labels, _ = _check_label_image(labels, "labels")
    path = Path(path)
    if path.suffix.lower() != ".zip":
        raise ValueError(f"path must end in .zip (an ImageJ ROI set), got {path}")
    if not overwrite:
        refuse_to_overwrite(path, what="ROI set", how="pass overwrite=True")
    rois = []
    for region in regionprops(labels):
        row, col = region.bbox[:2]
        outline = _outline(region.image) + (row, col)
        rois.append(ImagejRoi.frompoints(outline[:, ::-1] + 0.5, name=f"nucleus-{region.label:04d}"))
    with atomic_path(path) as tmp:
        roiwrite(tmp, rois, mode="w")
    return path

"""Per-nucleus measurements and per-image quality flags of one segmented field.

:func:`measure` gives one row per nucleus (size, position, shape, Hoechst/DAPI intensity);
:func:`image_quality` gives one row per image (nucleus count, blank field, saturation,
covered area). Both take the raw image: no flat-field correction, no rescaling; intensities
are in the image's own units (camera counts for BBBC039's uint16 images). The image's
background level (:func:`background_level`) is measured beside the raw intensities, and
``integrated_intensity_above_background`` subtracts it, so that the DNA-content readout does
not move with a camera offset. Geometry follows :func:`skimage.measure.regionprops`: pixel
``(row, col)`` has its centre at integer coordinates, bounding boxes are half-open.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage
from skimage.measure import regionprops_table

from nucseg_zoo.images import saturated_artefact
from nucseg_zoo.metrics.matching import _check_label_image

MEASURE_COLUMNS: dict[str, str] = {
    "image": "object",
    "label": "int64",
    "area_px": "int64",
    "centroid_y": "float64",
    "centroid_x": "float64",
    "bbox_min_y": "int64",
    "bbox_min_x": "int64",
    "bbox_max_y": "int64",
    "bbox_max_x": "int64",
    "eccentricity": "float64",
    "solidity": "float64",
    "mean_intensity": "float64",
    "integrated_intensity": "float64",
    "background": "float64",
    "integrated_intensity_above_background": "float64",
    "touches_border": "bool",
    "in_saturated_artefact": "bool",
}
"""Columns of :func:`measure`, in order, with their dtypes."""

# measure column -> regionprops_table column
_REGIONPROPS = {
    "label": "label", "area_px": "area", "centroid_y": "centroid-0", "centroid_x": "centroid-1",
    "bbox_min_y": "bbox-0", "bbox_min_x": "bbox-1", "bbox_max_y": "bbox-2", "bbox_max_x": "bbox-3",
    "eccentricity": "eccentricity", "solidity": "solidity", "mean_intensity": "intensity_mean",
}

BACKGROUND_GAP_PX = 5
"""Pixels closer than this to a segmented nucleus are left out of the background level: the
dim rim of a nucleus that its outline may leave out, and the blur around it."""

BACKGROUND_MIN_FRACTION = 0.01
"""Fewest pixels (fraction of the image) for the background level away from the nuclei; with
fewer (a field packed with nuclei), every pixel outside the nuclei counts."""

BLANK_RANGE_IN_SIGMAS = 30.0
"""A field without nuclei is blank when its robust range is at most this many noise sigmas.

Calibrated on the bundled BBBC039 test images: pure Gaussian or Poisson noise spans about
6.2 sigma between the 0.1st and 99.9th percentiles; their nucleus-free background (shading,
debris, unannotated specks included) spans 9-23 sigma; their nuclei are a median 65-130
sigma above background (5th percentile 34-84 sigma). 30 sigma lies between the two, so one or
two ordinary nuclei (0.1 % of the pixels) are enough to make a field not blank."""

# Immerkaer (1996) noise kernel: the difference of two Laplacians; it cancels constant,
# linear and quadratic intensity, and white noise of sigma s gives a response of sigma 6 s.
_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)


def _check_inputs(labels: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, _ = _check_label_image(labels, "labels")
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D grey-level image, got an array of shape {image.shape}")
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise ValueError(f"image must have an integer or floating-point dtype, got {image.dtype}")
    if labels.shape != image.shape:
        raise ValueError(f"labels and image must have the same shape, got {labels.shape} and {image.shape}")
    if image.size == 0:
        raise ValueError(f"labels and image must not be empty, got shape {image.shape}")
    return labels, image


def measure(labels: np.ndarray, image: np.ndarray, *, image_name: str | None = None) -> pd.DataFrame:
    """One row per nucleus of ``labels``, measured on the raw ``image``.

    Region properties come from :func:`skimage.measure.regionprops_table`; the integrated
    intensity is :func:`scipy.ndimage.sum_labels` of the raw image (float64, exact for
    integer images while sums stay below 2**53), the per-nucleus DNA-content readout of
    :mod:`nucseg_zoo.screens.dna_content`.

    Args:
        labels: ``(H, W)`` instance label image, integer dtype, 0 = background.
        image: ``(H, W)`` raw grey-level image (integer or floating point), e.g. the Hoechst
            channel that was segmented. Not background-subtracted here.
        image_name: written to every row's ``image`` column (None allowed), so that tables of
            many images can be concatenated.

    Returns:
        A DataFrame with the columns and dtypes of :data:`MEASURE_COLUMNS`, rows sorted by
        label: ``area_px`` in pixels; ``centroid_y/_x`` in pixels (row, column; pixel centres
        at integer coordinates); ``bbox_min_*`` inclusive and ``bbox_max_*`` exclusive, as
        skimage; ``eccentricity`` (0 = circle) and ``solidity`` (area / convex-hull area) as
        in skimage; ``mean_intensity`` and ``integrated_intensity`` in raw image units;
        ``background`` the image's :func:`background_level` (the same in every row, NaN when
        the labels cover the whole image) and ``integrated_intensity_above_background`` =
        ``integrated_intensity - area_px * background``, unchanged by a camera offset (the
        DNA-content readout's input); ``touches_border`` is True when the nucleus has a
        pixel in the image's first or last row or column (it may be cut off, so its area and
        intensity are lower bounds); ``in_saturated_artefact`` when more than half of the
        object lies on a saturated artefact's plateau
        (:func:`nucseg_zoo.images.saturated_artefact`): the artefact segmented, not a nucleus.
        A label image without nuclei gives an empty frame with the same columns and dtypes.

    Raises:
        ValueError: ``labels`` is not 2-D, not of an integer dtype or has negative labels;
            ``image`` is not 2-D or not of an integer or floating-point dtype; the shapes
            differ or are empty.
    """
    labels, image = _check_inputs(labels, image)
    table = regionprops_table(labels, intensity_image=image, properties=(
        "label", "area", "centroid", "bbox", "eccentricity", "solidity", "intensity_mean"))
    columns = {name: table[key] for name, key in _REGIONPROPS.items()}
    columns["integrated_intensity"] = np.asarray(
        ndimage.sum_labels(image, labels, index=table["label"]), dtype=np.float64)
    background = background_level(labels, image)
    columns["background"] = np.full(len(table["label"]), background)
    columns["integrated_intensity_above_background"] = \
        columns["integrated_intensity"] - background * np.asarray(table["area"], dtype=np.float64)
    height, width = labels.shape
    columns["touches_border"] = ((table["bbox-0"] == 0) | (table["bbox-1"] == 0)
                                 | (table["bbox-2"] == height) | (table["bbox-3"] == width))
    artefact = saturated_artefact(image)
    if artefact is None:
        columns["in_saturated_artefact"] = np.zeros(len(table["label"]), bool)
    else:  # most of the object on the artefact's plateau: the artefact segmented, not a nucleus
        inside = ndimage.sum_labels(artefact[0], labels, index=table["label"])
        columns["in_saturated_artefact"] = np.asarray(inside, dtype=np.float64) > 0.5 * np.asarray(table["area"])
    frame = pd.DataFrame({"image": pd.Series([image_name] * len(table["label"]), dtype=object), **columns})
    return frame[list(MEASURE_COLUMNS)].astype(MEASURE_COLUMNS)


def background_level(labels: np.ndarray, image: np.ndarray) -> float:
    """The background level of ``image`` around the nuclei of ``labels``, in image units.

    The median of the pixels at least :data:`BACKGROUND_GAP_PX` px from every nucleus (a
    chessboard dilation of the nuclei), or, when those are fewer than
    :data:`BACKGROUND_MIN_FRACTION` of the image, of all pixels outside the nuclei; NaN when
    the nuclei cover the whole image. A camera offset ``c`` moves it by exactly ``c``.

    Args:
        labels: ``(H, W)`` instance labels, 0 = background.
        image: ``(H, W)`` raw image of the same shape.
    """
    outside = labels == 0
    away = ~ndimage.binary_dilation(~outside, structure=np.ones((3, 3), bool), iterations=BACKGROUND_GAP_PX)
    pixels = image[away] if np.count_nonzero(away) >= BACKGROUND_MIN_FRACTION * image.size else image[outside]
    return float(np.median(pixels)) if pixels.size else float("nan")


def noise_sigma(image: np.ndarray) -> float:
    """Robust standard deviation of the pixel noise of a 2-D ``image``, in image units.

    The image is filtered with Immerkaer's kernel (J. Immerkaer, "Fast noise variance
    estimation", CVIU 64(2):300-302, 1996), which removes smooth structure (shading,
    out-of-focus background) and maps white noise of sigma ``s`` to a response of sigma
    ``6 s``; sigma is then the median absolute response / 0.6745 / 6 (the MAD estimator of
    Donoho & Johnstone 1994), so that edges of bright objects barely change it. Border
    pixels (where the filter reaches outside) are dropped; images smaller than 3 x 3 give 0.
    Integer images quantised far below one count of noise may give 0 (blank only if flat).
    """
    response = ndimage.convolve(np.asarray(image, dtype=np.float64), _NOISE_KERNEL, mode="nearest")[1:-1, 1:-1]
    if response.size == 0:
        return 0.0
    return float(np.median(np.abs(response)) / 0.6745 / 6.0)


def image_quality(labels: np.ndarray, image: np.ndarray, *, saturation_value: float | None = None) -> dict:
    """Per-image quality row of one segmented field.

    Args:
        labels: ``(H, W)`` instance label image, integer dtype, 0 = background.
        image: ``(H, W)`` raw grey-level image, integer or floating point.
        saturation_value: the value at which the detector saturates, in image units. Default:
            the maximum of an integer dtype (e.g. 65535 for uint16). Pass it when the camera
            saturates below the dtype's maximum, as for BBBC039 (12-bit camera data stored as
            uint16: 4095), and for floating-point images.

    Returns:
        ``{"n_nuclei": int, "blank_field": bool, "saturated_fraction": float,
        "saturated_artefact_px": int, "area_fraction": float}``:

        * ``n_nuclei``: distinct non-zero labels.
        * ``blank_field``: no nuclei **and** no nucleus-like signal: the robust range
          ``p99.9 - p0.1`` of the image is at most :data:`BLANK_RANGE_IN_SIGMAS` (30) times
          :func:`noise_sigma` (see the constant for the calibration). It tells an empty field
          (nothing to find) from a segmentation failure (signal present, no nuclei found).
          A constant image is blank. A field with nuclei is never blank.
        * ``saturated_fraction``: fraction of pixels at or above the saturation value (the
          dtype's maximum, or ``saturation_value``); 0.0 for a floating-point image without
          ``saturation_value``. Saturated nuclei have underestimated integrated intensity.
        * ``saturated_artefact_px``: pixels of a saturated artefact (dust, debris, a reflection;
          :func:`nucseg_zoo.images.saturated_artefact`), 0 without one. The segmenters clip it
          before they segment; nuclei under it are lost and one object may cover it.
        * ``area_fraction``: fraction of pixels inside nuclei.

    Raises:
        ValueError: as :func:`measure`.
    """
    labels, image = _check_inputs(labels, image)
    n_nuclei = int(np.count_nonzero(np.unique(labels)))
    if saturation_value is None and np.issubdtype(image.dtype, np.integer):
        saturation_value = np.iinfo(image.dtype).max
    saturated = 0.0 if saturation_value is None else float(np.mean(image >= saturation_value))
    artefact = saturated_artefact(image)
    blank = False
    if n_nuclei == 0:
        low, high = np.percentile(image, [0.1, 99.9])
        blank = bool(high - low <= BLANK_RANGE_IN_SIGMAS * noise_sigma(image))
    return {
        "n_nuclei": n_nuclei,
        "blank_field": blank,
        "saturated_fraction": saturated,
        "saturated_artefact_px": 0 if artefact is None else int(np.count_nonzero(artefact[0])),
        "area_fraction": float(np.mean(labels > 0)),
    }

"""Binary masks handed in where instance labels are expected: detect them, label them.

A foreground mask (0/1, 0/255, 0/65535, boolean) read as a label image is *one* object made
of all its foreground pixels, so it matches nothing and scores an F1 near 0 without any
error. :func:`looks_like_binary_mask` recognises such a mask: exactly one non-zero value
whose pixels form more than one connected component. A single blob is not flagged (one
object is a legitimate label image), nor is an empty image or a label image with two or
more labels. :func:`label_components` turns a mask into instance labels, one per connected
component. An intensity image (say, the input image instead of its segmentation) is the
other common mix-up; :func:`looks_like_intensity_image` recognises it: each value recurs in
many separate regions, where each instance label is one region. :func:`label_image_warning`
gives the warning for either, labelling the image once.

Connectivity is 4 (:data:`CONNECTIVITY`), the connectivity BBBC039's ground-truth masks are
decoded with (:func:`nucseg_zoo.datasets.masks.decode_graph_coloured_mask`): two nuclei that
touch only at a corner stay two objects.
"""

from __future__ import annotations

import numpy as np

CONNECTIVITY = 1
"""``skimage.measure.label`` connectivity: 1 = 4-connectivity (edges, not corners)."""

MIN_INTENSITY_VALUES = 10
"""Fewest distinct non-zero values of an image that :func:`looks_like_intensity_image`."""

MAX_REGIONS_PER_LABEL = 2.0
"""Most separate regions per distinct value, on average, of a plausible instance label image."""


class BinaryMaskWarning(UserWarning):
    """A prediction looks like a binary foreground mask, not instance labels."""


class IntensityImageWarning(UserWarning):
    """A prediction looks like an intensity image (e.g. the input image), not instance labels."""


def _as_2d(array: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D {what}, got shape {array.shape}")
    if not (array.dtype == bool or np.issubdtype(array.dtype, np.integer)
            or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"expected an integer, boolean or floating-point {what}, got dtype {array.dtype}")
    return array


def label_components(mask: np.ndarray) -> np.ndarray:
    """Instance labels of a binary mask: one object per 4-connected component.

    Meant for binary masks only: touching objects of a real label image would merge.

    Args:
        mask: ``(H, W)`` boolean, integer or floating-point array; every non-zero pixel is
            foreground.

    Returns:
        ``(H, W)`` int32 labels, 0 = background, components numbered 1..N in raster order.

    Raises:
        ValueError: ``mask`` is not 2-D or not numeric.
    """
    from skimage.measure import label  # imported here: the metrics themselves are pure numpy

    mask = _as_2d(mask, "mask")
    return label(mask != 0, background=0, connectivity=CONNECTIVITY).astype(np.int32, copy=False)


def looks_like_binary_mask(labels: np.ndarray) -> bool:
    """Whether a label image is probably a binary mask (all its objects one label).

    True when ``labels`` holds exactly one non-zero value and that value's pixels form
    more than one 4-connected component.

    Args:
        labels: ``(H, W)`` integer, boolean or floating-point label image, 0 = background.

    Returns:
        True for e.g. a 0/255 mask of several nuclei; False for an empty image, a single
        blob, or two or more distinct labels.

    Raises:
        ValueError: ``labels`` is not 2-D or not numeric.
    """
    return _is_binary_mask(*_value_regions(labels))


def looks_like_intensity_image(labels: np.ndarray) -> bool:
    """Whether a "label image" is probably an intensity image (e.g. the input image itself).

    In instance labels each label is one connected region, so the 4-connected regions of
    equal non-zero value are about as many as the labels. In an intensity image neighbouring
    pixels mostly differ, so the same value recurs in many separate places. The rule: at
    least :data:`MIN_INTENSITY_VALUES` distinct non-zero values (fewer is left to
    :func:`looks_like_binary_mask` and to class maps) forming more than
    :data:`MAX_REGIONS_PER_LABEL` regions per value on average. One labelling pass: cheap.

    Raises:
        ValueError: ``labels`` is not 2-D or not numeric.
    """
    return _is_intensity_image(*_value_regions(labels))


def _value_regions(labels: np.ndarray) -> tuple[int, int]:
    """``(values, regions)``: distinct non-zero values of a label image, and its 4-connected
    regions of equal non-zero value (one labelling, shared by every check)."""
    from skimage.measure import label

    labels = _as_2d(labels, "label image")
    foreground = labels != 0
    if not foreground.any():
        return 0, 0
    values = len(np.unique(labels[foreground]))
    image = foreground if values == 1 else labels  # one value: its components; else regions of equal value
    return values, int(label(image, background=0, connectivity=CONNECTIVITY, return_num=True)[1])


def _is_binary_mask(values: int, regions: int) -> bool:
    return values == 1 and regions > 1


def _is_intensity_image(values: int, regions: int) -> bool:
    return values >= MIN_INTENSITY_VALUES and regions > MAX_REGIONS_PER_LABEL * values


def label_image_warning(labels: np.ndarray, source: str, *, binary_hint: str,
                        intensity_hint: str) -> BinaryMaskWarning | IntensityImageWarning | None:
    """The warning for a label image that is not instance labels, else None (labelled once).

    One wording for every place a label image comes in (prediction files, packages' outputs,
    Python segmenters). A :class:`BinaryMaskWarning` when it :func:`looks_like_binary_mask`:
    where it came from (``source``, e.g. a file path or ``module:callable``), its dtype, its
    non-zero value, its number of 4-connected regions, that it counts as one object, and
    ``binary_hint`` (the remedy, e.g. "pass --label-components"). An
    :class:`IntensityImageWarning` when it :func:`looks_like_intensity_image`: source, dtype,
    number of distinct values and of separate regions, that every value counts as one object,
    and ``intensity_hint``.

    Args:
        labels: ``(H, W)`` integer, boolean or floating-point label image.

    Raises:
        ValueError: ``labels`` is not 2-D or not numeric.
    """
    values, regions = _value_regions(labels)
    labels = np.asarray(labels)
    if _is_binary_mask(values, regions):
        value = labels[labels != 0].flat[0]
        return BinaryMaskWarning(
            f"{source} looks like a binary mask, not instance labels ({labels.dtype} values 0 and {value:g} in "
            f"{regions} separate regions): all of it counts as ONE object; {binary_hint}")
    if _is_intensity_image(values, regions):
        return IntensityImageWarning(
            f"{source} looks like an intensity image, not instance labels ({labels.dtype}, {values:,} distinct "
            f"non-zero values in {regions:,} separate regions, {regions / values:.0f} per value, where each "
            f"instance label is one region): every value counts as one object; {intensity_hint}")
    return None

"""Binary masks handed in where instance labels are expected: detect them, label them.

A foreground mask (0/1, 0/255, 0/65535, boolean) read as a label image is *one* object made
of all its foreground pixels, so it matches nothing and scores an F1 near 0 without any
error. :func:`looks_like_binary_mask` recognises such a mask: exactly one non-zero value
whose pixels form more than one connected component. A single blob is not flagged (one
object is a legitimate label image), nor is an empty image or a label image with two or
more labels. :func:`label_components` turns a mask into instance labels, one per connected
component.

Connectivity is 4 (:data:`CONNECTIVITY`), the connectivity BBBC039's ground-truth masks are
decoded with (:func:`nucseg_zoo.datasets.masks.decode_graph_coloured_mask`): two nuclei that
touch only at a corner stay two objects.
"""

from __future__ import annotations

import numpy as np

CONNECTIVITY = 1
"""``skimage.measure.label`` connectivity: 1 = 4-connectivity (edges, not corners)."""


class BinaryMaskWarning(UserWarning):
    """A prediction looks like a binary foreground mask, not instance labels."""


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


def count_components(mask: np.ndarray) -> int:
    """Number of 4-connected components of the non-zero pixels of a ``(H, W)`` array."""
    from skimage.measure import label

    return int(label(_as_2d(mask, "mask") != 0, background=0, connectivity=CONNECTIVITY, return_num=True)[1])


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
    return _one_value_regions(labels) > 1


def _one_value_regions(labels: np.ndarray) -> int:
    """Number of 4-connected regions of a label image whose non-zero pixels all hold one
    value; 0 when it has no non-zero pixel or more than one non-zero value."""
    labels = _as_2d(labels, "label image")
    foreground = labels != 0
    if not foreground.any():
        return 0
    values = labels[foreground]
    if np.any(values != values[0]):
        return 0
    return count_components(foreground)


def binary_mask_warning(labels: np.ndarray, source: str, hint: str) -> BinaryMaskWarning | None:
    """The warning for a label image that :func:`looks_like_binary_mask`, else None.

    One wording for every place a label image comes in (prediction files, packages' outputs,
    Python segmenters): where it came from, its dtype, its non-zero value, its number of
    4-connected regions, that it counts as one object, and ``hint`` (what to do instead).

    Args:
        labels: ``(H, W)`` integer, boolean or floating-point label image.
        source: what produced it, e.g. a file path or ``module:callable``.
        hint: the remedy, e.g. "pass --label-components".

    Raises:
        ValueError: ``labels`` is not 2-D or not numeric.
    """
    regions = _one_value_regions(labels)  # labelled once: the test and the count of the message
    if regions <= 1:
        return None
    labels = np.asarray(labels)
    value = labels[labels != 0].flat[0]
    return BinaryMaskWarning(
        f"{source} looks like a binary mask, not instance labels ({labels.dtype} values 0 and {value:g} in "
        f"{regions} separate regions): all of it counts as ONE object; {hint}")

"""Nucleus scale: segment an image at the nucleus size a model learned and return its labels
on the image's own grid (as Cellpose's ``diameter``).

A model that learned nuclei of median equivalent diameter ``D`` px (its training labels) is
given an image whose nuclei measure ``d`` px: the image is resized by ``D / d`` (bilinear,
anti-aliased when shrinking), segmented, and the labels are resized back to the input's shape
by nearest neighbour and renumbered 1..N. At a factor of exactly 1 nothing is resized, so
the labels are those of a run without ``diameter``, pixel for pixel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real

import numpy as np

DIAMETER_RANGE_PX = (4.0, 400.0)
"""Nucleus diameters (px) accepted. Below 4 px a nucleus has under 13 pixels, too few to
outline; above 400 px an image of BBBC039's nucleus size (28 px) would be shrunk more than 14
times. The diameters users meet lie within about 8-60 px."""


MIN_RESCALED_SIDE = 2
"""Fewest px per side an image may have once rescaled (the networks' minimum input,
:data:`nucseg_zoo.tiling.MIN_SIDE`; a baseline gets the same limit, so that every source
refuses the same diameters)."""


def check_diameter(diameter, *, what: str = "diameter") -> float:
    """``diameter`` as a float, after checking it is a number in :data:`DIAMETER_RANGE_PX`.

    Raises:
        ValueError: not a real number (a bool, a string, None, NaN, infinite) or outside the
            range; the message names the value and the range.
    """
    low, high = DIAMETER_RANGE_PX
    if isinstance(diameter, bool) or not isinstance(diameter, Real) or not math.isfinite(float(diameter)):
        raise ValueError(f"{what} must be a nucleus diameter in px (a number from {low:g} to {high:g}), "
                         f"got {diameter!r}")
    value = float(diameter)
    if not low <= value <= high:
        raise ValueError(f"{what} {value:g} px is outside {low:g}-{high:g} px: pass the median nucleus diameter of "
                         "the images in px (the equivalent diameter of a typical nucleus, e.g. 28 for BBBC039; "
                         "there is no automatic estimate)")
    return value


def scale_factor(diameter: float, model_diameter: float) -> float:
    """The factor ``model_diameter / diameter`` by which an image whose nuclei measure
    ``diameter`` px is resized for a model that learned ``model_diameter`` px (both checked
    by :func:`check_diameter`)."""
    return check_diameter(model_diameter, what="the model's training diameter") / check_diameter(diameter)


def rescaled_shape(shape: tuple[int, int], factor: float) -> tuple[int, int]:
    """``(H, W)`` times ``factor``, rounded, at least 1 px per side."""
    return tuple(max(1, int(round(side * factor))) for side in shape)


def rescale_image(image: np.ndarray, factor: float) -> np.ndarray:
    """``(H, W)`` image resized by ``factor`` to :func:`rescaled_shape`, float32 (bilinear,
    Gaussian anti-aliasing when shrinking; intensities keep their range). A factor of 1
    returns ``image`` itself."""
    if factor == 1.0:
        return image
    from skimage.transform import resize

    return resize(np.asarray(image, dtype=np.float32), rescaled_shape(image.shape, factor), order=1,
                  mode="reflect", anti_aliasing=factor < 1.0, preserve_range=True).astype(np.float32)


def labels_to_grid(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Instance labels resized to ``shape`` by nearest neighbour and renumbered 1..N in the
    order of their old numbers (objects too small to keep a pixel on the new grid are
    dropped), int32; labels already of ``shape`` are returned as int32 unchanged."""
    labels = np.asarray(labels)
    if labels.shape == tuple(shape):
        return labels.astype(np.int32, copy=False)
    from skimage.segmentation import relabel_sequential
    from skimage.transform import resize

    resized = resize(labels, shape, order=0, mode="edge", anti_aliasing=False, preserve_range=True)
    return relabel_sequential(resized.astype(np.int64))[0].astype(np.int32)


def segment_rescaled(segment: Callable[[np.ndarray], np.ndarray], image: np.ndarray, factor: float) -> np.ndarray:
    """``segment`` run on ``image`` resized by ``factor``, its labels returned on the image's
    grid: ``(H, W)`` int32 instance labels (see the module docstring).

    Raises:
        ValueError: the rescaled image would have fewer than :data:`MIN_RESCALED_SIDE` px on a side.
    """
    image = np.asarray(image)
    if factor == 1.0:
        return np.asarray(segment(image)).astype(np.int32, copy=False)
    shape = rescaled_shape(image.shape, factor)
    if min(shape) < MIN_RESCALED_SIDE:
        raise ValueError(f"the {image.shape[0]} × {image.shape[1]} px image, rescaled by {factor:.3g} to the model's "
                         f"nucleus size, would be {shape[0]} × {shape[1]} px (at least {MIN_RESCALED_SIDE} px per "
                         "side are needed): the diameter given is too large for this image; check it")
    return labels_to_grid(segment(rescale_image(image, factor)), image.shape)

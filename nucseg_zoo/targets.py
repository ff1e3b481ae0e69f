"""Three-class training targets (background / interior / boundary) from instance labels.

The targets of the ``three_class`` output kind (:mod:`nucseg_zoo.postprocessing.three_class`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

BACKGROUND, INTERIOR, BOUNDARY = 0, 1, 2
CLASS_NAMES = ("background", "interior", "boundary")
_SQUARE = np.ones((3, 3), bool)


def three_class_targets(labels: np.ndarray, *, thin_boundary_max_area: int = 0) -> np.ndarray:
    """Background / interior / boundary classes from an instance label image.

    The boundary is each nucleus's one-pixel inner contour (pixels of the object that
    touch another label or the background, 4-neighbourhood) widened by one pixel inside
    and one pixel outside (a 3×3 dilation), as in Caicedo et al. 2019. Touching nuclei
    are therefore separated by a boundary band; pixels on the image border are not
    contour pixels (the image edge is not an object edge). With that band a nucleus of
    at most 4 px across has no interior left, so the shared postprocessing (which
    seeds objects on the interior class) cannot find it.

    Args:
        labels: ``(H, W)`` integer instance labels, 0 = background.
        thin_boundary_max_area: nuclei of at most this many pixels get a thin boundary
            instead: their own contour only, not widened inside or into the background
            (a larger neighbour's band still covers them where it reaches). 0 (default)
            keeps the paper's band for every nucleus.

    Returns:
        ``(H, W)`` uint8 with 0 = background, 1 = interior, 2 = boundary.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"expected 2-D integer labels, got {labels.dtype} array of shape {labels.shape}")
    if thin_boundary_max_area < 0:
        raise ValueError(f"thin_boundary_max_area must be >= 0, got {thin_boundary_max_area}")
    contour = find_boundaries(labels, connectivity=1, mode="inner", background=0)
    thin = _small_objects(labels, thin_boundary_max_area)
    boundary = ndi.binary_dilation(contour & ~thin, structure=_SQUARE)
    boundary |= contour & thin
    classes = np.where(labels > 0, INTERIOR, BACKGROUND).astype(np.uint8)
    classes[boundary] = BOUNDARY
    return classes


def pixel_weights(labels: np.ndarray, classes: np.ndarray, class_weights: tuple[float, ...], *,
                  small_max_area: int = 0, small_interior_weight: float | None = None) -> np.ndarray:
    """Per-pixel loss weights: each pixel's class weight, optionally overridden for small nuclei.

    Args:
        labels: ``(H, W)`` integer instance labels the ``classes`` were made from.
        classes: ``(H, W)`` classes from :func:`three_class_targets`.
        class_weights: weight of background, interior and boundary.
        small_max_area: nuclei of at most this many pixels are "small".
        small_interior_weight: weight of the interior pixels of small nuclei; None keeps
            the interior class weight.

    Returns:
        ``(H, W)`` float32 weights.
    """
    weights = np.asarray(class_weights, dtype=np.float32)[classes]
    if small_interior_weight is not None:
        weights[_small_objects(labels, small_max_area) & (classes == INTERIOR)] = small_interior_weight
    return weights


def _small_objects(labels: np.ndarray, max_area: int) -> np.ndarray:
    """Mask of the pixels of objects with at most ``max_area`` pixels."""
    if max_area <= 0:
        return np.zeros(labels.shape, bool)
    areas = np.bincount(labels.ravel())
    small = areas <= max_area
    small[0] = False
    return small[labels]


@dataclass(frozen=True)
class ThreeClassTargets:
    """The three-class training target builder of a recipe: labels → (classes, weights).

    Attributes:
        class_weights: loss weight of background, interior and boundary pixels.
        thin_boundary_max_area: see :func:`three_class_targets` (0 = the paper's band for all).
        small_interior_weight: see :func:`pixel_weights` (None = the interior class weight).
    """

    class_weights: tuple[float, ...] = (1.0, 1.0, 1.0)
    thin_boundary_max_area: int = 0
    small_interior_weight: float | None = None

    @classmethod
    def from_recipe(cls, recipe) -> "ThreeClassTargets":
        """The builder of a :class:`~nucseg_zoo.training.recipe.Recipe` (its ``class_weights``,
        ``thin_boundary_max_area`` and ``small_interior_weight``)."""
        return cls(tuple(recipe.class_weights), recipe.thin_boundary_max_area, recipe.small_interior_weight)

    def __call__(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(H, W)`` uint8 classes (:func:`three_class_targets`) and ``(H, W)`` float32 weights
        (:func:`pixel_weights`) of ``(H, W)`` integer instance labels."""
        classes = three_class_targets(labels, thin_boundary_max_area=self.thin_boundary_max_area)
        weights = pixel_weights(labels, classes, self.class_weights, small_max_area=self.thin_boundary_max_area,
                                small_interior_weight=self.small_interior_weight)
        return classes, weights

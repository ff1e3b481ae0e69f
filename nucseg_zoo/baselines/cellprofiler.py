"""The two CellProfiler baselines of Caicedo et al. 2019, rebuilt with scikit-image.

Both first move the image's dark floor to a pedestal of its own background level
(:func:`~nucseg_zoo.baselines.offset.rebase_offset`), so a camera offset or a gain does not
change their labels.

* ``cp-basic`` (:class:`CPBasic`): :func:`~nucseg_zoo.baselines.identify.identify_primary_objects`
  alone.
* ``cp-advanced`` (:class:`CPAdvanced`): per-image illumination correction (division by a
  smooth background estimate, the Gaussian-blurred minimum filter of the image), a median
  filter and a grey-level morphological opening, then the same module, then
  measurement-based filtering of the objects (solidity and mean intensity).

Parameters of both are chosen on the BBBC039 validation split by
``python -m nucseg_zoo.training.cellprofiler_tuning`` and ship in ``baselines/data/cp_*.json``.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import regionprops
from skimage.morphology import disk, opening
from skimage.segmentation import relabel_sequential

from nucseg_zoo.baselines.identify import IdentifyParams, identify_primary_objects
from nucseg_zoo.baselines.offset import rebase_offset
from nucseg_zoo.baselines.params import Params
from nucseg_zoo.images import as_float_image


@dataclasses.dataclass(frozen=True)
class CPAdvancedParams(Params):
    """Parameters of :class:`CPAdvanced` (lengths in px).

    Attributes:
        background_size: side of the minimum filter that estimates the illumination (then
            blurred by a Gaussian of a quarter of that size); 0 = no illumination correction.
        median_size: side of the median filter; 1 = none.
        opening_radius: radius of the disk of the grey-level opening; 0 = none.
        identify: settings of the object identification on the corrected image.
        min_solidity: objects with a lower solidity (area / convex area) are removed.
        min_intensity_ratio: objects whose mean corrected intensity is below this multiple
            of the threshold are removed.
    """

    background_size: int = 51
    median_size: int = 3
    opening_radius: int = 1
    identify: IdentifyParams = IdentifyParams()
    min_solidity: float = 0.0
    min_intensity_ratio: float = 0.0

    def __post_init__(self) -> None:
        for name in ("background_size", "opening_radius", "min_solidity", "min_intensity_ratio"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.median_size < 1:
            raise ValueError(f"median_size must be >= 1, got {self.median_size}")
        if self.min_solidity > 1:
            raise ValueError(f"min_solidity must lie in [0, 1], got {self.min_solidity}")


def correct_illumination(image: np.ndarray, size: int) -> np.ndarray:
    """Divide by a smooth illumination function, as CellProfiler's CorrectIlluminationApply.

    The illumination function is the background estimated per image — the minimum filter
    of side ``size`` px, blurred by a Gaussian of sigma ``size / 4`` — divided by its
    median, so an evenly lit image keeps its values. The minimum is taken over a 3×3
    median-filtered copy of the image: a single dead camera pixel (0) would otherwise be the
    minimum of every window around it and the division would turn the ``size``-px square
    around it into a bright object.

    Args:
        image: ``(H, W)`` float32 image.
        size: minimum-filter side in px (larger than a nucleus); 0 returns ``image``.

    Returns:
        ``(H, W)`` float32 image.
    """
    if size == 0:
        return image
    denoised = ndi.median_filter(image, size=3, mode="reflect")
    background = ndi.gaussian_filter(ndi.minimum_filter(denoised, size=size, mode="reflect"), sigma=size / 4)
    level = float(np.median(background))
    if level <= 0 or float(background.min()) <= 0:
        return image  # no positive background to divide by (e.g. already background-subtracted)
    return image / (background / np.float32(level))


def enhance(image: np.ndarray, params: CPAdvancedParams) -> np.ndarray:
    """Illumination correction, median filter and opening of a ``(H, W)`` float32 image."""
    corrected = correct_illumination(image, params.background_size)
    if params.median_size > 1:
        corrected = ndi.median_filter(corrected, size=params.median_size, mode="reflect")
    if params.opening_radius:
        corrected = opening(corrected, disk(params.opening_radius))
    return corrected


def filter_objects(labels: np.ndarray, image: np.ndarray, threshold: float,
                   params: CPAdvancedParams) -> np.ndarray:
    """Remove objects by solidity and by mean intensity relative to ``threshold``.

    Args:
        labels: ``(H, W)`` int32 labels 1..N.
        image: ``(H, W)`` float image the labels were found on.
        threshold: the global threshold used, in the units of ``image``.
        params: the filter settings.

    Returns:
        ``(H, W)`` int32 labels renumbered 1..M.
    """
    n = int(labels.max())
    keep = np.ones(n + 1, bool)
    keep[0] = False
    if params.min_intensity_ratio and n:
        sums = np.bincount(labels.ravel(), weights=image.ravel().astype(np.float64), minlength=n + 1)
        areas = np.bincount(labels.ravel(), minlength=n + 1)
        means = sums[1:] / np.maximum(areas[1:], 1)
        keep[1:] &= means >= params.min_intensity_ratio * threshold
    if params.min_solidity and n:
        for region in regionprops(labels):
            if keep[region.label] and region.solidity < params.min_solidity:
                keep[region.label] = False
    return relabel_sequential(np.where(keep[labels], labels, 0))[0].astype(np.int32, copy=False)


@dataclasses.dataclass(frozen=True)
class CPBasic:
    """CellProfiler basic: global threshold, shape/intensity declumping, size filters."""

    params: IdentifyParams
    name: ClassVar[str] = "cp-basic"

    def segment(self, image: np.ndarray) -> np.ndarray:
        """Instance labels of a ``(H, W)`` grey-level image (any int/float dtype).

        Returns:
            ``(H, W)`` int32 labels, 0 = background, nuclei numbered 1..N.
        """
        return identify_primary_objects(rebase_offset(as_float_image(image)), self.params)[0]


@dataclasses.dataclass(frozen=True)
class CPAdvanced:
    """CellProfiler advanced: enhancement, then identification, then measurement filters."""

    params: CPAdvancedParams
    name: ClassVar[str] = "cp-advanced"

    def segment(self, image: np.ndarray) -> np.ndarray:
        """Instance labels of a ``(H, W)`` grey-level image (any int/float dtype).

        Returns:
            ``(H, W)`` int32 labels, 0 = background, nuclei numbered 1..N.
        """
        enhanced = enhance(rebase_offset(as_float_image(image)), self.params)
        labels, threshold = identify_primary_objects(enhanced, self.params.identify)
        return filter_objects(labels, enhanced, threshold, self.params)

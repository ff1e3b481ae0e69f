"""Pixel features of the random-forest baseline (ilastik-like).

The image is first normalised per image so that the background sits at 0 and a typical
nucleus at 1: ``(x - median) / scale``, where ``scale`` is the mean of the pixels above
the image's minimum cross-entropy (Li) threshold minus the median — bounded below by
``min_scale_sds`` robust standard deviations, so that an image without nuclei keeps its
noise small. Then :func:`skimage.feature.multiscale_basic_features` gives, at each of
``num_sigma`` Gaussian scales between ``sigma_min`` and ``sigma_max`` (log-spaced),
the smoothed intensity, its Sobel edge magnitude and the two Hessian eigenvalues
(texture): 4 features per scale.

Any image of at least 1 × 1 px has features: the Hessian needs :data:`MIN_SIDE` px per
axis, so a thinner image is padded (``np.pad(mode="symmetric")``) before the filters and
the features are cropped back. Copying a 1-px side once changes nothing the filters see:
they extend an image beyond its border by repeating its edge pixels anyway.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from skimage.feature import multiscale_basic_features
from skimage.filters import threshold_li

from nucseg_zoo.images import as_float_image
from nucseg_zoo.baselines.params import Params

_ROBUST_SD = 1.4826  # MAD -> standard deviation of a normal distribution

MIN_SIDE = 2
"""Smallest side (px) :func:`skimage.feature.multiscale_basic_features` accepts (its Hessian
takes ``np.gradient``, which needs 2 samples per axis); :func:`pixel_features` pads thinner
images up to it."""


@dataclasses.dataclass(frozen=True)
class FeatureSettings(Params):
    """Settings of :func:`pixel_features` (lengths in px).

    Attributes:
        sigma_min: finest Gaussian scale.
        sigma_max: coarsest Gaussian scale.
        num_sigma: number of scales, log-spaced between the two.
        intensity: include the smoothed intensities.
        edges: include the edge magnitudes.
        texture: include the Hessian eigenvalues.
        min_scale_sds: lower bound of the normalisation scale, in robust SDs of the image.
    """

    sigma_min: float = 1.0
    sigma_max: float = 8.0
    num_sigma: int = 3
    intensity: bool = True
    edges: bool = True
    texture: bool = True
    min_scale_sds: float = 8.0

    def __post_init__(self) -> None:
        if not 0 < self.sigma_min <= self.sigma_max:
            raise ValueError(f"need 0 < sigma_min <= sigma_max, got {self.sigma_min}, {self.sigma_max}")
        if self.num_sigma < 1:
            raise ValueError(f"num_sigma must be >= 1, got {self.num_sigma}")
        if not (self.intensity or self.edges or self.texture):
            raise ValueError("at least one of intensity, edges, texture must be enabled")
        if self.min_scale_sds < 0:
            raise ValueError(f"min_scale_sds must be >= 0, got {self.min_scale_sds}")

    @property
    def n_features(self) -> int:
        """Number of features per pixel."""
        return self.num_sigma * (int(self.intensity) + int(self.edges) + 2 * int(self.texture))


def normalize(image: np.ndarray, min_scale_sds: float) -> np.ndarray:
    """Background to 0, typical nucleus intensity to 1 (see the module docstring).

    Args:
        image: ``(H, W)`` float32 image.
        min_scale_sds: lower bound of the scale in robust SDs (1.4826 × MAD).

    Returns:
        ``(H, W)`` float32 normalised image (a constant image becomes zeros).
    """
    median = float(np.median(image))
    if float(image.max()) == float(image.min()):
        return np.zeros_like(image)
    threshold = threshold_li(image)
    foreground = image[image > threshold]
    scale = float(foreground.mean()) - median if foreground.size else 0.0
    floor = min_scale_sds * _ROBUST_SD * float(np.median(np.abs(image - median)))
    scale = max(scale, floor, np.finfo(np.float32).eps)
    return (image - median) / np.float32(scale)


def pixel_features(image: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    """Per-pixel features of a grey-level image.

    Args:
        image: ``(H, W)`` image, any integer or float dtype, at least 1 × 1 px (sides below
            :data:`MIN_SIDE` are padded symmetrically for the filters, then cropped).
        settings: which features at which scales.

    Returns:
        ``(H, W, settings.n_features)`` float32 array.

    Raises:
        ValueError: the image is not 2-D, is empty, or holds NaN/inf.
    """
    normalized = normalize(as_float_image(image), settings.min_scale_sds)
    height, width = normalized.shape
    padded = np.pad(normalized, [(0, max(0, MIN_SIDE - side)) for side in normalized.shape], mode="symmetric")
    features = multiscale_basic_features(
        padded, intensity=settings.intensity, edges=settings.edges, texture=settings.texture,
        sigma_min=settings.sigma_min, sigma_max=settings.sigma_max, num_sigma=settings.num_sigma,
        workers=1,
    )
    return features[:height, :width].astype(np.float32, copy=False)

"""Whether an image's nuclei are far from the size the model expects: a warning, per image.

The expected size is the ``diameter`` a run was given (each image is then rescaled to the
model's nucleus size) or else the size the model learned
(:func:`nucseg_zoo.segmenters.rescaled.training_diameter`: a zoo model's training labels,
BBBC039 28.25 px; a baseline's dataset card, BBBC039 28.21 px). An image is flagged when the
median equivalent diameter of its segmented nuclei lies outside :data:`SIZE_FACTOR` times that, either way.
Measured on BBBC039's 50 test images: no clean image is flagged (the per-image medians of
``unet-bbbc039-fast`` span 19.0-31.1 px, of ``cp-basic`` 22.2-35.1 px, against bounds of
18.8-42.3 px), and at 2x magnification (each test image's top-left quarter upscaled 2x, where
F1@0.7 falls from 0.960 to 0.637 and 0.182) 43 of 50 images are flagged for
``unet-bbbc039-fast`` (median 51 px) but only 6 of 50 for ``cp-basic``, which cuts large
nuclei into pieces near its own size (median 37 px): the segmented size cannot reveal every
such image.
"""

from __future__ import annotations

import numpy as np

SIZE_FACTOR = 1.5
"""An image's median nucleus diameter more than this factor above or below the training
median is flagged (see the module docstring for the measurements behind it)."""


def median_diameter(labels: np.ndarray) -> float | None:
    """Median equivalent diameter (px) of the nuclei of ``labels``; None without nuclei."""
    from nucseg_zoo.datasets.facts import equivalent_diameters

    diameters = equivalent_diameters(labels)
    return float(np.median(diameters)) if diameters.size else None


def size_quality(labels: np.ndarray, reference: float | None) -> dict[str, float | bool | None]:
    """``median_diameter`` (px, None without nuclei) and ``size_off_training`` (whether it is
    more than :data:`SIZE_FACTOR` from ``reference``, the training median; None when either is
    unknown) of one image's labels."""
    median = median_diameter(labels)
    off = None if median is None or reference is None else not reference / SIZE_FACTOR <= median <= reference * SIZE_FACTOR
    return {"median_diameter": median, "size_off_training": off}

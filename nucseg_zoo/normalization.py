"""Input normalisation, expressed in bioimage.io preprocessing terms.

``percentile_normalize`` is bioimage.io's ``scale_range`` (per image, over y/x):
``(x - p_low) / (p_high - p_low + eps)`` with the ``min_percentile``/``max_percentile``
of the image, so packaged models reproduce it in deepImageJ and ilastik.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class PercentileNormalization:
    """bioimage.io ``scale_range`` with per-image percentiles (in percent, 0..100)."""

    min_percentile: float = 1.0
    max_percentile: float = 99.8
    eps: float = 1e-6

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Normalise a 2-D image to float32 (background ~0, bright nuclei ~1)."""
        image = np.asarray(image, dtype=np.float32)
        low, high = np.percentile(image, [self.min_percentile, self.max_percentile])
        return (image - low) / (high - low + self.eps)

    def to_dict(self) -> dict[str, float]:
        """Plain-dict form for recipes and rdf files."""
        return asdict(self)

"""Input normalisation, expressed in bioimage.io preprocessing terms.

``percentile_normalize`` is bioimage.io's ``scale_range`` (per image, over y/x):
``(x - p_low) / (p_high - p_low + eps)`` with the ``min_percentile``/``max_percentile``
of the image, followed by bioimage.io's ``clip`` to ``clip`` = (min, max), so packaged
models reproduce it in deepImageJ and ilastik (both steps are on deepImageJ's list).

Why the clip: an image with (almost) no dynamic range — a blank field with a hot pixel,
an empty well, a background-subtracted field with few nuclei — has ``p_high - p_low``
near 0, and dividing by it sends the few pixels that differ to huge values (4095 / 1e-6
for one hot pixel in a field of zeros) from which the network hallucinates nuclei. The
clip bounds the network's input to the range it was trained on: on every image of the
BBBC039 training split the normalised values lie in [-0.41, 4.91] (measured,
``tests/test_normalization.py`` re-checks it on the data), so the default (-1, 5)
changes nothing there, while a hot pixel becomes one pixel of 5 and a sparse field's
nuclei become bright plateaus that are still segmented.

When both percentiles fall on the same value (more than 99.8 % of the field at one level:
a nucleus or a hot pixel on a field of zeros, a few nuclei on a flat fill) there is no
range at all, and the plateaus at the clip's 5 are flat-topped shapes that a network not
trained on them splits (one nucleus alone on zeros: 3 objects from ``unet-bbbc039``).
:func:`percentile_range` then takes the upper percentile over the pixels that differ from
that level, so the few nuclei normalise as nuclei do in a full field. nucseg-zoo's package
runner uses the same range (bioimage.io's ``scale_range`` cannot express it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def percentile_range(image: np.ndarray, min_percentile: float, max_percentile: float) -> tuple[float, float]:
    """The ``(low, high)`` percentiles (in percent) of ``image`` that ``scale_range`` maps to 0 and 1.

    As :func:`numpy.percentile`, except where both fall on one value while other pixels lie
    above it: ``high`` is then the ``max_percentile`` of those pixels (see the module docstring).

    Args:
        image: array of any shape, integer or float.
        min_percentile, max_percentile: percentiles in [0, 100].

    Returns:
        ``(low, high)`` as floats, in the image's units.
    """
    low, high = (float(v) for v in np.percentile(image, [min_percentile, max_percentile]))
    if high == low:
        above = image[image > low]
        if above.size:
            high = float(np.percentile(above, max_percentile))
    return low, high


@dataclass(frozen=True)
class PercentileNormalization:
    """bioimage.io ``scale_range`` with per-image percentiles (in percent, 0..100), then ``clip``.

    Attributes:
        min_percentile, max_percentile: the percentiles mapped to 0 and 1.
        eps: added to the denominator (bioimage.io's ``eps``, at most 0.1).
        clip: (min, max) bounds of the normalised values, or None for no clip.
    """

    min_percentile: float = 1.0
    max_percentile: float = 99.8
    eps: float = 1e-6
    clip: tuple[float, float] | None = (-1.0, 5.0)

    def __post_init__(self) -> None:
        if not 0 <= self.min_percentile < self.max_percentile <= 100:
            raise ValueError(f"need 0 <= min_percentile < max_percentile <= 100, got "
                             f"{self.min_percentile}, {self.max_percentile}")
        if not 0 < self.eps <= 0.1:
            raise ValueError(f"eps must lie in (0, 0.1] (bioimage.io scale_range), got {self.eps}")
        if self.clip is not None:
            low, high = (float(v) for v in self.clip)
            if not low < high:
                raise ValueError(f"clip must be (min, max) with min < max, got {self.clip}")
            object.__setattr__(self, "clip", (low, high))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Normalise a 2-D image to float32 (background ~0, bright nuclei ~1, within ``clip``)."""
        image = np.asarray(image, dtype=np.float32)
        low, high = percentile_range(image, self.min_percentile, self.max_percentile)
        normalized = (image - np.float32(low)) / np.float32(high - low + self.eps)
        if self.clip is not None:
            np.clip(normalized, self.clip[0], self.clip[1], out=normalized)
        return normalized

    def to_dict(self) -> dict[str, float | list[float] | None]:
        """Plain-dict form for recipes and rdf files."""
        return {"min_percentile": self.min_percentile, "max_percentile": self.max_percentile, "eps": self.eps,
                "clip": None if self.clip is None else list(self.clip)}

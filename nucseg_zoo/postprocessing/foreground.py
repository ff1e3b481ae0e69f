"""The ``foreground`` kind: P(foreground) → instance labels.

The channel becomes the three-class map ``(1 - f, f, 0)`` and goes through
:func:`~nucseg_zoo.postprocessing.three_class.probabilities_to_labels` with its parameters
and grids: without a boundary class, touching nuclei separate only where P(foreground) dips
below ``interior_threshold``. Networks here are trained three-class, so this kind has no
training record; it reads other tools' packages.
"""

from __future__ import annotations

import numpy as np

from nucseg_zoo.postprocessing._common import check_probabilities
from nucseg_zoo.postprocessing.registry import Channels, OutputKind
from nucseg_zoo.postprocessing.three_class import TUNING, PostprocessingParams, probabilities_to_labels


def from_foreground(probs: np.ndarray, params: PostprocessingParams | None = None) -> np.ndarray:
    """Instance labels ``(H, W)`` int32 from a ``(1, H, W)`` (or ``(H, W)``) float foreground probability map.

    Raises:
        ValueError: another shape, or a non-float dtype.
    """
    probs = np.asarray(probs)
    probs = check_probabilities(probs[None] if probs.ndim == 2 else probs, 1)
    foreground = probs[0]
    three_class = np.stack([1.0 - foreground, foreground, np.zeros_like(foreground)])
    return probabilities_to_labels(three_class, params)


FOREGROUND = OutputKind(
    name="foreground",
    description="foreground probability; touching nuclei separate where it dips below the threshold",
    channels=Channels(("foreground",)),
    params=PostprocessingParams,
    adapter=from_foreground,
    inferable=True,
    tuning=TUNING,
)

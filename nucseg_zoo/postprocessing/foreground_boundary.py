"""The ``foreground_boundary`` kind: P(foreground) and P(boundary) → instance labels.

The two channels become the three-class map ``(1 - f, f (1 - b), f b)`` and go through
:func:`~nucseg_zoo.postprocessing.three_class.probabilities_to_labels` with its parameters
and grids. Networks here are trained three-class (:mod:`nucseg_zoo.training`), so this kind
has no training record; it reads other tools' packages.
"""

from __future__ import annotations

import numpy as np

from nucseg_zoo.postprocessing._common import check_probabilities
from nucseg_zoo.postprocessing.registry import Channels, OutputKind
from nucseg_zoo.postprocessing.three_class import TUNING, PostprocessingParams, probabilities_to_labels


def from_foreground_boundary(probs: np.ndarray, params: PostprocessingParams | None = None) -> np.ndarray:
    """Instance labels ``(H, W)`` int32 from a ``(2, H, W)`` float map of P(foreground) and P(boundary).

    Raises:
        ValueError: ``probs`` is not a ``(2, H, W)`` floating-point array.
    """
    probs = check_probabilities(probs, 2)
    foreground, boundary = probs
    three_class = np.stack([1.0 - foreground, foreground * (1.0 - boundary), foreground * boundary])
    return probabilities_to_labels(three_class, params)


FOREGROUND_BOUNDARY = OutputKind(
    name="foreground_boundary",
    description="foreground and boundary probabilities, read as a three-class map",
    channels=Channels(("foreground", "boundary")),
    params=PostprocessingParams,
    adapter=from_foreground_boundary,
    inferable=True,
    tuning=TUNING,
)

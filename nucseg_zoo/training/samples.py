"""Dataset splits held in memory, for the repeated scoring of parameter searches and training."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np


class LoadedSample(NamedTuple):
    """A sample held in memory: name, ``(H, W)`` image, ``(H, W)`` int32 labels."""

    name: str
    image: np.ndarray
    labels: np.ndarray


def load_samples(samples: Iterable) -> list[LoadedSample]:
    """Read every sample of a split once (a dataset split reads files on each access)."""
    return [LoadedSample(sample.name, sample.image, sample.labels) for sample in samples]

"""Score a baseline on a dataset split with the protocol's metrics."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Protocol

import numpy as np

from nucseg_zoo.metrics import DatasetScores, score_image, summarize


class Segmenter(Protocol):
    """Anything with ``segment(image) -> labels`` (every baseline)."""

    def segment(self, image: np.ndarray) -> np.ndarray: ...


class LoadedSample(NamedTuple):
    """A sample held in memory: name, ``(H, W)`` image, ``(H, W)`` int32 labels."""

    name: str
    image: np.ndarray
    labels: np.ndarray


def load_samples(samples: Iterable) -> list[LoadedSample]:
    """Read every sample of a split once (a dataset split reads files on each access)."""
    return [LoadedSample(sample.name, sample.image, sample.labels) for sample in samples]


def score_baseline(baseline: Segmenter, samples: Iterable) -> DatasetScores:
    """Segment every sample (``.name``, ``.image``, ``.labels``) and score it.

    Returns:
        The :class:`~nucseg_zoo.metrics.DatasetScores` of the split.
    """
    return summarize(score_image(sample.labels, baseline.segment(sample.image), name=sample.name)
                     for sample in samples)

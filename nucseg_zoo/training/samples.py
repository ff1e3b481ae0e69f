"""Dataset splits held in memory, and scored, for the repeated scoring of parameter searches and training."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from nucseg_zoo.baselines.registry import Baseline
from nucseg_zoo.metrics import DatasetScores, score_image, summarize


class LoadedSample(NamedTuple):
    """A sample held in memory: name, ``(H, W)`` image, ``(H, W)`` int32 labels."""

    name: str
    image: np.ndarray
    labels: np.ndarray


def load_samples(samples: Iterable) -> list[LoadedSample]:
    """Read every sample of a split once (a dataset split reads files on each access)."""
    return [LoadedSample(sample.name, sample.image, sample.labels) for sample in samples]


def score_baseline(baseline: Baseline, samples: Iterable[LoadedSample]) -> DatasetScores:
    """``baseline.segment`` of every sample, scored against its labels and summarised (the
    harness's metrics, misses binned by :data:`nucseg_zoo.metrics.SIZE_BINS`)."""
    return summarize([score_image(sample.labels, np.asarray(baseline.segment(sample.image)), name=sample.name)
                      for sample in samples])

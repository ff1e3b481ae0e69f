"""The evaluation harness: run a segmenter on a dataset split and score it.

A *segmenter* is anything with ``segment(image) -> (H, W) int labels``: a zoo model, a
classical baseline, or a bioimage.io package loaded with :func:`nucseg_zoo.load_model`.
Every result comes from :mod:`nucseg_zoo.metrics` on the official split.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Protocol

import numpy as np
from tqdm import tqdm

from nucseg_zoo import datasets
from nucseg_zoo.metrics import DatasetScores, score_image, summarize
from nucseg_zoo.metrics.folder import find_predictions, read_label_image


class Segmenter(Protocol):
    """What the harness runs: ``segment`` turns a 2-D image into instance labels."""

    def segment(self, image: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Evaluation:
    """Scores of one segmenter (or prediction folder) on one dataset split."""

    source: str
    dataset: str
    split: str
    scores: DatasetScores
    seconds_per_image: float | None = None
    missing_predictions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the metric keys of :meth:`DatasetScores.to_dict` plus provenance."""
        result = {"source": self.source, "dataset": self.dataset, "split": self.split}
        result.update(self.scores.to_dict())
        if self.seconds_per_image is not None:
            result["seconds_per_image"] = self.seconds_per_image
        if self.missing_predictions:
            result["missing_predictions"] = list(self.missing_predictions)
        return result


def list_segmenters() -> list[str]:
    """Names accepted by :func:`get_segmenter`: zoo models and classical baselines."""
    from nucseg_zoo.baselines import list_baselines
    from nucseg_zoo.zoo import list_models

    return list_models() + list_baselines()


def get_segmenter(name: str, *, device: str = "cpu") -> Segmenter:
    """A zoo model, a baseline, or a bioimage.io package path/URL, ready to ``segment``."""
    from nucseg_zoo.baselines import get_baseline, list_baselines
    from nucseg_zoo.zoo import list_models, load_model

    if name in list_baselines():
        return get_baseline(name)
    if name in list_models() or name.lower().endswith((".zip", ".yaml", ".yml")):
        return load_model(name, device=device)
    raise ValueError(f"unknown segmenter {name!r}; known: {', '.join(list_segmenters())}, "
                     "or a bioimage.io package (.zip / rdf.yaml)")


def score_segmenter(segmenter: Segmenter, samples: Iterable, *, progress: str | None = None
                    ) -> tuple[DatasetScores, float]:
    """Segment and score every sample (anything with ``.name``, ``.image``, ``.labels``).

    Returns:
        The split's scores and the mean wall time of ``segment`` per image in seconds
        (prediction and postprocessing; reading images and scoring excluded).
    """
    scores, seconds = [], 0.0
    for sample in tqdm(samples, desc=progress, disable=progress is None, file=sys.stderr):
        image = sample.image
        started = time.perf_counter()
        labels = segmenter.segment(image)
        seconds += time.perf_counter() - started
        scores.append(score_image(sample.labels, np.asarray(labels), name=sample.name))
    return summarize(scores), seconds / len(scores)


def evaluate(
    segmenter: Segmenter,
    *,
    source: str,
    dataset: str = "bbbc039",
    split: str = "test",
    limit: int | None = None,
    mirror: str | None = None,
    progress: bool = False,
) -> Evaluation:
    """Segment every image of ``dataset``/``split`` (the first ``limit``) and score it."""
    samples = datasets.load(dataset, split, mirror=mirror)
    samples = samples[:limit] if limit else samples
    scores, seconds = score_segmenter(segmenter, samples,
                                      progress=f"{source} on {dataset}/{split}" if progress else None)
    return Evaluation(source=source, dataset=dataset, split=split, scores=scores, seconds_per_image=seconds)


def score_folder(
    pred_dir: str | Path,
    *,
    dataset: str = "bbbc039",
    split: str = "test",
    mirror: str | None = None,
) -> Evaluation:
    """Score a folder of predicted label images named by image stem (TIFF/PNG).

    A missing prediction counts as an empty prediction and is listed in the result.
    """
    samples = datasets.load(dataset, split, mirror=mirror)
    found, missing = find_predictions(pred_dir, samples.names)
    scores = []
    for sample in samples:
        truth = sample.labels
        pred = read_label_image(found[sample.name]) if sample.name in found else np.zeros_like(truth)
        if pred.shape != truth.shape:
            raise ValueError(f"prediction {found[sample.name]} has shape {pred.shape}, "
                             f"expected {truth.shape} like image {sample.name}")
        scores.append(score_image(truth, pred, name=sample.name))
    return Evaluation(source=str(pred_dir), dataset=dataset, split=split, scores=summarize(scores),
                      missing_predictions=tuple(missing))

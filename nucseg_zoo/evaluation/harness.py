"""Scoring loops: run a segmenter on a dataset split (or read a prediction folder) and score it.

A *segmenter* is anything with ``segment(image) -> (H, W) int labels``
(:class:`~nucseg_zoo.segmenters.Segmenter`): a zoo model, a classical baseline, a bioimage.io
package or a Python callable, opened with :func:`nucseg_zoo.segmenters.get_segmenter`.
Every result comes from :mod:`nucseg_zoo.metrics` on the official split.
:func:`nucseg_zoo.evaluation.evaluate_source` adds source resolution, provenance and caching.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from tqdm import tqdm

from nucseg_zoo import datasets
from nucseg_zoo._text import count
from nucseg_zoo.metrics import SIZE_BINS, DatasetScores, score_image, summarize
from nucseg_zoo.metrics.errors import SizeBins
from nucseg_zoo.metrics import binary_masks
from nucseg_zoo.metrics.folder import find_predictions, folders_with_predictions, read_label_image
from nucseg_zoo.segmenters.protocols import Segmenter


@dataclass(frozen=True)
class Evaluation:
    """Scores of one segmenter (or prediction folder) on one dataset split."""

    source: str
    dataset: str
    split: str
    scores: DatasetScores
    seconds_per_image: float | None = None
    missing_predictions: tuple[str, ...] = ()
    image_seconds: tuple[float, ...] = ()
    provenance: dict[str, Any] = field(default_factory=dict)
    cached: bool = False
    labels_path: Path | None = None
    """The predicted label images (see :mod:`nucseg_zoo.evaluation.predictions`), when stored."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form: source, dataset, split, the metric keys of :meth:`DatasetScores.to_dict`,
        timing, and the provenance keys (see :func:`nucseg_zoo.evaluation.evaluate_source`)."""
        result = {"source": self.source, "dataset": self.dataset, "split": self.split}
        result.update(self.provenance)
        result.update(self.scores.to_dict())
        if self.seconds_per_image is not None:
            result["seconds_per_image"] = self.seconds_per_image
        if self.image_seconds:
            for image, seconds in zip(result["images"], self.image_seconds):
                image["seconds"] = seconds
        if self.missing_predictions:
            result["missing_predictions"] = list(self.missing_predictions)
        return result

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, cached: bool = False) -> "Evaluation":
        """Rebuild from :meth:`to_dict` output; aggregates are recomputed from the per-image counts."""
        scores = DatasetScores.from_dict(data)
        not_provenance = set(scores.to_dict()) | {"source", "dataset", "split", "seconds_per_image",
                                                  "missing_predictions"}
        provenance = {k: v for k, v in data.items() if k not in not_provenance}
        return cls(source=data["source"], dataset=data["dataset"], split=data["split"],
                   scores=scores, seconds_per_image=data.get("seconds_per_image"),
                   missing_predictions=tuple(data.get("missing_predictions", ())),
                   image_seconds=tuple(image["seconds"] for image in data["images"] if "seconds" in image),
                   provenance=provenance, cached=cached)


def resolve_samples(dataset: str | datasets.DatasetSplit, split: str | None, *,
                    mirror: str | None = None) -> datasets.DatasetSplit:
    """The samples to evaluate: ``dataset`` itself when it is a :class:`~nucseg_zoo.datasets.DatasetSplit`
    (e.g. :func:`nucseg_zoo.datasets.from_folder`; ``split`` must then be None or its own), else
    split ``split`` (None: ``"test"``) of the dataset id ``dataset`` (:func:`nucseg_zoo.datasets.load`).

    Raises:
        ValueError: unknown dataset or split; a split given with a DatasetSplit that is not its own.
    """
    if isinstance(dataset, datasets.DatasetSplit):
        if split not in (None, dataset.split):
            raise ValueError(f"split {split!r} given with the samples of {dataset.dataset}/{dataset.split}: "
                             "pass split=None with a DatasetSplit")
        return dataset
    return datasets.load(dataset, split or "test", mirror=mirror)


def score_segmenter(segmenter: Segmenter, samples: Iterable, *, progress: str | None = None,
                    on_labels: Callable[[str, np.ndarray], None] | None = None,
                    size_bins: SizeBins = SIZE_BINS) -> tuple[DatasetScores, tuple[float, ...]]:
    """Segment and score every sample (anything with ``.name``, ``.image``, ``.labels``);
    misses binned by ``size_bins`` (GT area in px; a DatasetSplit's own ``size_bins``).

    A segmenter whose preprocessing uses dataset statistics runs with those of its fixed
    reference set (:mod:`nucseg_zoo.segmenters.statistics`), never of ``samples``, so that each
    image scores as it would alone. ``on_labels(name, labels)`` is called with each predicted
    label image (e.g. to store it).

    Returns:
        The split's scores and the wall time of ``segment`` for each image in seconds
        (prediction and postprocessing; reading images and scoring excluded).
    """
    scores, seconds = [], []
    for sample in tqdm(samples, desc=progress, disable=progress is None, file=sys.stderr):
        image = sample.image
        started = time.perf_counter()
        labels = segmenter.segment(image)
        seconds.append(time.perf_counter() - started)
        scores.append(score_image(sample.labels, np.asarray(labels), name=sample.name, size_bins=size_bins))
        if on_labels is not None:
            on_labels(sample.name, np.asarray(labels))
    return summarize(scores), tuple(seconds)


def evaluate(
    segmenter: Segmenter,
    *,
    source: str,
    dataset: str | datasets.DatasetSplit,
    split: str | None = None,
    limit: int | None = None,
    mirror: str | None = None,
    progress: bool = False,
) -> Evaluation:
    """Segment every image of ``dataset``/``split`` (the first ``limit``) and score it
    (``dataset`` and ``split`` as :func:`resolve_samples` takes them)."""
    split_samples = resolve_samples(dataset, split, mirror=mirror)
    dataset, split = split_samples.dataset, split_samples.split
    samples = split_samples[:limit] if limit else split_samples
    scores, seconds = score_segmenter(segmenter, samples, size_bins=split_samples.size_bins,
                                      progress=f"{source} on {split_samples.label}" if progress else None)
    return Evaluation(source=source, dataset=dataset, split=split, scores=scores,
                      seconds_per_image=float(np.mean(seconds)), image_seconds=seconds)


def score_folder(
    pred_dir: str | Path,
    *,
    dataset: str | datasets.DatasetSplit,
    split: str | None = None,
    mirror: str | None = None,
    label_components: bool = False,
    only_present: bool = False,
) -> Evaluation:
    """Score a folder of predicted label images named by image stem (TIFF/PNG).

    A missing prediction counts as an empty prediction (every nucleus of the image missed)
    and is listed in the result's ``missing_predictions``, with a warning that says how many
    are missing; with ``only_present`` the images without a prediction are left out of the
    scores instead (still listed; the scores then cover only part of the split and are not
    comparable with the leaderboard). When ``pred_dir`` holds none of them, the warning names
    the subfolders that do hold predictions (e.g. ``OUT/imgs`` of a ``segment`` run).

    A prediction that looks like a binary mask (one non-zero value whose pixels form
    several 4-connected components, see :func:`nucseg_zoo.metrics.looks_like_binary_mask`)
    is one object as it stands. Without ``label_components`` it is scored that way and a
    :class:`~nucseg_zoo.metrics.BinaryMaskWarning` names the file, its two values and its
    number of components; with it, its connected components are labelled first
    (:func:`nucseg_zoo.metrics.label_components`). Either way the result's
    ``provenance["binary_mask_predictions"]`` lists those images (in dataset order) and
    ``provenance["label_components"]`` records the choice. A prediction that looks like an
    intensity image (e.g. the input image; see
    :func:`nucseg_zoo.metrics.binary_masks.looks_like_intensity_image`) is scored as it
    stands, with an :class:`~nucseg_zoo.metrics.binary_masks.IntensityImageWarning`, and listed
    in ``provenance["intensity_image_predictions"]``.

    Args:
        pred_dir: folder of ``<image stem>.tif/.tiff/.png`` label images (0 = background).
        dataset: dataset id, e.g. ``"bbbc039"`` or ``"dsb2018-fluo"``, or the samples of a
            lab's own annotated folder (:func:`nucseg_zoo.datasets.from_folder`).
        split: split of ``dataset`` (None with a DatasetSplit).
        mirror: dataset mirror (URL or folder).
        label_components: label binary-mask predictions into connected components.
        only_present: score only the images that have a prediction (recorded as
            ``provenance["only_present"]``).

    Returns:
        An :class:`Evaluation` whose ``source`` is ``pred_dir``.

    Raises:
        NotADirectoryError: ``pred_dir`` is not a folder.
        ValueError: a prediction is ambiguous, unreadable as a label image, or not of its
            image's shape; ``only_present`` and no prediction at all.
    """
    samples = resolve_samples(dataset, split, mirror=mirror)
    dataset, split, size_bins = samples.dataset, samples.split, samples.size_bins
    found, missing = find_predictions(pred_dir, samples.names)
    if missing:
        _warn_missing(Path(pred_dir), samples, found, missing, only_present)
    if only_present:
        samples = [sample for sample in samples if sample.name in found]
    scores, binary, intensity = [], [], []
    for sample in samples:
        truth = sample.labels
        if sample.name not in found:
            scores.append(score_image(truth, np.zeros_like(truth), name=sample.name, size_bins=size_bins))
            continue
        path = found[sample.name]
        pred = read_label_image(path)
        if pred.shape != truth.shape:
            raise ValueError(f"prediction {path} has shape {pred.shape}, expected {truth.shape} like image {sample.name}")
        warning = binary_masks.label_image_warning(
            pred, str(path),
            binary_hint="pass --label-components (CLI) or label_components=True (Python) to score its connected "
                        "components, or write instance labels (e.g. skimage.measure.label(mask, connectivity=1))",
            intensity_hint="score the label images a segmentation wrote (e.g. `nucseg-zoo segment`'s "
                           "<name>.tif), not the input images")
        if isinstance(warning, binary_masks.BinaryMaskWarning):
            binary.append(sample.name)
            if label_components:
                pred = binary_masks.label_components(pred)
            else:
                warnings.warn(warning, stacklevel=2)
        elif warning is not None:
            intensity.append(sample.name)
            warnings.warn(warning, stacklevel=2)
        scores.append(score_image(truth, pred, name=sample.name, size_bins=size_bins))
    return Evaluation(source=str(pred_dir), dataset=dataset, split=split, scores=summarize(scores),
                      missing_predictions=tuple(missing),
                      provenance={"label_components": label_components, "binary_mask_predictions": binary,
                                  "intensity_image_predictions": intensity, "only_present": only_present})


def _warn_missing(pred_dir: Path, samples: datasets.DatasetSplit, found: dict[str, Path], missing: list[str],
                  only_present: bool) -> None:
    """Warn that ``missing`` images have no prediction in ``pred_dir``: how many, how they are
    scored, and where predictions are when ``pred_dir`` has none (subfolders, other files)."""
    where = f"{samples.dataset}/{samples.split}"
    example = f"predictions are named by image stem, e.g. {samples.names[0]}.tif"
    if not found:
        elsewhere = folders_with_predictions(pred_dir, samples.names)
        if elsewhere:
            holds = "; ".join(f"{folder} holds {n} of them" for folder, n in elsewhere.items())
            hint = f"its subfolders do: {holds}; pass that folder"
        else:
            present = sorted(path.name for path in pred_dir.iterdir() if path.is_file())
            hint = (f"it holds {', '.join(present[:5])}{' ...' if len(present) > 5 else ''}" if present
                    else "it is empty")
        message = f"none of the {count(len(samples), 'image')} of {where} has a prediction in {pred_dir} ({hint}); {example}"
        if only_present:
            raise ValueError(f"{message}: nothing to score")
        warnings.warn(f"{message}, and every image is now scored as an empty prediction", UserWarning, stacklevel=3)
        return
    shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
    scored = (f"they are left out (only_present): the scores cover {count(len(found), 'image')}, not the whole split"
              if only_present else
              "they are scored as empty predictions (every nucleus missed); --only-present (CLI) or "
              "only_present=True (Python) scores only the images with one")
    warnings.warn(f"{len(missing)} of the {count(len(samples), 'image')} of {where} "
                  f"{'has' if len(missing) == 1 else 'have'} no prediction in {pred_dir} ({shown}); {scored}",
                  UserWarning, stacklevel=3)

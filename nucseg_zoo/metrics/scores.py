"""Object-level scores of the BBBC039 protocol (Caicedo et al. 2019), per image and per dataset.

Definitions (see ``docs/protocol.md``):

* A GT and a predicted object *match* at threshold ``t`` when their IoU is **strictly**
  greater than ``t``; for ``t >= 0.5`` matches are one-to-one. TP = matched GT objects,
  FN = unmatched GT objects, FP = unmatched predicted objects, F1 = 2TP / (2TP + FP + FN).
* Average F1 (the headline number): mean F1 over images at each of :data:`THRESHOLDS`, then
  the mean over the nine thresholds.
* Jaccard (per image): for each predicted object its best IoU with any GT object (0 if it
  overlaps none), averaged over predicted objects.
* Missed objects, extra objects and the error rate use IoU 0.7; misses are binned by GT
  area with :data:`SIZE_BINS`. Splits and merges use IoU 0.1.

Empty-image conventions (the BBBC039 validation split has an image without nuclei):

* **No GT and no prediction**: precision = recall = F1 = 1.0 at every threshold (nothing to
  find, nothing wrongly claimed). The authors' code adds 1e-9 to the F1 denominator, which
  scores such an image 0; we deliberately differ. The BBBC039 test split has no empty image,
  so the headline test-split number is unaffected.
* **GT but no prediction**: TP = 0, FN = n_true, precision = recall = F1 = 0.
* **Prediction but no GT**: TP = 0, FP = n_pred, precision = recall = F1 = 0; Jaccard = 0.
* In general a ratio with a zero denominator is 0, except the all-zero case above.
* **Jaccard without predictions** is undefined: NaN for the image, and such images are left
  out of the dataset mean (``None`` in the JSON form).
* GT objects larger than 10,000 px (the paper's upper bound for "large") count as "large",
  so every GT object falls in exactly one size bin.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nucseg_zoo.metrics._frozen import FrozenMapping
from nucseg_zoo.metrics.errors import MISS_THRESHOLD, SIZE_BINS, SizeBins, check_size_bins, classify_objects
from nucseg_zoo.metrics.matching import match

if TYPE_CHECKING:
    import pandas as pd

THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(9))
"""IoU thresholds of the F1 curve: 0.50, 0.55, ..., 0.90."""


def _threshold_key(t: float) -> str:
    return f"{t:.2f}"


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _precision(tp: int, fp: int, fn: int) -> float:
    return _ratio(tp, tp + fp)


def _recall(tp: int, fp: int, fn: int) -> float:
    return _ratio(tp, tp + fn)


def _f1(tp: int, fp: int, fn: int) -> float:
    return _ratio(2 * tp, 2 * tp + fp + fn)


@dataclass(frozen=True)
class ImageScores:
    """Scores of one predicted label image against its ground truth.

    Per-threshold values are read-only mappings keyed by the floats of :data:`THRESHOLDS`
    (e.g. ``scores.f1[0.7]``). See the module docstring for definitions and empty-image
    conventions.

    Attributes:
        name: image identifier (unique within a :class:`DatasetScores`).
        n_true: number of GT objects.
        n_pred: number of predicted objects.
        tp, fp, fn: threshold -> count.
        jaccard: mean best IoU of the predicted objects; NaN without predictions.
        splits: GT objects overlapping more than one predicted object with IoU > 0.1.
        merges: predicted objects overlapping more than one GT object with IoU > 0.1.
        missed_by_size: size bin -> ``(missed, total)`` GT objects at IoU 0.7.
    """

    name: str
    n_true: int
    n_pred: int
    tp: FrozenMapping[float, int]
    fp: FrozenMapping[float, int]
    fn: FrozenMapping[float, int]
    jaccard: float
    splits: int
    merges: int
    missed_by_size: FrozenMapping[str, tuple[int, int]]

    def _per_threshold(self, metric: Callable[[int, int, int], float]) -> FrozenMapping[float, float]:
        if self.n_true == 0 and self.n_pred == 0:
            return FrozenMapping({t: 1.0 for t in THRESHOLDS})
        return FrozenMapping({t: metric(self.tp[t], self.fp[t], self.fn[t]) for t in THRESHOLDS})

    @property
    def precision(self) -> FrozenMapping[float, float]:
        """Threshold -> TP / (TP + FP)."""
        return self._per_threshold(_precision)

    @property
    def recall(self) -> FrozenMapping[float, float]:
        """Threshold -> TP / (TP + FN)."""
        return self._per_threshold(_recall)

    @property
    def f1(self) -> FrozenMapping[float, float]:
        """Threshold -> 2TP / (2TP + FP + FN)."""
        return self._per_threshold(_f1)

    @property
    def average_f1(self) -> float:
        """This image's F1 averaged over :data:`THRESHOLDS` (its share of the headline number)."""
        return float(np.mean(list(self.f1.values())))

    @property
    def extra_objects(self) -> int:
        """Predicted objects without a match at IoU 0.7 (FP at 0.7)."""
        return self.fp[MISS_THRESHOLD]

    @property
    def missed(self) -> int:
        """GT objects without a match at IoU 0.7 (FN at 0.7)."""
        return self.fn[MISS_THRESHOLD]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; threshold keys are strings like ``"0.50"``, NaN becomes ``None``."""
        per_t = {field: {_threshold_key(t): v for t, v in getattr(self, field).items()}
                 for field in ("tp", "fp", "fn", "precision", "recall", "f1")}
        return {
            "name": self.name,
            "n_true": self.n_true,
            "n_pred": self.n_pred,
            **per_t,
            "jaccard": _json_float(self.jaccard),
            "splits": self.splits,
            "merges": self.merges,
            "extra_objects": self.extra_objects,
            "missed_by_size": {b: {"missed": m, "total": n} for b, (m, n) in self.missed_by_size.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ImageScores":
        """Rebuild from :meth:`to_dict` output (counts only; the ratios are recomputed).

        Raises:
            ValueError: a field is missing or a count is not a non-negative integer.
        """
        def count(value: Any, what: str) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"image {data.get('name')!r}: {what} must be a non-negative integer, got {value!r}")
            return value

        try:
            per_t = {field: FrozenMapping({t: count(data[field][_threshold_key(t)], f"{field}[{t:.2f}]")
                                           for t in THRESHOLDS}) for field in ("tp", "fp", "fn")}
            jaccard = data["jaccard"]
            return cls(
                name=str(data["name"]),
                n_true=count(data["n_true"], "n_true"),
                n_pred=count(data["n_pred"], "n_pred"),
                **per_t,
                jaccard=math.nan if jaccard is None else float(jaccard),
                splits=count(data["splits"], "splits"),
                merges=count(data["merges"], "merges"),
                missed_by_size=FrozenMapping({
                    b: (count(data["missed_by_size"][b]["missed"], f"missed_by_size[{b}]"),
                        count(data["missed_by_size"][b]["total"], f"missed_by_size[{b}]"))
                    for b in SIZE_BINS}),
            )
        except (KeyError, TypeError) as err:
            raise ValueError(f"image scores of {data.get('name')!r} lack field {err}") from err

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per threshold with columns ``image, threshold, n_true, n_pred,
        tp, fp, fn, precision, recall, f1``."""
        import pandas as pd

        precision, recall, f1 = self.precision, self.recall, self.f1
        return pd.DataFrame({
            "image": self.name,
            "threshold": list(THRESHOLDS),
            "n_true": self.n_true,
            "n_pred": self.n_pred,
            "tp": [self.tp[t] for t in THRESHOLDS],
            "fp": [self.fp[t] for t in THRESHOLDS],
            "fn": [self.fn[t] for t in THRESHOLDS],
            "precision": [precision[t] for t in THRESHOLDS],
            "recall": [recall[t] for t in THRESHOLDS],
            "f1": [f1[t] for t in THRESHOLDS],
        })


@dataclass(frozen=True)
class DatasetScores:
    """Scores of a dataset split: the per-image scores and their aggregates.

    Means over images: ``precision``, ``recall``, ``f1`` (per threshold), ``average_f1`` and
    ``jaccard`` (over images with at least one prediction). Pooled over all objects:
    ``error_rate`` and ``missed_by_size``. Sums: ``extra_objects``, ``splits``, ``merges``,
    ``n_true``, ``n_pred``.

    Raises:
        ValueError: no images, or two images with the same name.
    """

    images: tuple[ImageScores, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", tuple(self.images))
        if not self.images:
            raise ValueError("cannot summarize an empty list of image scores")
        duplicates = sorted(n for n, count in Counter(s.name for s in self.images).items() if count > 1)
        if duplicates:
            raise ValueError(f"image names must be unique, got duplicates {duplicates} "
                             "(pass name=... to score_image)")

    @property
    def n_images(self) -> int:
        """Number of images."""
        return len(self.images)

    @property
    def n_true(self) -> int:
        """GT objects in all images."""
        return sum(s.n_true for s in self.images)

    @property
    def n_pred(self) -> int:
        """Predicted objects in all images."""
        return sum(s.n_pred for s in self.images)

    def _mean_over_images(self, metric: str) -> FrozenMapping[float, float]:
        per_image = [getattr(s, metric) for s in self.images]
        return FrozenMapping({t: float(np.mean([values[t] for values in per_image])) for t in THRESHOLDS})

    @property
    def precision(self) -> FrozenMapping[float, float]:
        """Threshold -> mean precision over images."""
        return self._mean_over_images("precision")

    @property
    def recall(self) -> FrozenMapping[float, float]:
        """Threshold -> mean recall over images."""
        return self._mean_over_images("recall")

    @property
    def f1(self) -> FrozenMapping[float, float]:
        """Threshold -> mean F1 over images."""
        return self._mean_over_images("f1")

    @property
    def average_f1(self) -> float:
        """The headline number: mean over :data:`THRESHOLDS` of the mean F1 over images."""
        return float(np.mean(list(self.f1.values())))

    @property
    def jaccard(self) -> float:
        """Mean per-image Jaccard over images with predictions; NaN if there are none."""
        defined = [s.jaccard for s in self.images if not math.isnan(s.jaccard)]
        return float(np.mean(defined)) if defined else math.nan

    @property
    def error_rate(self) -> float:
        """Missed GT objects at IoU 0.7 / GT objects, pooled over images; NaN without GT."""
        return sum(s.missed for s in self.images) / self.n_true if self.n_true else math.nan

    @property
    def missed_by_size(self) -> FrozenMapping[str, float]:
        """Size bin -> fraction of GT objects missed at IoU 0.7, pooled; NaN for an empty bin."""
        fractions = {}
        for size_bin in SIZE_BINS:
            missed = sum(s.missed_by_size[size_bin][0] for s in self.images)
            total = sum(s.missed_by_size[size_bin][1] for s in self.images)
            fractions[size_bin] = missed / total if total else math.nan
        return FrozenMapping(fractions)

    @property
    def extra_objects(self) -> int:
        """FP at IoU 0.7, summed over images."""
        return sum(s.extra_objects for s in self.images)

    @property
    def splits(self) -> int:
        """Split GT objects, summed over images."""
        return sum(s.splits for s in self.images)

    @property
    def merges(self) -> int:
        """Merging predicted objects, summed over images."""
        return sum(s.merges for s in self.images)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN becomes ``None``), with the per-image dicts under ``"images"``.

        Threshold keys are strings like ``"0.50"``; ``missed_by_size`` maps each bin to the
        pooled fraction missed (the per-image dicts hold the ``missed`` / ``total`` counts).
        """
        return {
            "average_f1": self.average_f1,
            "f1": {_threshold_key(t): v for t, v in self.f1.items()},
            "precision": {_threshold_key(t): v for t, v in self.precision.items()},
            "recall": {_threshold_key(t): v for t, v in self.recall.items()},
            "jaccard": _json_float(self.jaccard),
            "error_rate_at_0.7": _json_float(self.error_rate),
            "missed_by_size": {b: _json_float(v) for b, v in self.missed_by_size.items()},
            "extra_objects": self.extra_objects,
            "splits": self.splits,
            "merges": self.merges,
            "n_images": self.n_images,
            "n_true": self.n_true,
            "n_pred": self.n_pred,
            "images": [s.to_dict() for s in self.images],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DatasetScores":
        """Rebuild from :meth:`to_dict` output; every aggregate is recomputed from the
        per-image counts under ``"images"``."""
        return cls(tuple(ImageScores.from_dict(image) for image in data["images"]))

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per (image, threshold), columns as :meth:`ImageScores.to_frame`."""
        import pandas as pd

        return pd.concat([s.to_frame() for s in self.images], ignore_index=True)


def score_image(y_true: np.ndarray, y_pred: np.ndarray, *, name: str = "image",
                size_bins: SizeBins = SIZE_BINS) -> ImageScores:
    """Score one predicted label image against its ground truth (one overlap computation).

    Args:
        y_true: ``(H, W)`` ground-truth labels, integer dtype, 0 = background; ids need not be
            sequential.
        y_pred: ``(H, W)`` predicted labels, same conventions.
        name: image identifier, used in tables and to tell images apart in :func:`summarize`.
        size_bins: GT-area bins (px) of ``missed_by_size``, named as :data:`SIZE_BINS` (the
            default, BBBC039's); a dataset's own are its card's ``size_bins``.

    Returns:
        An immutable :class:`ImageScores`.

    Raises:
        ValueError: the inputs are not 2-D integer label images of the same shape or contain
            negative labels, or ``size_bins`` are not contiguous bins of those names.
    """
    check_size_bins(size_bins)
    m = match(y_true, y_pred)
    tp = {t: m.n_matched(t) for t in THRESHOLDS}

    if m.n_pred:
        best_iou = np.zeros(m.n_pred)
        np.maximum.at(best_iou, m.pred_index, m.iou)
        jaccard = float(best_iou.mean())
    else:
        jaccard = math.nan

    errors = classify_objects(m, size_bins)

    return ImageScores(
        name=name,
        n_true=m.n_true,
        n_pred=m.n_pred,
        tp=FrozenMapping(tp),
        fp=FrozenMapping({t: m.n_pred - n for t, n in tp.items()}),
        fn=FrozenMapping({t: m.n_true - n for t, n in tp.items()}),
        jaccard=jaccard,
        splits=len(errors.split),
        merges=len(errors.merged),
        missed_by_size=FrozenMapping(
            {b: (len(errors.missed[b]), errors.true_per_bin[b]) for b in SIZE_BINS}),
    )


def summarize(scores: Iterable[ImageScores]) -> DatasetScores:
    """Aggregate per-image scores of a dataset split into a :class:`DatasetScores`.

    Raises:
        ValueError: ``scores`` is empty or two images share a name.
    """
    return DatasetScores(tuple(scores))

"""Measured facts of a dataset split, checked against its card: images, nuclei, sizes, diameters."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from nucseg_zoo.datasets.card import DatasetCard
from nucseg_zoo.datasets.samples import Sample


def equivalent_diameters(labels: np.ndarray) -> np.ndarray:
    """Equivalent diameter ``2 * sqrt(area / pi)`` (px) of each nucleus of ``labels``, ``(n,)`` float64.

    The diameter of the disc of the same area, as Cellpose's and CellProfiler's
    "equivalent diameter"; labels without pixels are left out.
    """
    areas = np.bincount(np.asarray(labels).ravel())[1:]
    areas = areas[areas > 0]
    return 2.0 * np.sqrt(areas / math.pi)


@dataclass(frozen=True)
class MeasuredFacts:
    """What a set of samples holds, measured from its files.

    Attributes:
        n_images: number of images.
        n_nuclei: number of ground-truth nuclei (labels with pixels).
        image_shapes: ``"HxW" -> number of images``.
        median_diameter_px: median equivalent diameter of all nuclei (px), 0 without nuclei.
        per_image_median_diameter_px: ``(low, high)`` of the per-image medians.
    """

    n_images: int
    n_nuclei: int
    image_shapes: dict[str, int]
    median_diameter_px: float
    per_image_median_diameter_px: tuple[float, float]
    diameters: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.zeros(0))
    image_medians: tuple[float, ...] = field(repr=False, compare=False, default=())

    def to_dict(self) -> dict:
        """JSON form."""
        return {"n_images": self.n_images, "n_nuclei": self.n_nuclei, "image_shapes": self.image_shapes,
                "median_diameter_px": self.median_diameter_px,
                "per_image_median_diameter_px": list(self.per_image_median_diameter_px)}


def _facts(n_images: int, shapes: Counter[str], diameters: np.ndarray, medians: list[float]) -> MeasuredFacts:
    return MeasuredFacts(
        n_images=n_images, n_nuclei=int(diameters.size), image_shapes=dict(sorted(shapes.items())),
        median_diameter_px=round(float(np.median(diameters)), 2) if diameters.size else 0.0,
        per_image_median_diameter_px=(round(min(medians), 2), round(max(medians), 2)) if medians else (0.0, 0.0),
        diameters=diameters, image_medians=tuple(medians))


def measure(samples: Iterable[Sample]) -> MeasuredFacts:
    """Decode every sample's labels and measure :class:`MeasuredFacts` (reads every file)."""
    shapes: Counter[str] = Counter()
    diameters, medians, n_images = [], [], 0
    for sample in samples:
        labels = sample.labels
        shapes[f"{labels.shape[0]}x{labels.shape[1]}"] += 1
        d = equivalent_diameters(labels)
        diameters.append(d)
        if d.size:
            medians.append(float(np.median(d)))
        n_images += 1
    return _facts(n_images, shapes, np.concatenate(diameters) if diameters else np.zeros(0), medians)


def combine(parts: Iterable[MeasuredFacts]) -> MeasuredFacts:
    """The facts of the union of disjoint sets of samples (e.g. all splits of a dataset)."""
    parts = list(parts)
    shapes: Counter[str] = Counter()
    for part in parts:
        shapes.update(part.image_shapes)
    return _facts(sum(p.n_images for p in parts), shapes,
                  np.concatenate([p.diameters for p in parts]) if parts else np.zeros(0),
                  [m for p in parts for m in p.image_medians])


def check_facts(card: DatasetCard, measured: dict[str, MeasuredFacts]) -> list[str]:
    """Differences between a card's stated facts and ``measured`` (split name -> facts of that
    split); an empty list when they agree. Counts per split are compared for the splits given;
    image sizes and diameters (whole dataset) when every split is given. Diameters agree
    within 0.01 px (the card rounds to 0.01)."""
    problems = []
    for name, facts in measured.items():
        split = card.split(name)
        if facts.n_images != len(split.stems):
            problems.append(f"{name}: {facts.n_images} images, the card lists {len(split.stems)}")
        if facts.n_nuclei != split.n_nuclei:
            problems.append(f"{name}: {facts.n_nuclei} nuclei, the card states {split.n_nuclei}")
    if set(measured) != set(card.splits):
        return problems  # the whole-dataset facts need every split
    overall = combine(measured.values())
    stated_shapes = card.facts.get("image_shapes")
    if stated_shapes is not None and overall.image_shapes != dict(sorted(stated_shapes.items())):
        problems.append(f"image sizes {overall.image_shapes}, the card states {dict(stated_shapes)}")
    for key in ("median_diameter_px", "per_image_median_diameter_px"):
        stated, value = card.facts.get(key), getattr(overall, key)
        if stated is not None and not np.allclose(stated, value, atol=0.011):
            problems.append(f"{key.replace('_', ' ')} {value}, the card states {stated}")
    return problems

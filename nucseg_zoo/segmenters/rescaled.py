"""Any segmenter run at the nucleus size it learned: ``open_segmenter(..., diameter=PX)``.

The scale a source learned (:func:`training_diameter`) is a zoo model's recorded training
diameter (``entry.yaml``'s ``nucleus_diameter``, from its training labels) or, for a
classical baseline, the median nucleus diameter of the dataset its parameters were chosen on
(that dataset's card, all splits). bioimage.io packages and Python segmenters state none, so
``diameter`` is refused for them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nucseg_zoo.rescaling import check_diameter, scale_factor, segment_rescaled
from nucseg_zoo.segmenters.identity import ModelSource
from nucseg_zoo.segmenters.protocols import Segmenter


def training_diameter(source: ModelSource, segmenter: Any = None) -> float | None:
    """Median nucleus diameter (px) that ``source`` learned, or None where it states none.

    ``segmenter``: the opened zoo model (its entry is read otherwise).
    """
    if source.kind == "zoo":
        if segmenter is None:
            from nucseg_zoo.zoo.entry import read_entry

            size = read_entry(source.name).nucleus_diameter
            return None if size is None else size.median_px
        return segmenter.training_diameter
    if source.kind == "baseline":
        from nucseg_zoo.baselines import baseline_training_data
        from nucseg_zoo.datasets.card import read_card

        used = baseline_training_data(source.name)
        median = read_card(used[0].split("/")[0]).facts.get("median_diameter_px") if used else None
        return float(median) if median else None
    return None


class RescaledSegmenter:
    """``segmenter`` run on images whose nuclei measure ``diameter`` px, each resized to the
    ``model_diameter`` it learned and its labels returned on the image's grid
    (:func:`nucseg_zoo.rescaling.segment_rescaled`).

    Raises:
        ValueError: ``diameter`` or ``model_diameter`` is not a number in 4-400 px.
    """

    def __init__(self, segmenter: Segmenter, diameter: float, model_diameter: float):
        self.segmenter = segmenter
        self.diameter = check_diameter(diameter)
        self.model_diameter = model_diameter
        self.factor = scale_factor(self.diameter, model_diameter)

    def __repr__(self) -> str:
        return f"RescaledSegmenter({self.segmenter!r}, diameter={self.diameter:g}, model_diameter={self.model_diameter:g})"

    @property
    def precision(self) -> str | None:
        """The wrapped model's precision (None for segmenters without one)."""
        return getattr(self.segmenter, "precision", None)

    def segment(self, image: np.ndarray) -> np.ndarray:
        """``(H, W)`` image → ``(H, W)`` int32 instance labels on the same grid."""
        from nucseg_zoo.images import segmentation_input

        return segment_rescaled(self.segmenter.segment, segmentation_input(image), self.factor)


RESCALABLE_KINDS = ("zoo", "baseline")
"""The source kinds whose training nucleus size is known (:func:`training_diameter`)."""


def check_rescalable(source: ModelSource, diameter: float) -> float:
    """``diameter`` (checked by :func:`~nucseg_zoo.rescaling.check_diameter`) after checking that
    ``source`` is of a kind that can be rescaled.

    Raises:
        ValueError: a ``diameter`` outside 4-400 px or not a number; a bioimage.io package or
            Python segmenter, which states no training nucleus size.
    """
    value = check_diameter(diameter)
    if source.kind not in RESCALABLE_KINDS:
        raise ValueError(f"diameter applies to zoo models and baselines, whose training nucleus size is known; "
                         f"the {source.kind} {source.name} states none: leave diameter out, or resize the images "
                         "so that their nuclei have the size the model was trained on")
    return value


def rescaled(source: ModelSource, segmenter: Segmenter, diameter: float) -> RescaledSegmenter:
    """``segmenter`` (opened from ``source``) wrapped to run at ``diameter`` (see :class:`RescaledSegmenter`).

    Raises:
        ValueError: see :func:`check_rescalable`; a zoo model or baseline whose training
            nucleus size is not recorded.
    """
    check_rescalable(source, diameter)
    model_diameter = training_diameter(source, segmenter)
    if model_diameter is None:
        raise ValueError(f"the {source.kind} {source.name} records no training nucleus diameter: leave diameter out")
    return RescaledSegmenter(segmenter, diameter, model_diameter)

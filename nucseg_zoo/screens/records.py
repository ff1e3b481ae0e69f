"""What a batch run is asked to do (:class:`RunOptions`) and what happened to each image
(:class:`ImageResult`): the records every part of a run passes on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nucseg_zoo.precision import DEFAULT_PRECISION
from nucseg_zoo.image_files import Selection


STATISTICS_NOT_YET = "not yet known"
"""``RunOptions.statistics_sha256`` while the model is not loaded: outputs are then compared
without their dataset statistics, which are compared once known."""


@dataclass(frozen=True)
class RunOptions:
    """What a batch run does besides segmenting (also recorded in the manifest)."""

    source: str
    model_sha256: str | None = None
    """Identity of what ``source`` resolved to (:attr:`ModelSource.sha256`: a zoo model's weights,
    a package's file, a Python segmenter's code and configuration); an earlier run's outputs
    are its own when this matches, however the model was spelled."""
    device: str = "cpu"
    precision: str = DEFAULT_PRECISION
    """Of a zoo model's network (:data:`nucseg_zoo.precision.DEFAULT_PRECISION`)."""
    output_kind: str | None = None
    """Of a bioimage.io package: the output kind to read its output as (None: the one its rdf
    declares or its output tells apart); part of the outputs' identity."""
    rois: bool = False
    overwrite: bool = False
    saturation_value: float | None = None
    """Pixel value of saturation for the quality flag (default: the image dtype's maximum;
    e.g. 4095 for 12-bit data stored as uint16)."""
    diameter: float | None = None
    """Median nucleus diameter (px) of the images: each is rescaled to the model's training
    nucleus size and its labels returned on its grid (:mod:`nucseg_zoo.rescaling`); None: at
    the images' own scale. Part of the outputs' identity."""
    training_diameter: float | None = None
    """Median nucleus diameter (px) the model learned
    (:func:`nucseg_zoo.segmenters.rescaled.training_diameter`); None: unknown."""
    selection: Selection = Selection()
    """Which channel, z-plane and time point of each image is segmented (also recorded with
    every output: an earlier output of another selection is not this run's)."""
    statistics_inputs: tuple[tuple[str, int | None], ...] = ()
    """For models whose preprocessing uses dataset statistics: the reference images they are
    fitted over (``(path, series)``; none: the model's own reference, a package's test input), by
    each process that loads the model, before its first image."""
    statistics_reference: str = ""
    """How the reference images were given (the specs), as recorded with the statistics."""
    statistics_sha256: str | None = None
    """Digest of the dataset statistics the model runs with (None: it uses none); part of the
    outputs' identity (:func:`~nucseg_zoo.segmenters.statistics.statistics_digest`);
    :data:`STATISTICS_NOT_YET` while the plan is checked before the model is loaded."""


    @property
    def expected_diameter(self) -> float | None:
        """The nucleus size (px) the images' nuclei should have, for the size flag
        (:mod:`~nucseg_zoo.screens.sizes`): ``diameter`` where given, else
        ``training_diameter``; None: unknown, no flag."""
        return self.diameter if self.diameter is not None else self.training_diameter


@dataclass
class ImageResult:
    """What happened to one image (a row of ``images.parquet`` and of the manifest)."""

    image: str
    input: str
    status: str  # "segmented", "skipped" (earlier run) or "failed"
    series: int | None = None
    """The TIFF series of ``input`` that is this image (None: other formats)."""
    reason: str | None = None
    failed_while: str | None = None
    """Of a failed image: "reading" (its file could not be read or failed the image checks, or
    an earlier output was in the way) or "segmenting" (the model, measuring its labels or
    writing them failed). Only "segmenting" failures count towards
    :data:`~nucseg_zoo.screens.batch.ABORT_AFTER`."""
    input_sha256: str | None = None
    n_nuclei: int | None = None
    quality: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    process: int | None = None
    """Process id that handled the image."""
    model_loads: int | None = None
    """How many times that process had loaded the model by then (1: once per process)."""

"""One way to open a segmenter: any source spec resolved, identified and loaded the same way.

A source is a zoo id (``"unet-bbbc039"``), a classical baseline (``"cp-basic"``,
``"cp-basic@dsb2018-fluo"``), a bioimage.io package ``.zip`` / ``rdf.yaml`` path or URL, or a
Python segmenter ``module:callable``::

    from nucseg_zoo.segmenters import get_segmenter, resolve_source
    segmenter = get_segmenter("cp-basic")            # anything with segment(image) -> labels
    labels = segmenter.segment(image)                # (H, W) image -> (H, W) int32 labels
    resolve_source("unet-bbbc039").sha256            # what runs, without loading it

:func:`nucseg_zoo.load_model` is the same resolver for the sources that also ``predict``
probabilities (zoo ids and packages). **Precision**: zoo models run in fp32 unless
``precision="bf16"`` (or "fp16") is given — :data:`~nucseg_zoo.precision.DEFAULT_PRECISION`,
the precision of the zoo's bioimage.io packages and of every leaderboard number, the same in
:func:`nucseg_zoo.load_model`, :func:`get_segmenter`, the evaluation harness and
``segment_images``. bf16 is faster on CPUs with native bf16 and on GPUs.

Modules: :mod:`~nucseg_zoo.segmenters.identity` (spec → kind and content hash),
:mod:`~nucseg_zoo.segmenters.factory` (resolved source → loaded segmenter),
:mod:`~nucseg_zoo.segmenters.protocols` (what a segmenter offers),
:mod:`~nucseg_zoo.segmenters.statistics` (dataset statistics fitted over an input set),
:mod:`~nucseg_zoo.segmenters.python_source` (``module:callable`` segmenters). Package URLs
are fetched by :mod:`nucseg_zoo.downloads`.
"""

from nucseg_zoo.downloads import DownloadError
from nucseg_zoo.segmenters.factory import OutputKindChoice, get_segmenter, load_model, open_segmenter
from nucseg_zoo.segmenters.identity import (
    SOURCE_KINDS,
    ModelSource,
    UnknownSourceError,
    list_segmenters,
    resolve_source,
)
from nucseg_zoo.segmenters.protocols import BatchedModel, DatasetStatisticsModel, ProbabilityModel, Segmenter
from nucseg_zoo.segmenters.python_source import PythonSegmenter, SegmenterError
from nucseg_zoo.zoo.bioimageio_rdf import UndeclaredOutputKindError

__all__ = [
    "SOURCE_KINDS", "BatchedModel", "DatasetStatisticsModel", "DownloadError", "ModelSource", "OutputKindChoice",
    "ProbabilityModel", "PythonSegmenter", "Segmenter", "SegmenterError", "UndeclaredOutputKindError",
    "UnknownSourceError", "get_segmenter",
    "list_segmenters", "load_model", "open_segmenter", "resolve_source",
]

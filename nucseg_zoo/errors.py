"""Every error (and warning) nucseg-zoo raises on purpose, in one place.

Each is also exported by the subpackage whose functions raise it (e.g.
``nucseg_zoo.datasets.DatasetIntegrityError``); this module imports it from there on first
use, so ``from nucseg_zoo.errors import DownloadError`` costs no more than that subpackage.

=============================  ====================================================================
``DatasetIntegrityError``      dataset files missing or unlike the card's manifest (sha256)
``DeviceUnavailableError``     a device name this machine (or its torch build) cannot run on
``DownloadError``              a package URL did not deliver a verified model package
                               (a ``ValueError``)
``UnknownSourceError``         a source spec names no zoo id, baseline, package or
                               ``module:callable`` (a ``ValueError``)
``SegmenterError``             a Python segmenter's own callable raised (its error is the cause)
``UndeclaredOutputKindError``  a package's output fits no or several output kinds and its rdf
                               names none: pass ``--output-kind`` (a ``ValueError``)
``PackageValidationError``     bioimage.io validation rejected a package (a ``ValueError``)
``SelectionError``             an image's axes do not fit the channel / plane / time chosen
                               (``image_files.check_plane``, ``select``; a ``ValueError``)
``PlanError``                  a batch run cannot start (outputs would replace inputs, ...)
``RunAborted``                 a batch run stopped: the model failed on its first images
``RunStopped``                 a batch run stopped by Ctrl-C or a failed output write; the
                               finished part's tables are written (marked incomplete)
``OutputWriteError``           an output file could not be written (full disk, quota); names it
``DuplicateSubmission``        a leaderboard submission of a source already on the board
``UnknownEntry``               no leaderboard entry of that name (a ``LookupError``)
``CostProbeError``             the process measuring a method's inference cost failed
                               (``leaderboard --costs``; a ``RuntimeError``)
``BinaryMaskWarning``          a label image looks like a binary mask (one object)
``IntensityImageWarning``      a label image looks like an intensity image
=============================  ====================================================================

Everything else raises the builtin exceptions its docstring names (``ValueError`` for a bad
argument, naming it and the valid values; ``FileNotFoundError`` for a missing path).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "DatasetIntegrityError": "nucseg_zoo.datasets",
    "DeviceUnavailableError": "nucseg_zoo.devices",
    "DownloadError": "nucseg_zoo.downloads",
    "UnknownSourceError": "nucseg_zoo.segmenters",
    "SegmenterError": "nucseg_zoo.segmenters",
    "UndeclaredOutputKindError": "nucseg_zoo.segmenters",
    "PackageValidationError": "nucseg_zoo.packaging",
    "SelectionError": "nucseg_zoo.image_files",
    "PlanError": "nucseg_zoo.screens",
    "RunAborted": "nucseg_zoo.screens",
    "RunStopped": "nucseg_zoo.screens",
    "OutputWriteError": "nucseg_zoo.screens",
    "DuplicateSubmission": "nucseg_zoo.leaderboard",
    "UnknownEntry": "nucseg_zoo.leaderboard",
    "CostProbeError": "nucseg_zoo.leaderboard",
    "BinaryMaskWarning": "nucseg_zoo.metrics",
    "IntensityImageWarning": "nucseg_zoo.metrics",
}
"""Error or warning class name -> the public module that exports it."""

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    """The class ``name`` of :data:`_WHERE`, imported from its module on first use.

    Raises:
        AttributeError: a name that is not listed.
    """
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'nucseg_zoo.errors' has no attribute {name!r}; its errors: {', '.join(__all__)}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})

"""nucseg-zoo: datasets, models and a validation harness for nucleus segmentation.

Where to start::

    import nucseg_zoo
    nucseg_zoo.list_models()                         # ['unet-bbbc039', ...]
    model = nucseg_zoo.load_model("unet-bbbc039")    # ready to run (not a description), fp32
    labels = model.segment(image)                    # (H, W) int32 instance labels
    baseline = nucseg_zoo.get_segmenter("cp-basic")  # any source: zoo id, baseline, package, module:callable

    from nucseg_zoo import datasets, metrics
    test = datasets.load("bbbc039", split="test")

    # a folder or a whole screen: label TIFFs, per-nucleus and per-image tables (Parquet)
    nucseg_zoo.segment_images(["plate1/"], model="unet-bbbc039", out="plate1-results", workers=2)
    nucseg_zoo.measure(labels, image)                # pandas DataFrame, one row per nucleus

Every name here and every subpackage (``nucseg_zoo.datasets``, ``.metrics``, ``.zoo``,
``.segmenters``, ``.evaluation``, ``.screens``, ``.leaderboard``, ...) is imported on first
use, so ``import nucseg_zoo`` itself imports no numerical package. The errors the package
raises on purpose are listed in :mod:`nucseg_zoo.errors`.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

__version__ = "0.1.0"

_FUNCTIONS = {
    "get_segmenter": "nucseg_zoo.segmenters",
    "list_models": "nucseg_zoo.zoo",
    "load_model": "nucseg_zoo.segmenters",
    "measure": "nucseg_zoo.screens",
    "segment_images": "nucseg_zoo.screens",
}
"""Top-level functions -> the module that defines them."""

_MODULES = (
    "baselines", "cards", "cli", "commands", "datasets", "devices", "downloads", "errors", "evaluation",
    "hardware", "image_files", "images", "inference", "leaderboard", "losses", "metrics", "models",
    "normalization", "packaging", "postprocessing", "precision", "rescaling", "screens", "segmenters", "targets",
    "tiling", "training", "zoo",
)
"""Every public module and subpackage, reachable as an attribute (``nucseg_zoo.datasets``)."""

__all__ = ["__version__", *sorted(_FUNCTIONS)]


def __getattr__(name: str) -> Any:
    """The functions of :data:`_FUNCTIONS` and the modules of :data:`_MODULES`, imported on first use.

    Raises:
        AttributeError: any other name.
    """
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(_FUNCTIONS[name]), name)
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'nucseg_zoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_FUNCTIONS, *_MODULES})


logging.getLogger(__name__).addHandler(logging.NullHandler())

"""nucseg-zoo: datasets, models and a validation harness for nucleus segmentation.

Where to start::

    import nucseg_zoo
    nucseg_zoo.list_models()                         # ['unet-bbbc039', ...]
    model = nucseg_zoo.load_model("unet-bbbc039")    # ready to run (not a description)
    labels = model.segment(image)                    # (H, W) int32 instance labels

    from nucseg_zoo import datasets, metrics
    test = datasets.load("bbbc039", split="test")

    # a folder or a whole screen: label TIFFs, per-nucleus and per-image tables (Parquet)
    nucseg_zoo.segment_images(["plate1/"], model="unet-bbbc039", out="plate1-results", workers=2)
    nucseg_zoo.measure(labels, image)                # pandas DataFrame, one row per nucleus

Heavy packages (torch, bioimageio.core) are imported only when a model is loaded.
"""

from __future__ import annotations

import logging

from nucseg_zoo.zoo import list_models, load_model

__version__ = "0.1.0"
__all__ = ["__version__", "list_models", "load_model", "measure", "segment_images"]

_SCREENS = ("measure", "segment_images")


def __getattr__(name: str):
    """``measure`` and ``segment_images`` from :mod:`nucseg_zoo.screens`, imported on first use."""
    if name in _SCREENS:
        from nucseg_zoo import screens

        return getattr(screens, name)
    raise AttributeError(f"module 'nucseg_zoo' has no attribute {name!r}")

logging.getLogger(__name__).addHandler(logging.NullHandler())

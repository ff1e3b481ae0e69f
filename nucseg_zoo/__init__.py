"""nucseg-zoo: datasets, models and a validation harness for nucleus segmentation.

Where to start::

    import nucseg_zoo
    nucseg_zoo.list_models()                         # ['unet-bbbc039', ...]
    model = nucseg_zoo.load_model("unet-bbbc039")    # ready to run (not a description)
    labels = model.segment(image)                    # (H, W) int32 instance labels

    from nucseg_zoo import datasets, metrics
    test = datasets.load("bbbc039", split="test")

Heavy packages (torch, bioimageio.core) are imported only when a model is loaded.
"""

from __future__ import annotations

import logging

from nucseg_zoo.zoo import list_models, load_model

__version__ = "0.1.0"
__all__ = ["__version__", "list_models", "load_model"]

logging.getLogger(__name__).addHandler(logging.NullHandler())

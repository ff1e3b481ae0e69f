"""The leaderboard's Cellpose peer as a Python segmenter: the network trained by ``train.py``.

    pip install --no-deps cellpose==3.1.1.3 natsort fastremap fill-voids roifile opencv-python-headless
    NUCSEG_ZOO_CELLPOSE_WEIGHTS=runs/cellpose/cellpose-bbbc039.pt \\
        nucseg-zoo evaluate validation.peers.cellpose.segmenter:segment --dataset bbbc039 --split test

``segment(image)`` runs ``cellpose.models.CellposeModel.eval`` of cellpose 3 on one 2-D image
(grayscale channels ``[0, 0]``, the library's 1 / 99 percentile normalisation, its default
flow / cell-probability thresholds and minimum size) and returns its masks as int32 labels.

Settings, from the environment:

* ``NUCSEG_ZOO_CELLPOSE_WEIGHTS`` (required): the weights ``train.py`` wrote (a CPnet state dict
  in float16; the library's own loader copies it into the float32 network).
* ``NUCSEG_ZOO_CELLPOSE_DIAMETER`` (optional): the nucleus diameter in pixels passed to ``eval``
  (images are rescaled by diam_mean / diameter). Default: ``diameter`` of the ``result.json``
  beside the weights (the training labels' median), else the network's ``diam_labels``.
* ``NUCSEG_ZOO_CELLPOSE_DEVICE`` (optional): ``cpu`` (default) or ``cuda``.

The model is loaded on the first call. nucseg-zoo's result cache hashes only this file: after
changing the weights or these variables, evaluate with ``--force``.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

WEIGHTS_ENV = "NUCSEG_ZOO_CELLPOSE_WEIGHTS"
DIAMETER_ENV = "NUCSEG_ZOO_CELLPOSE_DIAMETER"
DEVICE_ENV = "NUCSEG_ZOO_CELLPOSE_DEVICE"
EVAL = {"channels": [0, 0], "flow_threshold": 0.4, "cellprob_threshold": 0.0, "min_size": 15}
"""The library's eval defaults, as in recipe.yaml's ``eval``."""

_lock = threading.Lock()
_loaded: tuple | None = None


def load():
    """The ``(CellposeModel, diameter)`` that :func:`segment` uses (loaded once)."""
    global _loaded
    with _lock:
        if _loaded is None:
            import torch
            from cellpose import models

            path = os.environ.get(WEIGHTS_ENV)
            if not path:
                raise RuntimeError(f"set {WEIGHTS_ENV} to the weights written by validation/peers/cellpose/train.py")
            weights = Path(path).expanduser()
            if not weights.is_file():
                raise FileNotFoundError(f"{WEIGHTS_ENV}={path}: no such file")
            device = torch.device(os.environ.get(DEVICE_ENV, "cpu"))
            model = models.CellposeModel(device=device, pretrained_model=str(weights), nchan=2)
            if os.environ.get(DIAMETER_ENV):
                diameter = float(os.environ[DIAMETER_ENV])
            elif (weights.parent / "result.json").is_file():
                diameter = float(json.loads((weights.parent / "result.json").read_text())["diameter"])
            else:
                diameter = float(model.diam_labels)
            _loaded = (model, diameter)
    return _loaded


def segment(image: np.ndarray) -> np.ndarray:
    """Instance labels (int32, 0 = background) of one 2-D image, of the image's shape."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected one 2-D image, got shape {image.shape}")
    model, diameter = load()
    masks, _flows, _styles = model.eval(image, diameter=diameter, **EVAL)
    return np.asarray(masks, dtype=np.int32)

"""The leaderboard's Cellpose peer as a Python segmenter: the network trained by ``train.py``.

    pip install --no-deps cellpose==3.1.1.3 natsort==8.4.0 fastremap==1.21.0 fill-voids==2.1.2 \
        roifile==2026.2.10 opencv-python-headless==5.0.0.93
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

The model is loaded on the first call (again when these settings change).
:func:`nucseg_zoo_provenance` reports the weights' sha256 and the settings to nucseg-zoo, which
records them and makes them part of the source's identity: other weights are another model for
the evaluation cache and for ``segment``'s resume.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from nucseg_zoo._hashing import sha256_of

WEIGHTS_ENV = "NUCSEG_ZOO_CELLPOSE_WEIGHTS"
DIAMETER_ENV = "NUCSEG_ZOO_CELLPOSE_DIAMETER"
DEVICE_ENV = "NUCSEG_ZOO_CELLPOSE_DEVICE"
EVAL = {"channels": [0, 0], "flow_threshold": 0.4, "cellprob_threshold": 0.0, "min_size": 15}
"""The library's eval defaults, as in recipe.yaml's ``eval``."""

MIN_SIDE = 16
"""Smallest image side (px) segmented: Cellpose rescales by diam_mean / diameter (17 / 28 for
BBBC039), and its resize fails on an image that rescales to under a pixel."""

_lock = threading.Lock()
_loaded: dict[tuple, tuple] = {}


def _settings() -> tuple[Path, str, str | None]:
    """``(weights, device, diameter or None)`` from the environment, the weights checked to exist."""
    path = os.environ.get(WEIGHTS_ENV)
    if not path:
        raise RuntimeError(f"set {WEIGHTS_ENV} to the weights written by validation/peers/cellpose/train.py")
    weights = Path(path).expanduser().resolve()
    if not weights.is_file():
        raise FileNotFoundError(f"{WEIGHTS_ENV}={path}: no such file")
    return weights, os.environ.get(DEVICE_ENV, "cpu"), os.environ.get(DIAMETER_ENV) or None


def nucseg_zoo_provenance() -> dict:
    """What determines :func:`segment`'s output besides this file: the weights' sha256, the
    diameter and device (read by nucseg-zoo, see ``nucseg_zoo.segmenters.python_source``)."""
    weights, device, _ = _settings()
    model, diameter = load()
    return {"weights_sha256": sha256_of(weights), "diameter": diameter, "device": device,
            "eval": EVAL, "cellpose": _cellpose_version()}


def _cellpose_version() -> str:
    from importlib import metadata

    return metadata.version("cellpose")


def load():
    """The ``(CellposeModel, diameter)`` that :func:`segment` uses (loaded once per settings).

    Raises:
        RuntimeError: ``NUCSEG_ZOO_CELLPOSE_WEIGHTS`` is not set.
        FileNotFoundError: it names no file.
        ValueError: the file is not a Cellpose 3 (CPnet) state dict as ``train.py`` writes.
    """
    weights, device, diameter_setting = _settings()
    key = (weights, weights.stat().st_mtime_ns, device, diameter_setting)
    with _lock:
        if key not in _loaded:
            import torch
            from cellpose import models

            try:
                model = models.CellposeModel(device=torch.device(device), pretrained_model=str(weights), nchan=2)
            except Exception as err:  # pickle, KeyError of a foreign state dict, size mismatches
                raise ValueError(f"{WEIGHTS_ENV}={weights} is not a Cellpose 3 (CPnet) state dict as "
                                 f"validation/peers/cellpose/train.py writes ({type(err).__name__}: "
                                 f"{str(err).strip().splitlines()[0] if str(err).strip() else ''})") from None
            if diameter_setting:
                diameter = float(diameter_setting)
            elif (weights.parent / "result.json").is_file():
                diameter = float(json.loads((weights.parent / "result.json").read_text())["diameter"])
            else:
                diameter = float(model.diam_labels)
            _loaded.clear()
            _loaded[key] = (model, diameter)
        return _loaded[key]


def segment(image: np.ndarray) -> np.ndarray:
    """Instance labels (int32, 0 = background) of one 2-D image, of the image's shape."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected one 2-D image, got shape {image.shape}")
    if min(image.shape) < MIN_SIDE:
        raise ValueError(f"image of {image.shape[0]}x{image.shape[1]} px: the Cellpose peer needs at least "
                         f"{MIN_SIDE} px per side (it rescales images to nuclei of 17 px)")
    model, diameter = load()
    masks, _flows, _styles = model.eval(image, diameter=diameter, **EVAL)
    return np.asarray(masks, dtype=np.int32)

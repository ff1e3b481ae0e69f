"""The ``stardist`` kind: StarDist outputs → instance labels through the ``stardist`` library's own NMS.

A StarDist model (Schmidt et al. 2018, MICCAI, doi:10.1007/978-3-030-00934-2_30) predicts,
per pixel of a grid, an object probability and the distances (px) along ``n_rays`` equally
spaced rays to the object's boundary. Its bioimage.io export (``stardist.bioimageio_utils``,
``export_TF(upsample_grid=True)``) gives one output of ``1 + n_rays`` channels at the input's
size: the probability only at every ``grid``-th pixel (a transposed 1×1 convolution with
stride ``grid``, zero in between) and each grid cell's distances repeated over its pixels.
The package's rdf carries ``config.stardist`` with the optimised ``thresholds`` (``prob``,
``nms``) and the training ``config`` (``grid``, ``n_rays``).

Instances come from exactly what ``StarDist2D.predict_instances(sparse=False)`` runs on a
prediction (``stardist/models/base.py`` ``_predict_generator`` and ``model2d.py``
``_instances_from_prediction``): the grid cells are taken back out of the upsampled maps,
distances are raised to at least 1e-3 px as ``predict`` does (the exported network leaves
them raw), ``stardist.nms.non_maximum_suppression`` (candidates with
probability above ``prob_thresh``, 2-px border excluded, polygons suppressed above
``nms_thresh`` overlap) and ``stardist.geometry.polygons_to_label``. Nothing of it is
reimplemented here. Large images are tiled by the caller (the network only); the NMS runs
once over the stitched whole, as ``predict_instances(n_tiles=...)`` does.

Needs the ``stardist`` package (``pip install "nucseg-zoo[tensorflow]"`` brings it; the NMS
itself does not need TensorFlow). A package declares the kind by ``config.stardist`` (or
``config.nucseg_zoo.output_kind: stardist``); without either, an output of 1 + ``n_rays``
float channels is read as StarDist's with its default thresholds. The thresholds travel with
the model (optimised by StarDist's ``optimize_thresholds``), so the kind has no tuning grid,
and StarDist networks are trained by the StarDist library (``validation/peers/stardist``),
not here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from nucseg_zoo.postprocessing._common import params_from_dict
from nucseg_zoo.postprocessing.registry import Channels, OutputKind, RdfDeclaration

DEFAULT_PROB_THRESH, DEFAULT_NMS_THRESH = 0.5, 0.4
"""StarDist2D's thresholds for a model without optimised ones (``stardist/models/base.py``)."""

MIN_RAYS = 3
"""A polygon needs at least three vertices."""

MIN_DISTANCE = 1e-3
"""Smallest ray distance (px), as ``StarDist2D.predict`` clips it ("to prevent problems with Qhull")."""


@dataclass(frozen=True)
class StarDistParams:
    """Postprocessing parameters of a StarDist output.

    Attributes:
        prob_thresh: object probability above which a grid cell is a candidate, in (0, 1).
        nms_thresh: polygon overlap (as ``stardist.nms`` measures it) above which the less
            probable of two candidates is suppressed, in (0, 1).
        grid: subsampling ``(gy, gx)`` of the network's output grid (``config.grid``).
    """

    prob_thresh: float = DEFAULT_PROB_THRESH
    nms_thresh: float = DEFAULT_NMS_THRESH
    grid: tuple[int, int] = (1, 1)

    def __post_init__(self):
        for name in ("prob_thresh", "nms_thresh"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 < float(value) < 1.0:
                raise ValueError(f"StarDist {name} must lie in (0, 1), got {value!r}")
        grid = tuple(self.grid)
        if len(grid) != 2 or not all(isinstance(g, (int, np.integer)) and g >= 1 for g in grid):
            raise ValueError(f"StarDist grid must be two positive integers (gy, gx), got {self.grid!r}")
        object.__setattr__(self, "grid", (int(grid[0]), int(grid[1])))

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> "StarDistParams":
        """Parameters from a package's ``config.stardist`` (missing entries: StarDist's defaults).

        Raises:
            ValueError: thresholds or grid out of range, or a 3-D model (three grid entries).
        """
        config = dict(config or {})
        thresholds = dict(config.get("thresholds") or {})
        training = dict(config.get("config") or {})
        grid = tuple(training.get("grid") or (1, 1))
        if training.get("n_dim", 2) != 2 or len(grid) != 2:
            raise ValueError(f"config.stardist describes a {training.get('n_dim', len(grid))}-D model; "
                             "only 2-D StarDist models segment 2-D images")
        return cls(prob_thresh=float(thresholds.get("prob", DEFAULT_PROB_THRESH)),
                   nms_thresh=float(thresholds.get("nms", DEFAULT_NMS_THRESH)), grid=grid)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (recorded as provenance)."""
        return {**asdict(self), "grid": list(self.grid)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "StarDistParams":
        """Inverse of :meth:`to_dict`; unknown keys or bad values raise ``ValueError``."""
        return params_from_dict(cls, values)


def _library():
    try:
        from stardist.geometry import polygons_to_label
        from stardist.nms import non_maximum_suppression
    except ImportError as err:
        raise RuntimeError("StarDist outputs are turned into objects by the stardist library's NMS; install it "
                           "with `pip install \"nucseg-zoo[tensorflow]\"` (or `pip install stardist`)") from err
    return non_maximum_suppression, polygons_to_label


def stardist_to_labels(output: np.ndarray, params: StarDistParams | None = None) -> np.ndarray:
    """Instance labels of a StarDist output, by the stardist library's NMS.

    Args:
        output: ``(1 + n_rays, H, W)`` float: object probability, then the ray distances in
            px, at the image's size (StarDist's bioimage.io export; see the module docstring).
        params: thresholds and grid (default: StarDist's default thresholds, grid 1×1).

    Returns:
        ``(H, W)`` int32 labels, 0 = background; objects numbered as ``polygons_to_label``
        numbers them.

    Raises:
        ValueError: ``output`` is not 3-D with at least 1 + :data:`MIN_RAYS` channels,
            contains NaN/inf, or is smaller than one grid cell.
        RuntimeError: the stardist package is not installed.
    """
    params = params or StarDistParams()
    output = np.asarray(output)
    if output.ndim != 3 or output.shape[0] < 1 + MIN_RAYS:
        raise ValueError(f"a StarDist output is (1 + n_rays, H, W) with n_rays >= {MIN_RAYS}; got shape "
                         f"{output.shape}")
    if not np.issubdtype(output.dtype, np.floating) or not np.all(np.isfinite(output)):
        raise ValueError("a StarDist output must hold finite floating-point probabilities and distances")
    gy, gx = params.grid
    height, width = output.shape[1:]
    if height < gy or width < gx:
        raise ValueError(f"output of {height}x{width} px is smaller than one grid cell {params.grid}")
    non_maximum_suppression, polygons_to_label = _library()
    prob = np.ascontiguousarray(output[0, ::gy, ::gx], dtype=np.float32)
    dist = np.maximum(MIN_DISTANCE, np.moveaxis(output[1:, ::gy, ::gx], 0, -1)).astype(np.float32)
    points, probi, disti = non_maximum_suppression(dist, prob, grid=params.grid, prob_thresh=params.prob_thresh,
                                                   nms_thresh=params.nms_thresh)
    labels = polygons_to_label(disti, points, prob=probi, shape=(height, width))
    return np.asarray(labels).astype(np.int32, copy=False)


STARDIST = OutputKind(
    name="stardist",
    description="StarDist's object probability and ray distances; the stardist library's polygon NMS",
    channels=Channels(("object probability",), repeated="ray distance", count_name="n_rays", min_repeated=MIN_RAYS),
    params=StarDistParams,
    adapter=stardist_to_labels,
    inferable=True,
    rdf_config=RdfDeclaration("stardist", StarDistParams.from_config),
)

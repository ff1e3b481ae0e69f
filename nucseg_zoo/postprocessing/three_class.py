"""The ``three_class`` kind: background / interior / boundary probabilities → instance labels.

The output is a probability map ``(3, H, W)``, channel-first, channels background /
interior / boundary (any float dtype; each pixel's channels sum to ~1), as the zoo's networks
give it (Caicedo et al. 2019). The ``foreground_boundary`` and ``foreground`` kinds are
turned into such a map and end here too, so that they are all scored the same way.

Steps (all parameters in :class:`PostprocessingParams`):

1. interior mask: P(interior) > ``interior_threshold``;
2. holes of at most ``max_hole_size`` px inside the mask (not touching the border) are filled;
3. connected components (4-connectivity) become seeds; seeds smaller than
   ``min_seed_size`` px are dropped;
4. seeds grow back over the boundary band by up to ``grow_distance`` px, into pixels
   whose P(background) < ``background_threshold`` — to the nearest seed
   (``method="grow"``, like the authors' 3×3 dilation without merging neighbours) or
   by a seeded watershed on P(interior) (``method="watershed"``);
5. unseeded nuclei are rescued: connected components of the pixels still unlabelled
   whose P(background) < ``rescue_background_threshold`` become objects when they touch
   no object and their eccentricity is at most ``rescue_max_eccentricity`` (micronuclei
   are often predicted as boundary only, so no interior seed reaches them; elongated
   blobs are boundary bands, not nuclei). A threshold of 0 turns this step off;
6. objects smaller than ``min_size`` px are removed (the paper drops < 16 px).

Networks of this kind are trained here (:mod:`nucseg_zoo.training`) on the targets of
:mod:`nucseg_zoo.targets` with a pixel-weighted cross-entropy (:mod:`nucseg_zoo.losses`),
and their parameters are tuned over :data:`SEARCH_GRID` and :data:`RESCUE_GRID`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import regionprops
from skimage.segmentation import expand_labels, relabel_sequential, watershed

from nucseg_zoo.losses import channel_softmax, soft_cross_entropy, weighted_cross_entropy
from nucseg_zoo.postprocessing._common import check_probabilities, drop_small, params_from_dict
from nucseg_zoo.postprocessing.registry import Channels, OutputKind, Training, Tuning
from nucseg_zoo.targets import CLASS_NAMES, ThreeClassTargets


@dataclass(frozen=True)
class PostprocessingParams:
    """Parameters of :func:`probabilities_to_labels`.

    Also the parameters of the ``foreground_boundary`` and ``foreground`` kinds, whose
    outputs become such a map. The defaults are a plain starting point (threshold 0.5, the
    paper's 16-px minimum, rescue off) and apply to external models whose package carries no
    parameters; every zoo model and baseline stores its own values, tuned on the BBBC039
    *validation* split (:mod:`nucseg_zoo.training.tuning`).

    Attributes:
        interior_threshold: P(interior) above which a pixel seeds a nucleus.
        max_hole_size: holes up to this area (px) inside the interior mask are filled.
        min_seed_size: interior components smaller than this (px) are discarded.
        method: ``"grow"`` (fixed-distance expansion) or ``"watershed"``.
        grow_distance: how far (px) seeds may grow back over the boundary band.
        background_threshold: objects only grow into pixels with P(background) below this.
        rescue_background_threshold: unlabelled blobs with P(background) below this may
            become objects (step 5); 0 turns the step off.
        rescue_max_eccentricity: only blobs at most this eccentric (0 = disc, 1 = line)
            are rescued.
        min_size: final objects smaller than this (px) are removed.
    """

    interior_threshold: float = 0.5
    max_hole_size: int = 64
    min_seed_size: int = 8
    method: str = "grow"
    grow_distance: int = 3
    background_threshold: float = 0.7
    rescue_background_threshold: float = 0.0
    rescue_max_eccentricity: float = 0.8
    min_size: int = 16

    def __post_init__(self) -> None:
        if self.method not in ("grow", "watershed"):
            raise ValueError(f"method must be 'grow' or 'watershed', got {self.method!r}")
        for name in ("interior_threshold", "background_threshold", "rescue_background_threshold",
                     "rescue_max_eccentricity"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        for name in ("max_hole_size", "min_seed_size", "grow_distance", "min_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, as stored in model cards and rdf ``config``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "PostprocessingParams":
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        return params_from_dict(cls, values)


def _rescue_unseeded(labels: np.ndarray, background: np.ndarray, params: PostprocessingParams) -> np.ndarray:
    """Add the compact foreground blobs that no seed reached as new objects (step 5)."""
    candidates = (background < params.rescue_background_threshold) & (labels == 0)
    blobs, _ = ndi.label(candidates)
    touching = set(np.unique(blobs[ndi.binary_dilation(labels > 0) & candidates]).tolist())
    offset = labels.max()
    for blob in regionprops(blobs):
        if blob.label in touching or blob.eccentricity > params.rescue_max_eccentricity:
            continue
        offset += 1
        rows, cols = blob.coords.T
        labels[rows, cols] = offset
    return labels


def fill_small_holes(mask: np.ndarray, max_size: int) -> np.ndarray:
    """``mask`` with its holes of at most ``max_size`` px filled.

    A hole is a 4-connected component of background that does not touch the image
    border (as ``scipy.ndimage.binary_fill_holes`` defines it); unlike
    ``skimage.morphology.remove_small_holes`` a small background region at the border is
    kept, so the whole background of a tiny image never becomes an object.

    Args:
        mask: ``(H, W)`` bool.
        max_size: largest hole area (px) to fill.

    Returns:
        ``(H, W)`` bool.
    """
    holes, _ = ndi.label(~mask)
    fill = np.bincount(holes.ravel()) <= max_size
    fill[0] = False
    fill[np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))] = False
    return mask | fill[holes]


def probabilities_to_labels(probs: np.ndarray, params: PostprocessingParams | None = None) -> np.ndarray:
    """Instance labels from a ``(3, H, W)`` background/interior/boundary probability map.

    Args:
        probs: ``(3, H, W)`` float probabilities (see the module docstring).
        params: None = the defaults.

    Returns:
        ``(H, W)`` int32 labels, 0 = background, objects numbered 1..N.

    Raises:
        ValueError: ``probs`` is not a ``(3, H, W)`` floating-point array.
    """
    params = params or PostprocessingParams()
    probs = check_probabilities(probs, 3)
    interior = probs[1] > params.interior_threshold
    if params.max_hole_size:
        interior = fill_small_holes(interior, params.max_hole_size)
    seeds, _ = ndi.label(interior)
    seeds = drop_small(seeds, params.min_seed_size)
    allowed = probs[0] < params.background_threshold
    allowed |= seeds > 0
    labels = expand_labels(seeds, distance=params.grow_distance)
    labels[~allowed] = 0
    if params.method == "watershed":
        labels = watershed(-probs[1], markers=seeds, mask=labels > 0)
    if params.rescue_background_threshold > 0:
        labels = _rescue_unseeded(labels, probs[0], params)
    labels = drop_small(labels, params.min_size)
    return relabel_sequential(labels)[0].astype(np.int32, copy=False)


SEARCH_GRID = {
    "interior_threshold": (0.3, 0.4, 0.5, 0.6, 0.7),
    "method": ("grow", "watershed"),
    "grow_distance": (1, 2, 3, 4),
    "background_threshold": (0.3, 0.5, 0.7),
    "min_seed_size": (2, 4, 8),
}
"""Stage one of the tuning; the defaults of :class:`PostprocessingParams` lie inside it."""

RESCUE_GRID = {
    "rescue_background_threshold": (0.0, 0.02, 0.05, 0.1),
    "rescue_max_eccentricity": (0.7, 0.8, 0.9),
    "min_size": (12, 16),
}
"""Stage two: rescuing unseeded blobs (threshold 0 = off, so stage one's choice is in it)."""

TUNING = Tuning(search=SEARCH_GRID, refine=RESCUE_GRID)
"""The grids of every kind whose parameters are :class:`PostprocessingParams`."""

THREE_CLASS = OutputKind(
    name="three_class",
    description="background / interior / boundary probabilities; interior seeds grown over the boundary band",
    channels=Channels(CLASS_NAMES),
    params=PostprocessingParams,
    adapter=probabilities_to_labels,
    ambiguity="3 float channels may as well be Cellpose-style flows (dY, dX, cell probability)",
    tuning=TUNING,
    training=Training(targets=ThreeClassTargets.from_recipe, loss=weighted_cross_entropy, output=channel_softmax,
                      soft_loss=soft_cross_entropy, class_targets=True),
)

"""Shared postprocessing: network outputs → instance labels.

Every model, zoo or external, ends here so that they are all scored the same way.
The core input is a 3-class probability map ``(3, H, W)``, channel-first, channels
background / interior / boundary (any float dtype; each pixel's channels sum to ~1).
Adapters turn other output conventions into that form:

* :func:`from_foreground_boundary` — 2 channels, foreground and boundary probability;
* :func:`from_foreground` — 1 channel, foreground probability;
* :func:`from_instance_labels` — ready-made instance labels (passed through, relabelled);
* ``stardist`` — object probability + radial distances, turned into objects by the
  stardist library's own NMS (:mod:`nucseg_zoo.star_convex`, its own parameters).

Steps for probabilities (all parameters in :class:`PostprocessingParams`):

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
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import regionprops
from skimage.segmentation import expand_labels, relabel_sequential, watershed

OUTPUT_KINDS = ("three_class", "foreground_boundary", "foreground", "instance_labels", "stardist")
OUTPUT_CHANNELS = {"three_class": 3, "foreground_boundary": 2, "foreground": 1, "instance_labels": 1}
"""Channels of a model output in each convention of fixed width (``stardist``: 1 + n_rays)."""


@dataclass(frozen=True)
class PostprocessingParams:
    """Parameters of :func:`probabilities_to_labels`.

    The defaults are a plain starting point (threshold 0.5, the paper's 16-px minimum,
    rescue off) and apply to external models whose package carries no parameters; every
    zoo model and baseline stores its own values, tuned on the BBBC039 *validation* split
    (:mod:`nucseg_zoo.training.tuning`).

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
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown postprocessing parameters {sorted(unknown)}; valid: {sorted(known)}")
        return cls(**dict(values))


def _check_probabilities(probs: np.ndarray, n_channels: int) -> np.ndarray:
    probs = np.asarray(probs)
    if probs.ndim != 3 or probs.shape[0] != n_channels:
        raise ValueError(f"expected a ({n_channels}, H, W) probability map, got shape {probs.shape}")
    if not np.issubdtype(probs.dtype, np.floating):
        raise ValueError(f"expected floating-point probabilities, got dtype {probs.dtype}")
    return probs.astype(np.float32, copy=False)


def _drop_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Zero every labelled object with fewer than ``min_size`` pixels."""
    sizes = np.bincount(labels.ravel())
    small = sizes < min_size
    small[0] = False
    labels[small[labels]] = 0
    return labels


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


def override_params(params, overrides: Mapping[str, Any] | None):
    """``params`` (a frozen parameter dataclass: :class:`PostprocessingParams` or
    :class:`~nucseg_zoo.star_convex.StarDistParams`) with the named fields replaced.

    Raises:
        ValueError: a name that is not a field of ``params`` (the valid ones are listed),
            or a value the parameters refuse.
    """
    if not overrides:
        return params
    known = [f.name for f in fields(params)]
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"unknown postprocessing parameter(s) {unknown} for {type(params).__name__}; "
                         f"valid: {known}")
    return replace(params, **dict(overrides))


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

    Returns:
        ``(H, W)`` int32 labels, 0 = background, objects numbered 1..N.
    """
    params = params or PostprocessingParams()
    probs = _check_probabilities(probs, 3)
    interior = probs[1] > params.interior_threshold
    if params.max_hole_size:
        interior = fill_small_holes(interior, params.max_hole_size)
    seeds, _ = ndi.label(interior)
    seeds = _drop_small(seeds, params.min_seed_size)
    allowed = probs[0] < params.background_threshold
    allowed |= seeds > 0
    labels = expand_labels(seeds, distance=params.grow_distance)
    labels[~allowed] = 0
    if params.method == "watershed":
        labels = watershed(-probs[1], markers=seeds, mask=labels > 0)
    if params.rescue_background_threshold > 0:
        labels = _rescue_unseeded(labels, probs[0], params)
    labels = _drop_small(labels, params.min_size)
    return relabel_sequential(labels)[0].astype(np.int32, copy=False)


def from_foreground_boundary(probs: np.ndarray, params: PostprocessingParams | None = None) -> np.ndarray:
    """Instance labels from a ``(2, H, W)`` map of P(foreground) and P(boundary)."""
    probs = _check_probabilities(probs, 2)
    foreground, boundary = probs
    three_class = np.stack([1.0 - foreground, foreground * (1.0 - boundary), foreground * boundary])
    return probabilities_to_labels(three_class, params)


def from_foreground(probs: np.ndarray, params: PostprocessingParams | None = None) -> np.ndarray:
    """Instance labels from a ``(1, H, W)`` (or ``(H, W)``) foreground probability map.

    Without a boundary class, touching nuclei separate only where P(foreground) dips
    below ``interior_threshold``.
    """
    probs = np.asarray(probs)
    probs = _check_probabilities(probs[None] if probs.ndim == 2 else probs, 1)
    foreground = probs[0]
    three_class = np.stack([1.0 - foreground, foreground, np.zeros_like(foreground)])
    return probabilities_to_labels(three_class, params)


def from_instance_labels(labels: np.ndarray, params: PostprocessingParams | None = None) -> np.ndarray:
    """Ready-made instance labels, relabelled 1..N as int32 (``params.min_size`` applies)."""
    labels = np.asarray(labels)
    if labels.ndim == 3 and labels.shape[0] == 1:
        labels = labels[0]
    if labels.ndim != 2:
        raise ValueError(f"expected (H, W) or (1, H, W) instance labels, got shape {labels.shape}")
    if np.issubdtype(labels.dtype, np.floating):
        if not np.all(np.mod(labels, 1) == 0):
            raise ValueError("instance labels must be whole numbers; got fractional values")
    elif not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"expected integer instance labels, got dtype {labels.dtype}")
    if labels.min(initial=0) < 0:
        raise ValueError("instance labels must be >= 0")
    labels = _drop_small(labels.astype(np.int64), (params or PostprocessingParams()).min_size)
    return relabel_sequential(labels)[0].astype(np.int32, copy=False)


_ADAPTERS = {
    "three_class": probabilities_to_labels,
    "foreground_boundary": from_foreground_boundary,
    "foreground": from_foreground,
    "instance_labels": from_instance_labels,
}


def _warn_if_not_labels(output: np.ndarray) -> None:
    """Warn when an ``instance_labels`` output looks like a binary mask (one value in several
    separate regions) or like an intensity image / probability map (each value in many)."""
    from nucseg_zoo.metrics.binary_masks import label_image_warning

    labels = np.asarray(output)
    labels = labels[0] if labels.ndim == 3 else labels
    hint = ("use output kind 'foreground' (evaluate --output-kind foreground) if it is a foreground probability"
            if np.issubdtype(labels.dtype, np.floating) else
            "label its connected components (nucseg_zoo.metrics.label_components) if it is a foreground mask")
    warning = label_image_warning(labels, "the model's instance-label output", binary_hint=hint,
                                  intensity_hint="choose the output kind that fits it (evaluate --output-kind, "
                                                 "e.g. foreground or three_class) if it is a probability map")
    if warning:
        warnings.warn(warning, stacklevel=3)


def to_labels(output: np.ndarray, kind: str, params=None) -> np.ndarray:
    """Dispatch a model output of convention ``kind`` (one of :data:`OUTPUT_KINDS`) to labels.

    ``params``: :class:`PostprocessingParams`, or for ``stardist`` a
    :class:`~nucseg_zoo.star_convex.StarDistParams`; None = the kind's defaults.

    An ``instance_labels`` output that looks like a binary mask (one non-zero value in
    several 4-connected regions, :func:`nucseg_zoo.metrics.looks_like_binary_mask`) is
    still one object, with a :class:`~nucseg_zoo.metrics.BinaryMaskWarning`; one that looks
    like an intensity image or probability map (:func:`nucseg_zoo.metrics.looks_like_intensity_image`)
    is scored as it is, with an :class:`~nucseg_zoo.metrics.IntensityImageWarning`.
    """
    if kind == "stardist":
        from nucseg_zoo.star_convex import stardist_to_labels

        return stardist_to_labels(output, params)
    try:
        adapter = _ADAPTERS[kind]
    except KeyError:
        raise ValueError(f"unknown output kind {kind!r}; valid kinds: {', '.join(OUTPUT_KINDS)}") from None
    labels = adapter(output, params)
    if kind == "instance_labels":
        _warn_if_not_labels(output)
    return labels

"""The ``instance_labels`` kind: a model that gives instance labels itself.

The labels are passed through, relabelled ``1..N`` as int32, with objects smaller than
``min_size`` px removed (:class:`InstanceLabelParams`). Nothing is tuned or trained here:
the labels are the model's own.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np
from skimage.segmentation import relabel_sequential

from nucseg_zoo.postprocessing._common import drop_small, params_from_dict
from nucseg_zoo.postprocessing.registry import Channels, OutputKind


@dataclass(frozen=True)
class InstanceLabelParams:
    """Parameters of :func:`from_instance_labels`.

    Attributes:
        min_size: objects smaller than this (px) are removed (the paper drops < 16 px).
    """

    min_size: int = 16

    def __post_init__(self) -> None:
        if self.min_size < 0:
            raise ValueError(f"min_size must be >= 0, got {self.min_size}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "InstanceLabelParams":
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        return params_from_dict(cls, values)


def from_instance_labels(labels: np.ndarray, params: InstanceLabelParams | None = None) -> np.ndarray:
    """Ready-made instance labels, relabelled 1..N as int32 (``params.min_size`` applies).

    Args:
        labels: ``(H, W)`` or ``(1, H, W)`` integer labels (or floats holding whole numbers), >= 0.
        params: None = the defaults.

    Returns:
        ``(H, W)`` int32 labels, 0 = background.

    Raises:
        ValueError: another shape, fractional or negative values, or a non-numeric dtype.
    """
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
    labels = drop_small(labels.astype(np.int64), (params or InstanceLabelParams()).min_size)
    return relabel_sequential(labels)[0].astype(np.int32, copy=False)


def checked_instance_labels(output: np.ndarray, params: InstanceLabelParams) -> np.ndarray:
    """:func:`from_instance_labels`, warning when the output does not look like labels.

    An output that looks like a binary mask (one non-zero value in several 4-connected
    regions, :func:`nucseg_zoo.metrics.looks_like_binary_mask`) is still one object, with a
    :class:`~nucseg_zoo.metrics.BinaryMaskWarning`; one that looks like an intensity image or
    probability map (:func:`nucseg_zoo.metrics.looks_like_intensity_image`) is scored as it
    is, with an :class:`~nucseg_zoo.metrics.IntensityImageWarning`.
    """
    labels = from_instance_labels(output, params)
    _warn_if_not_labels(output)
    return labels


def _warn_if_not_labels(output: np.ndarray) -> None:
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
        warnings.warn(warning, stacklevel=5)


INSTANCE_LABELS = OutputKind(
    name="instance_labels",
    description="instance labels made by the model itself, relabelled 1..N",
    channels=Channels(("labels",)),
    params=InstanceLabelParams,
    adapter=checked_instance_labels,
    integer=True,
    inferable=True,
)

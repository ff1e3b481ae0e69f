"""Array checks and clean-up shared by the kinds' adapters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

import numpy as np

P = TypeVar("P")


def params_from_dict(cls: type[P], values: Mapping[str, Any]) -> P:
    """A kind's parameter dataclass ``cls`` from plain data (its ``to_dict`` form).

    Raises:
        ValueError: a key that is no field of ``cls`` (the valid ones are listed), or a value
            the dataclass's own checks refuse.
    """
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown postprocessing parameters {sorted(unknown)}; valid: {sorted(known)}")
    return cls(**dict(values))


def check_probabilities(probs: np.ndarray, n_channels: int) -> np.ndarray:
    """``probs`` as float32 after checking it is a ``(n_channels, H, W)`` floating-point map.

    Raises:
        ValueError: another shape or a non-float dtype (named).
    """
    probs = np.asarray(probs)
    if probs.ndim != 3 or probs.shape[0] != n_channels:
        raise ValueError(f"expected a ({n_channels}, H, W) probability map, got shape {probs.shape}")
    if not np.issubdtype(probs.dtype, np.floating):
        raise ValueError(f"expected floating-point probabilities, got dtype {probs.dtype}")
    return probs.astype(np.float32, copy=False)


def drop_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Zero, in place, every object of the integer ``labels`` with fewer than ``min_size``
    pixels; returns ``labels``."""
    sizes = np.bincount(labels.ravel())
    small = sizes < min_size
    small[0] = False
    labels[small[labels]] = 0
    return labels

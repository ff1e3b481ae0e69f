"""Training losses and network output activations of the trainable output kinds.

Referenced by the kinds' :class:`~nucseg_zoo.postprocessing.registry.Training` records; torch
is imported inside each function, so that the registry imports without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def weighted_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, pixel_weights: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged with per-pixel weights: ``sum(w * ce) / sum(w)``.

    Args:
        logits: ``(B, C, H, W)`` network logits (any float dtype; computed in float32).
        targets: ``(B, H, W)`` int64 class indices.
        pixel_weights: ``(B, H, W)`` float32 weights.

    With weights looked up from the class of each pixel this is torch's class-weighted
    ``cross_entropy(logits, targets, weight=...)``.
    """
    import torch

    losses = torch.nn.functional.cross_entropy(logits.float(), targets, reduction="none")
    return (losses * pixel_weights).sum() / pixel_weights.sum()


def soft_cross_entropy(logits: torch.Tensor, soft_targets: torch.Tensor, pixel_weights: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against per-pixel probabilities ``(B, C, H, W)``, averaged with pixel weights.

    ``sum(w * -sum_c p_c log q_c) / sum(w)``; it differs from the KL divergence of
    Hinton et al. 2015 by the teacher's entropy, a constant.
    """
    import torch

    losses = -(soft_targets * torch.log_softmax(logits.float(), dim=1)).sum(dim=1)
    return (losses * pixel_weights).sum() / pixel_weights.sum()


def channel_softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the channels of ``(C, H, W)`` float32 logits: ``(C, H, W)`` float32 probabilities."""
    import torch

    return torch.softmax(torch.from_numpy(logits), dim=0).numpy()

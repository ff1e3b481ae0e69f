"""The U-Net of Caicedo et al. 2019 (Cytometry A), in pure ``torch.nn``.

Self-contained on purpose: this file is the architecture source of the bioimage.io
package, so it imports nothing from nucseg_zoo.

Encoder: three blocks of two 3×3 conv + batch norm + ReLU (64, 128, 256 filters), each
followed by a 2×2 max-pool; a 512-filter bottleneck block; a mirrored decoder (2×
nearest upsampling, concatenation with the skip connection, a two-conv block); a 1×1
conv to the classes (background, interior, boundary). About 7.78 M parameters.
Input ``(B, 1, H, W)`` float with H and W multiples of 8; output ``(B, 3, H, W)``
probabilities (softmax over channels) or logits with ``softmax=False``.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """The paper's 3-class U-Net.

    Args:
        in_channels: input channels (1 for a nuclear stain).
        n_classes: output classes (3: background, interior, boundary).
        widths: encoder filters per level; the bottleneck has twice the last.
        softmax: return per-class probabilities (True) or raw logits (False).
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 3,
        widths: tuple[int, ...] | list[int] = (64, 128, 256),
        softmax: bool = True,
    ):
        super().__init__()
        self.softmax = softmax
        self.encoders = nn.ModuleList()
        channels = in_channels
        for width in widths:
            self.encoders.append(_conv_block(channels, width))
            channels = width
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _conv_block(channels, 2 * channels)
        channels = 2 * channels
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.decoders = nn.ModuleList()
        for width in reversed(widths):
            self.decoders.append(_conv_block(channels + width, width))
            channels = width
        self.head = nn.Conv2d(channels, n_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for decoder, skip in zip(self.decoders, reversed(skips)):
            x = decoder(torch.cat([self.upsample(x), skip], dim=1))
        logits = self.head(x)
        return torch.softmax(logits, dim=1) if self.softmax else logits

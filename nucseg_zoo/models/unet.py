"""The U-Net of Caicedo et al. 2019 (Cytometry A), in pure ``torch.nn``.

Self-contained on purpose: this file is the architecture source of the bioimage.io
package, so it imports nothing from nucseg_zoo.

Encoder: three blocks of two 3×3 conv + batch norm + ReLU (64, 128, 256 filters), each
followed by a 2×2 max-pool; a 512-filter bottleneck block; a mirrored decoder (2×
nearest upsampling, concatenation with the skip connection, a two-conv block); a 1×1
conv to the classes (background, interior, boundary). About 7.78 M parameters.
Input ``(B, 1, H, W)`` float with H and W multiples of 8; output ``(B, 3, H, W)``
probabilities (softmax over channels) or logits with ``softmax=False``.

Optional test-time augmentation (``test_time_rotations``): in eval mode the network also
sees the input rotated by the given multiples of 90°, and the logits of all views, rotated
back, are averaged before the softmax — the logit averaging of nnU-Net's test-time mirroring
(Isensee et al. 2021, Nat. Methods), over rotations. Built into the network, so the
bioimage.io package's TorchScript and ONNX weights compute the same average.
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


def _rotate(x: torch.Tensor, quarter_turns: int) -> torch.Tensor:
    """``torch.rot90(x, quarter_turns, (2, 3))`` from flips and transposes, which ONNX opset 17
    and old TorchScript runtimes (deepImageJ) have; torch's ``rot90`` exports to neither."""
    k = quarter_turns % 4
    if k == 0:
        return x
    if k == 2:
        return torch.flip(x, (2, 3))
    return torch.flip(x, (3,)).transpose(2, 3) if k == 1 else torch.flip(x.transpose(2, 3), (3,))


class UNet(nn.Module):
    """The paper's 3-class U-Net.

    Args:
        in_channels: input channels (1 for a nuclear stain).
        n_classes: output classes (3: background, interior, boundary).
        widths: encoder filters per level; the bottleneck has twice the last.
        softmax: return per-class probabilities (True) or raw logits (False).
        test_time_rotations: angles in degrees (distinct multiples of 90 in [0, 360)) of
            the views whose logits are averaged in eval mode; ``(0,)`` (default) is the
            plain network, ``(0, 180)`` costs two forward passes. Training mode always runs
            one view. The parameters do not depend on it.

    Raises:
        ValueError: ``test_time_rotations`` is empty, repeats an angle or holds one that is
            not a multiple of 90 in [0, 360).
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 3,
        widths: tuple[int, ...] | list[int] = (64, 128, 256),
        softmax: bool = True,
        test_time_rotations: tuple[int, ...] | list[int] = (0,),
    ):
        super().__init__()
        self.softmax = softmax
        angles = [int(a) for a in test_time_rotations]
        if not angles or len(set(angles)) != len(angles) or any(a % 90 or not 0 <= a < 360 for a in angles):
            raise ValueError(f"test_time_rotations must be distinct multiples of 90 in [0, 360), got "
                             f"{list(test_time_rotations)}")
        self.quarter_turns = [a // 90 for a in angles]
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
        if self.training or self.quarter_turns == [0]:
            logits = self._logits(x)
        else:
            logits = sum(_rotate(self._logits(_rotate(x, k)), -k) for k in self.quarter_turns) / len(self.quarter_turns)
        return torch.softmax(logits, dim=1) if self.softmax else logits

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for decoder, skip in zip(self.decoders, reversed(skips)):
            x = decoder(torch.cat([self.upsample(x), skip], dim=1))
        return self.head(x)

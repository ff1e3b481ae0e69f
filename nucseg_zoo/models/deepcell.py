"""DeepCell's 61×61 feature net (Van Valen et al. 2016) as a patch classifier, its dense
(dilated) form, and an ensemble of dense networks, in pure ``torch.nn``.

Self-contained on purpose: this file is the architecture source of the bioimage.io
package, so it imports nothing from nucseg_zoo.

Architecture (``bn_feature_net_61x61`` of ``CovertLab/DeepCell``, ``keras_version/model_zoo.py``,
as run by Caicedo et al. 2019): valid 2-D convolutions with bias, each followed by batch
norm and ReLU — C1 3×3×64 · C2 4×4×64 · max-pool 2×2 · C3 3×3×64 · C4 3×3×64 · max-pool ·
C5 3×3×64 · C6 3×3×64 · max-pool · C7 4×4×200 · D1 dense 200 (+ batch norm, ReLU) · D2
dense 3 — softmax over background, interior and boundary of the patch's centre pixel.
461,323 trainable parameters. The dense layers are stored as 1×1 convolutions and their
batch norm as ``BatchNorm2d``, so the patch classifier and the dense network share one
state dict.

Dense form (``sparse_bn_feature_net_61x61``, after Li et al. 2014, arXiv:1412.4526): the same
weights with dilation 1 for C1–C2, 2 for C3–C4, 4 for C5–C6 and 8 for C7, each pool a
2×2 max-pool of stride 1 with that dilation. Output pixel ``(y, x)`` of the unpadded dense
network is the patch classifier's output for the window ``[y, y + 61) × [x, x + 61)``,
i.e. centred on input pixel ``(y + 30, x + 30)``; the dense output is 60 px smaller than its
input. With ``padding=30`` the input is zero-padded by 30 px per side first, so output and
input have one size; callers that pad the image by a halo of at least 30 px (symmetric
mirror, the zoo's convention) never see the zeros.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

PATCH_SIZE = 61
"""Side (px) of the patch the classifier labels; the receptive field of the dense network."""

# (name, kernel, out channels, dilation in the dense form, max-pool after it)
_CONVS = (
    ("c1", 3, 64, 1, False),
    ("c2", 4, 64, 1, True),
    ("c3", 3, 64, 2, False),
    ("c4", 3, 64, 2, True),
    ("c5", 3, 64, 4, False),
    ("c6", 3, 64, 4, True),
    ("c7", 4, 200, 8, False),
)


def _conv_bn_relu(in_channels: int, out_channels: int, kernel: int, dilation: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, dilation=dilation),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class FeatureNet61(nn.Module):
    """The 61×61 feature net, as a patch classifier (``dense=False``) or dense network.

    Args:
        in_channels: input channels (1 for a nuclear stain).
        n_classes: output classes (3: background, interior, boundary).
        dense: dilated form for whole images (True) or the 61×61 patch classifier (False).
        padding: dense form only: zero padding (px per side) applied to the input; 30 gives
            an output of the input's size, 0 the valid output (60 px smaller per axis).
        softmax: return per-class probabilities (True) or raw logits (False).

    Shapes: patch form ``(B, C_in, 61, 61)`` → ``(B, n_classes, 1, 1)``; dense form
    ``(B, C_in, H, W)`` → ``(B, n_classes, H + 2·padding − 60, W + 2·padding − 60)``.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 3, *, dense: bool = True, padding: int = 30,
                 softmax: bool = True):
        super().__init__()
        self.dense, self.padding, self.softmax = dense, padding if dense else 0, softmax
        layers: dict[str, nn.Module] = {}
        channels = in_channels
        for name, kernel, width, dilation, pool in _CONVS:
            layers[name] = _conv_bn_relu(channels, width, kernel, dilation if dense else 1)
            channels = width
            if pool:
                layers[f"pool{name[1:]}"] = (nn.MaxPool2d(2, stride=1, dilation=dilation) if dense
                                             else nn.MaxPool2d(2, stride=2))
        layers["d1"] = _conv_bn_relu(channels, 200, 1, 1)
        layers["d2"] = nn.Conv2d(200, n_classes, 1)
        self.layers = nn.Sequential(OrderedDict(layers))  # state-dict keys layers.c1.0.weight, ...
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")  # He-normal, as the Keras code
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding:
            x = F.pad(x, (self.padding,) * 4)
        logits = self.layers(x)
        return torch.softmax(logits, dim=1) if self.softmax else logits


class FeatureNet61Ensemble(nn.Module):
    """Several dense :class:`FeatureNet61` whose softmax outputs are averaged.

    Args:
        members: number of networks (``members.K.…`` in the state dict).
        in_channels, n_classes, padding: as for :class:`FeatureNet61` (dense form).

    Shapes: ``(B, C_in, H, W)`` → ``(B, n_classes, H + 2·padding − 60, W + 2·padding − 60)``
    probabilities (the mean of the members' softmax outputs).
    """

    def __init__(self, members: int = 5, in_channels: int = 1, n_classes: int = 3, *, padding: int = 30):
        super().__init__()
        if members < 1:
            raise ValueError(f"an ensemble needs at least one member, got {members}")
        self.members = nn.ModuleList(FeatureNet61(in_channels, n_classes, dense=True, padding=padding)
                                     for _ in range(members))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = self.members[0](x)
        for member in self.members[1:]:
            total = total + member(x)
        return total / len(self.members)

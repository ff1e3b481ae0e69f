"""How much context a fully convolutional network needs: the halo of its package.

The halo declared in a bioimage.io package is the margin that tiled prediction crops
from each tile. It must cover the receptive-field radius, or tiled and whole-image
predictions differ; and it must be a multiple of the size step (2 ** poolings), or the
pooling grid of a tile no longer lines up with the grid of the whole image.
"""

from __future__ import annotations

import copy
import math


def receptive_field_radius(network, *, in_channels: int = 1, step: int = 8, size: int = 160,
                           max_size: int = 1024, trials: int = 3, seed: int = 0) -> int:
    """Measured receptive-field radius (px) of a 2-D network ``(B, C, H, W) -> (B, K, H, W)``.

    Measured on a float64 copy whose parameters are made non-negative, filters normalised
    to average their inputs and batch-norm statistics reset, so that with positive random
    inputs every ReLU passes its gradient: for each of the ``step`` pixel positions
    relative to the pooling grid, the gradient of one output pixel marks the input pixels
    it depends on (max-pooling routes it to one pixel per window, hence ``trials`` random
    inputs). The radius is the largest distance from
    the output pixel to a marked pixel. Only the architecture matters, so a thin variant
    of the network (fewer filters) gives the same answer much faster.

    ``size`` is the side of the first probe image, doubled while the field reaches its border
    (the answer does not depend on it; a guess just above the radius is fastest).

    Raises:
        ValueError: the receptive field does not fit into ``max_size`` px.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # many tiny passes: threads only add overhead (and stall on a busy CPU)
    try:
        return _measure(network, in_channels, step, size, max_size, trials, generator)
    finally:
        torch.set_num_threads(threads)


def _measure(network, in_channels, step, size, max_size, trials, generator) -> int:
    import torch

    probe = copy.deepcopy(network).double().eval()
    with torch.no_grad():
        for parameter in probe.parameters():
            parameter.abs_()
            if parameter.ndim >= 2:  # filters average their inputs: activations stay O(1)
                parameter /= parameter.sum(dim=tuple(range(1, parameter.ndim)), keepdim=True) + 1e-12
        for name, buffer in probe.named_buffers():
            if name.endswith("running_mean"):
                buffer.zero_()
            elif name.endswith("running_var"):
                buffer.fill_(1.0)
    while size <= max_size:
        radius, touches_border = _radius_at(probe, in_channels, step, size, trials, generator)
        if not touches_border:
            return radius
        size *= 2
    raise ValueError(f"the receptive field of the network is larger than {max_size} px")


def _radius_at(network, in_channels, step, size, trials, generator) -> tuple[int, bool]:
    import torch

    size = math.ceil(size / step) * step
    centre = (size // 2) // step * step
    radius, touches_border = 0, False
    for offset in range(step):
        c = centre + offset
        support = torch.zeros(size, size, dtype=torch.bool)
        for _ in range(trials):
            x = torch.rand(1, in_channels, size, size, generator=generator, dtype=torch.float64)
            x.requires_grad_(True)
            # squared: a plain sum of softmax outputs is constant and has no gradient
            network(x)[0, :, c, c].square().sum().backward()
            support |= (x.grad[0] != 0).any(dim=0)
        ys, xs = torch.nonzero(support, as_tuple=True)
        lo, hi = int(min(ys.min(), xs.min())), int(max(ys.max(), xs.max()))
        touches_border |= lo == 0 or hi == size - 1
        radius = max(radius, c - lo, hi - c)
    return radius, touches_border


def package_halo(declared: int, radius: int, step: int) -> int:
    """The smallest multiple of ``step`` that is at least ``declared`` and ``radius``."""
    return math.ceil(max(declared, radius) / step) * step

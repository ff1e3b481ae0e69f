"""Decoding of ground-truth masks into instance labels: graph-coloured masks (BBBC039) and one
binary mask per nucleus (DSB2018)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from skimage.measure import label


def decode_graph_coloured_mask(mask: np.ndarray, *, connectivity: int = 1) -> np.ndarray:
    """Turn a graph-coloured mask into an instance label image.

    BBBC039 masks are RGBA PNGs whose red channel holds a *colour* per nucleus (1..3,
    0 = background) chosen so that touching nuclei differ. Each nucleus is a connected
    region of one colour, so labelling regions of equal value recovers the instances.

    Args:
        mask: ``(H, W)`` colour indices or ``(H, W, C)`` RGB(A) array (red channel used).
        connectivity: 1 for 4-connectivity (the card's choice), 2 for 8-connectivity.

    Returns:
        ``(H, W)`` int32 labels, 0 = background, 1..N = nuclei in raster order.
    """
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D mask or an (H, W, C) colour mask, got shape {mask.shape}")
    return label(mask, background=0, connectivity=connectivity).astype(np.int32, copy=False)


def decode_instance_masks(masks: Sequence[np.ndarray], *, shape: tuple[int, int]) -> np.ndarray:
    """Build an instance label image from one binary mask per nucleus (DSB2018's layout).

    Mask ``i`` (in the order given) becomes label ``i + 1``. A pixel covered by several
    masks goes to the **smallest** of them (fewest pixels; ties to the earlier mask), so a
    small nucleus drawn over a large one keeps its pixels and no nucleus vanishes when
    masks overlap; the result does not depend on which file is read last.

    Args:
        masks: ``(H, W)`` arrays, non-zero = the nucleus (e.g. 0/255 PNGs); an
            ``(H, W, C)`` mask uses its first channel.
        shape: ``(H, W)`` of the image (the result's shape when there are no masks).

    Returns:
        ``(H, W)`` int32 labels, 0 = background, 1..N = masks in the order given (a mask
        whose pixels all went to smaller ones keeps its id and has no pixels).

    Raises:
        ValueError: a mask is not of ``shape``.
    """
    binary = []
    for index, mask in enumerate(masks):
        mask = np.asarray(mask)
        if mask.ndim == 3:
            mask = mask[..., 0]
        if mask.shape != tuple(shape):
            raise ValueError(f"mask {index} has shape {mask.shape}, expected {tuple(shape)} like its image")
        binary.append(mask != 0)
    labels = np.zeros(shape, dtype=np.int32)
    areas = [int(np.count_nonzero(mask)) for mask in binary]
    # paint the largest first, so that smaller masks overwrite the pixels they share
    for index in sorted(range(len(binary)), key=lambda i: (-areas[i], -i)):
        labels[binary[index]] = index + 1
    return labels

"""Decoding of BBBC039's graph-coloured ground-truth masks into instance labels."""

from __future__ import annotations

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

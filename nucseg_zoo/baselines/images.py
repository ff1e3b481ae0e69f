"""Input checks shared by the baselines."""

from __future__ import annotations

import numpy as np


def as_float_image(image: np.ndarray) -> np.ndarray:
    """A checked float32 copy-or-view of a 2-D grey-level image, in its own units.

    Args:
        image: ``(H, W)`` array of any integer or floating dtype (uint8, uint16, float...).

    Returns:
        ``(H, W)`` float32 array with the same values.

    Raises:
        ValueError: the image is not 2-D, is empty, is not numeric, or holds NaN/inf.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D (H, W) grey-level image, got shape {image.shape}; "
                         "pass one channel of multichannel data")
    if image.size == 0:
        raise ValueError(f"expected a non-empty image, got shape {image.shape}")
    if image.dtype == bool or not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise ValueError(f"expected an integer or floating-point image, got dtype {image.dtype}")
    image = image.astype(np.float32, copy=False)
    if not np.all(np.isfinite(image)):
        raise ValueError("image contains NaN or infinite values")
    return image

"""The one input check for every segmenter (zoo models, packages, baselines)."""

from __future__ import annotations

import numpy as np


def as_image(image) -> np.ndarray:
    """Check a user image and return it as a 2-D numpy array (values unchanged).

    Args:
        image: a 2-D numpy array (or a 3-D one with a single plane, ``(1, y, x)``, or a
            single channel, ``(y, x, 1)``, returned as ``(y, x)``), or an
            ``xarray.DataArray`` with dims ``("y", "x")``, of any integer (uint8, uint16, ...)
            or floating dtype.

    Raises:
        ValueError: naming what is wrong: not 2-D (pass one channel of multichannel data),
            empty, wrong dims, boolean or non-numeric dtype, NaN or infinite values.
    """
    if hasattr(image, "dims") and hasattr(image, "values"):
        if tuple(image.dims) != ("y", "x"):
            raise ValueError(f"expected an xarray.DataArray with dims ('y', 'x'), got dims {tuple(image.dims)}")
        image = image.values
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[0] == 1:
        image = image[0]  # (1, y, x): one plane, as a single-plane TIFF reads
    elif image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]  # (y, x, 1): one channel
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D (y, x) single-channel image, got shape {image.shape}; "
                         "pass one channel of multichannel data")
    if image.size == 0:
        raise ValueError(f"expected a non-empty image, got shape {image.shape}")
    if image.dtype == bool or not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise ValueError(f"expected an integer (e.g. uint8, uint16) or floating-point image, got dtype {image.dtype}")
    if np.issubdtype(image.dtype, np.floating) and not np.all(np.isfinite(image)):
        raise ValueError("image contains NaN or infinite values")
    return image


def as_float_image(image) -> np.ndarray:
    """:func:`as_image` as float32 (a view when it already is), in the image's own units."""
    return as_image(image).astype(np.float32, copy=False)

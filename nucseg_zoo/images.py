"""The one input check for every segmenter (zoo models, packages, baselines), and the one
repair of its input: a saturated artefact is clipped before any statistic sees it."""

from __future__ import annotations

import numpy as np

from nucseg_zoo._text import count

MAX_CHANNELS = 4
"""An axis of at most this many entries at either end of a 3-D image is taken for channels (RGB, RGBA, ...)."""

ARTEFACT_MIN_PIXELS = 16
ARTEFACT_MIN_FRACTION = 5e-4
"""A plateau at the image's maximum is an artefact only when it has at least
:data:`ARTEFACT_MIN_PIXELS` pixels and this fraction of the image (181 px of a 520 × 696
field): a quarter of the 0.2 % above the zoo's p99.8, and above the 25 × 25 px (0.17 %) at
which a 65535 square already broke ``cp-basic``."""

ARTEFACT_PERCENTILE = 99.8
"""Percentile of the other pixels that a saturated artefact is clipped to (the zoo's
normalisation maximum, so the artefact no longer moves it)."""

ARTEFACT_CONTRAST = 8.0
"""... and only when it lies more than this many times as far above the other pixels' median
as their :data:`ARTEFACT_PERCENTILE` does. Measured on the 623 fields of BBBC039's and
DSB2018-fluo's splits: no plateau of that size exceeds 3.9 (saturated nuclei at 4095 or 255;
the bundled fields overexposed 4-16 times stay below 8 too: the nuclei rise to their plateau);
a 65535 square on a BBBC039 field lies about 70 times as far, the same square at 4095 about
4.5 times (it is left alone: the percentile it pins still lets every model find the nuclei)."""

MAX_MAGNITUDE = 1e18
"""Largest pixel magnitude accepted. A larger value (e.g. float32's maximum, 3.4e38, as a fill
or no-data value) is no intensity: its square overflows float32 (above 1.8e19), so means,
variances and normalisations become infinite or NaN, and beside it every real intensity is
zero (float32 keeps 7 significant digits). Such images are refused like NaN / infinite ones."""


def as_image(image) -> np.ndarray:
    """Check a user image and return it as a 2-D numpy array (values unchanged).

    Args:
        image: a 2-D numpy array (or a 3-D one with a single plane, ``(1, y, x)``, or a
            single channel, ``(y, x, 1)``, returned as ``(y, x)``), or an
            ``xarray.DataArray`` with dims ``("y", "x")``, of any integer (uint8, uint16, ...)
            or floating dtype.

    Raises:
        ValueError: naming what is wrong: not 2-D (see :func:`not_single_channel_message`),
            empty, wrong dims, boolean or non-numeric dtype, NaN or infinite values, or finite
            values of magnitude above :data:`MAX_MAGNITUDE` (how many and where, see
            :func:`non_finite_message` and :func:`extreme_values_message`).
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
        raise ValueError(not_single_channel_message(image))
    if image.size == 0:
        raise ValueError(f"expected a non-empty image, got shape {image.shape}")
    if image.dtype == bool or not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise ValueError(f"expected an integer (e.g. uint8, uint16) or floating-point image, got dtype {image.dtype}")
    if np.issubdtype(image.dtype, np.floating) and not np.all(np.isfinite(image)):
        raise ValueError(non_finite_message(image))
    if _may_exceed(image.dtype) and (image.max() > MAX_MAGNITUDE or image.min() < -MAX_MAGNITUDE):
        raise ValueError(extreme_values_message(image))
    return image


def _may_exceed(dtype: np.dtype) -> bool:
    """Whether values of ``dtype`` can exceed :data:`MAX_MAGNITUDE` (floats, 64-bit integers)."""
    return np.issubdtype(dtype, np.floating) or np.iinfo(dtype).max > MAX_MAGNITUDE


def not_single_channel_message(image: np.ndarray) -> str:
    """Why ``image`` (not 2-D once singleton axes are dropped) cannot be segmented, and what to do.

    The one wording for every reader of user images (the Python API, ``nucseg-zoo segment``):
    what was expected, the shape, and a remedy that fits the shape: an RGB(A) image whose colour
    channels are identical is a grey image saved as colour (say so; it is not converted
    silently); other images with at most :data:`MAX_CHANNELS` entries on the last or first
    axis are multichannel (pass the nuclear-stain channel alone); anything else is a stack.
    """
    image = np.asarray(image)
    message = f"expected a 2-D (y, x) single-channel image, got shape {image.shape}"
    if image.ndim != 3:
        return f"{message}; pass one 2-D plane (one channel, z-slice or time point)"
    if image.shape[-1] <= MAX_CHANNELS:
        channels, axis, index = image.shape[-1], "last", "image[..., 0]"
        planes = [image[..., c] for c in range(channels)]
    elif image.shape[0] <= MAX_CHANNELS:
        channels, axis, index = image.shape[0], "first", "image[0]"  # or planes: a short stack
        planes = list(image)
    else:
        return f"{message}; pass one 2-D plane of the stack (one channel, z-slice or time point)"
    colour = planes[:3] if channels in (3, 4) else []
    if colour and all(np.array_equal(colour[0], plane) for plane in colour[1:]):
        kind = "RGB" if channels == 3 else "RGBA"
        which = "colour channels" if channels == 3 else "colour channels (R, G, B; alpha aside)"
        return (f"{message}: an {kind} image whose {which} are identical, i.e. a grey image saved as "
                f"colour; save it as a single-channel (greyscale) image (in Fiji: Image > Type > 8-bit or "
                f"16-bit), or pass one channel, e.g. {index}")
    return (f"{message}: {channels} channels{' or planes' if axis == 'first' else ''} ({axis} axis); pass the nuclear-stain channel alone, e.g. {index}, "
            "or save it as a single-channel image")


def _where(bad: np.ndarray) -> tuple[int, str]:
    """How many pixels of the ``(H, W)`` mask ``bad`` are set, and where (bounding box, first one)."""
    rows, columns = np.nonzero(bad)
    where = (f"at row {rows[0]}, column {columns[0]}" if len(rows) == 1 else
             f"within rows {rows.min()}-{rows.max()} and columns {columns.min()}-{columns.max()} "
             f"(first at row {rows[0]}, column {columns[0]})")
    return len(rows), where


def non_finite_message(image: np.ndarray) -> str:
    """How many pixels of a float ``image`` are NaN / infinite, and where (bounding box, first one)."""
    n_bad, where = _where(~np.isfinite(image))
    n_nan = int(np.isnan(image).sum())
    return (f"image contains NaN or infinite values: {count(n_bad, 'pixel')} of {image.size:,} "
            f"{'is' if n_bad == 1 else 'are'} not finite "
            f"({n_nan} NaN, {n_bad - n_nan} infinite), {where}; replace them (e.g. with "
            "numpy.nan_to_num or the background level) or crop them out")


def extreme_values_message(image: np.ndarray) -> str:
    """How many pixels of ``image`` exceed :data:`MAX_MAGNITUDE` in magnitude, the largest, and where."""
    magnitude = np.abs(image.astype(np.float64))
    n_bad, where = _where(magnitude > MAX_MAGNITUDE)
    return (f"image contains extreme values: {count(n_bad, 'pixel')} of {image.size:,} "
            f"{'has' if n_bad == 1 else 'have'} a magnitude above {MAX_MAGNITUDE:.0e} (the largest "
            f"{magnitude.max():.3g}), {where}; such values are no intensities (a fill or no-data value?) and "
            "overflow float32 arithmetic; replace them (e.g. with the background level) or crop them out")


def saturated_artefact(image: np.ndarray) -> tuple[np.ndarray, float] | None:
    """The pixels of a saturated artefact (dust, debris, a reflection) and the value they are clipped to.

    An artefact is the plateau of pixels at the image's maximum when it covers at least
    :data:`ARTEFACT_MIN_FRACTION` of the image (and :data:`ARTEFACT_MIN_PIXELS`) and its value
    lies more than :data:`ARTEFACT_CONTRAST` times as far above the median of the other pixels
    as their :data:`ARTEFACT_PERCENTILE` percentile. Left in, it pins the high percentile of a
    percentile normalisation (0.25 % of a field at 65535 took ``unet-bbbc039-fast`` from 152
    nuclei to 1) and the threshold of the classical baselines.

    Args:
        image: ``(H, W)`` integer or float array (checked by :func:`as_image`).

    Returns:
        ``(mask, ceiling)``: ``(H, W)`` bool mask of the artefact and the other pixels'
        :data:`ARTEFACT_PERCENTILE` percentile, in the image's units; None without an artefact.
    """
    top = image.max()
    plateau = image == top
    n = int(np.count_nonzero(plateau))
    if n < max(ARTEFACT_MIN_PIXELS, ARTEFACT_MIN_FRACTION * image.size) or n == image.size:
        return None
    median, high = np.percentile(image[~plateau], [50, ARTEFACT_PERCENTILE])
    if float(top) - median <= ARTEFACT_CONTRAST * (high - median):
        return None
    return plateau, float(high)


def segmentation_input(image) -> np.ndarray:
    """:func:`as_image`, with a :func:`saturated_artefact` clipped to its ceiling (a copy then;
    the pixels stay bright, as the saturated nucleus an artefact may also be). What every zoo
    model, package run and baseline segments; measurements use the image as it is."""
    image = as_image(image)
    artefact = saturated_artefact(image)
    if artefact is None:
        return image
    mask, ceiling = artefact
    clipped = image.copy()
    clipped[mask] = np.round(ceiling) if np.issubdtype(image.dtype, np.integer) else ceiling
    return clipped


def as_float_image(image) -> np.ndarray:
    """:func:`segmentation_input` as float32 (a view when it already is), in the image's own units."""
    return segmentation_input(image).astype(np.float32, copy=False)

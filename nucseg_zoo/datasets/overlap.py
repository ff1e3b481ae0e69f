"""Find the images of one dataset that are fields (or crops, or rescales) of another's.

Dataset overlap is a leak: DSB2018's stage1_train holds 8-bit renderings of BBBC039 fields,
BBBC039 test fields among them, so a model trained on DSB2018 has seen BBBC039's test
split. :func:`find_fields` finds such images by content, whatever bit depth or intensity
scaling each copy was saved with::

    from nucseg_zoo.datasets.overlap import find_fields
    matches = find_fields(dsb_images, bbbc039_images)        # (name, array) pairs
    [m.to_dict() for m in matches]                           # one best match per query

How images are compared
-----------------------
The query is resampled onto the reference's pixel grid (by ``1 / scale``), both are reduced
to thumbnails by block means over ``factor`` x ``factor`` reference pixels, and each
thumbnail is transformed (:func:`thumbnail`):

1. ``log1p((x - p0.5) / (p50 - p0.5))`` with the image's own 0.5th and 50th percentiles:
   unchanged by any affine intensity change (bit depth, black level, gain), and a power
   law (gamma) becomes, above the background, a mere gain of the log values;
2. minus its Gaussian blur (sigma :data:`HIGHPASS_SIGMA` = 32 reference pixels, one to two
   BBBC039 nucleus diameters): what is left is the nuclei, not the illumination profile
   that all fields of a microscope share.

The *similarity* is the Pearson correlation (normalised cross-correlation, in [-1, 1]) of
the query's transformed thumbnail and that of the reference region it covers (the whole
reference for a whole field; for a crop the region is cut out first, then transformed).
Same-sized images are compared at offset (0, 0) only, all references in one matrix
product. A query smaller than a reference (on its grid) is searched for in every
reference by batched FFT normalised cross-correlation on coarser thumbnails
(``search_factor``); the best few candidates are placed on a 2x block-mean grid with
:func:`skimage.feature.match_template`, then to the pixel, and scored.

Why this transform: measured on the 90 DSB2018 520 x 696 fluorescence images against the
200 BBBC039 fields at ``factor`` 4. 43 of these DSB images are BBBC039 fields, known
independently of the method (full-resolution raw Pearson r >= 0.9989 with their field,
<= 0.19 for every other DSB/BBBC039 combination). Synthetic: every BBBC039 field rendered
to 8 bits with gamma 0.5, gamma 2, or clipped at its 99th percentile, against itself.

=========================  ===========  ===========  =========  ========================
transform of the           lowest true  highest DSB  highest    synthetic, lowest
block means                pair         non-pair     same-well  (gamma 0.5 / 2 / clip)
=========================  ===========  ===========  =========  ========================
raw, high-passed           1.000        0.133        0.052      0.901 / 0.759 / 0.814
ranks, high-passed         0.857        0.145        0.090      0.995 / 0.300 / 0.993
log1p, no high-pass        0.995        0.421        0.248      0.985 / 0.846 / 0.994
**log1p, high-passed**     0.996        0.142        0.071      0.986 / 0.856 / 0.990
=========================  ===========  ===========  =========  ========================

"same-well": two BBBC039 fields that are different sites of one well (47 pairs). Ranks,
although invariant to every monotonic change, lose true pairs: the 16-bit background
noise spreads over ranks that the 8-bit copy quantises to two or three values. Without
the high-pass, fields correlate through their shared illumination profile. The scores of
the whole method, from which :data:`DEFAULT_THRESHOLD` is chosen, are listed there.

Limits (measured, see :data:`DEFAULT_THRESHOLD`): a region with fewer than about three
nuclei is mostly illumination and noise and cannot be identified (BBBC039's three
near-empty fields correlate at up to 0.49 with each other; a 128 x 128 crop holding two
nuclei, magnified 2x, best matched a wrong field at 0.883). Strong non-linear 8-bit
renderings, which crush dim nuclei to a few grey values, score below the threshold for
some fields: gamma 2 for 1 of the 200 BBBC039 fields (lowest 0.856), gamma 2.5 for 16
(0.696), clipping the brightest 10 % of pixels for 12 (0.447); gamma 0.4 to 0.5, a log
scale, clipping at the 99th percentile or an auto-contrast (1st to 99.5th percentile)
stay >= 0.94 on all 200. Rotated or flipped copies and scales not in ``scales`` are not
found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import scipy.fft
from scipy import ndimage as ndi
from skimage.feature import match_template
from skimage.transform import resize

__all__ = ["DEFAULT_THRESHOLD", "HIGHPASS_SIGMA", "FieldMatch", "dataset_overlap", "field_similarity", "find_fields",
           "thumbnail"]

#: Similarity at or above which a query is reported as a field (crop, rescale) of a reference.
#: Measured with the default settings (``factor`` 4, ``search_factor`` 8, scales 1, 0.5, 2)
#: on DSB2018 stage1_train's 541 fluorescence images against the 200 BBBC039 fields:
#:
#: * true pairs: the 43 DSB images that are BBBC039 fields score >= 0.9956 (all found,
#:   "same field"). Synthetic, from those 43 DSB renderings, each found with the right
#:   field, scale and offset (+-3 px): a random 256 x 256 crop >= 0.993, a 400 x 400 crop
#:   shrunk to 0.5x >= 0.987, the whole image shrunk to 0.5x or magnified 2x >= 0.996; a
#:   random 128 x 128 crop magnified 2x >= 0.971 (39 of 43; the other four hold 0, 0, 1
#:   and 2 nuclei, and best match wrong fields at up to 0.883).
#: * non-pairs: the best match of every other DSB image (498, all sizes, every scale
#:   searched) <= 0.825 (a 256 x 256 image as a 2x magnified crop); a DSB image against
#:   BBBC039 fields other than its own <= 0.142; two sites of one BBBC039 well (47 pairs)
#:   <= 0.071; BBBC039 fields against each other as 0.5x / 2x crops <= 0.761.
#:
#: 0.9 lies between the highest non-pair (0.825) and the lowest true crop (0.971).
DEFAULT_THRESHOLD = 0.9

#: Sigma of the Gaussian whose blur is subtracted, in reference pixels.
HIGHPASS_SIGMA = 32.0

# Crop candidates whose coarse peak (search_factor grid) lies more than this below the
# threshold are not placed: on the synthetic true crops of DEFAULT_THRESHOLD the coarse peak
# was at most 0.15 below the final similarity (it is blurred by the unknown block phase).
_SEARCH_MARGIN = 0.25
_PLACE_FACTOR = 2  # block size of the grid a crop candidate is placed on before the last pixel

ImageSource = np.ndarray | Callable[[], np.ndarray]
"""An image, or a zero-argument callable that returns it (read on demand)."""


@dataclass(frozen=True)
class FieldMatch:
    """A query image found in a reference image.

    Attributes:
        query: the query image's name.
        reference: the name of the reference image it was found in.
        similarity: Pearson correlation, in [-1, 1], of the transformed thumbnails of the
            query and of the reference region it covers (see the module docstring).
        relation: ``"same field"`` (same pixels, same size), ``"crop"`` (a part of the
            reference at the same scale), ``"rescaled"`` (the whole reference, resampled)
            or ``"rescaled crop"``.
        scale: query pixels per reference pixel (2.0: the query was magnified twice).
        offset: (row, col) of the query's top-left corner in the reference's pixel grid,
            in reference pixels; (0, 0) for a same field or a rescaled one.
    """

    query: str
    reference: str
    similarity: float
    relation: str
    scale: float
    offset: tuple[int, int]

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-serialisable dict (``offset`` as a list [row, col])."""
        out = asdict(self)
        out["offset"] = list(self.offset)
        return out


def _as_image(name: str, source: ImageSource) -> np.ndarray:
    image = source() if callable(source) else source
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image {name!r}: expected a 2-D greyscale array, got shape {image.shape} "
                         f"({image.ndim}-D); convert colour images to one channel first")
    if image.size == 0:
        raise ValueError(f"image {name!r}: empty array of shape {image.shape}")
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)
            or image.dtype == bool):
        raise ValueError(f"image {name!r}: expected an integer or float dtype, got {image.dtype}")
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise ValueError(f"image {name!r}: holds NaN or infinite values")
    return image


def _block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """float64 means over ``factor`` x ``factor`` blocks; a remainder at the bottom/right is dropped."""
    image = np.asarray(image, dtype=np.float64)
    rows, cols = image.shape[0] // factor, image.shape[1] // factor
    if rows == 0 or cols == 0:
        raise ValueError(f"image of shape {image.shape} is smaller than one {factor} x {factor} block")
    return image[:rows * factor, :cols * factor].reshape(rows, factor, cols, factor).mean(axis=(1, 3))


def _log_scaled(values: np.ndarray) -> np.ndarray:
    """``log1p((x - p0.5) / (p50 - p0.5))``, float64; all zeros for a constant input."""
    low, median = np.percentile(values, [0.5, 50.0])
    spread = median - low
    if spread <= 0:  # more than half the image at its floor (e.g. a sparse 8-bit field)
        spread = float(np.mean(values - low))
    if spread <= 0:  # constant: nothing to match
        return np.zeros(values.shape)
    return np.log1p(np.maximum(values - low, 0.0) / spread)


def _transform(means: np.ndarray, sigma: float) -> np.ndarray:
    """:func:`_log_scaled`, then minus its Gaussian blur (``sigma`` in thumbnail pixels); float32."""
    logs = _log_scaled(means)
    return (logs - ndi.gaussian_filter(logs, sigma, mode="reflect")).astype(np.float32)


def thumbnail(image: np.ndarray, factor: int = 4) -> np.ndarray:
    """The transformed thumbnail that similarities are computed on.

    Args:
        image: 2-D array, any integer or float dtype, shape (H, W) with H, W >= ``factor``.
        factor: block size of the block means, in pixels.

    Returns:
        float32 array of shape (H // factor, W // factor): scale-free ``log1p`` of the block
        means, high-passed (Gaussian sigma ``HIGHPASS_SIGMA / factor`` thumbnail pixels).

    Raises:
        ValueError: for a non-2-D, empty, non-numeric or non-finite image.
    """
    image = _as_image("image", image)
    return _transform(_block_mean(image, factor), HIGHPASS_SIGMA / factor)


def _unit(values: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-norm copy (all zeros for a constant input), float32, flattened."""
    values = np.asarray(values, np.float64).ravel()
    values = values - values.mean()
    norm = np.linalg.norm(values)
    return (values / norm if norm > 0 else values).astype(np.float32)


def field_similarity(query: np.ndarray, reference: np.ndarray, *, factor: int = 4) -> float:
    """Similarity, in [-1, 1], of two images of the same field size (no search).

    Args:
        query, reference: 2-D arrays of the same shape, any integer or float dtype.
        factor: block size of the thumbnails, in pixels.

    Returns:
        Pearson correlation of their :func:`thumbnail` s (0.0 if either is constant).

    Raises:
        ValueError: for non-2-D, empty, non-numeric or non-finite images, or different shapes.
    """
    query, reference = _as_image("query", query), _as_image("reference", reference)
    if query.shape != reference.shape:
        raise ValueError(f"query shape {query.shape} != reference shape {reference.shape}; "
                         f"use find_fields to search for crops and rescales")
    return float(np.clip(_unit(thumbnail(query, factor)) @ _unit(thumbnail(reference, factor)), -1, 1))


class _ReferenceGroup:
    """References of one shape: their thumbnails for whole-field scoring and crop search."""

    def __init__(self, shape: tuple[int, int], factor: int, search_factor: int) -> None:
        self.shape = shape
        self.factor, self.search_factor = factor, search_factor
        self.indices: list[int] = []
        self.units: list[np.ndarray] = []
        self.coarse: list[np.ndarray] = []

    def add(self, index: int, image: np.ndarray) -> None:
        self.indices.append(index)
        self.units.append(_unit(_transform(_block_mean(image, self.factor), HIGHPASS_SIGMA / self.factor)))
        self.coarse.append(_transform(_block_mean(image, self.search_factor),
                                      HIGHPASS_SIGMA / self.search_factor))

    def freeze(self) -> None:
        self.unit_matrix = np.stack(self.units)  # (n, h*w), rows of unit norm
        coarse = np.stack(self.coarse).astype(np.float64)  # (n, h, w)
        self.coarse_shape = coarse.shape[1:]
        self.coarse_fft = scipy.fft.rfft2(coarse, axes=(1, 2))
        pad = ((0, 0), (1, 0), (1, 0))
        self.integral = np.pad(coarse.cumsum(1).cumsum(2), pad)
        self.integral_sq = np.pad((coarse ** 2).cumsum(1).cumsum(2), pad)
        self._norm_cache: dict[tuple[int, int], np.ndarray] = {}
        del self.units, self.coarse

    def _inverse_norms(self, th: int, tw: int) -> np.ndarray:
        """1 / (norm of each reference window minus its mean), 0 where flat; cached per size."""
        cached = self._norm_cache.get((th, tw))
        if cached is None:
            def box(integral: np.ndarray) -> np.ndarray:
                return (integral[:, th:, tw:] - integral[:, :-th, tw:]
                        - integral[:, th:, :-tw] + integral[:, :-th, :-tw])

            sums = box(self.integral)
            norms = np.sqrt(np.maximum(box(self.integral_sq) - sums ** 2 / (th * tw), 0.0))
            floor = 1e-6 * max(float(norms.max()), 1e-300)
            cached = np.where(norms > floor, 1.0 / np.where(norms > floor, norms, 1.0), 0.0)
            if len(self._norm_cache) >= 4:  # queries usually come in a few sizes
                self._norm_cache.pop(next(iter(self._norm_cache)))
            self._norm_cache[(th, tw)] = cached
        return cached

    def search(self, template: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best normalised cross-correlation of ``template`` in each reference (coarse grid).

        The batched equivalent of ``skimage.feature.match_template`` (valid positions): a
        circular FFT correlation, exact at the valid positions, divided by the local norms
        from integral images. Returns (peak values (n,), peak positions (n, 2)).
        """
        th, tw = template.shape
        height, width = self.coarse_shape
        t0 = template.astype(np.float64) - template.mean()
        t_norm = np.sqrt(np.sum(t0 ** 2))
        n = len(self.indices)
        if t_norm == 0:
            return np.zeros(n), np.zeros((n, 2), int)
        spectrum = scipy.fft.rfft2(t0, s=(height, width))
        corr = scipy.fft.irfft2(self.coarse_fft * np.conj(spectrum), s=(height, width), axes=(1, 2))
        ncc = corr[:, :height - th + 1, :width - tw + 1] * self._inverse_norms(th, tw) / t_norm
        flat = ncc.reshape(n, -1)
        best = flat.argmax(1)
        positions = np.stack(np.unravel_index(best, ncc.shape[1:]), axis=1)
        return flat[np.arange(n), best], positions


def _on_grid(image: np.ndarray, scale: float, shape: tuple[int, int]) -> np.ndarray:
    """``image`` resampled onto the reference grid (by about ``1 / scale``, to ``shape``), float64."""
    if scale == 1.0:
        return image.astype(np.float64)
    return resize(image.astype(np.float64), shape, order=1, anti_aliasing=scale > 1, preserve_range=True)


def _relation(scale: float, crop: bool) -> str:
    if scale == 1.0:
        return "crop" if crop else "same field"
    return "rescaled crop" if crop else "rescaled"


def find_fields(
    query: Iterable[tuple[str, ImageSource]],
    reference: Iterable[tuple[str, ImageSource]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    scales: Sequence[float] = (1.0, 0.5, 2.0),
    factor: int = 4,
    search_factor: int = 8,
    min_size: int = 64,
    candidates: int = 3,
) -> list[FieldMatch]:
    """For each query image that is a field of a reference image, its best match.

    Args:
        query: ``(name, image)`` pairs; ``image`` a 2-D array of any integer or float dtype,
            or a zero-argument callable returning one (read once, then dropped: any number
            of queries may be streamed).
        reference: ``(name, image)`` pairs likewise. Every reference is read once to build
            its thumbnails (kept in memory: about 0.6 bytes per reference pixel with the
            default factors, plus the arrays themselves when arrays are passed); a callable
            is called again only to place and score a crop candidate in it.
        threshold: lowest similarity (in [-1, 1]) that counts as a match; the default is
            measured (see :data:`DEFAULT_THRESHOLD`).
        scales: query pixels per reference pixel to try (1.0 is the same scale; 2.0 finds
            a query magnified twice, 0.5 one shrunk to half). Positive numbers.
        factor: block size, in reference pixels, of the thumbnails that similarities are
            computed on.
        search_factor: block size of the coarser thumbnails a crop is searched on.
        min_size: a scale at which the query covers fewer than ``min_size`` reference
            pixels in either dimension is skipped (too little to match).
        candidates: how many references, per query and scale, a crop is placed in.

    Returns:
        One :class:`FieldMatch` per query whose best similarity is >= ``threshold`` (the
        reference, scale and offset with the highest similarity; ties keep the earlier
        scale in ``scales``), sorted by query name. Queries are matched independently:
        several may match one reference. A query the same size as a reference (on its grid)
        is compared at offset (0, 0) only, so a shifted, overlapping field is no match; a
        query larger than a reference at some scale is not searched there (a query is never
        reported as containing a reference).

    Raises:
        ValueError: for an image that is not 2-D (the message names it and its shape),
            empty, of a non-numeric dtype or holding NaN/inf; for bad parameters.
    """
    scales = tuple(float(s) for s in scales)
    if not scales or not all(np.isfinite(s) and s > 0 for s in scales):
        raise ValueError(f"scales must be positive finite numbers, got {scales}")
    if not (isinstance(factor, int | np.integer) and isinstance(search_factor, int | np.integer)
            and 1 <= factor <= search_factor):
        raise ValueError(f"need integers 1 <= factor <= search_factor, got {factor}, {search_factor}")
    if not -1 <= threshold <= 1:
        raise ValueError(f"threshold must lie in [-1, 1], got {threshold}")
    if candidates < 1 or min_size < search_factor:
        raise ValueError(f"need candidates >= 1 and min_size >= search_factor, got {candidates}, {min_size}")

    ref_names: list[str] = []
    ref_sources: list[ImageSource] = []
    groups: dict[tuple[int, int], _ReferenceGroup] = {}
    for name, source in reference:
        image = _as_image(name, source)
        if min(image.shape) < min_size:
            raise ValueError(f"reference {name!r}: shape {image.shape} is below min_size {min_size}")
        group = groups.setdefault(image.shape, _ReferenceGroup(image.shape, factor, search_factor))
        group.add(len(ref_names), image)
        ref_names.append(name)
        ref_sources.append(source if callable(source) else image)
    for group in groups.values():
        group.freeze()

    def reference_image(index: int) -> np.ndarray:
        return _as_image(ref_names[index], ref_sources[index])

    matches: list[FieldMatch] = []
    for name, source in query:
        image = _as_image(name, source)
        best: FieldMatch | None = None
        for scale in scales:
            target = (round(image.shape[0] / scale), round(image.shape[1] / scale))
            if min(target) < min_size:
                continue
            grid: np.ndarray | None = None
            for shape, group in groups.items():
                # a whole field resampled to within a pixel of the reference: land exactly on it
                snap = scale != 1.0 and abs(target[0] - shape[0]) <= 1 and abs(target[1] - shape[1]) <= 1
                grid_shape = shape if snap else target
                if grid_shape[0] > shape[0] or grid_shape[1] > shape[1]:
                    continue
                if grid is None or grid.shape != grid_shape:
                    grid = _on_grid(image, scale, grid_shape)
                if grid.shape == shape:  # the whole field: score every reference at once
                    sims = group.unit_matrix @ _unit(_transform(_block_mean(grid, factor), HIGHPASS_SIGMA / factor))
                    k = int(np.argmax(sims))
                    found = [(float(sims[k]), group.indices[k], (0, 0), False)]
                else:
                    found = _place_crop(grid, group, reference_image, candidates, threshold - _SEARCH_MARGIN)
                for similarity, index, offset, crop in found:
                    similarity = float(np.clip(similarity, -1.0, 1.0))
                    if best is None or similarity > best.similarity:
                        best = FieldMatch(name, ref_names[index], similarity, _relation(scale, crop),
                                          scale, offset)
        if best is not None and best.similarity >= threshold:
            matches.append(best)
    return sorted(matches, key=lambda m: m.query)


def _place_crop(
    grid: np.ndarray,
    group: _ReferenceGroup,
    reference_image: Callable[[int], np.ndarray],
    candidates: int,
    floor: float,
) -> list[tuple[float, int, tuple[int, int], bool]]:
    """Search ``grid`` (a query on the reference grid) in the group, place it, score it.

    The references with the ``candidates`` highest peaks on the coarse grid
    (``search_factor``) are searched again around their peak on a 2x block-mean grid with
    :func:`skimage.feature.match_template`, then the 3 x 3 neighbouring full-resolution
    positions are compared directly. Returns (similarity, reference index, (row, col), True)
    per candidate.
    """
    sf, f = group.search_factor, group.factor
    peaks, positions = group.search(_transform(_block_mean(grid, sf), HIGHPASS_SIGMA / sf))
    order = [k for k in np.argsort(peaks)[::-1][:candidates] if peaks[k] >= floor]
    h, w = grid.shape
    height, width = group.shape
    query_fine = _transform(_block_mean(grid, _PLACE_FACTOR), HIGHPASS_SIGMA / _PLACE_FACTOR)
    query_log = _unit(_log_scaled(grid))
    query_unit = _unit(_transform(_block_mean(grid, f), HIGHPASS_SIGMA / f))
    out = []
    for k in order:
        reference = reference_image(group.indices[k]).astype(np.float64)
        margin = sf + 2 * _PLACE_FACTOR  # the coarse peak is within sf / 2 of the truth
        r0 = int(np.clip(positions[k][0] * sf - margin, 0, height - h))
        c0 = int(np.clip(positions[k][1] * sf - margin, 0, width - w))
        r1, c1 = min(height, r0 + h + 2 * margin), min(width, c0 + w + 2 * margin)
        # (r1 - r0, c1 - c0) >= (h, w), so the window is at least the query's size
        window = _transform(_block_mean(reference[r0:r1, c0:c1], _PLACE_FACTOR), HIGHPASS_SIGMA / _PLACE_FACTOR)
        scores = match_template(window, query_fine)
        dr, dc = np.unravel_index(int(np.argmax(scores)), scores.shape)
        row = min(r0 + _PLACE_FACTOR * int(dr), height - h)
        col = min(c0 + _PLACE_FACTOR * int(dc), width - w)
        # the best of the 3 x 3 full-resolution positions around it
        rlo, clo = max(0, row - 1), max(0, col - 1)
        logs = _log_scaled(reference[rlo:min(height, row + h + 1), clo:min(width, col + w + 1)])
        near = [(r, c) for r in range(rlo, min(height - h, row + 1) + 1)
                for c in range(clo, min(width - w, col + 1) + 1)]
        row, col = max(near, key=lambda rc: float(
            query_log @ _unit(logs[rc[0] - rlo:rc[0] - rlo + h, rc[1] - clo:rc[1] - clo + w])))
        region = reference[row:row + h, col:col + w]
        similarity = float(query_unit @ _unit(_transform(_block_mean(region, f), HIGHPASS_SIGMA / f)))
        out.append((similarity, group.indices[k], (row, col), True))
    return out


def dataset_overlap(a: str, b: str, *, threshold: float = DEFAULT_THRESHOLD) -> list[dict]:
    """The images of dataset ``a`` (every split) that are fields of dataset ``b`` (every split).

    Each dataset is read from its configured source (``$NUCSEG_ZOO_<ID>_MIRROR`` or the
    official download), verified as :func:`nucseg_zoo.datasets.load` does; images are read one
    at a time.

    Returns:
        One row per matching image of ``a``, sorted by image name: ``{"image", "split",
        "field", "field_split", "relation", "similarity", "scale", "offset"}`` (see
        :class:`FieldMatch`; ``split``/``field_split`` name the split of each).

    Raises:
        ValueError: unknown dataset.
    """
    from nucseg_zoo import datasets

    def images_of(name: str) -> tuple[list[tuple[str, Callable[[], np.ndarray]]], dict[str, str]]:
        items, split_of = [], {}
        for split in datasets.card(name).splits:
            for sample in datasets.load(name, split):
                items.append((sample.name, lambda sample=sample: sample.image))
                split_of[sample.name] = split
        return items, split_of

    query, query_split = images_of(a)
    reference, reference_split = images_of(b)
    rows = []
    for match in find_fields(query, reference, threshold=threshold):
        row = match.to_dict()
        rows.append({"image": match.query, "split": query_split[match.query], "field": match.reference,
                     "field_split": reference_split[match.reference], "relation": row["relation"],
                     "similarity": row["similarity"], "scale": row["scale"], "offset": row["offset"]})
    return rows

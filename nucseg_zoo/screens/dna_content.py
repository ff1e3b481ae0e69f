"""DNA content of a nucleus population from integrated Hoechst intensity.

Hoechst and DAPI bind DNA stoichiometrically, so a nucleus's integrated intensity is
proportional to its DNA content: G1 nuclei form a peak at 2N, G2/M nuclei one at 4N, S-phase
nuclei lie in between. It is the usual downstream readout of a Hoechst screen such as the
one BBBC039 comes from (Caicedo et al. 2019), and it shows segmentation errors: a G2
nucleus split in two reads as two ~2N objects, two merged G1 nuclei as one 4N object.
:func:`dna_content` scales the intensities so that the G1 peak is 2N;
:func:`plot_dna_content` draws the histograms.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import find_peaks
from scipy.stats import gaussian_kde

from nucseg_zoo._atomic import atomic_path, refuse_to_overwrite
from nucseg_zoo._text import count

MIN_NUCLEI = 20
"""Fewest nuclei (finite, positive intensity) for which a G1 peak is estimated."""

BAND_2N: tuple[float, float] = (1.5, 2.5)
"""Normalized content ``[low, high)`` counted by :attr:`DnaContent.fraction_2n`."""

BAND_4N: tuple[float, float] = (3.5, 4.5)
"""Normalized content ``[low, high)`` counted by :attr:`DnaContent.fraction_4n`."""

PEAK_MIN_HEIGHT = 0.05
"""Density maxima below this fraction of the highest one are ignored as G1 candidates."""

HALF_PEAK_MIN_HEIGHT = 0.15
"""A peak at half the intensity of the highest one is G1 (the highest then being G2/M) when
at least this fraction of its height (see :func:`g1_peak`)."""

OUTLIER_FACTOR = 16.0
"""Intensities more than this factor above or below the median are left out of the G1 peak's
density estimate: far beyond any DNA content (0.125N-32N around a G1 median), they would only
widen its bandwidth (an artefact segmented as an object was 170 times a G1 nucleus)."""

MAX_PANELS = 48
"""Most images that :func:`plot_dna_content` draws in panels of their own."""

_GRID_POINTS = 1024
_BINS = np.arange(0.0, 8.05, 0.1)  # histogram bins of normalized content, in N


@dataclass(frozen=True, eq=False)
class DnaContent:
    """DNA content of one population (an image, a well, a plate).

    Attributes:
        g1_peak: integrated intensity of the G1 peak, in the input's units; NaN when fewer
            than :data:`MIN_NUCLEI` nuclei had a finite, positive intensity.
        normalized: ``(n_input,)`` float64 DNA content in N, ``2 * intensity / g1_peak``
            (G1 = 2N, G2/M = 4N), aligned with the input; all NaN when ``g1_peak`` is NaN.
            Read-only.
        fraction_2n: fraction of the ``n`` nuclei with normalized content in
            :data:`BAND_2N`, ``[1.5, 2.5)``; NaN when ``g1_peak`` is NaN.
        fraction_4n: fraction of the ``n`` nuclei in :data:`BAND_4N`, ``[3.5, 4.5)``; NaN
            when ``g1_peak`` is NaN.
        n: number of nuclei with a finite, positive intensity (those counted above).

    The bands are ``2N ± 0.5N`` and ``4N ± 0.5N``: equal width, a quarter of the 2N-4N gap
    on each side of a peak, leaving ``[2.5, 3.5)`` to mid-S phase. For a G1 peak with the
    5-10 % CV usual in image cytometry (an assumption, not a measurement here), the 2N band
    holds nearly all G1 nuclei (±2.5-5 SD) and the 4N band most G2/M nuclei (±1.25-2.5 SD).
    They are content bands, not cell-cycle phases: early and late S-phase nuclei fall into
    them. Fit a cell-cycle model to :attr:`normalized` for phase fractions.
    """

    g1_peak: float
    normalized: np.ndarray
    fraction_2n: float
    fraction_4n: float
    n: int

    def __post_init__(self) -> None:
        self.normalized.flags.writeable = False


def g1_peak(intensity: np.ndarray) -> float:
    """The G1 peak of finite, positive integrated intensities ``(n,)``, in their units.

    Rule: a Gaussian kernel density estimate (:class:`scipy.stats.gaussian_kde`, Scott's
    bandwidth) of log intensity, leaving out values more than :data:`OUTLIER_FACTOR` times
    above or below the median, on a 1024-point grid reaching 3 bandwidths beyond the data;
    its local maxima (:func:`scipy.signal.find_peaks`) of at least :data:`PEAK_MIN_HEIGHT`
    (5 %) of the highest density are the candidate peaks. G1 is the highest peak, unless a
    candidate of at least :data:`HALF_PEAK_MIN_HEIGHT` (15 %) of its height lies at
    0.4–0.6 times its intensity: then the highest peak is G2/M (4N, e.g. a mitotic arrest)
    and the highest such candidate is G1.

    Why: in a growing culture most nuclei are in G1, so the global mode is G1; debris and
    fragments below it, and a left tail that pulls the median below the G1 peak, do not
    move a mode. Only when G2/M outnumbers G1 is the mode at 4N, and G1 then shows as a
    substantial peak at half that intensity. Log space makes the G1 and G2/M peaks equally
    wide. Limitation: a sub-G1 peak of at least 15 % of the G1 height at half the G1
    intensity (e.g. many nuclei split in half) is taken as G1.
    """
    log_intensity = np.log(intensity)
    # far outliers (a segmented artefact, a speck) would widen Scott's bandwidth and shift the peaks
    log_intensity = log_intensity[np.abs(log_intensity - np.median(log_intensity)) <= math.log(OUTLIER_FACTOR)]
    if np.ptp(log_intensity) == 0:  # all equal: the KDE's covariance would be singular
        return float(np.exp(log_intensity[0]))
    kde = gaussian_kde(log_intensity)
    bandwidth = math.sqrt(kde.covariance[0, 0])
    grid = np.linspace(log_intensity.min() - 3 * bandwidth, log_intensity.max() + 3 * bandwidth, _GRID_POINTS)
    density = kde(grid)
    peaks, _ = find_peaks(density, height=PEAK_MIN_HEIGHT * density.max())
    top = peaks[np.argmax(density[peaks])]
    offset = grid[peaks] - grid[top]
    half = peaks[(offset >= math.log(0.4)) & (offset <= math.log(0.6))
                 & (density[peaks] >= HALF_PEAK_MIN_HEIGHT * density[top])]
    chosen = half[np.argmax(density[half])] if half.size else top
    return float(np.exp(grid[chosen]))


READOUT_INTENSITY = "integrated_intensity_above_background"
"""The column of :func:`nucseg_zoo.screens.measure` that the DNA-content readout is computed
from: integrated intensity minus the image's background level times the area, so that a
camera offset does not move it."""


def readout_intensities(nuclei) -> np.ndarray:
    """The per-nucleus intensities of one image that its DNA-content readout uses: the
    :data:`READOUT_INTENSITY` of the nuclei that neither touch the image border (cut off, part
    of their DNA outside: CellProfiler's "discard objects touching the border") nor lie on a
    saturated artefact (``in_saturated_artefact``: not nuclei).

    Args:
        nuclei: a :func:`nucseg_zoo.screens.measure` table (a pandas DataFrame) of one image.

    Returns:
        ``(n,)`` float64, in the image's units.
    """
    keep = ~(nuclei["touches_border"].to_numpy(bool) | nuclei["in_saturated_artefact"].to_numpy(bool))
    return nuclei[READOUT_INTENSITY].to_numpy(np.float64)[keep]


def dna_content(integrated_intensity: np.ndarray) -> DnaContent:
    """DNA content of nuclei from their integrated Hoechst/DAPI intensity.

    Args:
        integrated_intensity: ``(n,)`` per-nucleus integrated intensity above background
            (:func:`readout_intensities` of a :func:`nucseg_zoo.screens.measure` table), any
            units. Non-finite and non-positive values are
            kept in :attr:`DnaContent.normalized` but not used or counted.

    Returns:
        A :class:`DnaContent`; G1 peak found by :func:`g1_peak`. Fewer than
        :data:`MIN_NUCLEI` usable nuclei give NaN peak and fractions (and ``n``), so one
        sparse field does not stop a screen.

    Raises:
        ValueError: the input is not one-dimensional.
    """
    intensity = np.asarray(integrated_intensity, dtype=np.float64)
    if intensity.ndim != 1:
        raise ValueError(f"integrated_intensity must be one-dimensional (one value per nucleus), "
                         f"got an array of shape {intensity.shape}")
    usable = intensity[np.isfinite(intensity) & (intensity > 0)]
    if usable.size < MIN_NUCLEI:
        return DnaContent(g1_peak=math.nan, normalized=np.full(intensity.shape, np.nan),
                          fraction_2n=math.nan, fraction_4n=math.nan, n=int(usable.size))
    peak = g1_peak(usable)
    content = 2.0 * usable / peak
    return DnaContent(
        g1_peak=peak,
        normalized=2.0 * intensity / peak,
        fraction_2n=float(np.mean((content >= BAND_2N[0]) & (content < BAND_2N[1]))),
        fraction_4n=float(np.mean((content >= BAND_4N[0]) & (content < BAND_4N[1]))),
        n=int(usable.size),
    )


def _usable(content: DnaContent) -> np.ndarray:
    """The finite, positive normalized values of ``content`` (none when its peak is NaN)."""
    return content.normalized[np.isfinite(content.normalized) & (content.normalized > 0)]


def _histogram_panel(ax, title: str, values: np.ndarray | None, empty_note: str) -> None:
    for low, high in (BAND_2N, BAND_4N):
        ax.axvspan(low, high, color="0.9", zorder=0)
    ax.axvline(2.0, color="tab:blue", linestyle="--", linewidth=1)
    ax.axvline(4.0, color="tab:orange", linestyle="--", linewidth=1)
    if values is None:
        ax.text(0.5, 0.5, empty_note, transform=ax.transAxes, ha="center", va="center", fontsize=8)
    else:
        ax.hist(np.clip(values, _BINS[0], _BINS[-1]), bins=_BINS, color="0.3")
    ax.set_title(title, fontsize=8)
    ax.set_xticks([0, 2, 4, 6, 8], ["0", "2N", "4N", "6N", "8N"])
    ax.tick_params(labelbottom=True)  # also above an incomplete last row
    ax.set_ylabel("nuclei", fontsize=8)


def plot_dna_content(per_image: Mapping[str, DnaContent], path: str | os.PathLike, *,
                     overwrite: bool = False) -> Path:
    """Write a PNG of DNA-content histograms: all images pooled, then one panel per image.

    Each panel is a histogram of :attr:`DnaContent.normalized` on 0-8 N (bins of 0.1 N;
    values beyond are counted in the end bins) with 2N and 4N marked and the bands shaded.
    The first panel pools every image with a G1 peak, each scaled by its own peak (left out
    when there is only one image). Then one panel per image, titled with its key, ``n`` and
    G1 peak, at most :data:`MAX_PANELS` (48) of them, four per row, so that a whole screen
    still gives a readable figure; the figure's title says how many were left out. Images
    with too few nuclei get an empty panel saying so; no images give one empty panel.

    Args:
        per_image: name -> :class:`DnaContent`, in panel order.
        path: the ``.png`` file to write (atomically).
        overwrite: replace an existing ``path``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: ``path`` does not end in ``.png``.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    from matplotlib.figure import Figure  # Agg renders PNG; no pyplot state

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"path must end in .png, got {path}")
    if not overwrite:
        refuse_to_overwrite(path, what="DNA-content plot", how="pass overwrite=True")
    panels: list[tuple[str, np.ndarray | None, str]] = []
    if len(per_image) != 1:
        measured = [c for c in per_image.values() if not math.isnan(c.g1_peak)]
        panels.append((f"{len(measured)} of {len(per_image)} images pooled, n={sum(c.n for c in measured)}",
                       np.concatenate([_usable(c) for c in measured]) if measured else None,
                       f"no image with {MIN_NUCLEI} or more nuclei"))
    for name, content in list(per_image.items())[:MAX_PANELS]:
        short = name if len(name) <= 28 else name[:27] + "…"  # keys start with folder, well and site
        panels.append((f"{short}\nn={content.n}  G1={content.g1_peak:.3g}",
                       None if math.isnan(content.g1_peak) else _usable(content),
                       f"too few nuclei\n(n = {content.n} < {MIN_NUCLEI})"))
    n_cols = min(4, len(panels))
    n_rows = math.ceil(len(panels) / n_cols)
    fig = Figure(figsize=(3.0 * n_cols, 2.2 * n_rows + 0.4), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex=True).ravel()
    for ax, panel in zip(axes, panels):
        _histogram_panel(ax, *panel)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    if len(per_image) > MAX_PANELS:
        fig.suptitle(f"{count(len(per_image) - MAX_PANELS, 'more image')} not shown singly (in the pooled panel)",
                     fontsize=9)
    fig.supxlabel("DNA content (2 x integrated intensity / G1 peak)", fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path

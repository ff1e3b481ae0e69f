"""Two leaderboard entries on one test image: what one finds that the other misses.

Reads both entries' stored predictions (``validation/predictions/<id>.npz``); nothing is
re-run. "Found" means matched at IoU > 0.7, i.e. not among the missed objects of
:func:`nucseg_zoo.metrics.object_errors` — the metric suite's own definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nucseg_zoo._text import count
from nucseg_zoo.leaderboard.atlas import (
    check_errors_match_scores,
    display_image,
    overlay,
    predictions_path,
)
from nucseg_zoo.leaderboard.records import ResultRecord, read_results, read_track
from nucseg_zoo.metrics import SIZE_BINS, object_errors
from nucseg_zoo.metrics.errors import SizeBins

FOUND_BY_FIRST = (230, 159, 0)      # orange (Okabe–Ito)
FOUND_BY_SECOND = (86, 180, 233)    # sky blue
MISSED_BY_BOTH = (204, 121, 167)    # reddish purple
FOUND_BY_BOTH = (255, 255, 255)     # white


@dataclass(frozen=True)
class Comparison:
    """GT label ids of one image by which of two entries finds them (IoU > 0.7)."""

    image: str
    first: str
    second: str
    only_first: np.ndarray
    only_second: np.ndarray
    neither: np.ndarray
    both: np.ndarray
    size_bins: SizeBins = SIZE_BINS
    """The GT-area bins (px) of the misses marked, the track's."""

    def summary(self) -> str:
        """One line: who finds what."""
        return (f"{self.image}: {self.first} finds {count(len(self.only_first), 'nucleus')} that {self.second} misses, "
                f"{self.second} finds {len(self.only_second)} that {self.first} misses; both find {len(self.both)}, "
                f"both miss {len(self.neither)} (IoU 0.7)")


def _records(folder: Path, ids: tuple[str, str]) -> list[ResultRecord]:
    if not (folder / "results").is_dir():
        raise ValueError(f"{folder} is not a leaderboard folder (no results/ in it); pass --dir with the "
                         "repository's validation/ folder")
    if ids[0] == ids[1]:
        raise ValueError(f"compare needs two different entries, got {ids[0]!r} twice")
    records = {record.entry.id: record for record in read_results(folder / "results")}
    for entry_id in ids:
        if entry_id not in records:
            raise ValueError(f"no leaderboard entry {entry_id!r} in {folder}; entries: {', '.join(sorted(records))}")
        if not predictions_path(folder, entry_id).is_file():
            raise ValueError(f"entry {entry_id!r} has no stored predictions ({predictions_path(folder, entry_id)}); "
                             "re-evaluate it with `nucseg-zoo leaderboard --update --force`")
    return [records[entry_id] for entry_id in ids]


def most_different_image(first: ResultRecord, second: ResultRecord) -> str:
    """The test image on which the two entries' per-image average F1 differ most (ties: by name)."""
    pairs = zip(first.evaluation.scores.images, second.evaluation.scores.images)
    return min(((-abs(a.average_f1 - b.average_f1), a.name) for a, b in pairs))[1]


def compare(folder: str | Path, first: str, second: str, *, image: str | None = None,
            mirror: str | None = None) -> tuple[Comparison, np.ndarray]:
    """Compare two entries of the leaderboard in ``folder`` on one test image.

    Args:
        first, second: entry ids.
        image: test image name (default: :func:`most_different_image`).
        mirror: dataset mirror for the raw image and its ground truth.

    Returns:
        The :class:`Comparison` and a ``(H, 3 * W + 2 * gap, 3)`` uint8 RGB picture: each
        entry's marks (as in its error atlas), then the GT nuclei coloured by who finds them.

    Raises:
        ValueError: unknown entry or image, or an entry without stored predictions.
    """
    from nucseg_zoo import datasets
    from nucseg_zoo.evaluation.predictions import read_labels

    folder = Path(folder)
    records = _records(folder, (first, second))
    if image is not None and image.lower().endswith((".tif", ".tiff", ".png")):
        image = image.rsplit(".", 1)[0]  # the file name works as well as the image name
    image = image or most_different_image(*records)
    track = read_track(folder)
    samples = datasets.load(track.dataset, track.split, mirror=mirror)
    if image not in samples.names:
        raise ValueError(f"{image!r} is not a {track} image (e.g. {samples.names[0]})")
    sample = samples[samples.names.index(image)]
    truth, gray = sample.labels, display_image(sample.image)
    panels, found = [], []
    for record in records:
        prediction = read_labels(predictions_path(folder, record.entry.id), image)
        errors = object_errors(truth, prediction, samples.size_bins)
        scores = next(s for s in record.evaluation.scores.images if s.name == image)
        check_errors_match_scores(errors, scores, where=f"{record.entry.id}, image {image}")
        panels.append(_composite(gray, overlay(truth, prediction, errors)))
        missed = np.concatenate(list(errors.missed.values()))
        found.append(~np.isin(np.unique(truth[truth > 0]), missed))
    ids = np.unique(truth[truth > 0])
    comparison = Comparison(image, first, second, only_first=ids[found[0] & ~found[1]],
                            only_second=ids[found[1] & ~found[0]], neither=ids[~found[0] & ~found[1]],
                            both=ids[found[0] & found[1]], size_bins=samples.size_bins)
    panels.append(_who_finds_what(gray, truth, comparison))
    gap = np.full((gray.shape[0], 8, 3), 255, dtype=np.uint8)
    return comparison, np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)


def _composite(gray: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    """RGBA marks over a grey image, ``(H, W, 3)`` uint8."""
    alpha = rgba[..., 3:] / 255
    return np.round(rgba[..., :3] * alpha + gray[..., None] * (1 - alpha)).astype(np.uint8)


def _who_finds_what(gray: np.ndarray, truth: np.ndarray, comparison: Comparison) -> np.ndarray:
    from skimage.segmentation import find_boundaries

    rgb = np.repeat(gray[..., None], 3, axis=2)
    for ids, colour in ((comparison.both, FOUND_BY_BOTH), (comparison.only_first, FOUND_BY_FIRST),
                        (comparison.only_second, FOUND_BY_SECOND), (comparison.neither, MISSED_BY_BOTH)):
        chosen = np.where(np.isin(truth, ids), truth, 0)
        edge = find_boundaries(chosen, mode="inner")
        if colour != FOUND_BY_BOTH:  # the differences 2 px wide
            from scipy import ndimage as ndi

            edge |= ndi.binary_dilation(edge) & (chosen > 0)
        rgb[edge] = colour
    return rgb


def save_comparison_png(picture: np.ndarray, comparison: Comparison, path: str | Path) -> Path:
    """Write the comparison picture with titles and a legend as a PNG (atomically; matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from nucseg_zoo._atomic import atomic_path

    height, width = picture.shape[:2]
    figure = plt.figure(figsize=(width / 100, height / 100 + 1.4), dpi=100)
    axes = figure.add_axes((0, 0, 1, height / (height + 140)))
    axes.imshow(picture, interpolation="nearest")
    axes.set_axis_off()
    panel = (width - 16) / 3
    for k, title in enumerate((f"{comparison.first} (errors marked as in its atlas)",
                               f"{comparison.second} (errors marked as in its atlas)",
                               "ground truth by who finds it at IoU 0.7")):
        axes.text(k * (panel + 8) + panel / 2, -8, title, ha="center", va="bottom", fontsize=11)
    from nucseg_zoo.leaderboard.atlas import legend

    patch = lambda colour, label: Patch(facecolor=np.array(colour[:3]) / 255, edgecolor="0.4", label=label)  # noqa: E731
    marks = [patch(colour, label) for label, colour, _ in legend(comparison.size_bins)]
    who = [patch(colour, label) for colour, label in (
        (FOUND_BY_FIRST, f"only {comparison.first} ({len(comparison.only_first)})"),
        (FOUND_BY_SECOND, f"only {comparison.second} ({len(comparison.only_second)})"),
        (MISSED_BY_BOTH, f"neither ({len(comparison.neither)})"),
        (FOUND_BY_BOTH, f"both ({len(comparison.both)})"))]
    figure.legend(handles=marks, loc="upper left", bbox_to_anchor=(0.0, 0.96), ncol=4, fontsize=8, frameon=False,
                  title="left and middle: as in the error atlas", title_fontsize=8, alignment="left")
    figure.legend(handles=who, loc="upper right", bbox_to_anchor=(1.0, 0.96), ncol=2, fontsize=9, frameon=False,
                  title="right: ground truth found at IoU 0.7 by", title_fontsize=9, alignment="left")
    figure.text(0.01, 0.985, comparison.image, fontsize=10, va="top")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder of {path} does not exist")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
    return path

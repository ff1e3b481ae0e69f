"""What segmentation errors do to a screen's readout (Caicedo et al. 2019, Fig. 8, adapted).

The paper showed that better masks change a screen's biology: measured on each method's
nuclei, the cell-level features and the compound profiles built from them differ. Here the
readouts that ``nucseg-zoo segment`` reports per image are computed twice for every image of
a leaderboard's track: from the expert ground-truth labels and from each entry's stored
predicted labels (``predictions/<id>.npz``). The readouts are the nucleus count and the
fractions of nuclei with 2N and 4N DNA content, from integrated Hoechst intensity above the
image's background over the nuclei that do not touch the border
(:func:`nucseg_zoo.screens.dna_content.readout_intensities`, as ``segment``'s
``images.parquet`` has them). An entry's readout error is the mean absolute
difference from the ground truth's readout over the images (:class:`ReadoutErrors`): a
split G2 nucleus reads as two 2N objects, two merged G1 nuclei as one 4N object.

``nucseg-zoo leaderboard --readouts`` writes ``experiments/readouts.json`` and
``experiments/readouts.png`` in the leaderboard folder; each entry's record holds the sha256
of the predictions it was computed from, so :func:`stale_readouts` tells when it must be
rerun.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nucseg_zoo._atomic import atomic_path
from nucseg_zoo._hashing import sha256_of
from nucseg_zoo.leaderboard.atlas import predictions_path
from nucseg_zoo.leaderboard.records import read_results, read_track

READOUTS_FILE = "experiments/readouts.json"
"""The readouts of a leaderboard folder, relative to it."""

READOUTS_FIGURE = "experiments/readouts.png"
"""Their figure, relative to the leaderboard folder."""


@dataclass(frozen=True)
class ImageReadout:
    """The readouts of one image, as ``segment`` reports them.

    Attributes:
        image: the image's name.
        n_nuclei: number of objects in the label image (all of them, border ones included).
        fraction_2n, fraction_4n: fractions of the nuclei not touching the border with 2N and
            4N DNA content (:class:`~nucseg_zoo.screens.dna_content.DnaContent`); NaN when
            fewer than :data:`~nucseg_zoo.screens.dna_content.MIN_NUCLEI` such nuclei.
    """

    image: str
    n_nuclei: int
    fraction_2n: float
    fraction_4n: float


def image_readout(labels: np.ndarray, image: np.ndarray, name: str) -> ImageReadout:
    """The readouts of ``image`` segmented as ``labels``.

    Args:
        labels: ``(H, W)`` integer instance labels, 0 = background.
        image: ``(H, W)`` raw Hoechst/DAPI image of the same size (its integrated intensity
            per nucleus gives the DNA content).
        name: the image's name.

    Raises:
        ValueError: from :func:`nucseg_zoo.screens.measure` (shapes differ, not labels).
    """
    from nucseg_zoo.screens import dna_content, measure, readout_intensities

    table = measure(labels, image, image_name=name)
    content = dna_content(readout_intensities(table))
    return ImageReadout(image=name, n_nuclei=len(table), fraction_2n=content.fraction_2n,
                        fraction_4n=content.fraction_4n)


@dataclass(frozen=True)
class ReadoutErrors:
    """How far one method's readouts are from the ground truth's, over the images.

    Attributes:
        n_images: images compared.
        count_mae: mean absolute error of the nucleus count (nuclei per image).
        count_bias: mean signed error of the count (positive: more objects than nuclei).
        fraction_4n_mae, fraction_2n_mae: mean absolute error of the 4N and 2N fractions
            (fractions of nuclei, 0-1), over the images where both readouts exist.
        fraction_4n_bias: mean signed error of the 4N fraction over the same images.
        n_fraction_images: images where both fractions exist (both have at least
            :data:`~nucseg_zoo.screens.dna_content.MIN_NUCLEI` inner nuclei).
    """

    n_images: int
    count_mae: float
    count_bias: float
    fraction_4n_mae: float
    fraction_4n_bias: float
    fraction_2n_mae: float
    n_fraction_images: int


def readout_errors(truth: Sequence[ImageReadout], predicted: Sequence[ImageReadout]) -> ReadoutErrors:
    """The errors of ``predicted`` against ``truth``, image by image.

    Raises:
        ValueError: the two do not hold the same images in the same order, or hold none.
    """
    if [r.image for r in truth] != [r.image for r in predicted]:
        raise ValueError("the predicted readouts must be of the same images as the ground truth's, in order")
    if not truth:
        raise ValueError("no images to compare")
    count = np.array([p.n_nuclei - t.n_nuclei for t, p in zip(truth, predicted)], dtype=np.float64)
    pairs = [(t, p) for t, p in zip(truth, predicted)
             if not (math.isnan(t.fraction_4n) or math.isnan(p.fraction_4n))]
    four = np.array([p.fraction_4n - t.fraction_4n for t, p in pairs], dtype=np.float64)
    two = np.array([p.fraction_2n - t.fraction_2n for t, p in pairs], dtype=np.float64)
    mean = lambda values: float(np.mean(values)) if values.size else math.nan  # noqa: E731
    return ReadoutErrors(n_images=len(truth), count_mae=mean(np.abs(count)), count_bias=mean(count),
                         fraction_4n_mae=mean(np.abs(four)), fraction_4n_bias=mean(four),
                         fraction_2n_mae=mean(np.abs(two)), n_fraction_images=len(pairs))


def compute_readouts(folder: str | Path, *, mirror: str | None = None) -> dict[str, Any]:
    """The readouts of the leaderboard in ``folder``: of the ground truth and of every entry
    with stored predictions, with each entry's errors.

    Returns:
        ``{"track", "truth": [image readouts], "entries": {id: {"average_f1",
        "predictions_sha256", "errors", "images"}}}``, entries best average F1 first (JSON-able;
        NaN fractions as None).

    Raises:
        ValueError: a result file fails its checks; an entry's predictions miss an image.
    """
    from nucseg_zoo import datasets
    from nucseg_zoo.evaluation.predictions import read_labels

    folder = Path(folder)
    track = read_track(folder)
    samples = datasets.load(track.dataset, track.split, mirror=mirror)
    records = [r for r in read_results(folder / "results") if predictions_path(folder, r.entry.id).is_file()]
    records.sort(key=lambda r: (-r.evaluation.scores.average_f1, r.entry.id))
    truth, predicted = [], {r.entry.id: [] for r in records}
    for sample in samples:
        image = sample.image
        truth.append(image_readout(sample.labels, image, sample.name))
        for record in records:
            labels = read_labels(predictions_path(folder, record.entry.id), sample.name)
            predicted[record.entry.id].append(image_readout(labels, image, sample.name))
    entries = {}
    for record in records:
        readouts = predicted[record.entry.id]
        entries[record.entry.id] = {
            "kind": record.entry.kind,
            "average_f1": record.evaluation.scores.average_f1,
            "predictions_sha256": sha256_of(predictions_path(folder, record.entry.id)),
            "errors": asdict(readout_errors(truth, readouts)),
            "images": [_plain(r) for r in readouts]}
    return {"track": str(track), "truth": [_plain(r) for r in truth], "entries": entries}


def _plain(readout: ImageReadout) -> dict[str, Any]:
    return {key: (None if isinstance(value, float) and math.isnan(value) else value)
            for key, value in asdict(readout).items()}


def read_readouts(folder: str | Path) -> dict[str, Any] | None:
    """The committed readouts of the leaderboard in ``folder`` (None when it has none)."""
    path = Path(folder) / READOUTS_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def stale_readouts(folder: str | Path) -> list[str]:
    """Why the committed readouts of ``folder`` are out of date (empty: they are current, or
    there are none): entries whose stored predictions changed, appeared or went."""
    data = read_readouts(folder)
    if data is None:
        return []
    folder = Path(folder)
    current = {r.entry.id for r in read_results(folder / "results") if predictions_path(folder, r.entry.id).is_file()}
    problems = [f"{entry_id}: not in the readouts" for entry_id in sorted(current - set(data["entries"]))]
    problems += [f"{entry_id}: no longer on the leaderboard" for entry_id in sorted(set(data["entries"]) - current)]
    problems += [f"{entry_id}: its predictions changed" for entry_id in sorted(current & set(data["entries"]))
                 if sha256_of(predictions_path(folder, entry_id)) != data["entries"][entry_id]["predictions_sha256"]]
    return problems


def write_readouts(folder: str | Path, *, mirror: str | None = None) -> list[Path]:
    """Compute the readouts of ``folder`` and write :data:`READOUTS_FILE` and
    :data:`READOUTS_FIGURE` (each atomically); return their paths."""
    folder = Path(folder)
    data = compute_readouts(folder, mirror=mirror)
    paths = [folder / READOUTS_FILE, folder / READOUTS_FIGURE]
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(paths[0]) as tmp:
        tmp.write_text(json.dumps(data, indent=1) + "\n")
    plot_readouts(data, paths[1])
    return paths


def plot_readouts(data: dict[str, Any], path: str | Path) -> Path:
    """Three panels: each entry's 4N-fraction error and nucleus-count error against its average
    F1; and the 4N fraction per image, ground truth against the entries with the smallest and
    the largest 4N-fraction error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = data["entries"]
    fig, (four_ax, count_ax, image_ax) = plt.subplots(1, 3, figsize=(15, 4.6))
    f1 = [e["average_f1"] for e in entries.values()]
    for ax, values, label in (
            (four_ax, [100 * e["errors"]["fraction_4n_mae"] for e in entries.values()],
             "4N fraction: mean absolute error (percentage points)"),
            (count_ax, [e["errors"]["count_mae"] for e in entries.values()],
             "nucleus count: mean absolute error (nuclei per image)")):
        ax.scatter(f1, values, color="tab:blue")
        for entry_id, x, y in zip(entries, f1, values):
            ax.annotate(entry_id, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=8)
        ax.set_xlabel("average F1 (IoU 0.50-0.90)")
        ax.set_ylabel(label)
    four_ax.set_title(f"{data['track']}: DNA-content readout error", fontsize=10)
    count_ax.set_title(f"{data['track']}: nucleus-count error", fontsize=10)
    truth = [r["fraction_4n"] for r in data["truth"]]
    ranked = sorted(entries, key=lambda entry_id: entries[entry_id]["errors"]["fraction_4n_mae"])
    for entry_id, colour in ((ranked[0], "tab:green"), (ranked[-1], "tab:red")):
        pairs = [(t, p["fraction_4n"]) for t, p in zip(truth, entries[entry_id]["images"])
                 if t is not None and p["fraction_4n"] is not None]
        image_ax.scatter([100 * t for t, _ in pairs], [100 * p for _, p in pairs], s=14, color=colour, label=entry_id)
    top = 100 * max([t for t in truth if t is not None] + [0.01])
    image_ax.plot([0, top * 1.1], [0, top * 1.1], color="grey", linewidth=0.8, linestyle="--", label="no error")
    image_ax.set_xlabel("4N fraction from the ground truth (%)")
    image_ax.set_ylabel("4N fraction from the entry's labels (%)")
    image_ax.set_title("per image: the smallest and the largest 4N error", fontsize=10)
    image_ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path

"""How much annotation is enough: accuracy against the number of training images (Caicedo et
al. 2019, Fig. 5, adapted).

The paper trained its U-Net on random subsets of n = 2 … 100 of BBBC039's 100 training
images (10 repeats per n), with basic augmentation (flips, 90° rotations, crops) and with
extra augmentation (plus elastic deformations), and scored each on the validation split. It
found that two images already beat the advanced CellProfiler pipeline, that accuracy
plateaus near 20 images (about 2,000 nuclei), that errors fall by about half from 2 to 100
images, with merges falling and splits rising, and little difference between the two
augmentation sets.

``validation/experiments/training_set_size.py`` trains the runs and records each one's
validation scores; this module turns those records into the curve (:func:`summarize_runs`),
the comparison with each of the paper's statements (:func:`findings`) and the figure
(:func:`plot_learning_curve`). Records are plain dicts:

* a run: ``{"n", "repeat", "augmentation", "images", "scores": {...}, ...}``;
* scores (:func:`run_scores`): ``average_f1``, ``error_rate`` (missed at IoU 0.7 over the
  ground-truth nuclei), ``missed`` (their count), ``merges``, ``splits`` (IoU 0.1),
  ``extra_objects``, ``n_true``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nucseg_zoo._atomic import atomic_path

LEARNING_CURVE_FILE = "experiments/training_set_size.json"
"""The experiment's results, relative to the leaderboard folder."""

LEARNING_CURVE_FIGURE = "experiments/training_set_size.png"
"""Its figure, relative to the leaderboard folder."""

METRICS: tuple[str, ...] = ("average_f1", "error_rate", "missed", "merges", "splits", "extra_objects")
"""The scores averaged over the repeats of each training-set size."""

PLATEAU_SIZE = 20
"""The training-set size near which the paper saw accuracy plateau (its Fig. 5a)."""


def run_scores(scores) -> dict[str, Any]:
    """The scores a run records, from a :class:`~nucseg_zoo.metrics.DatasetScores`."""
    return {"average_f1": scores.average_f1, "error_rate": scores.error_rate,
            "missed": int(round(scores.error_rate * scores.n_true)), "merges": scores.merges,
            "splits": scores.splits, "extra_objects": scores.extra_objects, "n_true": scores.n_true}


def summarize_runs(runs: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Augmentation → one point per training-set size (ascending): ``n``, ``repeats`` and, for
    each of :data:`METRICS`, ``mean``, ``min``, ``max`` and the sample ``std`` over the repeats
    (0 for one repeat)."""
    groups: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for run in runs:
        groups.setdefault(run["augmentation"], {}).setdefault(run["n"], []).append(run["scores"])
    summary = {}
    for augmentation, by_size in groups.items():
        points = []
        for n in sorted(by_size):
            point: dict[str, Any] = {"n": n, "repeats": len(by_size[n])}
            for metric in METRICS:
                values = np.array([scores[metric] for scores in by_size[n]], dtype=float)
                point[metric] = {"mean": float(values.mean()), "min": float(values.min()),
                                 "max": float(values.max()),
                                 "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
            points.append(point)
        summary[augmentation] = points
    return summary


def _mean(points: Sequence[dict[str, Any]], n: int, metric: str) -> float | None:
    return next((p[metric]["mean"] for p in points if p["n"] == n), None)


def findings(summary: dict[str, list[dict[str, Any]]], baseline: dict[str, Any] | None) -> dict[str, Any]:
    """Each of the paper's Fig. 5 statements, measured, per augmentation.

    Args:
        summary: from :func:`summarize_runs`.
        baseline: ``{"name": ..., **run_scores(...)}`` of the baseline drawn as a dotted line
            (the paper's CellProfiler advanced), or None.

    Returns:
        augmentation → ``smallest_n``, ``largest_n`` and

        * ``beats_baseline_at_smallest_n``: the mean average F1 at the smallest size exceeds
          the baseline's (None without a baseline);
        * ``share_of_gain_at_plateau``: (F1(:data:`PLATEAU_SIZE`) − F1(smallest)) /
          (F1(largest) − F1(smallest)), None where a size is missing or there is no gain;
        * ``error_ratio``: missed nuclei at the largest size over those at the smallest;
        * ``merges_change``, ``splits_change``: largest minus smallest size;

        and, across augmentations, ``largest_augmentation_difference``: the largest absolute
        difference of mean average F1 between two augmentations at a size both have (None
        with one augmentation).
    """
    out: dict[str, Any] = {}
    for augmentation, points in summary.items():
        small, large = points[0]["n"], points[-1]["n"]
        f1_small, f1_large = _mean(points, small, "average_f1"), _mean(points, large, "average_f1")
        f1_plateau = _mean(points, PLATEAU_SIZE, "average_f1")
        gain = f1_large - f1_small
        missed_small = _mean(points, small, "missed")
        out[augmentation] = {
            "smallest_n": small, "largest_n": large,
            "beats_baseline_at_smallest_n": None if baseline is None else f1_small > baseline["average_f1"],
            "share_of_gain_at_plateau": None if f1_plateau is None or gain <= 0 or not small < PLATEAU_SIZE < large
            else (f1_plateau - f1_small) / gain,
            "error_ratio": None if not missed_small else _mean(points, large, "missed") / missed_small,
            "merges_change": _mean(points, large, "merges") - _mean(points, small, "merges"),
            "splits_change": _mean(points, large, "splits") - _mean(points, small, "splits"),
        }
    differences = []
    names = list(summary)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            shared = {p["n"] for p in summary[first]} & {p["n"] for p in summary[second]}
            differences += [abs(_mean(summary[first], n, "average_f1") - _mean(summary[second], n, "average_f1"))
                            for n in shared]
    out["largest_augmentation_difference"] = max(differences) if differences else None
    return out


def plot_learning_curve(data: dict[str, Any], path: Path) -> None:
    """The paper's Fig. 5 from the experiment's results ``data`` (``summary``, ``runs``,
    ``baseline``): (a) average F1 and (b) missed, merged and split nuclei against the number
    of training images, the mean of the repeats as a line, each repeat as a dot, the
    baseline dotted; written to ``path`` (PNG) atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"basic": ("tab:blue", "-", "o"), "extra": ("tab:orange", "--", "s")}
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    baseline = data.get("baseline")
    for augmentation, points in data["summary"].items():
        colour, line, marker = styles.get(augmentation, ("tab:green", ":", "^"))
        sizes = [p["n"] for p in points]
        left.plot(sizes, [p["average_f1"]["mean"] for p in points], line, color=colour, marker=marker,
                  label=f"U-Net, {augmentation} augmentation")
        runs = [r for r in data["runs"] if r["augmentation"] == augmentation]
        left.scatter([r["n"] for r in runs], [r["scores"]["average_f1"] for r in runs], s=10, color=colour,
                     alpha=0.45)
        for metric, metric_colour in (("missed", "tab:red"), ("merges", "tab:purple"), ("splits", "tab:green")):
            right.plot(sizes, [p[metric]["mean"] for p in points], line, color=metric_colour, marker=marker,
                       markersize=4, label=f"{metric}, {augmentation}")
            right.fill_between(sizes, [p[metric]["min"] for p in points], [p[metric]["max"] for p in points],
                               color=metric_colour, alpha=0.08)
    if baseline is not None:
        left.axhline(baseline["average_f1"], color="0.3", linestyle=":", label=baseline["name"])
        for metric, metric_colour in (("missed", "tab:red"), ("merges", "tab:purple"), ("splits", "tab:green")):
            right.axhline(baseline[metric], color=metric_colour, linestyle=":", linewidth=1)
    for axis in (left, right):
        axis.set_xscale("log")
        axis.set_xticks(data["sizes"], [str(n) for n in data["sizes"]])
        axis.minorticks_off()
        axis.set_xlabel("training images")
    left.set_ylabel(f"average F1 ({data['scored_on']})")
    left.set_title("(a) accuracy", fontsize=10)
    left.legend(fontsize=8, loc="lower right")
    right.set_ylabel(f"nuclei ({data['scored_on']}, {data['n_true']:,} in all)")
    right.set_title("(b) missed (IoU 0.7), merged and split (IoU 0.1); dotted: " + (baseline or {}).get("name", "–"),
                    fontsize=10)
    right.legend(fontsize=7, ncol=2, loc="upper right")
    figure.suptitle(f"{data['model']}'s architecture ({data['architecture']}) trained from scratch on n of the "
                    f"{data['pool']} training images\n{data['repeats']} repeats per n planned, {data['steps']} steps "
                    f"of {data['batch_size']} crops of {data['crop_size']}² px each", fontsize=10)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)


LITTLE_DIFFERENCE = 0.01
"""Largest difference of mean average F1 between the augmentation sets still read as "little"
(this package's reading of the paper's "little difference"; its Fig. 5 shows curves within
about 0.01 of each other)."""

PLATEAU_SHARE = 0.8
"""Share of the gain from the smallest to the largest size that, reached at
:data:`PLATEAU_SIZE` images, reads as a plateau there."""

HALF_RANGE = (0.35, 0.65)
"""Ratios of missed nuclei (largest size over smallest) read as "about half"."""


def _verdict(values: list[bool | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "open (a size is missing)"
    return "same" if all(known) else "not found" if not any(known) else "partly"


def compare_with_paper(found: dict[str, Any], baseline_name: str) -> list[list[str]]:
    """The paper's Fig. 5 statements beside the measured :func:`findings`: one row per
    statement, ``[statement, measured per augmentation (one cell each, in the order of
    found), verdict]``; the verdict is "same", "partly" (some augmentations), "not found" or
    "open", read with :data:`PLATEAU_SHARE`, :data:`HALF_RANGE` and :data:`LITTLE_DIFFERENCE`."""
    augmentations = [a for a, f in found.items() if isinstance(f, dict)]
    per = [found[a] for a in augmentations]
    if not per:
        return []
    small, large = per[0]["smallest_n"], per[0]["largest_n"]

    def cells(text) -> list[str]:
        return [text(f) for f in per]

    rows = [
        [f"{small} images already beat {baseline_name}",
         *cells(lambda f: "–" if f["beats_baseline_at_smallest_n"] is None
                else "yes" if f["beats_baseline_at_smallest_n"] else "no"),
         _verdict([f["beats_baseline_at_smallest_n"] for f in per])],
        [f"accuracy plateaus near {PLATEAU_SIZE} images",
         *cells(lambda f: "–" if f["share_of_gain_at_plateau"] is None
                else f"{100 * f['share_of_gain_at_plateau']:.0f} % of the gain ({small}→{large}) at {PLATEAU_SIZE}"),
         _verdict([None if f["share_of_gain_at_plateau"] is None else f["share_of_gain_at_plateau"] >= PLATEAU_SHARE
                   for f in per])],
        [f"missed nuclei fall by about half from {small} to {large} images",
         *cells(lambda f: "–" if f["error_ratio"] is None else f"× {f['error_ratio']:.2f}"),
         _verdict([None if f["error_ratio"] is None else HALF_RANGE[0] <= f["error_ratio"] <= HALF_RANGE[1]
                   for f in per])],
        ["merges fall with more images", *cells(lambda f: f"{f['merges_change']:+.1f}"),
         _verdict([f["merges_change"] < 0 for f in per])],
        ["splits rise with more images", *cells(lambda f: f"{f['splits_change']:+.1f}"),
         _verdict([f["splits_change"] > 0 for f in per])],
    ]
    difference = found.get("largest_augmentation_difference")
    if difference is not None and not math.isnan(difference):
        rows.append(["little difference between the augmentation sets",
                     *[f"at most {difference:.3f} in mean average F1"] + [""] * (len(per) - 1),
                     _verdict([difference <= LITTLE_DIFFERENCE])])
    return rows

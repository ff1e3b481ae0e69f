"""Benchmark: score the 50-image BBBC039 test split, against ``stardist.matching.matching``.

Predictions are the ground truth eroded by one pixel (every object loses its rim) and, for
every other image, perturbed further (5 % of objects dropped, shifted by one pixel); they
are built before any timing. Both methods see the same label images. Ours computes the full
result (F1 curve, Jaccard, size bins, splits, merges) from one overlap per image; StarDist
gets all nine thresholds in one call per image (it also reuses one overlap table).

Usage::

    NUCSEG_ZOO_BBBC039_MIRROR=/path/to/bbbc039 python benchmarks/bench_metrics.py [--repeats 5]

Reported times are the best of ``--repeats`` runs (median alongside); on a shared machine
expect noise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from scipy import ndimage as ndi

MIRROR_VAR = "NUCSEG_ZOO_BBBC039_MIRROR"
TOTAL_TARGET_S = 1.0
SPEEDUP_TARGET = 3.0


def _prediction(labels: np.ndarray, rng: np.random.Generator, perturb: bool) -> np.ndarray:
    uniform = ndi.minimum_filter(labels, 3) == ndi.maximum_filter(labels, 3)
    pred = np.where(uniform, labels, 0)
    if perturb:
        ids = np.unique(labels[labels > 0])
        pred[np.isin(pred, rng.choice(ids, size=len(ids) // 20, replace=False))] = 0
        pred = np.roll(pred, 1, axis=1)
    return pred


def _time(run: Callable[[], object], repeats: int) -> list[float]:
    run()  # warm-up (numba compilation for StarDist, imports, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per method (default 5)")
    args = parser.parse_args()
    if not os.environ.get(MIRROR_VAR):
        sys.exit(f"{MIRROR_VAR} is not set: point it at a BBBC039 mirror folder "
                 f"(e.g. {MIRROR_VAR}=/work/shared/data/bbbc039) to run this benchmark.")

    from stardist.matching import matching

    from nucseg_zoo import datasets
    from nucseg_zoo.metrics import THRESHOLDS, match, score_image, summarize

    split = datasets.load("bbbc039", split="test")
    rng = np.random.default_rng(0)
    names = list(split.names)
    truths = [sample.labels for sample in split]
    preds = [_prediction(y, rng, perturb=i % 2 == 1) for i, y in enumerate(truths)]
    pairs = list(zip(names, truths, preds, strict=True))

    def ours() -> dict:
        scores = summarize(score_image(y_true, y_pred, name=name) for name, y_true, y_pred in pairs)
        return scores.to_dict()  # includes every aggregate, so none is left uncomputed

    def ours_overlap_only() -> object:
        return [match(y_true, y_pred) for _, y_true, y_pred in pairs]

    def stardist() -> object:
        return [matching(y_true, y_pred, thresh=THRESHOLDS) for _, y_true, y_pred in pairs]

    results = {
        "nucseg_zoo score_image + summarize": _time(ours, args.repeats),
        "nucseg_zoo match (overlap only)": _time(ours_overlap_only, args.repeats),
        "stardist matching (9 thresholds)": _time(stardist, args.repeats),
    }
    reference = min(results["stardist matching (9 thresholds)"])

    n = len(pairs)
    summary = ours()
    print(f"BBBC039 test split: {n} images, {summary['n_true']} GT objects, {summary['n_pred']} predicted "
          f"(average F1 {summary['average_f1']:.4f}); best of {args.repeats} runs (median in brackets)")
    header = f"{'method':<38} {'total s':>18} {'s / image':>10} {'stardist / this':>16}"
    print(header)
    print("-" * len(header))
    for method, times in results.items():
        best = min(times)
        total = f"{best:.3f} ({statistics.median(times):.3f})"
        print(f"{method:<38} {total:>18} {best / n:>10.4f} {reference / best:>15.1f}x")

    best_ours = min(results["nucseg_zoo score_image + summarize"])
    print(f"\ntarget total < {TOTAL_TARGET_S:.1f} s: {best_ours:.3f} s "
          f"({'met' if best_ours < TOTAL_TARGET_S else 'NOT met'}); "
          f"target speed-up >= {SPEEDUP_TARGET:.0f}x: {reference / best_ours:.1f}x "
          f"({'met' if reference / best_ours >= SPEEDUP_TARGET else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

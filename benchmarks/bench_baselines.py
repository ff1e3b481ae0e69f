"""Benchmark: single-core seconds per image of the classical baselines.

Segments a few BBBC039 test images (timing only; nothing is scored) with each baseline
from :func:`nucseg_zoo.baselines.get_baseline`, one thread for every numerical library,
and compares with the paper's CellProfiler timings on one CPU core (Caicedo et al. 2019:
2.2 s basic, 4.3 s advanced; no timing is published for the ilastik random forest).

Usage::

    NUCSEG_ZOO_BBBC039_MIRROR=/path/to/bbbc039 python benchmarks/bench_baselines.py [--images 5] [--repeats 2]

Without a mirror it times the three bundled sample images instead. Reported times are the
best of ``--repeats`` passes over the images (median in brackets); on a shared machine
expect noise. Runs in well under 2 minutes.
"""

from __future__ import annotations

import os

# One thread everywhere, set before numpy / scipy / sklearn load their thread pools.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

MIRROR_VAR = "NUCSEG_ZOO_BBBC039_MIRROR"
PAPER_SECONDS = {"cp-basic": 2.2, "cp-advanced": 4.3, "random-forest": None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5, help="test images to time (default 5)")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes per baseline (default 2)")
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from nucseg_zoo import datasets
    from nucseg_zoo.baselines import get_baseline, list_baselines

    if os.environ.get(MIRROR_VAR):
        split = datasets.load("bbbc039", split="test")
    else:
        print(f"${MIRROR_VAR} not set: timing the bundled sample images")
        split = datasets.load("bbbc039-sample", split="test")
    images = [sample.image for sample in list(split)[: args.images]]

    print(f"{len(images)} images of {images[0].shape}, 1 thread; best of {args.repeats} passes (median)")
    header = f"{'baseline':<14} {'s / image':>16} {'paper (CellProfiler, 1 core)':>30} {'paper / ours':>13}"
    print(header)
    print("-" * len(header))
    with threadpool_limits(limits=1):
        for name in list_baselines():
            baseline = get_baseline(name)
            baseline.segment(images[0])  # warm-up: lazy imports, caches
            passes = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                for image in images:
                    baseline.segment(image)
                passes.append((time.perf_counter() - start) / len(images))
            best, median = min(passes), statistics.median(passes)
            paper = PAPER_SECONDS[name]
            paper_text = f"{paper:.1f}" if paper else "n/a"
            ratio = f"{paper / best:.1f}x" if paper else "-"
            print(f"{name:<14} {f'{best:.3f} ({median:.3f})':>16} {paper_text:>30} {ratio:>13}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

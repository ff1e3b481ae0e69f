"""Measure one source's inference cost in a process of its own (run by :mod:`~nucseg_zoo.leaderboard.costs`).

    python -m nucseg_zoo.leaderboard.cost_probe SPEC --images IMAGES.npz --threads N [--device cpu] [--count-flops]

The process is pinned to ``N`` of the CPUs it may use (``os.sched_setaffinity`` where the
platform has it) and its thread pools are sized to ``N`` by the caller's environment
(:data:`THREAD_VARIABLES`, read by torch and the other libraries when they are imported), so
"1 core" means one core. Nothing is imported that the source does not need. It opens ``SPEC`` with :func:`nucseg_zoo.segmenters.get_segmenter`, segments the first
image once untimed (model loading, oneDNN primitive creation), then every image timed, and
prints one JSON line: ``seconds`` per image, their median ``seconds_per_image``, the
process's ``peak_memory_mib`` (resident-set high-water mark: Python, libraries, model and the
largest image's intermediates together, what a user's process needs), ``cpus``, ``device``
and, with ``--count-flops``, ``gflop_per_image``: the floating-point operations of torch's
matrix multiplications and convolutions during one more ``segment`` of the first image,
counted by :class:`torch.utils.flop_counter.FlopCounterMode` (a multiply-add is 2 FLOPs;
null for a source that runs no torch network).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Sequence

import numpy as np

THREAD_VARIABLES: tuple[str, ...] = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                     "NUMBA_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
"""Environment variables that size the thread pools of torch, NumPy's BLAS, numba and TensorFlow."""


def pin_to_cpus(n: int) -> int:
    """Restrict this process to ``n`` of its allowed CPUs; return how many it may use now.

    Raises:
        ValueError: ``n`` < 1 or more CPUs than the process may use.
    """
    if not hasattr(os, "sched_setaffinity"):
        return n  # not Linux: the thread pools alone are sized
    allowed = sorted(os.sched_getaffinity(0))
    if not 1 <= n <= len(allowed):
        raise ValueError(f"--threads {n}: this process may use {len(allowed)} CPUs")
    os.sched_setaffinity(0, allowed[:n])
    return len(os.sched_getaffinity(0))


def peak_memory_mib() -> float:
    """This process's resident-set high-water mark, MiB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def measure(segment, images: Sequence[np.ndarray], *, count_flops: bool) -> dict:
    """Time ``segment`` on ``images`` after one untimed call on the first; see the module docstring."""
    segment(images[0])
    seconds = []
    for image in images:
        started = time.perf_counter()
        segment(image)
        seconds.append(time.perf_counter() - started)
    result = {"seconds": [round(s, 4) for s in seconds], "seconds_per_image": statistics.median(seconds),
              "peak_memory_mib": round(peak_memory_mib(), 1), "gflop_per_image": None}
    if count_flops and "torch" in sys.modules:  # a source without torch runs no network to count
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            segment(images[0])
        flops = counter.get_total_flops()
        result["gflop_per_image"] = flops / 1e9 if flops else None
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a source spec (zoo id, baseline, package, module:callable)")
    parser.add_argument("--images", required=True, help=".npz of 2-D images, segmented in the file's order")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--count-flops", action="store_true")
    args = parser.parse_args(argv)
    cpus = pin_to_cpus(args.threads) if args.device == "cpu" else None
    from nucseg_zoo.hardware import cpu_name, describe_device
    from nucseg_zoo.segmenters import get_segmenter

    with np.load(args.images) as archive:
        images = [archive[name] for name in archive.files]
    segmenter = get_segmenter(args.source, device=args.device)
    result = measure(segmenter.segment, images, count_flops=args.count_flops)
    # torch (its pool sized by the environment) only where the source imported it: a classical
    # baseline's memory is its own
    device = describe_device(args.device) if "torch" in sys.modules else f"cpu: {cpu_name()} ({args.threads} threads)"
    print(json.dumps({**result, "threads": args.threads, "cpus": cpus, "device": device}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

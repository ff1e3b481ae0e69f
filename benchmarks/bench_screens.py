"""A screen on this machine: images/s and peak memory of ``nucseg-zoo segment``, one process vs a
Dask LocalCluster, for a zoo model and a baseline, in one run.

    python benchmarks/bench_screens.py [--models unet-bbbc039 cp-basic] [--workers 2] [--images 200]

The images are the BBBC039 dataset's (all 200 of the three splits, 520×696 uint16; the
dataset comes from its configured source, e.g. ``$NUCSEG_ZOO_BBBC039_MIRROR``), written as
TIFFs into a temporary folder. Each configuration runs ``nucseg-zoo segment MODEL FOLDER
--out NEW_FOLDER`` in a fresh process, so the time includes starting Python, loading the
model and (for the cluster) starting the workers, as a user sees it. *peak memory* is the
largest sum of the resident set sizes of the command's whole process tree (the command,
the scheduler and the workers), sampled every 0.1 s with psutil. Zoo models run in fp32, the
default precision (``--precision bf16`` is faster on CPUs with native bf16); the CPU's
capability is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import tifffile

from nucseg_zoo.hardware import cpu_flags, cpu_name


def cpu_capability() -> str:
    """CPU model and the vector/matrix extensions that decide torch's speed here."""
    model, flags = cpu_name(), cpu_flags()
    extensions = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    return f"{model}, {os.cpu_count()} logical cores, {' '.join(extensions) or 'no AVX2'}"


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_segment(model: str, folder: Path, out: Path, workers: int | None) -> tuple[float, int, int]:
    """Wall seconds, peak tree RSS (bytes) and exit status of one ``nucseg-zoo segment`` run."""
    command = [sys.executable, "-m", "nucseg_zoo.cli", "segment", model, str(folder), "--out", str(out),
               "--no-progress"]
    if workers:
        command += ["--workers", str(workers)]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    process, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        peak = max(peak, _tree_rss(process))
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    if child.returncode:
        print(child.stderr.read()[-2000:], file=sys.stderr)
    return seconds, peak, child.returncode


def main() -> None:
    from nucseg_zoo import datasets

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["unet-bbbc039", "cp-basic"])
    parser.add_argument("--workers", type=int, default=2, help="workers of the LocalCluster configuration")
    parser.add_argument("--images", type=int, default=200, help="how many of the 200 BBBC039 images")
    args = parser.parse_args()

    print(f"CPU: {cpu_capability()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "screen"
        folder.mkdir()
        count = 0
        for split in ("training", "validation", "test"):
            for sample in datasets.load("bbbc039", split):
                if count < args.images:
                    tifffile.imwrite(folder / f"{sample.name}.tif", sample.image)
                    count += 1
        print(f"{count} BBBC039 images (520x696 uint16)\n")
        print(f"{'model':<16} {'run':<22} {'seconds':>8} {'images/s':>9} {'peak memory GB':>15} {'speed-up':>9}")
        for model in args.models:
            baseline = None
            for label, workers in (("1 process", None), (f"LocalCluster {args.workers} workers", args.workers)):
                out = Path(tmp) / f"out-{model}-{workers}"
                seconds, peak, status = run_segment(model, folder, out, workers)
                shutil.rmtree(out, ignore_errors=True)
                baseline = baseline or seconds
                mark = "" if status == 0 else f"  (exit {status})"
                print(f"{model:<16} {label:<22} {seconds:8.1f} {count / seconds:9.2f} {peak / 1e9:15.2f} "
                      f"{baseline / seconds:8.2f}x{mark}", flush=True)


if __name__ == "__main__":
    main()

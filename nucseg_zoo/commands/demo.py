"""``nucseg-zoo demo``: the main job on the bundled sample, offline, in seconds.

Loads and verifies the three bundled BBBC039 test images, segments them with the fast
segmenters (:data:`FAST_SEGMENTERS`; ``--all``: every trained zoo model and classical
baseline; ``--model ID``: the segmenters named), scores the results against the ground truth
with the paper's metrics and prints a table, then says how long each segmenter took and
which ones it left out. ``--out DIR`` also writes the label images (TIFF) and an overview
figure (PNG) per segmenter, each atomically; files from an earlier run are not replaced
unless ``--overwrite`` (checked before any work).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FAST_SEGMENTERS = ("unet-bbbc039-fast", "cp-basic", "cp-advanced", "random-forest")
"""What the demo runs by default: the segmenters that take at most a few seconds per
696 x 520 field on a laptop CPU, so that the table prints in seconds. Measured per image on a
2-core AMD EPYC shared with other jobs: cp-basic 0.15 s, cp-advanced 0.2 s, random-forest
1.0 s, unet-bbbc039-fast 2.4 s; left out: unet-bbbc039 8.9 s and the deepcell-bbbc039
ensemble about 40 s (``--all`` runs them too)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="segment and score the bundled BBBC039 sample (offline)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", action="append", metavar="ID",
                       help=f"segmenter to run (repeatable; default: the fast ones, {', '.join(FAST_SEGMENTERS)})")
    which.add_argument("--all", action="store_true",
                       help="run every trained zoo model and baseline (the slower ones take minutes on a CPU)")
    parser.add_argument("--out", type=Path, help="write label images and an overview PNG here")
    parser.add_argument("--overwrite", action="store_true", help="replace files that --out holds from an earlier run")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import time

    from nucseg_zoo import datasets
    from nucseg_zoo._atomic import refuse_to_overwrite
    from nucseg_zoo.segmenters import open_segmenter, resolve_source
    from nucseg_zoo.metrics import score_image, summarize

    names = chosen_segmenters(args)
    sources = {name: resolve_source(name) for name in names}  # an unknown name stops the run before any output
    samples = datasets.load("bbbc039-sample", split="test")
    if args.out and not args.overwrite:
        for name in names:
            for path in _output_paths(args.out / name, samples):
                refuse_to_overwrite(path, what="demo output")
    fast_only = not (args.model or args.all)
    print(f"bbbc039-sample: {len(samples)} test images verified against the BBBC039 manifest", file=sys.stderr)
    which = " (the fast segmenters; --all: every one)" if fast_only else ""
    print(f"segmenting them with {', '.join(names)}{which}", file=sys.stderr)
    truths = {sample.name: sample.labels for sample in samples}
    # columns as wide as the longest segmenter and image name: nothing is cut (rows stream as they are scored)
    w_name = max(len("segmenter"), *map(len, names))
    w_image = max(len("image"), *map(len, samples.names))
    print(f"{'segmenter':<{w_name}} {'image':<{w_image}} {'nuclei':>6} {'found':>6} {'avg F1':>7} {'err@0.7':>8} "
          f"{'s/img':>6}")
    timings = {}
    for name in names:
        started = time.perf_counter()
        segmenter = open_segmenter(sources[name])[0]
        load_seconds = time.perf_counter() - started
        results, outputs, segment_seconds = [], {}, []
        for sample in samples:
            started = time.perf_counter()
            labels = segmenter.segment(sample.image)
            seconds = time.perf_counter() - started
            segment_seconds.append(seconds)
            outputs[sample.name] = labels
            scores = score_image(truths[sample.name], labels, name=sample.name)
            results.append(scores)
            one = summarize([scores])
            print(f"{name:<{w_name}} {sample.name:<{w_image}} {scores.n_true:>6} {scores.n_pred:>6} "
                  f"{one.average_f1:>7.3f} {one.error_rate:>8.1%} {seconds:>6.2f}")
        total = summarize(results)
        print(f"{name:<{w_name}} {'all':<{w_image}} {total.n_true:>6} {total.n_pred:>6} {total.average_f1:>7.3f} "
              f"{total.error_rate:>8.1%}")
        timings[name] = (load_seconds, segment_seconds)
        if args.out:
            _write_outputs(args.out / name, samples, outputs)
    left_out = [name for name in every_segmenter() if name not in names] if fast_only else []
    print(_timing_report(timings, left_out=left_out), file=sys.stderr)
    return 0


def every_segmenter() -> list[str]:
    """Every trained zoo model, then every classical baseline (what ``--all`` runs)."""
    from nucseg_zoo.baselines import list_baselines
    from nucseg_zoo.zoo import list_models
    from nucseg_zoo.zoo.entry import read_entry

    trained = [m for m in list_models() if read_entry(m).trained]
    return trained + list_baselines()


def chosen_segmenters(args: argparse.Namespace) -> list[str]:
    """The segmenters the demo runs: ``--model``'s in their order, every one with ``--all``, else
    :data:`FAST_SEGMENTERS` (in the order of :func:`every_segmenter`)."""
    if args.model:
        return list(args.model)
    every = every_segmenter()
    return every if args.all else [name for name in every if name in FAST_SEGMENTERS]


def _timing_report(timings: dict[str, tuple[float, list[float]]], *, left_out: list[str]) -> str:
    """Lines saying how long each segmenter took (loading, then per image) and how to run those
    ``left_out``."""
    total = sum(load + sum(per_image) for load, per_image in timings.values())
    width = max(map(len, timings))
    lines = [f"time per segmenter, {total:.1f} s in all:"]
    for name, (load, per_image) in timings.items():
        lines.append(f"  {name:<{width}} {load + sum(per_image):6.1f} s (loading {load:.1f} s, "
                     f"{sum(per_image) / len(per_image):.2f} s per image)")
    if left_out:
        lines += [f"not run (slower on a CPU): {', '.join(left_out)}",
                  "`nucseg-zoo demo --all` runs every model, `--model ID` (repeatable) the ones named"]
    return "\n".join(lines)


def _output_paths(out_dir: Path, samples) -> list[Path]:
    return [out_dir / f"{sample.name}.tif" for sample in samples] + [out_dir / "overview.png"]


def _write_outputs(out_dir: Path, samples, outputs: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import tifffile
    from skimage.color import label2rgb

    from nucseg_zoo._atomic import atomic_path
    from nucseg_zoo._text import count

    out_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(len(samples), 2, figsize=(10, 3.8 * len(samples)), squeeze=False)
    for row, sample in zip(axes, samples):
        labels = outputs[sample.name]
        with atomic_path(out_dir / f"{sample.name}.tif") as tmp:
            tifffile.imwrite(tmp, labels, compression="zlib")
        row[0].imshow(sample.image, cmap="gray")
        row[0].set_title(f"{sample.name[:24]} (input)", fontsize=8)
        row[1].imshow(label2rgb(labels, bg_label=0))
        row[1].set_title(count(int(labels.max()), "object"), fontsize=8)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    with atomic_path(out_dir / "overview.png") as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    print(f"wrote {len(samples)} label images and overview.png to {out_dir}", file=sys.stderr)

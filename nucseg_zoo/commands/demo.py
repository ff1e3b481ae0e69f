"""``nucseg-zoo demo``: the main job on the bundled sample, offline.

Loads and verifies the three bundled BBBC039 test images, segments them with every
trained zoo model and classical baseline (or the segmenters named with ``--model``),
scores the results against the ground truth with the paper's metrics and prints a table. ``--out DIR`` also writes the
label images (TIFF) and an overview figure (PNG) per segmenter, each atomically; files from an
earlier run are not replaced unless ``--overwrite`` (checked before any work).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="segment and score the bundled BBBC039 sample (offline)")
    parser.add_argument("--model", action="append",
                        help="segmenter to run (repeatable; default: every trained zoo model and baseline)")
    parser.add_argument("--out", type=Path, help="write label images and an overview PNG here")
    parser.add_argument("--overwrite", action="store_true", help="replace files that --out holds from an earlier run")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import time

    from nucseg_zoo import datasets
    from nucseg_zoo._atomic import refuse_to_overwrite
    from nucseg_zoo.segmenters import open_segmenter, resolve_source
    from nucseg_zoo.metrics import score_image, summarize

    names = args.model or _default_segmenters()
    sources = {name: resolve_source(name) for name in names}  # an unknown name stops the run before any output
    samples = datasets.load("bbbc039-sample", split="test")
    if args.out and not args.overwrite:
        for name in names:
            for path in _output_paths(args.out / name, samples):
                refuse_to_overwrite(path, what="demo output")
    print(f"bbbc039-sample: {len(samples)} test images verified against the BBBC039 manifest", file=sys.stderr)
    truths = {sample.name: sample.labels for sample in samples}
    # columns as wide as the longest segmenter and image name: nothing is cut (rows stream as they are scored)
    w_name = max(len("segmenter"), *map(len, names))
    w_image = max(len("image"), *map(len, samples.names))
    print(f"{'segmenter':<{w_name}} {'image':<{w_image}} {'nuclei':>6} {'found':>6} {'avg F1':>7} {'err@0.7':>8} "
          f"{'s/img':>6}")
    for name in names:
        segmenter = open_segmenter(sources[name])[0]
        results, outputs = [], {}
        for sample in samples:
            started = time.perf_counter()
            labels = segmenter.segment(sample.image)
            seconds = time.perf_counter() - started
            outputs[sample.name] = labels
            scores = score_image(truths[sample.name], labels, name=sample.name)
            results.append(scores)
            one = summarize([scores])
            print(f"{name:<{w_name}} {sample.name:<{w_image}} {scores.n_true:>6} {scores.n_pred:>6} "
                  f"{one.average_f1:>7.3f} {one.error_rate:>8.1%} {seconds:>6.2f}")
        total = summarize(results)
        print(f"{name:<{w_name}} {'all':<{w_image}} {total.n_true:>6} {total.n_pred:>6} {total.average_f1:>7.3f} "
              f"{total.error_rate:>8.1%}")
        if args.out:
            _write_outputs(args.out / name, samples, outputs)
    return 0


def _default_segmenters() -> list[str]:
    from nucseg_zoo.baselines import list_baselines
    from nucseg_zoo.zoo import list_models
    from nucseg_zoo.zoo.entry import read_entry

    trained = [m for m in list_models() if read_entry(m).trained]
    return trained + list_baselines()


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

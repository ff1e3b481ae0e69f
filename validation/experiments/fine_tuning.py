"""How many annotated images fine-tuning a zoo model takes to beat it on a set it never saw.

    python validation/experiments/fine_tuning.py [--model unet-bbbc039-fast] [--sizes 2 4 8 16 32]
        [--repeats 3] [--steps 300] [--image-shape 360x360] [--mirror FOLDER] [--resume]

One imaging set of DSB2018-fluo stands in for a lab's own screen: no zoo model was trained on
DSB2018, and its BBBC039 fields are in none of its splits (its card). The set is the images of
one size, 360 x 360 px by default (62 training, 14 validation images of large nuclei, per-image
median diameters about 37-52 px, against 28 px in BBBC039): the images of a screen share their
microscope and magnification, unlike DSB2018 as a whole. For each size n and repeat r, n images
are drawn (seeded by n and r) from the set's training images and written as an annotated folder
(image and label TIFFs); ``nucseg-zoo train MODEL --images ... --labels ... --out ...``
(:func:`nucseg_zoo.training.fine_tune.fine_tune`, default options but ``--steps``) fine-tunes the
model on it, holding out 20 % of the n images (at least one) for the epoch and the
postprocessing. The resulting entry and the starting model are both scored on the set's
validation images (each model with its own postprocessing, fp32); the starting model also with
``diameter`` set to each image's median ground-truth nucleus diameter. The test split is never
read. Times are the whole ``fine_tune`` call on this machine's CPU (named in the file).

Writes ``validation/experiments/fine_tuning.json`` (atomically, after every run; ``--resume``
keeps the runs already done) and ``fine_tuning.png``; ``nucseg-zoo leaderboard`` puts the table
on the fine-tuning page.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

import nucseg_zoo
from nucseg_zoo import datasets
from nucseg_zoo._atomic import write_text_atomically
from nucseg_zoo.hardware import describe_cpu
from nucseg_zoo.metrics import score_image, summarize
from nucseg_zoo.screens.sizes import median_diameter
from nucseg_zoo.segmenters.rescaled import RescaledSegmenter
from nucseg_zoo.training.fine_tune import STEPS, fine_tune, score_summary

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "fine_tuning.json"
FIGURE = ROOT / "fine_tuning.png"
DATASET = "dsb2018-fluo"
IMAGE_SHAPE = "360x360"
SIZES = (2, 4, 8, 16, 32)
REPEATS = 3
log = logging.getLogger("fine_tuning")


def draw(names: list[str], n: int, repeat: int) -> list[str]:
    """The ``n`` training images of run (``n``, ``repeat``): a draw seeded by both, sorted."""
    order = np.random.default_rng([20261208, n, repeat]).permutation(len(names))
    return sorted(names[i] for i in order[:n])


def scores(segmenter, samples) -> dict:
    """Average F1, F1 at IoU 0.5, missed at 0.7 and extra objects of ``segmenter`` on ``samples``."""
    return score_summary(summarize([score_image(s.labels, segmenter.segment(s.image), name=s.name) for s in samples]))


def write_folder(samples, folder: Path) -> None:
    """``samples`` as an annotated folder: ``images/NAME.tif`` and ``labels/NAME.tif``."""
    for sub in ("images", "labels"):
        (folder / sub).mkdir(parents=True)
    for sample in samples:
        tifffile.imwrite(folder / "images" / f"{sample.name}.tif", sample.image)
        tifffile.imwrite(folder / "labels" / f"{sample.name}.tif", sample.labels.astype(np.uint16))


def plot(data: dict, path: Path) -> None:
    """Validation average F1 against annotated images: every run, their means, the starting model."""
    import matplotlib.pyplot as plt

    runs, start = data["runs"], data["starting_model"]["validation"]["average_f1"]
    sizes = sorted({run["n_images"] for run in runs})
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    ax.scatter([r["n_images"] for r in runs], [r["validation"]["average_f1"] for r in runs], s=14, alpha=0.5,
               color="tab:blue", label="one fine-tuning")
    means = [np.mean([r["validation"]["average_f1"] for r in runs if r["n_images"] == n]) for n in sizes]
    ax.plot(sizes, means, "o-", color="tab:blue", label="mean of repeats")
    ax.axhline(start, color="tab:red", linestyle="--", label=f"{data['model']} (start), {start:.3f}")
    given = data["starting_model"]["validation_with_diameter"]["average_f1"]
    ax.axhline(given, color="tab:orange", linestyle=":", label=f"{data['model']} with diameter, {given:.3f}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.set_xlabel("annotated images (20 % of them held out)")
    ax.set_ylabel(f"average F1, {data['n_validation_images']} validation images")
    ax.set_title(f"Fine-tuning {data['model']}\non one imaging set of {data['dataset']} ({data['image_shape']} px)",
                 fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="unet-bbbc039-fast")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--image-shape", default=IMAGE_SHAPE, help="HxW of the imaging set's images")
    parser.add_argument("--mirror", help="DSB2018 mirror (default: NUCSEG_ZOO_DSB2018_FLUO_MIRROR)")
    parser.add_argument("--resume", action="store_true", help="keep the runs already in the output file")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    shape = tuple(int(side) for side in args.image_shape.split("x"))
    training = datasets.load(DATASET, "training", mirror=args.mirror)
    names = [sample.name for sample in training if sample.image.shape == shape]
    validation = [s for s in datasets.load(DATASET, "validation", mirror=args.mirror) if s.image.shape == shape]
    config = {"model": args.model, "dataset": DATASET, "image_shape": args.image_shape, "steps": args.steps,
              "holdout": 0.2}
    data = json.loads(args.out.read_text()) if args.resume and args.out.is_file() else None
    if data is not None and {k: data[k] for k in config} != config:
        raise SystemExit(f"{args.out} was made with {({k: data[k] for k in config})}, not {config}: "
                         "leave out --resume to start again")
    if data is None:
        log.info("scoring %s on %s validation", args.model, DATASET)
        model = nucseg_zoo.get_segmenter(args.model)
        with_diameter = summarize([score_image(s.labels, RescaledSegmenter(model, median_diameter(s.labels),
                                                                           model.training_diameter).segment(s.image),
                                               name=s.name) for s in validation])
        data = {**config, "cpu": describe_cpu(), "n_training_images_in_set": len(names),
                "n_validation_images": len(validation),
                "starting_model": {"validation": scores(model, validation),
                                   "validation_with_diameter": {"average_f1": round(with_diameter.average_f1, 4),
                                                                "f1_at_0.5": round(with_diameter.f1[0.5], 4)}},
                "runs": []}
    done = {(run["n_images"], run["repeat"]) for run in data["runs"]}
    for n in args.sizes:
        for repeat in range(args.repeats):
            if (n, repeat) in done:
                continue
            chosen = draw(names, n, repeat)
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                write_folder([training[name] for name in chosen], folder)
                started = time.perf_counter()
                result = fine_tune(args.model, folder / "images", folder / "labels", folder / "entry",
                                   entry_id=f"ft-{n}-{repeat}", steps=args.steps, seed=repeat, progress=False)
                seconds = time.perf_counter() - started
                validation_scores = scores(nucseg_zoo.get_segmenter(str(result.entry_dir)), validation)
            record = result.record
            data["runs"].append({
                "n_images": n, "repeat": repeat, "images": chosen,
                "n_training_images": record["n_training_images"], "n_held_out_images": record["n_held_out_images"],
                "seconds": round(seconds, 1), "training_seconds": record["training_seconds"],
                "held_out": {"starting_model": record["starting_model"]["average_f1"],
                             "fine_tuned": record["fine_tuned"]["average_f1"]},
                "validation": validation_scores})
            log.info("n=%d repeat %d: validation average F1 %.4f (start %.4f), %.0f s", n, repeat,
                     validation_scores["average_f1"], data["starting_model"]["validation"]["average_f1"], seconds)
            write_text_atomically(args.out, json.dumps(data, indent=2) + "\n")
    plot(data, args.out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

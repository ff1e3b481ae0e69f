"""How many annotated images are enough: the paper's Fig. 5 on this package's U-Net.

    python validation/experiments/training_set_size.py [--resume] [--runs runs/training_set_size]
        [--model unet-bbbc039-fast] [--sizes 2 4 6 8 10 20 40 60 80 100] [--repeats 3]
        [--steps 400] [--batch-size 8] [--crop-size 128] [--device cpu] [--mirror FOLDER]

For each repeat, augmentation and training-set size n, a U-Net of the zoo entry ``--model``'s
architecture is trained from scratch on n images drawn at random (without replacement within
a subset, independently per repeat; the same subsets for both augmentations) from BBBC039's
100 training images, with the entry's recipe except for:

* ``train_images``: the subset;
* augmentation — *basic*: flips, 90° rotations and random crops (the paper's basic set; no
  gain, offset, hot pixels, blank fields or black frames); *extra*: basic plus elastic
  deformations (alpha 30 px, sigma 6 px);
* no distillation (its teacher learned all 100 images), no warm start, no weight averaging,
  one view (no test-time rotations: the paper's U-Net had none);
* the optimizer of the architecture's from-scratch training (:data:`FROM_SCRATCH`);
* a budget of ``--steps`` optimizer steps of ``--batch-size`` crops of ``--crop-size`` px in
  one epoch for every n, the learning-rate schedule (warm-up, cosine decay) spread over it;
  seed = the recipe's seed + repeat.

Each run is scored on the **validation** split, as the paper did, with the output kind's
default postprocessing (not tuned per run), in the precision it was trained in (bf16 where
the CPU has it, see :func:`nucseg_zoo.inference.default_precision`); ``cp-advanced`` (its parameters were chosen on
validation) is scored there too and drawn as the dotted line. The test split is never read.

Runs are taken repeat by repeat, so an interrupted experiment already holds whole curves.
Each finished run is added to ``validation/experiments/training_set_size.json`` at once
(atomically); ``--resume`` skips finished runs and continues an interrupted one from its
``last.pt``. The summary (:func:`nucseg_zoo.leaderboard.learning_curve.summarize_runs`), the
comparison with the paper (:func:`~nucseg_zoo.leaderboard.learning_curve.findings`) and the
figure ``training_set_size.png`` are rewritten after every run; ``nucseg-zoo leaderboard``
puts them on the results page.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from nucseg_zoo import datasets
from nucseg_zoo._atomic import write_text_atomically
from nucseg_zoo.evaluation import evaluate_source
from nucseg_zoo.hardware import describe_device
from nucseg_zoo.inference import default_precision
from nucseg_zoo.leaderboard.learning_curve import (
    LEARNING_CURVE_FIGURE,
    LEARNING_CURVE_FILE,
    findings,
    plot_learning_curve,
    run_scores,
    summarize_runs,
)
from nucseg_zoo.postprocessing import get_output_kind
from nucseg_zoo.training.loop import RECIPE_OUTPUT_KIND, build_model, train, validation_predictions, validation_summary
from nucseg_zoo.training.recipe import Augmentation, Recipe, read_recipe
from nucseg_zoo.zoo.entry import read_entry

SIZES = (2, 4, 6, 8, 10, 20, 40, 60, 80, 100)
"""The paper's training-set sizes."""

AUGMENTATIONS = {
    "basic": Augmentation(flips=True, rot90=True, gain=(1.0, 1.0), offset=(0.0, 0.0)),
    "extra": Augmentation(flips=True, rot90=True, gain=(1.0, 1.0), offset=(0.0, 0.0),
                          elastic={"alpha": 30.0, "sigma": 6.0}),
}
"""The paper's two augmentation sets (its Fig. 5 legend)."""

FROM_SCRATCH = {"optimizer": {"name": "adam", "lr": 2.0e-3, "weight_decay": 0.0},
                "schedule": {"warmup_steps": 100, "final_lr": 1.0e-5}}
"""The fast U-Net's from-scratch optimizer (its recipe version 1; later versions fine-tune at
3e-4): Adam 2e-3, linear warm-up over 1/20 of the steps (at least 10), cosine decay to 1e-5."""

BASELINE = "cp-advanced"
"""The dotted line: the paper's CellProfiler advanced pipeline."""

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("training_set_size")


def subset(names: tuple[str, ...], n: int, seed: int, repeat: int) -> list[str]:
    """n of ``names`` drawn without replacement by a generator seeded by (seed, n, repeat), in split order."""
    rng = np.random.default_rng([seed, n, repeat])
    chosen = set(rng.choice(len(names), size=n, replace=False).tolist())
    return [name for i, name in enumerate(names) if i in chosen]


def run_recipe(base: Recipe, *, images: list[str], augmentation: str, steps: int, repeat: int,
               batch_size: int = 8, crop_size: int = 128) -> Recipe:
    """The recipe of one run (see the module docstring)."""
    one_view = dataclasses.replace(base.architecture, kwargs={**base.architecture.kwargs, "test_time_rotations": [0]})
    return dataclasses.replace(base, architecture=one_view, train_images=tuple(images),
                               augmentation=AUGMENTATIONS[augmentation],
                               distillation=None, init_from=None, weight_averaging=None, epochs=1,
                               steps_per_epoch=steps, batch_size=batch_size, crop_size=crop_size,
                               seed=base.seed + repeat,
                               optimizer=FROM_SCRATCH["optimizer"],
                               schedule={**FROM_SCRATCH["schedule"], "warmup_steps": max(10, steps // 20)})


def score_run(recipe: Recipe, weights: Path, samples, device: str, precision: str) -> dict:
    """Validation scores of the best state dict ``weights`` with the kind's default postprocessing."""
    torch_device = torch.device(device)
    model = build_model(recipe).to(torch_device).to(memory_format=torch.channels_last)
    model.load_state_dict(torch.load(weights, map_location=torch_device, weights_only=True))
    outputs = validation_predictions(model, samples, recipe, torch_device, precision)
    kind = get_output_kind(RECIPE_OUTPUT_KIND)
    return run_scores(validation_summary(outputs, [s.labels for s in samples], kind.params(), kind=kind))


def write_results(path: Path, data: dict) -> None:
    """The results file, with its summary and findings recomputed, and the figure."""
    data["summary"] = summarize_runs(data["runs"])
    data["findings"] = findings(data["summary"], data["baseline"])
    write_text_atomically(path, json.dumps(data, indent=1) + "\n")
    plot_learning_curve(data, path.parent / Path(LEARNING_CURVE_FIGURE).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resume", action="store_true", help="continue the experiment in its results file")
    parser.add_argument("--runs", type=Path, default=Path("runs/training_set_size"), help="run folders")
    parser.add_argument("--out", type=Path, default=ROOT / LEARNING_CURVE_FILE)
    parser.add_argument("--model", default="unet-bbbc039-fast")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop-size", type=int, default=128, help="training crop side, px")
    parser.add_argument("--augmentations", nargs="+", choices=sorted(AUGMENTATIONS), default=["basic", "extra"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mirror", help="BBBC039 mirror (default: $NUCSEG_ZOO_BBBC039_MIRROR)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    entry = read_entry(args.model)
    base = read_recipe(entry)
    pool = datasets.load(base.dataset, base.train_split, mirror=args.mirror).names
    if max(args.sizes) > len(pool) or min(args.sizes) < 1:
        parser.error(f"--sizes must lie in 1..{len(pool)} (the {base.dataset} {base.train_split} split's images)")
    config = {"model": args.model, "architecture": entry.raw["architecture"]["summary"].split(";")[0].strip(),
              "sizes": sorted(args.sizes), "repeats": args.repeats, "steps": args.steps, "batch_size": args.batch_size,
              "crop_size": args.crop_size, "precision": default_precision(torch.device(args.device)),
              "augmentations": args.augmentations, "pool": len(pool),
              "trained_on": f"{base.dataset}/{base.train_split}",
              "scored_on": f"{base.dataset}/{base.validation_split}",
              "postprocessing": "the output kind's defaults (not tuned per run)",
              "recipe_version": base.version}
    if args.out.exists():
        data = json.loads(args.out.read_text())
        if not args.resume:
            print(f"{args.out} holds an earlier experiment: pass --resume to continue it "
                  "(or --out another file)", file=sys.stderr)
            return 2
        if {k: data[k] for k in config} != config:
            print(f"{args.out} was made with other settings ({ {k: data[k] for k in config} }); "
                  "pass the same settings, or --out another file", file=sys.stderr)
            return 2
    else:
        data = {**config, "runs": []}
    validation = datasets.load(base.dataset, base.validation_split, mirror=args.mirror)
    if "baseline" not in data:
        evaluation = evaluate_source(BASELINE, dataset=base.dataset, split=base.validation_split, mirror=args.mirror)
        data["baseline"] = {"name": BASELINE, **run_scores(evaluation.scores)}
        data["n_true"] = data["baseline"]["n_true"]

    done = {(r["repeat"], r["augmentation"], r["n"]) for r in data["runs"]}
    for repeat in range(args.repeats):
        for augmentation in args.augmentations:
            for n in sorted(args.sizes):
                if (repeat, augmentation, n) in done:
                    continue
                images = subset(pool, n, base.seed, repeat)
                recipe = run_recipe(base, images=images, augmentation=augmentation, steps=args.steps, repeat=repeat,
                                    batch_size=args.batch_size, crop_size=args.crop_size)
                run_dir = args.runs / f"{augmentation}-n{n:03d}-r{repeat}"
                started = time.perf_counter()
                weights = train(recipe, run_dir, device=args.device, resume=(run_dir / "last.pt").exists(),
                                mirror=args.mirror, progress=False)
                scores = score_run(recipe, weights, validation, args.device, data["precision"])
                data["runs"].append({"n": n, "repeat": repeat, "augmentation": augmentation, "images": images,
                                     "seed": recipe.seed, "scores": scores,
                                     "seconds": round(time.perf_counter() - started, 1),
                                     "device": describe_device(args.device)})
                write_results(args.out, data)
                log.info("%s n=%d repeat %d: validation average F1 %.4f, missed %d, merges %d, splits %d (%.0f s)",
                         augmentation, n, repeat, scores["average_f1"], scores["missed"], scores["merges"],
                         scores["splits"], time.perf_counter() - started)
    write_results(args.out, data)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

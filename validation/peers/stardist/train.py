"""Train the leaderboard's StarDist peer with the stardist library and package it.

    pip install torch==2.13.0 -e ".[tensorflow]"
    NUCSEG_ZOO_BBBC039_MIRROR=... python validation/peers/stardist/train.py --out runs/stardist \\
        [--epochs E --steps-per-epoch S] [--resume]
    nucseg-zoo submit runs/stardist/stardist-bbbc039.zip --name "StarDist 2D" --author "..." \\
        --peer "trained here with the StarDist library" --recipe "validation/peers/stardist (see result.json)"

What it does (recipe: ``recipe.yaml`` beside this file): reads the official BBBC039 splits
through nucseg_zoo's loader, normalises each image by its 1 / 99.8 percentiles, fills label
holes (``stardist.fill_label_holes``), trains ``stardist.models.StarDist2D`` with the recipe's
``Config2D`` and augmentation (``StarDist2D.train``), optimises the probability and NMS
thresholds on the validation split (``StarDist2D.optimize_thresholds``) and writes the
bioimage.io package with :func:`nucseg_zoo.packaging.stardist.export_stardist_package` (the
library's own exporter cannot run under Keras 3; see that module).

Outputs in ``--out``: ``model/`` (the library's model folder: config, weights, thresholds),
``stardist-bbbc039.zip`` and ``result.json`` (the package's sha256, the recipe, the epochs and
steps trained, seconds, library versions). ``--resume`` continues ``model/`` from its last
weights for another ``--epochs`` (Keras' learning-rate plateau state starts afresh) and
re-packages; the package is only written after training and threshold optimisation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

RECIPE = Path(__file__).with_name("recipe.yaml")
PACKAGE = "stardist-bbbc039.zip"


def _augmenter(settings: dict, rng: np.random.Generator):
    """The example notebook's augmentation: flips/rot90 of image and labels together, then an
    intensity change ``x * U(scale) + U(shift)`` of the image."""

    def augment(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if settings.get("rot90"):
            k = int(rng.integers(4))
            x, y = np.rot90(x, k), np.rot90(y, k)
        if settings.get("flips"):
            for axis in (0, 1):
                if rng.random() < 0.5:
                    x, y = np.flip(x, axis), np.flip(y, axis)
        scale = rng.uniform(*settings.get("intensity_scale", (1.0, 1.0)))
        shift = rng.uniform(*settings.get("intensity_shift", (0.0, 0.0)))
        return np.ascontiguousarray(x * scale + shift, dtype=np.float32), np.ascontiguousarray(y)

    return augment


def _split(recipe: dict, split: str, mirror: str | None) -> tuple[list[np.ndarray], list[np.ndarray], list]:
    from stardist import fill_label_holes

    from nucseg_zoo import datasets
    from nucseg_zoo.normalization import PercentileNormalization

    normalize = PercentileNormalization(recipe["normalization"]["min_percentile"],
                                        recipe["normalization"]["max_percentile"], clip=None)  # = scale_range
    samples = datasets.load(recipe["dataset"], split, mirror=mirror)
    return ([normalize(s.image) for s in samples], [fill_label_holes(s.labels) for s in samples], samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--recipe", type=Path, default=RECIPE)
    parser.add_argument("--epochs", type=int, help="epochs to train in this run (default: the recipe's budget)")
    parser.add_argument("--steps-per-epoch", type=int, help="default: the recipe's budget")
    parser.add_argument("--resume", action="store_true", help="continue OUT/model from its last weights")
    parser.add_argument("--mirror", help="dataset mirror (URL or folder)")
    args = parser.parse_args(argv)

    import keras
    import stardist
    import tensorflow as tf
    from stardist.models import Config2D, StarDist2D

    from nucseg_zoo._atomic import write_text_atomically
    from nucseg_zoo._hashing import sha256_of
    from nucseg_zoo.packaging.stardist import export_stardist_package

    recipe = yaml.safe_load(args.recipe.read_text())
    epochs = args.epochs or recipe["budget"]["epochs"]
    steps = args.steps_per_epoch or recipe["budget"]["steps_per_epoch"]
    model_dir, state_path = args.out / "model", args.out / "result.json"
    state = json.loads(state_path.read_text()) if args.resume and state_path.is_file() else None
    if args.resume and state is None:
        parser.error(f"--resume needs an earlier run in {args.out} (no result.json)")
    if not args.resume and model_dir.exists():
        parser.error(f"{model_dir} holds an earlier run; pass --resume to continue it or choose another --out")

    keras.utils.set_random_seed(recipe["seed"] + (state["epochs"] if state else 0))
    x_train, y_train, _ = _split(recipe, recipe["train_split"], args.mirror)
    x_val, y_val, val_samples = _split(recipe, recipe["validation_split"], args.mirror)
    if state:
        model = StarDist2D(None, name="model", basedir=str(args.out))
        model.load_weights("weights_last.h5")
    else:
        config = {**recipe["config"], "train_epochs": epochs, "train_steps_per_epoch": steps}
        config["grid"] = tuple(config["grid"])
        config["train_patch_size"] = tuple(config["train_patch_size"])
        model = StarDist2D(Config2D(**config), name="model", basedir=str(args.out))
    started = time.perf_counter()
    rng = np.random.default_rng([recipe["seed"], state["epochs"] if state else 0])
    model.train(x_train, y_train, validation_data=(x_val, y_val), augmenter=_augmenter(recipe["augmentation"], rng),
                epochs=epochs, steps_per_epoch=steps, seed=recipe["seed"])
    model.load_weights("weights_last.h5")  # the run's final weights (train() leaves the best-val-loss ones)
    search = dict(recipe["thresholds"])
    model.optimize_thresholds(x_val, y_val, nms_threshs=search.pop("nms_threshs"),
                              iou_threshs=search.pop("iou_threshs"), optimize_kwargs=search)
    seconds = time.perf_counter() - started

    package = args.out / PACKAGE
    package.unlink(missing_ok=True)  # derived from model/, rewritten after every run
    export_stardist_package(
        model, package, val_samples[0].image, name="StarDist 2D BBBC039 (trained here)",
        description="StarDist2D trained on the BBBC039 training split with the stardist library "
                    "(nucseg-zoo's StarDist peer; thresholds optimised on the validation split).",
        authors=["nucseg-zoo developers"],
        training_data={"training": {"dataset": recipe["dataset"], "train_split": recipe["train_split"],
                                    "validation_split": recipe["validation_split"]}})
    result = {
        "package": PACKAGE, "sha256": sha256_of(package), "recipe": recipe,
        "epochs": (state["epochs"] if state else 0) + epochs, "steps_per_epoch": steps,
        "runs": [*(state["runs"] if state else []), {"epochs": epochs, "steps_per_epoch": steps,
                                                     "seconds": round(seconds, 1)}],
        "thresholds": {k: float(v) for k, v in model.thresholds._asdict().items()},
        "versions": {"stardist": stardist.__version__, "tensorflow": tf.__version__, "keras": keras.__version__},
    }
    write_text_atomically(state_path, json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("sha256", "epochs", "thresholds")}), file=sys.stderr)
    print(package)
    return 0


if __name__ == "__main__":
    sys.exit(main())

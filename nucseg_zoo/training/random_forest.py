"""Train the random-forest baseline on BBBC039 and tune its postprocessing on validation.

Usage::

    NUCSEG_ZOO_BBBC039_MIRROR=/path/to/bbbc039 python -m nucseg_zoo.training.random_forest

Draws class-balanced pixel samples from the 100 training images, fits the seeded forest
(single-threaded, so the result does not depend on the machine's core count), predicts
the 50 validation images, grid-searches the shared postprocessing on them
(:func:`nucseg_zoo.training.tuning.tune_params`) and writes
``random_forest.joblib`` + ``random_forest.json`` into ``nucseg_zoo/baselines/data/``
(or ``--out``). The test split is never read. With the defaults it reproduces the
shipped files (same library versions assumed; they are recorded in the json).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nucseg_zoo import datasets
from nucseg_zoo.baselines.features import pixel_features
from nucseg_zoo.baselines.params import DATA_DIR, write_record
from nucseg_zoo.baselines.random_forest import ForestSettings, RandomForest, RandomForestParams
from nucseg_zoo.baselines.registry import RECORDS
from nucseg_zoo.hardware import describe_cpu
from nucseg_zoo.metrics import score_image, summarize
from nucseg_zoo.postprocessing import probabilities_to_labels
from nucseg_zoo.targets import CLASS_NAMES, three_class_targets
from nucseg_zoo.training.samples import load_samples

if TYPE_CHECKING:
    from sklearn.ensemble import RandomForestClassifier

log = logging.getLogger(__name__)

DATASET = "bbbc039"
FOREST_FILE = "random_forest.joblib"


def sample_pixels(features: np.ndarray, classes: np.ndarray, samples_per_class: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw up to ``samples_per_class`` pixels of each class, without replacement.

    Args:
        features: ``(H, W, F)`` float32 pixel features.
        classes: ``(H, W)`` uint8 classes 0..2.
        samples_per_class: pixels per class (all of a class's pixels when it has fewer).
        rng: the random generator (advanced by the draw).

    Returns:
        ``(X, y)``: ``(N, F)`` float32 features and ``(N,)`` uint8 classes, class by class.
    """
    flat_classes = classes.ravel()
    chosen = []
    for label in range(len(CLASS_NAMES)):
        (where,) = np.nonzero(flat_classes == label)
        if where.size > samples_per_class:
            where = np.sort(rng.choice(where, size=samples_per_class, replace=False))
        chosen.append(where)
    index = np.concatenate(chosen)
    return features.reshape(-1, features.shape[-1])[index], flat_classes[index]


def training_set(samples: Iterable, params: RandomForestParams, *,
                 progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced pixel samples of a training split, in the split's order.

    Args:
        samples: objects with ``.image`` (``(H, W)``) and ``.labels`` (``(H, W)`` int).
        params: feature settings and sampling (``params.forest``).
        progress: show a tqdm bar.

    Returns:
        ``(X, y)``: ``(N, F)`` float32 features and ``(N,)`` uint8 classes.
    """
    from tqdm import tqdm

    rng = np.random.default_rng(params.forest.seed)
    parts = [sample_pixels(pixel_features(sample.image, params.features), three_class_targets(sample.labels),
                           params.forest.samples_per_class, rng)
             for sample in tqdm(samples, desc="features", disable=not progress)]
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def fit_forest(features: np.ndarray, classes: np.ndarray, settings: ForestSettings) -> RandomForestClassifier:
    """Fit the forest on ``(N, F)`` features and ``(N,)`` classes, single-threaded and seeded."""
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=settings.n_estimators, max_depth=settings.max_depth,
                                    min_samples_leaf=settings.min_samples_leaf, random_state=settings.seed,
                                    n_jobs=1)
    return forest.fit(features, classes)


def _versions() -> dict[str, str]:
    import skimage
    import sklearn

    return {"numpy": np.__version__, "scikit-image": skimage.__version__, "scikit-learn": sklearn.__version__}


def train_and_tune(params: RandomForestParams, out_dir: Path, *, mirror: str | None = None,
                   progress: bool = True) -> dict[str, Any]:
    """Train on the training split, tune postprocessing on validation, save; return the record.

    Args:
        params: feature and forest settings (``params.postprocessing`` is the search's base).
        out_dir: folder receiving the forest and its JSON record.
        mirror: BBBC039 mirror (default ``$NUCSEG_ZOO_BBBC039_MIRROR``).
        progress: show tqdm bars.
    """
    from tqdm import tqdm

    from nucseg_zoo.postprocessing import THREE_CLASS
    from nucseg_zoo.training.tuning import tune_params

    training = datasets.load(DATASET, split="training", mirror=mirror)
    started = time.perf_counter()
    features, classes = training_set(training, params, progress=progress)
    log.info("fitting %d trees on %d pixels x %d features", params.forest.n_estimators, *features.shape)
    forest = fit_forest(features, classes, params.forest)
    training_seconds = time.perf_counter() - started

    validation = load_samples(datasets.load(DATASET, split="validation", mirror=mirror))
    untuned = RandomForest(forest, params)
    probabilities = [untuned.predict_probabilities(s.image) for s in tqdm(validation, desc="validation",
                                                                           disable=not progress)]
    truths = [s.labels for s in validation]
    postprocessing, _ = tune_params(probabilities, truths, THREE_CLASS, base=params.postprocessing)
    baseline = RandomForest(forest, dataclasses.replace(params, postprocessing=postprocessing))
    scores = summarize(score_image(s.labels, probabilities_to_labels(p, postprocessing), name=s.name)
                       for s, p in zip(validation, probabilities))
    tuning_seconds = time.perf_counter() - started - training_seconds

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = baseline.save(out_dir / FOREST_FILE)
    counts = np.bincount(classes, minlength=len(CLASS_NAMES))
    record = {
        "baseline": RandomForest.name,
        "params": baseline.params.to_dict(),
        **saved,
        "forest_size_bytes": (out_dir / FOREST_FILE).stat().st_size,
        "training": {
            "trained_on": f"{DATASET}/training",
            "n_images": len(training),
            "n_samples": int(counts.sum()),
            "class_counts": dict(zip(CLASS_NAMES, map(int, counts))),
            "seed": params.forest.seed,
            "seconds": round(training_seconds, 1),
            "tuning_seconds": round(tuning_seconds, 1),
            "hardware": f"{describe_cpu()}; the forest fitted on one thread",
        },
        "validation_average_f1": scores.average_f1,
        "validation_error_rate_at_0.7": scores.error_rate,
        "chosen_on": f"{DATASET}/validation",
        "postprocessing_search_grid": THREE_CLASS.tuning.search,
        "versions": _versions(),
        "made_with": "python -m nucseg_zoo.training.random_forest",
    }
    write_record(out_dir / RECORDS[RandomForest.name], record)
    return record


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = ForestSettings()
    parser.add_argument("--out", type=Path, default=DATA_DIR, help=f"output folder (default: {DATA_DIR})")
    parser.add_argument("--mirror", help="BBBC039 mirror (default: $NUCSEG_ZOO_BBBC039_MIRROR)")
    for field in dataclasses.fields(ForestSettings):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=int, default=getattr(defaults, field.name),
                            help=f"forest setting (default: {getattr(defaults, field.name)})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    forest = ForestSettings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ForestSettings)})
    record = train_and_tune(RandomForestParams(forest=forest), args.out, mirror=args.mirror)
    log.info("validation average F1 %.4f, forest %.1f MB", record["validation_average_f1"],
             record["forest_size_bytes"] / 1e6)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

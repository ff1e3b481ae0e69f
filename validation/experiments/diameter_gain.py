"""What telling a BBBC039 model the nucleus size gains on other labs' images (DSB2018-fluo validation).

    python validation/experiments/diameter_gain.py [--models unet-bbbc039-fast unet-bbbc039 cp-basic]
        [--dataset dsb2018-fluo] [--split validation] [--mirror FOLDER] [--resume]

Each model segments every image of the split three times: at the image's own scale; with
``diameter`` set to the median equivalent diameter of that image's ground-truth nuclei (the
size a user would measure on a few of their nuclei), so the image is rescaled to the model's
training nucleus size (:mod:`nucseg_zoo.rescaling`); and with ``diameter`` estimated from the
image itself, as the median equivalent diameter of the nuclei of its own-scale segmentation
(the candidate for an automatic estimate; its ratio to the ground-truth diameter is recorded). Zoo
models run in fp32 with their shipped postprocessing; ``cp-basic`` with its BBBC039
parameters. Scores (average F1, F1 at IoU 0.5, missed at IoU 0.7, extra objects) are given
over all images, and over the images whose nuclei are more than 1.5x smaller or larger than
the model's training size (:data:`nucseg_zoo.screens.sizes.SIZE_FACTOR`). Validation only: the test split is never read.

Writes ``validation/experiments/diameter_gain.json`` (atomically, after each model; ``--resume``
keeps the models already done); ``nucseg-zoo leaderboard`` puts the table on the results page.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

import nucseg_zoo
from nucseg_zoo import datasets
from nucseg_zoo._atomic import write_text_atomically
from nucseg_zoo.hardware import describe_cpu
from nucseg_zoo.metrics import score_image, summarize
from nucseg_zoo.datasets.facts import equivalent_diameters
from nucseg_zoo.rescaling import DIAMETER_RANGE_PX
from nucseg_zoo.screens.sizes import SIZE_FACTOR, median_diameter
from nucseg_zoo.segmenters import resolve_source
from nucseg_zoo.segmenters.rescaled import RescaledSegmenter, training_diameter

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "experiments" / "diameter_gain.json"
MODELS = ("unet-bbbc039-fast", "unet-bbbc039", "cp-basic")
"""The default models: deepcell-bbbc039 (15 s per BBBC039 field on 2 CPU cores, more on
rescaled images) is left to ``--models``."""
log = logging.getLogger("diameter_gain")


def _summary(scores: list) -> dict:
    summary = summarize(scores)
    return {"n_images": summary.n_images, "average_f1": summary.average_f1, "f1_at_0.5": summary.f1[0.5],
            "missed_at_0.7": summary.error_rate, "extra_objects": summary.extra_objects}


SIZE_GROUPS = ("smaller", "within", "larger")
"""Images whose nuclei are more than :data:`SIZE_FACTOR` smaller than the model's training
size, within that factor of it, or more than that factor larger."""


def size_group(diameter: float, reference: float) -> str:
    """Which of :data:`SIZE_GROUPS` an image of nuclei ``diameter`` px falls in for a model of ``reference`` px."""
    return "smaller" if diameter < reference / SIZE_FACTOR else "larger" if diameter > reference * SIZE_FACTOR \
        else "within"


def measure_model(name: str, samples, image_diameters: list[float]) -> dict:
    """Scores of ``name`` at the images' own scale, rescaled with each image's diameter, and
    rescaled with the diameter estimated from its own-scale labels (their median equivalent
    diameter; own scale where it found no nucleus), with that estimate's accuracy."""
    segmenter = nucseg_zoo.get_segmenter(name)
    model_diameter = training_diameter(resolve_source(name), segmenter)
    conditions: dict[str, list] = {"own_scale": [], "diameter": [], "estimated_diameter": []}
    ratios, started = [], time.perf_counter()
    for sample, diameter in zip(samples, image_diameters):
        plain = segmenter.segment(sample.image)
        estimate = median_diameter(plain)
        if estimate is not None:
            ratios.append(estimate / diameter)
        estimated = plain if estimate is None else RescaledSegmenter(
            segmenter, float(np.clip(estimate, *DIAMETER_RANGE_PX)), model_diameter).segment(sample.image)
        given = RescaledSegmenter(segmenter, diameter, model_diameter).segment(sample.image)
        for condition, labels in (("own_scale", plain), ("diameter", given), ("estimated_diameter", estimated)):
            conditions[condition].append(score_image(sample.labels, labels, name=sample.name,
                                                     size_bins=samples.size_bins))
    ratios = np.array(ratios)
    result = {"training_diameter": model_diameter, "seconds": round(time.perf_counter() - started, 1),
              "estimate": {"n_images": int(ratios.size), "median_ratio": float(np.median(ratios)),
                           "within_1.25x": float(np.mean(np.abs(np.log(ratios)) <= np.log(1.25)))}}
    groups = [size_group(d, model_diameter) for d in image_diameters]
    result["n_images_by_size"] = {group: groups.count(group) for group in SIZE_GROUPS}
    for condition, scores in conditions.items():
        result[condition] = {"all": _summary(scores), **{
            group: _summary([s for s, g in zip(scores, groups) if g == group]) if group in groups else None
            for group in SIZE_GROUPS}}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--dataset", default="dsb2018-fluo")
    parser.add_argument("--split", default="validation", choices=["training", "validation"],
                        help="a split for choices (the test split is only reported, never measured here)")
    parser.add_argument("--mirror", help="dataset mirror (default: the dataset's environment variable)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--resume", action="store_true", help="keep the models already in --out")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    samples = datasets.load(args.dataset, args.split, mirror=args.mirror)
    medians = []
    for sample in samples:
        diameters = equivalent_diameters(sample.labels)
        medians.append(float(np.clip(np.median(diameters), *DIAMETER_RANGE_PX)))
    data = json.loads(args.out.read_text()) if args.resume and args.out.is_file() else {}
    if data and (data["dataset"], data["split"]) != (args.dataset, args.split):
        parser.error(f"{args.out} holds {data['dataset']}/{data['split']}: pass --out another file")
    data.update({"dataset": args.dataset, "split": args.split, "n_images": len(samples),
                 "diameter": "each image's median ground-truth nucleus diameter",
                 "image_diameters_px": [round(min(medians), 2), round(float(np.median(medians)), 2),
                                        round(max(medians), 2)],
                 "size_factor": SIZE_FACTOR, "cpu": describe_cpu()})
    data.setdefault("models", {})
    for name in args.models:
        if name in data["models"]:
            continue
        data["models"][name] = result = measure_model(name, samples, medians)
        write_text_atomically(args.out, json.dumps(data, indent=1) + "\n")
        log.info("%s: average F1 %.3f -> %.3f (images by nucleus size: %s), %.0f s", name,
                 result["own_scale"]["all"]["average_f1"], result["diameter"]["all"]["average_f1"],
                 result["n_images_by_size"], result["seconds"])
    write_text_atomically(args.out, json.dumps(data, indent=1) + "\n")
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

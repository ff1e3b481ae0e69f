"""Batch-norm statistics of a crop-trained DeepCell network vs those patch training would give.

    python validation/experiments/deepcell_batchnorm.py [--member 0] [--patches-per-class 20]

The 2016 recipe trains on class-balanced 61×61 patches, so each batch-norm layer's running
statistics describe a population with as many boundary as interior and background centres.
Trained on crops (``deepcell-bbbc039``'s recipe), the statistics describe every window of
the crop — mostly background and interior, as a whole image at inference. Same weights,
three sets of statistics, scored on the validation split with the ensemble's tuned
postprocessing:

* *crops (shipped)*: the running statistics training left;
* *balanced patches*: re-estimated (cumulative average, train-mode forward passes of the
  patch classifier) on class-balanced 61×61 patches of the training split, windows inside
  the image, ``--patches-per-class`` per class and image — what patch training would see;
* *random crops*: re-estimated the same way on random 188² training crops (a control: the
  training population, without the optimiser's moving average).

Writes ``zoo/deepcell-bbbc039/experiments/batchnorm.json`` (rendered in the model card).
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import torch

from nucseg_zoo import datasets
from nucseg_zoo.inference import default_precision
from nucseg_zoo.models.deepcell import PATCH_SIZE, FeatureNet61
from nucseg_zoo.targets import three_class_targets
from nucseg_zoo.training.loop import validation_predictions, validation_summary
from nucseg_zoo.training.recipe import read_recipe
from nucseg_zoo.zoo.entry import read_entry
from nucseg_zoo.zoo.install import write_experiment

MODEL_ID = "deepcell-bbbc039"


def balanced_patches(samples, normalization, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """``(N, 1, 61, 61)`` float32 patches centred on ``per_class`` random pixels of each class per image."""
    r = PATCH_SIZE // 2
    patches = []
    for sample in samples:
        image = normalization(sample.image)
        targets = three_class_targets(sample.labels, thin_boundary_max_area=250)
        inside = np.zeros(targets.shape, bool)
        inside[r:-r, r:-r] = True
        for cls in range(3):
            ys, xs = np.nonzero((targets == cls) & inside)
            for i in rng.choice(len(ys), size=min(per_class, len(ys)), replace=False):
                patches.append(image[ys[i] - r:ys[i] + r + 1, xs[i] - r:xs[i] + r + 1])
    return np.stack(patches)[:, None].astype(np.float32)


def random_crops(samples, normalization, count: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``(count, 1, size, size)`` float32 random crops of the normalised images."""
    crops = []
    for _ in range(count):
        image = normalization(samples[int(rng.integers(len(samples)))].image)
        y, x = rng.integers(image.shape[0] - size + 1), rng.integers(image.shape[1] - size + 1)
        crops.append(image[y:y + size, x:x + size])
    return np.stack(crops)[:, None].astype(np.float32)


@torch.no_grad()
def reestimated(state: dict, batches: np.ndarray, *, dense: bool, batch_size: int) -> dict:
    """``state`` with batch-norm running statistics re-estimated on ``batches`` (cumulative average)."""
    network = FeatureNet61(dense=dense, padding=0)
    network.load_state_dict(state)
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative moving average over all batches
    network.train()
    for start in range(0, len(batches), batch_size):
        network(torch.from_numpy(batches[start:start + batch_size]))
    return copy.deepcopy(network.state_dict())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--member", type=int, default=0)
    parser.add_argument("--patches-per-class", type=int, default=20)
    parser.add_argument("--mirror", help="dataset mirror (URL or folder)")
    args = parser.parse_args()
    entry = read_entry(MODEL_ID)
    recipe = read_recipe(entry)
    rng = np.random.default_rng(recipe.seed)
    train_samples = datasets.load(recipe.dataset, recipe.train_split, mirror=args.mirror)
    val_samples = datasets.load(recipe.dataset, recipe.validation_split, mirror=args.mirror)
    shipped = torch.load(entry.verified_weights()[args.member], weights_only=True)
    patches = balanced_patches(train_samples, recipe.normalization, args.patches_per_class, rng)
    crops = random_crops(train_samples, recipe.normalization, 64, recipe.crop_size, rng)
    variants = {
        "crops (shipped)": shipped,
        f"balanced patches ({len(patches):,} of 61² px)": reestimated(shipped, patches, dense=False, batch_size=256),
        f"random crops ({len(crops)} of {recipe.crop_size}² px)": reestimated(shipped, crops, dense=True,
                                                                              batch_size=recipe.batch_size),
    }
    device, precision = torch.device("cpu"), default_precision(torch.device("cpu"))
    truths = [s.labels for s in val_samples]
    rows = []
    for name, state in variants.items():
        network = recipe.architecture.build(softmax=False)
        network.load_state_dict(state)
        network = network.to(memory_format=torch.channels_last)
        summary = validation_summary(validation_predictions(network, val_samples, recipe, device, precision),
                                     truths, entry.postprocessing, kind=entry.output_kind)
        rows.append({"name": name, "average_f1": summary.average_f1, "error_rate_at_0.7": summary.error_rate})
        print(f"{name:<40} average F1 {summary.average_f1:.4f}  error rate at 0.7 {summary.error_rate:.2%}")
    out = write_experiment(
        entry, "batchnorm", title="Batch-norm statistics: crops vs class-balanced patches",
        description=(
            f"Member {args.member}'s weights with three sets of batch-norm running statistics, scored on "
            f"`{recipe.dataset}/{recipe.validation_split}` ({precision}) with the ensemble's tuned postprocessing "
            "(`validation/experiments/deepcell_batchnorm.py`). Patch training (2016) normalises over "
            "class-balanced 61×61 patches; crop training over every window of a crop, the population a whole "
            "image has at inference."),
        rows=rows)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

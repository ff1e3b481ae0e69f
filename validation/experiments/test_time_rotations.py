"""Test-time augmentation of a U-Net zoo model: which rotated views to average.

    python validation/experiments/test_time_rotations.py [--model unet-bbbc039-fast] [--mirror FOLDER]

The zoo's U-Net averages the logits of the input and of its rotated copies in eval mode
(``UNet(test_time_rotations=...)``; nnU-Net averages mirrored views the same way). Each set of
views is scored with the model's shipped weights and shipped (tuned) postprocessing on the
validation split in fp32, the precision of the harness and of the packages: one view (the
plain network), the two-view sets 0° + 90° and 0° + 180°, and all four rotations. Each view
costs one forward pass: two views double the network's FLOPs.

Writes ``zoo/<model>/experiments/test_time_rotations.json`` (rendered in the model card).
"""

from __future__ import annotations

import argparse

import torch

from nucseg_zoo import datasets
from nucseg_zoo.training.loop import validation_predictions, validation_summary
from nucseg_zoo.training.recipe import read_recipe
from nucseg_zoo.zoo.entry import read_entry
from nucseg_zoo.zoo.install import write_experiment

VIEW_SETS = ((0,), (0, 90), (0, 180), (0, 90, 180, 270))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="unet-bbbc039-fast")
    parser.add_argument("--mirror", help="dataset mirror (URL or folder)")
    args = parser.parse_args()
    entry = read_entry(args.model)
    recipe = read_recipe(entry)
    shipped = tuple(entry.architecture.kwargs.get("test_time_rotations", (0,)))
    samples = datasets.load(recipe.dataset, recipe.validation_split, mirror=args.mirror)
    truths = [s.labels for s in samples]
    rows = []
    for views in VIEW_SETS:
        network = entry.build_network(softmax=False, test_time_rotations=list(views))
        network = network.to(memory_format=torch.channels_last)
        probabilities = validation_predictions(network, samples, recipe, torch.device("cpu"), "fp32")
        summary = validation_summary(probabilities, truths, entry.postprocessing, kind=entry.output_kind)
        name = " + ".join(f"{angle}°" for angle in views) + f" ({len(views)} view{'s' if len(views) > 1 else ''})"
        name += " (shipped)" if views == shipped else ""
        rows.append({"name": name, "average_f1": summary.average_f1, "error_rate_at_0.7": summary.error_rate})
        print(f"{name:<40} average F1 {summary.average_f1:.4f}  error rate at 0.7 {summary.error_rate:.2%}", flush=True)
    out = write_experiment(
        entry, "test_time_rotations", title="Test-time augmentation: rotated views",
        description=(
            f"The shipped weights with the logits of the input and of rotated copies averaged, scored on "
            f"`{recipe.dataset}/{recipe.validation_split}` (fp32) with the shipped postprocessing "
            "(`validation/experiments/test_time_rotations.py`). Each view is one forward pass of the network."),
        rows=rows)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""The nucleus sizes a zoo model learned, measured from its recipe's training labels and
recorded in its ``entry.yaml`` (:class:`nucseg_zoo.zoo.entry.NucleusDiameter`).

Installing a trained run records them (:mod:`nucseg_zoo.training.export`,
:mod:`nucseg_zoo.training.ensemble`); for entries installed before, or after a change of
the training data::

    python -m nucseg_zoo.training.diameters [MODEL_ID ...] [--mirror FOLDER]
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from nucseg_zoo import datasets
from nucseg_zoo.datasets.facts import equivalent_diameters
from nucseg_zoo.training.loop import training_subset
from nucseg_zoo.training.recipe import Recipe, read_recipe
from nucseg_zoo.zoo.entry import read_entry
from nucseg_zoo.zoo.install import write_nucleus_diameter
from nucseg_zoo.zoo.registry import list_models

RANGE_PERCENTILES = (5.0, 95.0)
"""Percentiles of the training nuclei's diameters recorded as their range."""


def training_nucleus_diameter(recipe: Recipe, *, mirror: str | None = None) -> dict[str, Any]:
    """``{median_px, range_px, measured_on, n_nuclei}`` of the equivalent diameters of every
    nucleus in the training images of ``recipe`` (its ``train_images`` where it names a
    subset), rounded to 0.01 px; ``range_px`` holds the :data:`RANGE_PERCENTILES`.

    Raises:
        ValueError: the training labels hold no nucleus.
    """
    samples = datasets.load(recipe.dataset, recipe.train_split, mirror=mirror)
    if recipe.train_images is not None:
        samples = training_subset(samples, recipe.train_images)
    where = f"{recipe.dataset}/{recipe.train_split}" + (
        f" ({len(samples)} of its images)" if recipe.train_images is not None else "")
    return nucleus_diameter_record([sample.labels for sample in samples], where)


def nucleus_diameter_record(labels: list[np.ndarray], where: str) -> dict[str, Any]:
    """``{median_px, range_px, measured_on, n_nuclei}`` of every nucleus of the ``(H, W)``
    instance label images ``labels`` (``measured_on``: ``where``), as
    :func:`training_nucleus_diameter` records them.

    Raises:
        ValueError: the labels hold no nucleus (the message names ``where``).
    """
    diameters = np.concatenate([equivalent_diameters(image) for image in labels] or [np.zeros(0)])
    if not diameters.size:
        raise ValueError(f"{where}: the training labels hold no nucleus")
    low, high = np.percentile(diameters, RANGE_PERCENTILES)
    return {"median_px": round(float(np.median(diameters)), 2), "range_px": [round(float(low), 2), round(float(high), 2)],
            "measured_on": where, "n_nuclei": int(diameters.size)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record the nucleus sizes each zoo model learned in its entry.yaml")
    parser.add_argument("models", nargs="*", help="zoo ids (default: every zoo model)")
    parser.add_argument("--mirror", help="dataset mirror (default: the dataset's environment variable)")
    args = parser.parse_args(argv)
    for model_id in args.models or list_models():
        measured = training_nucleus_diameter(read_recipe(read_entry(model_id)), mirror=args.mirror)
        print(write_nucleus_diameter(model_id, measured), measured)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

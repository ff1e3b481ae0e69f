"""Install a finished single-network run into its zoo entry (``nucseg-zoo train MODEL_ID --export``).

Ensembles are tuned on their members' average first (:func:`nucseg_zoo.training.ensemble.export_ensemble`);
both install through :func:`nucseg_zoo.zoo.install.install_run`.
"""

from __future__ import annotations

import json
from pathlib import Path

from nucseg_zoo.training.diameters import training_nucleus_diameter
from nucseg_zoo.training.recipe import Recipe, read_recipe
from nucseg_zoo.zoo.entry import read_entry
from nucseg_zoo.zoo.install import Stage, install_run

RUN_POSTPROCESSING = "postprocessing.json"
"""A run folder's tuned postprocessing (:func:`nucseg_zoo.training.tuning.tune_run`)."""


def stage_of(recipe: Recipe) -> Stage:
    """The training stage a run of ``recipe`` belongs to: its version and warm start (one
    starting sha256 per network)."""
    init = recipe.init_from
    if not init:
        return Stage(version=recipe.version)
    starting = init["sha256"] if isinstance(init["sha256"], list) else [init["sha256"]]
    return Stage(version=recipe.version, warm_start=tuple(starting), warm_start_version=init.get("recipe_version"))


def export_run(run_dir: str | Path, model_id: str, recipe: Recipe | None = None, *, replace: bool = False) -> Path:
    """Install ``run_dir``'s best weights, log and tuned postprocessing into ``zoo/<model_id>/``.

    ``recipe`` is the run's recipe (default: the entry's); ``replace`` allows replacing the
    entry's trained weights (see :func:`~nucseg_zoo.zoo.install.install_run`). Returns the
    entry folder; re-render the card afterwards (:func:`nucseg_zoo.cards.write_zoo_card`).

    Raises:
        FileNotFoundError: the run has not finished training and tuning.
        FileExistsError: the entry holds other trained weights and ``replace`` is False.
    """
    run_dir = Path(run_dir)
    tuned = run_dir / RUN_POSTPROCESSING
    if not tuned.is_file():
        raise FileNotFoundError(f"{tuned} is missing: finish training (and tuning) first")
    recipe = recipe or read_recipe(read_entry(model_id))
    return install_run(model_id, [run_dir], stage=stage_of(recipe), postprocessing=json.loads(tuned.read_text()),
                       nucleus_diameter=training_nucleus_diameter(recipe), replace=replace)

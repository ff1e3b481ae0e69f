"""Ensembles: one run folder per member, tuned and installed together.

``nucseg-zoo train MODEL_ID --member K`` trains member K of an ensemble recipe
(``members > 1``) into ``runs/MODEL_ID/member-K``; ``nucseg-zoo train MODEL_ID --export``
then predicts the validation split with every member, averages their softmax outputs (what
the entry's network computes), tunes the shared postprocessing on the average, scores each
member alone next to the ensemble, and installs the members' weights, the merged training
log, the tuned parameters and that comparison (``validation.json``) into ``zoo/MODEL_ID``
through the same path as a single network (:func:`nucseg_zoo.zoo.install.install_run`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nucseg_zoo import datasets
from nucseg_zoo.devices import check_device
from nucseg_zoo.postprocessing import PostprocessingParams
from nucseg_zoo.training.diameters import training_nucleus_diameter
from nucseg_zoo.training.export import stage_of
from nucseg_zoo.training.loop import (
    RECIPE_OUTPUT_KIND,
    build_model,
    recipe_output_kind,
    validation_predictions,
    validation_summary,
)
from nucseg_zoo.training.recipe import Recipe, read_recipe
from nucseg_zoo.training.tuning import tune_params
from nucseg_zoo.zoo.entry import read_entry
from nucseg_zoo.zoo.install import RUN_WEIGHTS, check_runs, install_run


def member_run_dir(root: str | Path, member: int) -> Path:
    """Run folder of ensemble member ``member`` under ``root`` (``root/member-K``)."""
    return Path(root) / f"member-{member}"


def member_probabilities(recipe: Recipe, weights: list[Path], samples, *, device: str = "cpu",
                         precision: str = "fp32") -> list[list[np.ndarray]]:
    """Softmax maps ``(3, H, W)`` float32 of every sample, per member: ``[member][sample]``."""
    torch_device = torch.device(check_device(device))
    result = []
    for path in weights:
        model = build_model(recipe).to(torch_device).to(memory_format=torch.channels_last)
        model.load_state_dict(torch.load(path, map_location=torch_device, weights_only=True))
        result.append(validation_predictions(model, samples, recipe, torch_device, precision))
    return result


def ensemble_average(per_member: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The members' softmax maps averaged per sample (the ensemble network's output)."""
    return [np.mean(np.stack(maps), axis=0, dtype=np.float32) for maps in zip(*per_member)]


def without_border(probabilities: np.ndarray, band: int) -> np.ndarray:
    """``probabilities`` with all classes set to 0 in a ``band``-px frame: the border of the
    original DeepCell code, which predicted only where a whole 61×61 window fits."""
    out = np.zeros_like(probabilities)
    out[:, band:-band, band:-band] = probabilities[:, band:-band, band:-band]
    return out


def _scores(probabilities: list[np.ndarray], truths: list[np.ndarray], params: PostprocessingParams) -> dict:
    summary = validation_summary(probabilities, truths, params, kind=RECIPE_OUTPUT_KIND)
    return {"average_f1": summary.average_f1, "error_rate_at_0.7": summary.error_rate}


def compare_on_validation(per_member: list[list[np.ndarray]], truths: list[np.ndarray],
                          params: PostprocessingParams, *, border_band: int | None = None) -> dict:
    """Validation scores of each member alone and of the ensemble, with the ensemble's tuned
    ``params``; with ``border_band``, also of the ensemble without predictions in that frame."""
    ensemble = ensemble_average(per_member)
    result = {
        "members": [{"member": k, **_scores(maps, truths, params)} for k, maps in enumerate(per_member)],
        "ensemble": _scores(ensemble, truths, params),
    }
    if border_band:
        result["ensemble_without_border"] = {
            "band_px": border_band, **_scores([without_border(p, border_band) for p in ensemble], truths, params)}
    return result


def export_ensemble(root: str | Path, model_id: str, recipe: Recipe | None = None, *, device: str = "cpu",
                    precision: str = "fp32", mirror: str | None = None, replace: bool = False) -> Path:
    """Tune and install the trained members under ``root`` into ``zoo/<model_id>/``.

    Installs (:func:`nucseg_zoo.zoo.install.install_run`) ``member-K.pt`` (each member's best
    state dict), ``training_log.jsonl`` (every member's epochs, tagged ``member``, after the
    earlier stages of a warm start), ``postprocessing.json`` (tuned on the ensemble's validation
    probabilities in ``precision``: fp32, the harness's and the package's, by default; bf16
    halves the time on CPUs with native bf16), ``validation.json`` (:func:`compare_on_validation`;
    the entry's optional ``original_border_px`` adds the variant without border predictions) and
    the sha256 of every member in ``entry.yaml``; ``replace`` allows replacing trained members.
    Returns the entry folder; re-render the card afterwards (:func:`nucseg_zoo.cards.write_zoo_card`).

    Raises:
        FileNotFoundError: a member has not finished training (names it); nothing is tuned.
        ValueError: the entry is not an ensemble.
        FileExistsError: the entry holds other trained members and ``replace`` is False.
    """
    entry = read_entry(model_id)
    if not entry.ensemble:
        raise ValueError(f"zoo entry {model_id!r} is a single network: export it with nucseg_zoo.training.export")
    recipe = recipe or read_recipe(entry)
    runs = check_runs(entry, [member_run_dir(root, k) for k in range(recipe.members)], replace=replace)
    samples = datasets.load(recipe.dataset, recipe.validation_split, mirror=mirror)
    truths = [s.labels for s in samples]
    per_member = member_probabilities(recipe, [run / RUN_WEIGHTS for run in runs], samples, device=device,
                                      precision=precision)
    kind = recipe_output_kind(recipe)
    params, score = tune_params(ensemble_average(per_member), truths, kind, refine=kind.tuning.refine)
    comparison = compare_on_validation(per_member, truths, params, border_band=entry.raw.get("original_border_px"))
    chosen_on = f"{recipe.dataset}/{recipe.validation_split}"
    return install_run(
        model_id, runs, stage=stage_of(recipe), replace=replace,
        nucleus_diameter=training_nucleus_diameter(recipe, mirror=mirror),
        postprocessing={"params": params.to_dict(), "validation_average_f1": score.average_f1,
                        "validation_error_rate": score.error_rate, "chosen_on": chosen_on, "precision": precision},
        validation={"chosen_on": chosen_on, "precision": precision,
                    "postprocessing": "the ensemble's tuned parameters", **comparison})

"""Ensembles: one run folder per member, tuned and installed together.

``nucseg-zoo train MODEL_ID --member K`` trains member K of an ensemble recipe
(``members > 1``) into ``runs/MODEL_ID/member-K``; ``nucseg-zoo train MODEL_ID --export``
then predicts the validation split with every member, averages their softmax outputs (what
the entry's network computes), tunes the shared postprocessing on the average, scores each
member alone next to the ensemble, and installs the members' weights, the merged training
log, the tuned parameters and that comparison (``validation.json``) into ``zoo/MODEL_ID``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch

from nucseg_zoo import datasets
from nucseg_zoo._atomic import copy_atomically, write_text_atomically
from nucseg_zoo._hashing import sha256_of
from nucseg_zoo._io import read_jsonl
from nucseg_zoo.devices import check_device
from nucseg_zoo.postprocessing import PostprocessingParams
from nucseg_zoo.training.loop import (
    build_model,
    validation_predictions,
    validation_summary,
)
from nucseg_zoo.training.recipe import Recipe
from nucseg_zoo.training.tuning import RESCUE_GRID, tune_params

VALIDATION_FILE = "validation.json"


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
    summary = validation_summary(probabilities, truths, params)
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


def _entry_yaml_with_hashes(text: str, hashes: dict[str, str]) -> str:
    """``entry.yaml`` with each ``{file: NAME, sha256: …}`` of ``hashes`` updated (comments kept)."""
    for name, digest in hashes.items():
        text, n = re.subn(rf"(\{{file: {re.escape(name)}, sha256: )[^}}]*\}}", rf"\g<1>{digest}}}", text)
        if n != 1:
            raise RuntimeError(f"entry.yaml: expected one '{{file: {name}, sha256: …}}' line, found {n}")
    return text


def export_ensemble(root: str | Path, model_id: str, recipe: Recipe | None = None, *, device: str = "cpu",
                    precision: str = "fp32", mirror: str | None = None) -> Path:
    """Tune and install the trained members under ``root`` into ``zoo/<model_id>/``.

    Writes ``member-K.pt`` (each member's best state dict), ``training_log.jsonl`` (every
    member's epochs, tagged ``member``, after the earlier stages of a warm start; see
    :func:`nucseg_zoo.zoo.export.merged_training_log`), ``postprocessing.json`` (tuned on the ensemble's
    validation probabilities in ``precision``: fp32, the harness's and the package's, by default;
    bf16 halves the time on CPUs with native bf16), ``validation.json`` (:func:`compare_on_validation`; the
    entry's optional ``original_border_px`` adds the variant without border predictions),
    the sha256 of every member in ``entry.yaml``, and the model card. Returns the entry folder.

    Raises:
        FileNotFoundError: a member has not finished training (names it).
        ValueError: the entry is not an ensemble of ``recipe.members`` networks.
    """
    from nucseg_zoo.zoo.card import write_model_card
    from nucseg_zoo.zoo.entry import read_entry
    from nucseg_zoo.zoo.export import merged_training_log

    entry = read_entry(model_id)
    recipe = recipe or entry.recipe
    if not entry.ensemble or len(entry.weights) != recipe.members:
        raise ValueError(f"zoo entry {model_id!r} lists {len(entry.weights)} weight files; the recipe trains "
                         f"{recipe.members} members")
    runs = [member_run_dir(root, k) for k in range(recipe.members)]
    for k, run in enumerate(runs):
        for name in ("best.pt", "log.jsonl"):
            if not (run / name).is_file():
                raise FileNotFoundError(f"{run / name} is missing: train member {k} first "
                                        f"(nucseg-zoo train {model_id} --member {k})")
    samples = datasets.load(recipe.dataset, recipe.validation_split, mirror=mirror)
    truths = [s.labels for s in samples]
    per_member = member_probabilities(recipe, [run / "best.pt" for run in runs], samples, device=device,
                                      precision=precision)
    params, score = tune_params(ensemble_average(per_member), truths, rescue_grid=RESCUE_GRID)
    comparison = compare_on_validation(per_member, truths, params, border_band=entry.raw.get("original_border_px"))
    chosen_on = f"{recipe.dataset}/{recipe.validation_split}"

    log_text = merged_training_log([{"member": k, **r} for k, run in enumerate(runs) for r in read_jsonl(run / "log.jsonl")],
                                   entry.dir, recipe)
    hashes = {}
    for k, (run, weights) in enumerate(zip(runs, entry.weights)):
        copy_atomically(run / "best.pt", weights.path)
        hashes[weights.path.name] = sha256_of(weights.path)
    write_text_atomically(entry.dir / entry.raw["training_log"], log_text)
    write_text_atomically(entry.dir / entry.raw["postprocessing"], json.dumps(
        {"params": params.to_dict(), "validation_average_f1": score.average_f1,
         "validation_error_rate": score.error_rate, "chosen_on": chosen_on, "precision": precision},
        indent=2) + "\n")
    write_text_atomically(entry.dir / VALIDATION_FILE, json.dumps(
        {"chosen_on": chosen_on, "precision": precision, "postprocessing": "the ensemble's tuned parameters",
         **comparison}, indent=2) + "\n")
    entry_yaml = entry.dir / "entry.yaml"
    write_text_atomically(entry_yaml, _entry_yaml_with_hashes(entry_yaml.read_text(), hashes))
    write_model_card(model_id)
    return entry.dir

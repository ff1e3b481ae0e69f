"""Choice of postprocessing parameters on the validation split (never on test).

Two stages: :data:`SEARCH_GRID` for the best average F1, then (optionally)
:data:`RESCUE_GRID` around that choice for the lowest error rate at IoU 0.7 among the
points whose average F1 stays within :data:`F1_TOLERANCE` of it — the paper's two
headline numbers, with average F1 first.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from nucseg_zoo import datasets
from nucseg_zoo._atomic import write_text_atomically
from nucseg_zoo.devices import check_device
from nucseg_zoo.postprocessing import PostprocessingParams
from nucseg_zoo.training.loop import (
    build_model,
    validation_predictions,
    validation_summary,
)
from nucseg_zoo.training.recipe import Recipe

# Grid searched on validation; the defaults of PostprocessingParams lie inside it.
SEARCH_GRID = {
    "interior_threshold": (0.3, 0.4, 0.5, 0.6, 0.7),
    "method": ("grow", "watershed"),
    "grow_distance": (1, 2, 3, 4),
    "background_threshold": (0.3, 0.5, 0.7),
    "min_seed_size": (2, 4, 8),
}

# Second stage: rescuing unseeded blobs (threshold 0 = off, so stage one's choice is in it).
RESCUE_GRID = {
    "rescue_background_threshold": (0.0, 0.02, 0.05, 0.1),
    "rescue_max_eccentricity": (0.7, 0.8, 0.9),
    "min_size": (12, 16),
}

F1_TOLERANCE = 0.002
"""How much validation average F1 the second stage may give up for a lower error rate."""


@dataclass(frozen=True)
class ValidationScore:
    """The two numbers the tuning looks at, for one parameter set."""

    average_f1: float
    error_rate: float


def tune_params(probabilities: list[np.ndarray], truths: list[np.ndarray],
                base: PostprocessingParams | None = None, *, workers: int | None = None,
                rescue_grid: Mapping[str, tuple] | None = None, f1_tolerance: float = F1_TOLERANCE,
                ) -> tuple[PostprocessingParams, ValidationScore]:
    """Grid-search the postprocessing parameters; return (params, their validation score).

    Stage one takes the best average F1 over :data:`SEARCH_GRID`. With ``rescue_grid``
    (e.g. :data:`RESCUE_GRID`), stage two varies those parameters around stage one's
    choice and takes the lowest error rate at IoU 0.7 among the points whose average F1
    is at least stage one's minus ``f1_tolerance``.

    ``workers`` processes score the grid points (default: one per CPU the process may use;
    platforms without ``fork`` score in this process); ties go to the first grid point, so
    the result does not depend on ``workers``.
    """
    candidates = _grid(base or PostprocessingParams(), SEARCH_GRID)
    scores = _score_all(candidates, probabilities, truths, workers)
    best = max(range(len(candidates)), key=lambda i: (scores[i].average_f1, -i))
    chosen, score = candidates[best], scores[best]
    if rescue_grid:
        candidates = _grid(chosen, rescue_grid)
        scores = _score_all(candidates, probabilities, truths, workers)
        floor = score.average_f1 - f1_tolerance
        eligible = [i for i in range(len(candidates)) if scores[i].average_f1 >= floor]
        if eligible:
            best = min(eligible, key=lambda i: (scores[i].error_rate, -scores[i].average_f1, i))
            chosen, score = candidates[best], scores[best]
    return chosen, score


def _grid(base: PostprocessingParams, grid: Mapping[str, tuple]) -> list[PostprocessingParams]:
    keys = list(grid)
    return [replace(base, **dict(zip(keys, values))) for values in itertools.product(*(grid[k] for k in keys))]


def _score_all(candidates: list[PostprocessingParams], probabilities: list[np.ndarray],
               truths: list[np.ndarray], workers: int | None) -> list[ValidationScore]:
    workers = workers or _usable_cpus()
    if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [_validation_score(probabilities, truths, candidate) for candidate in candidates]
    # fork: the workers inherit the modules and need no importable __main__ (unlike spawn)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                             initializer=_init_worker, initargs=(probabilities, truths)) as pool:
        return list(pool.map(_score, candidates, chunksize=4))


def _validation_score(probabilities: list[np.ndarray], truths: list[np.ndarray],
                      params: PostprocessingParams) -> ValidationScore:
    summary = validation_summary(probabilities, truths, params)
    return ValidationScore(summary.average_f1, summary.error_rate)


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


_worker_data: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
"""The validation probabilities and truths, set once in each worker process."""


def _init_worker(probabilities: list[np.ndarray], truths: list[np.ndarray]) -> None:
    global _worker_data
    _worker_data = (probabilities, truths)


def _score(params: PostprocessingParams) -> ValidationScore:
    return _validation_score(*_worker_data, params)


def tune_run(recipe: Recipe, weights: Path, run_dir: Path, *, device: str = "cpu",
             mirror: str | None = None) -> Path:
    """Tune postprocessing for ``weights`` on the recipe's validation split.

    Writes ``run_dir/postprocessing.json`` (parameters, the validation average F1 and
    error rate they reach, and the split they were chosen on) atomically and returns its
    path.
    """
    torch_device = torch.device(check_device(device))
    model = build_model(recipe).to(torch_device).to(memory_format=torch.channels_last)
    model.load_state_dict(torch.load(weights, map_location=torch_device, weights_only=True))
    samples = datasets.load(recipe.dataset, recipe.validation_split, mirror=mirror)
    # fp32: the precision of the harness and of the model's bioimage.io package, so the
    # parameters are tuned on the probabilities the leaderboard scores
    probabilities = validation_predictions(model, samples, recipe, torch_device, "fp32")
    params, score = tune_params(probabilities, [s.labels for s in samples], rescue_grid=RESCUE_GRID)
    out = Path(run_dir) / "postprocessing.json"
    write_text_atomically(out, json.dumps({"params": params.to_dict(), "validation_average_f1": score.average_f1,
                                           "validation_error_rate": score.error_rate,
                                           "chosen_on": f"{recipe.dataset}/{recipe.validation_split}"},
                                          indent=2) + "\n")
    return out

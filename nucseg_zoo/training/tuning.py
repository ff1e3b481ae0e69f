"""Choice of postprocessing parameters on the validation split (never on test)."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from nucseg_zoo import datasets
from nucseg_zoo._atomic import write_text_atomically
from nucseg_zoo.inference import default_precision
from nucseg_zoo.postprocessing import PostprocessingParams
from nucseg_zoo.training.recipe import Recipe

# Grid searched on validation; the defaults of PostprocessingParams lie inside it.
SEARCH_GRID = {
    "interior_threshold": (0.3, 0.4, 0.5, 0.6, 0.7),
    "method": ("grow", "watershed"),
    "grow_distance": (1, 2, 3, 4),
    "background_threshold": (0.3, 0.5, 0.7),
    "min_seed_size": (2, 4, 8),
}


def tune_params(probabilities: list[np.ndarray], truths: list[np.ndarray],
                base: PostprocessingParams | None = None, *, workers: int | None = None
                ) -> tuple[PostprocessingParams, float]:
    """Grid-search :data:`SEARCH_GRID` for the best average F1; return (params, F1).

    ``workers`` processes score the grid points (default: one per CPU the process may use;
    platforms without ``fork`` score in this process); ties go to the first grid point, so
    the result does not depend on ``workers``.
    """
    base = base or PostprocessingParams()
    keys = list(SEARCH_GRID)
    candidates = [replace(base, **dict(zip(keys, values)))
                  for values in itertools.product(*(SEARCH_GRID[k] for k in keys))]
    workers = workers or _usable_cpus()
    if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
        from nucseg_zoo.training.loop import average_f1

        scores = [average_f1(probabilities, truths, candidate) for candidate in candidates]
    else:
        # fork: the workers inherit the modules and need no importable __main__ (unlike spawn)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_init_worker, initargs=(probabilities, truths)) as pool:
            scores = list(pool.map(_score, candidates, chunksize=4))
    best = int(np.argmax(scores))
    return candidates[best], scores[best]


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


_worker_data: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
"""The validation probabilities and truths, set once in each worker process."""


def _init_worker(probabilities: list[np.ndarray], truths: list[np.ndarray]) -> None:
    global _worker_data
    _worker_data = (probabilities, truths)


def _score(params: PostprocessingParams) -> float:
    from nucseg_zoo.training.loop import average_f1

    return average_f1(*_worker_data, params)


def tune_run(recipe: Recipe, weights: Path, run_dir: Path, *, device: str = "cpu",
             mirror: str | None = None) -> Path:
    """Tune postprocessing for ``weights`` on the recipe's validation split.

    Writes ``run_dir/postprocessing.json`` (parameters, the validation average F1 they
    reach, and the split they were chosen on) atomically and returns its path.
    """
    from nucseg_zoo.training.loop import build_model, validation_predictions

    torch_device = torch.device(device)
    model = build_model(recipe).to(torch_device).to(memory_format=torch.channels_last)
    model.load_state_dict(torch.load(weights, map_location=torch_device, weights_only=True))
    samples = datasets.load(recipe.dataset, recipe.validation_split, mirror=mirror)
    probabilities = validation_predictions(model, samples, recipe, torch_device, default_precision(torch_device))
    params, f1 = tune_params(probabilities, [s.labels for s in samples])
    out = Path(run_dir) / "postprocessing.json"
    write_text_atomically(out, json.dumps({"params": params.to_dict(), "validation_average_f1": f1,
                                           "chosen_on": f"{recipe.dataset}/{recipe.validation_split}"},
                                          indent=2) + "\n")
    return out

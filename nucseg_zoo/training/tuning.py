"""Choice of postprocessing parameters on the validation split (never on test).

The grids are the output kind's (:class:`nucseg_zoo.postprocessing.Tuning`; the three-class
kind's are :data:`~nucseg_zoo.postprocessing.three_class.SEARCH_GRID` and
:data:`~nucseg_zoo.postprocessing.three_class.RESCUE_GRID`). Two stages: the search grid for
the best average F1, then (optionally) a refining grid around that choice for the lowest
error rate at IoU 0.7 among the points whose average F1 stays within :data:`F1_TOLERANCE`
of it — the paper's two headline numbers, with average F1 first.
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
from nucseg_zoo.postprocessing import KindParams, OutputKind, get_output_kind
from nucseg_zoo.training.loop import (
    build_model,
    recipe_output_kind,
    validation_predictions,
    validation_summary,
)
from nucseg_zoo.training.recipe import Recipe

F1_TOLERANCE = 0.002
"""How much validation average F1 the second stage may give up for a lower error rate."""


@dataclass(frozen=True)
class ValidationScore:
    """The two numbers the tuning looks at, for one parameter set."""

    average_f1: float
    error_rate: float


def tune_params(outputs: list[np.ndarray], truths: list[np.ndarray], kind: str | OutputKind, *,
                base: KindParams | None = None, search: Mapping[str, tuple] | None = None,
                refine: Mapping[str, tuple] | None = None, workers: int | None = None,
                f1_tolerance: float = F1_TOLERANCE) -> tuple[KindParams, ValidationScore]:
    """Grid-search a kind's postprocessing parameters; return (params, their validation score).

    Stage one takes the best average F1 over ``search``. With ``refine`` (e.g. the kind's
    ``tuning.refine``), stage two varies those parameters around stage one's choice and
    takes the lowest error rate at IoU 0.7 among the points whose average F1 is at least
    stage one's minus ``f1_tolerance``.

    Args:
        outputs: the model's ``(C, H, W)`` outputs of ``kind`` for the validation images.
        truths: their ``(H, W)`` integer ground-truth labels.
        kind: a registered kind name or record.
        base: the parameters the grids vary (default: the kind's defaults).
        search: stage one's grid, parameter name → values (default: the kind's ``tuning.search``).
        refine: stage two's grid, or None for stage one only.
        workers: processes scoring the grid points (default: one per CPU the process may
            use; platforms without ``fork`` score in this process). Ties go to the first grid
            point, so the result does not depend on ``workers``.
        f1_tolerance: see stage two.

    Raises:
        ValueError: ``kind`` is unknown, or has no tuning grid and ``search`` is None.
    """
    kind = get_output_kind(kind)
    if search is None:
        if kind.tuning is None:
            raise ValueError(f"output kind {kind.name} has no tuning grid (its parameters come with the model); "
                             "pass search=")
        search = kind.tuning.search
    candidates = _grid(base or kind.params(), search)
    scores = _score_all(candidates, outputs, truths, kind, workers)
    best = max(range(len(candidates)), key=lambda i: (scores[i].average_f1, -i))
    chosen, score = candidates[best], scores[best]
    if refine:
        candidates = _grid(chosen, refine)
        scores = _score_all(candidates, outputs, truths, kind, workers)
        floor = score.average_f1 - f1_tolerance
        eligible = [i for i in range(len(candidates)) if scores[i].average_f1 >= floor]
        if eligible:
            best = min(eligible, key=lambda i: (scores[i].error_rate, -scores[i].average_f1, i))
            chosen, score = candidates[best], scores[best]
    return chosen, score


def _grid(base: KindParams, grid: Mapping[str, tuple]) -> list[KindParams]:
    keys = list(grid)
    return [replace(base, **dict(zip(keys, values))) for values in itertools.product(*(grid[k] for k in keys))]


def _score_all(candidates: list[KindParams], outputs: list[np.ndarray], truths: list[np.ndarray],
               kind: OutputKind, workers: int | None) -> list[ValidationScore]:
    workers = workers or _usable_cpus()
    if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [_validation_score(outputs, truths, kind, candidate) for candidate in candidates]
    # fork: the workers inherit the modules (and any kind registered at run time) and need no
    # importable __main__ (unlike spawn)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                             initializer=_init_worker, initargs=(outputs, truths, kind)) as pool:
        return list(pool.map(_score, candidates, chunksize=4))


def _validation_score(outputs: list[np.ndarray], truths: list[np.ndarray], kind: OutputKind,
                      params: KindParams) -> ValidationScore:
    summary = validation_summary(outputs, truths, params, kind=kind)
    return ValidationScore(summary.average_f1, summary.error_rate)


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


_worker_data: tuple = ()
"""The validation outputs, truths and output kind, set once in each worker process."""


def _init_worker(outputs: list[np.ndarray], truths: list[np.ndarray], kind: OutputKind) -> None:
    global _worker_data
    _worker_data = (outputs, truths, kind)


def _score(params: KindParams) -> ValidationScore:
    return _validation_score(*_worker_data, params)


def tune_run(recipe: Recipe, weights: Path, run_dir: Path, *, device: str = "cpu",
             mirror: str | None = None) -> Path:
    """Tune postprocessing for ``weights`` on the recipe's validation split, over both grids
    of the recipe's output kind.

    Writes ``run_dir/postprocessing.json`` (parameters, the validation average F1 and
    error rate they reach, and the split they were chosen on) atomically and returns its
    path.
    """
    torch_device = torch.device(check_device(device))
    model = build_model(recipe).to(torch_device).to(memory_format=torch.channels_last)
    model.load_state_dict(torch.load(weights, map_location=torch_device, weights_only=True))
    kind = recipe_output_kind(recipe)
    samples = datasets.load(recipe.dataset, recipe.validation_split, mirror=mirror)
    # fp32: the precision of the harness and of the model's bioimage.io package, so the
    # parameters are tuned on the outputs the leaderboard scores
    outputs = validation_predictions(model, samples, recipe, torch_device, "fp32")
    refine = kind.tuning.refine if kind.tuning is not None else None
    params, score = tune_params(outputs, [s.labels for s in samples], kind, refine=refine)
    out = Path(run_dir) / "postprocessing.json"
    write_text_atomically(out, json.dumps({"params": params.to_dict(), "validation_average_f1": score.average_f1,
                                           "validation_error_rate": score.error_rate,
                                           "chosen_on": f"{recipe.dataset}/{recipe.validation_split}"},
                                          indent=2) + "\n")
    return out

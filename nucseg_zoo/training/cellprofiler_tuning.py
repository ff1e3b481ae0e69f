"""Choose the CellProfiler-like baselines' parameters on a dataset's split (BBBC039 validation by default).

Usage::

    NUCSEG_ZOO_BBBC039_MIRROR=/path/to/bbbc039 python -m nucseg_zoo.training.cellprofiler_tuning \
        [cp-basic cp-advanced]
    NUCSEG_ZOO_DSB2018_FLUO_MIRROR=/path/to/dsb2018 python -m nucseg_zoo.training.cellprofiler_tuning \
        --dataset dsb2018-fluo --split training [cp-basic cp-advanced]

A coordinate search: starting from the dataclass defaults (for cp-advanced, with the
identification settings already chosen for cp-basic, so tune cp-basic first), each
parameter in turn takes every value of its grid (:data:`SEARCH_GRIDS`) with the others
fixed, and keeps the one with the best validation average F1; rounds repeat until one
changes nothing. The result is written to ``nucseg_zoo/baselines/data/cp_basic.json`` /
``cp_advanced.json`` (for the dataset the shipped records were chosen on, BBBC039) or
``cp_basic@<dataset>.json`` (another dataset: the baseline's source ``cp-basic@<dataset>``),
with the scores on the split used and its name. The test split is never read.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tqdm import tqdm

from nucseg_zoo import datasets
from nucseg_zoo.baselines.cellprofiler import CPAdvanced, CPAdvancedParams, CPBasic
from nucseg_zoo.baselines.identify import IdentifyParams
from nucseg_zoo.baselines.params import DATA_DIR, Params, read_record, write_record
from nucseg_zoo.baselines.registry import RECORDS, record_path
from nucseg_zoo.training.samples import load_samples, score_baseline

log = logging.getLogger(__name__)

DEFAULT_DATASET, DEFAULT_SPLIT = "bbbc039", "validation"  # where the shipped records were chosen
MAX_ROUNDS = 4

_IDENTIFY_GRID: dict[str, tuple] = {
    "threshold_method": ("otsu", "li"),
    "threshold_smoothing": (0.0, 0.5, 1.0, 1.5),
    "threshold_correction": (0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3, 1.4, 1.5, 1.6),
    "min_contrast": (0.0, 3.0, 5.0, 8.0),
    "declump": ("shape", "intensity"),
    "declump_smoothing": (0.0, 1.0, 2.0, 3.0, 4.0),
    "min_seed_distance": (4, 5, 7, 9, 11, 13),
    "min_area": (10, 25, 40, 60),
    "max_area": (2000, 4000, 10000),
}

# Dotted names address nested records ("identify.min_area"). The enhancement steps that
# define cp-advanced (illumination correction, median filter, opening) are never switched
# off: on BBBC039 validation the median filter and the opening each cost a little F1, so
# an "off" value would turn cp-advanced into cp-basic plus filters.
SEARCH_GRIDS: dict[str, dict[str, tuple]] = {
    "cp-basic": _IDENTIFY_GRID,
    "cp-advanced": {
        "background_size": (31, 51, 101, 151),
        "median_size": (3, 5),
        "opening_radius": (1, 2),
        **{f"identify.{key}": values for key, values in _IDENTIFY_GRID.items()},
        "min_solidity": (0.0, 0.8, 0.85, 0.9),
        "min_intensity_ratio": (0.0, 1.1, 1.2, 1.3),
    },
}

_BUILDERS: dict[str, tuple[type[Params], Callable[[Any], Any]]] = {
    "cp-basic": (IdentifyParams, CPBasic),
    "cp-advanced": (CPAdvancedParams, CPAdvanced),
}


def _with(values: Mapping[str, Any], key: str, value: Any) -> dict[str, Any]:
    """A copy of the nested dict ``values`` with dotted ``key`` set to ``value``."""
    head, _, rest = key.partition(".")
    updated = dict(values)
    updated[head] = _with(values[head], rest, value) if rest else value
    return updated


def _get(values: Mapping[str, Any], key: str) -> Any:
    head, _, rest = key.partition(".")
    return _get(values[head], rest) if rest else values[head]


def coordinate_search(objective: Callable[[dict[str, Any]], float], start: Mapping[str, Any],
                      grid: Mapping[str, Sequence[Any]], *, max_rounds: int = MAX_ROUNDS,
                      progress: bool = True) -> tuple[dict[str, Any], float]:
    """Maximise ``objective`` over the grid, one coordinate at a time.

    Args:
        objective: score of a nested parameter dict (higher is better); invalid
            combinations may raise ``ValueError`` and are skipped.
        start: the nested parameter dict to start from.
        grid: dotted parameter name -> values to try.
        max_rounds: sweeps over all coordinates at most.
        progress: show a tqdm bar per round.

    Returns:
        ``(best parameters, best score)``.
    """
    cache: dict[str, float] = {}

    def score(values: dict[str, Any]) -> float:
        key = json.dumps(values, sort_keys=True)
        if key not in cache:
            try:
                cache[key] = objective(values)
            except ValueError as err:
                log.info("skipped %s: %s", key, err)
                cache[key] = float("-inf")
        return cache[key]

    best, best_score = dict(start), score(dict(start))
    for round_index in range(max_rounds):
        changed = False
        steps = [(key, value) for key, values in grid.items() for value in values]
        for key, value in tqdm(steps, desc=f"round {round_index + 1}", disable=not progress):
            if _get(best, key) == value:
                continue
            candidate = _with(best, key, value)
            candidate_score = score(candidate)
            if candidate_score > best_score + 1e-6:
                best, best_score, changed = candidate, candidate_score, True
                log.info("%.4f with %s = %r", best_score, key, value)
        if not changed:
            break
    return best, best_score


def target(name: str, dataset: str) -> str:
    """The source name whose record a search of ``name`` on ``dataset`` writes: ``name`` for the
    dataset its shipped record was chosen on, else ``name@dataset``."""
    shipped = read_record(DATA_DIR / RECORDS[name])["chosen_on"].split("/")[0]
    return name if dataset == shipped else f"{name}@{dataset}"


def _start(name: str, dataset: str) -> dict[str, Any]:
    """Where the search of ``name`` starts (cp-advanced: from cp-basic's chosen module settings
    on the same dataset; tune cp-basic first)."""
    params_cls, _ = _BUILDERS[name]
    start = params_cls().to_dict()
    if name == "cp-advanced":
        start["identify"] = read_record(record_path(target("cp-basic", dataset)))["params"]
    return start


def tune(name: str, *, dataset: str = DEFAULT_DATASET, split: str = DEFAULT_SPLIT, mirror: str | None = None,
         fixed: Sequence[str] = (), progress: bool = True) -> dict[str, Any]:
    """Tune baseline ``name`` on ``dataset``/``split``; write and return its record.

    ``fixed``: dotted parameter names (or prefixes such as ``"identify"``) left at their start
    values, e.g. cp-advanced's identification settings kept at cp-basic's on the same data.

    Raises:
        ValueError: ``split`` is a test split (never tuned on), or unknown dataset/split.
    """
    if split == "test":
        raise ValueError("parameters are never chosen on a test split; tune on training or validation")
    params_cls, baseline_cls = _BUILDERS[name]
    samples = load_samples(datasets.load(dataset, split=split, mirror=mirror))

    def objective(values: dict[str, Any]) -> float:
        return score_baseline(baseline_cls(params_cls.from_dict(values)), samples).average_f1

    grid = {key: values for key, values in SEARCH_GRIDS[name].items()
            if not any(key == prefix or key.startswith(prefix + ".") for prefix in fixed)}
    best, _ = coordinate_search(objective, _start(name, dataset), grid, progress=progress)
    scores = score_baseline(baseline_cls(params_cls.from_dict(best)), samples)
    record = {
        "baseline": name,
        "params": best,
        f"{split}_average_f1": scores.average_f1,
        f"{split}_error_rate_at_0.7": scores.error_rate,
        "chosen_on": f"{dataset}/{split}",
        "search": "coordinate search over SEARCH_GRIDS, `python -m nucseg_zoo.training.cellprofiler_tuning"
                  + (f" --dataset {dataset} --split {split}" if (dataset, split) != (DEFAULT_DATASET, DEFAULT_SPLIT)
                     else "") + "".join(f" --fixed {prefix}" for prefix in fixed) + f" {name}`",
    }
    write_record(record_path(target(name, dataset), must_exist=False), record)
    return record


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baselines", nargs="*", metavar="BASELINE",
                        help=f"which baselines to tune, among {', '.join(SEARCH_GRIDS)} (default: all)")
    parser.add_argument("--dataset", default=DEFAULT_DATASET, help="dataset to tune on (default: %(default)s)")
    parser.add_argument("--split", default=DEFAULT_SPLIT, help="its split (default: %(default)s; never test)")
    parser.add_argument("--mirror", help="dataset mirror (default: $NUCSEG_ZOO_<DATASET>_MIRROR)")
    parser.add_argument("--fixed", action="append", default=[], metavar="NAME",
                        help="a parameter (or prefix, e.g. identify) not searched: kept at its start value")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.baselines) - set(SEARCH_GRIDS))
    if unknown:
        parser.error(f"unknown baselines {unknown}; valid: {', '.join(SEARCH_GRIDS)}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in args.baselines or list(SEARCH_GRIDS):
        record = tune(name, dataset=args.dataset, split=args.split, mirror=args.mirror, fixed=args.fixed)
        log.info("%s: %s average F1 %.4f", name, args.split, record[f"{args.split}_average_f1"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

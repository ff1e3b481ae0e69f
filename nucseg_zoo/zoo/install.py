"""Install trained networks into a zoo entry: weights, training log, tuned postprocessing,
validation records and the weights' sha256 in ``entry.yaml``.

One path for a single network and for an ensemble (one run folder per weights file of the
entry). ``entry.yaml`` is read and written as YAML (:func:`~nucseg_zoo.zoo.entry.entry_yaml_text`).
Every file is written to a temporary sibling first and renamed into place only when all of
them are written, ``entry.yaml`` last: an interrupted install leaves the entry as it was, or
(if a rename fails half-way) with weights that no longer match their recorded sha256, which
loading refuses. An entry that already holds trained weights is changed only with
``replace=True``; installing the same run again changes nothing.

The model card is derived from these files; re-render it afterwards
(:func:`nucseg_zoo.cards.write_zoo_card`).
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nucseg_zoo._atomic import atomic_path, write_text_atomically
from nucseg_zoo._hashing import sha256_of
from nucseg_zoo._io import jsonl_text, read_jsonl
from nucseg_zoo.zoo.entry import ENTRY_FILE, EXPERIMENTS_DIR, VALIDATION_FILE, ZooEntry, entry_yaml_text, read_entry

RUN_WEIGHTS = "best.pt"
"""A run folder's best state dict (``nucseg_zoo.training.loop.train``)."""
RUN_LOG = "log.jsonl"
"""A run folder's per-epoch records."""


@dataclass(frozen=True)
class Stage:
    """The training stage that produced a run, as the entry's training log records it.

    Attributes:
        version: recipe version of the run (every record of the run is tagged ``recipe_version``).
        warm_start: sha256 of the state dicts the run started from, one per weights file of the
            entry; None for a run from scratch.
        warm_start_version: the recipe version that produced those state dicts.
    """

    version: int
    warm_start: tuple[str, ...] | None = None
    warm_start_version: int | None = None


def _refusal(entry: ZooEntry, changed: list[str]) -> FileExistsError:
    return FileExistsError(f"zoo entry {entry.id!r} holds trained weights; installing these runs would change "
                           f"{', '.join(changed)}: pass replace=True (nucseg-zoo train {entry.id} --export "
                           "--replace) to replace them (git history keeps the earlier files)")


def check_runs(entry: ZooEntry, runs: Sequence[str | Path], *, replace: bool = False) -> list[Path]:
    """The run folders, one per weights file of ``entry``, after checking each has finished and,
    without ``replace``, that they do not replace the entry's trained weights.

    Raises:
        ValueError: not one run folder per weights file.
        FileNotFoundError: a run has no best state dict or log (names the network to train).
        FileExistsError: the entry holds other trained weights and ``replace`` is False.
    """
    runs = [Path(run) for run in runs]
    if len(runs) != len(entry.weights):
        raise ValueError(f"zoo entry {entry.id!r} lists {len(entry.weights)} weight files; got {len(runs)} runs")
    for k, run in enumerate(runs):
        for name in (RUN_WEIGHTS, RUN_LOG):
            if not (run / name).is_file():
                todo = (f"train member {k} first (nucseg-zoo train {entry.id} --member {k})" if entry.ensemble
                        else "finish training first")
                raise FileNotFoundError(f"{run / name} is missing: {todo}")
    if entry.trained and not replace:
        changed = [w.path.name for w, run in zip(entry.weights, runs) if sha256_of(run / RUN_WEIGHTS) != w.sha256]
        if changed:
            raise _refusal(entry, changed)
    return runs


def merged_training_log(entry: ZooEntry, runs: Sequence[Path], stage: Stage) -> list[dict[str, Any]]:
    """The entry's new training log, covering the whole training.

    The runs' records (an ensemble's tagged ``member`` K) are tagged with the stage's recipe
    version. A warm-started stage is preceded by the earlier stages: the entry's whole current
    log when the entry still holds the stage's starting weights (its untagged records belong to
    ``stage.warm_start_version``), else the records of other versions already in that log (a
    repeated install).
    """
    records = [{"recipe_version": stage.version, **({"member": k} if entry.ensemble else {}), **record}
               for k, run in enumerate(runs) for record in read_jsonl(run / RUN_LOG)]
    if stage.warm_start is None:
        return records
    current = entry.training_log()
    if list(stage.warm_start) == [weights.sha256 for weights in entry.weights]:
        parent = [{"recipe_version": stage.warm_start_version, **record} for record in current]
    else:
        parent = [record for record in current if record.get("recipe_version", stage.version) != stage.version]
    return parent + records


def install_run(model_id: str, runs: Sequence[str | Path], *, stage: Stage, postprocessing: Mapping[str, Any],
                validation: Mapping[str, Any] | None = None, nucleus_diameter: Mapping[str, Any] | None = None,
                replace: bool = False) -> Path:
    """Install trained runs into ``zoo/<model_id>/``; return the entry folder.

    Args:
        model_id: a zoo id.
        runs: one finished run folder (``best.pt``, ``log.jsonl``) per weights file of the
            entry, in order (an ensemble: member 0, 1, ...).
        stage: the training stage of the runs (tags and merges the training log).
        postprocessing: the tuned postprocessing record (``{params, validation_average_f1,
            chosen_on, ...}``), written to the entry's ``postprocessing.json``.
        validation: an ensemble's comparison of its members on validation, written to
            ``validation.json``; None writes none.
        nucleus_diameter: the nucleus sizes of the runs' training labels, written to
            ``entry.yaml`` (:class:`~nucseg_zoo.zoo.entry.NucleusDiameter` as a mapping); None
            keeps the entry's.
        replace: allow changing an entry that already holds trained weights.

    Raises:
        ValueError, FileNotFoundError: see :func:`check_runs`.
        FileExistsError: the entry holds trained weights and the install would change its
            weights or results, without ``replace`` (nothing is written).
    """
    entry = read_entry(model_id)
    runs = check_runs(entry, runs, replace=replace)
    texts = {entry.raw["training_log"]: jsonl_text(merged_training_log(entry, runs, stage)),
             entry.raw["postprocessing"]: json.dumps(postprocessing, indent=2) + "\n"}
    if validation is not None:
        texts[VALIDATION_FILE] = json.dumps(validation, indent=2) + "\n"
    changed = [name for name, text in texts.items()
               if not (entry.dir / name).is_file() or (entry.dir / name).read_text() != text]
    if changed and entry.trained and not replace:
        raise _refusal(entry, changed)
    hashes = [sha256_of(run / RUN_WEIGHTS) for run in runs]
    raw = yaml.safe_load((entry.dir / ENTRY_FILE).read_text())
    listed = raw["weights"] if entry.ensemble else [raw["weights"]]
    for item, sha in zip(listed, hashes):
        item["sha256"] = sha
    if nucleus_diameter is not None:
        raw["nucleus_diameter"] = dict(nucleus_diameter)
    with contextlib.ExitStack() as stack:  # renamed into place last-entered first: entry.yaml last
        stack.enter_context(atomic_path(entry.dir / ENTRY_FILE)).write_text(entry_yaml_text(raw))
        for run, weights in zip(runs, entry.weights):
            shutil.copyfile(run / RUN_WEIGHTS, stack.enter_context(atomic_path(weights.path)))
        for name, text in texts.items():
            stack.enter_context(atomic_path(entry.dir / name)).write_text(text)
    return entry.dir


def write_nucleus_diameter(model_id: str, nucleus_diameter: Mapping[str, Any]) -> Path:
    """Record ``nucleus_diameter`` (see :func:`install_run`) in ``zoo/<model_id>/entry.yaml``,
    atomically, changing nothing else; returns the file."""
    entry = read_entry(model_id)
    raw = yaml.safe_load((entry.dir / ENTRY_FILE).read_text())
    raw["nucleus_diameter"] = dict(nucleus_diameter)
    write_text_atomically(entry.dir / ENTRY_FILE, entry_yaml_text(raw))
    return entry.dir / ENTRY_FILE


def write_experiment(entry: ZooEntry, name: str, *, title: str, description: str, rows: list[dict]) -> Path:
    """Write ``zoo/<id>/experiments/<name>.json`` atomically — ``rows``: ``[{name, average_f1,
    error_rate_at_0.7}]`` — which the model card renders as a table; returns its path."""
    out = entry.dir / EXPERIMENTS_DIR / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    write_text_atomically(out, json.dumps({"title": title, "description": description, "rows": rows}, indent=2) + "\n")
    return out

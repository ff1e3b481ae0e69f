"""Copy a finished training run into its zoo entry (weights, log, tuned postprocessing)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from nucseg_zoo._atomic import copy_atomically, write_text_atomically
from nucseg_zoo._hashing import sha256_of
from nucseg_zoo._io import read_jsonl
from nucseg_zoo.zoo.registry import zoo_entry_dir


def merged_training_log(records: list[dict], entry_dir: Path, recipe) -> str:
    """The entry's new ``training_log.jsonl``, covering the whole training.

    ``records`` are the run's epochs (of every member of an ensemble, tagged ``member``); they
    are tagged with the recipe version. A warm-started run (``recipe.init_from``) is preceded
    by the earlier stages: the entry's whole current log when the entry still holds the run's
    starting weights (its untagged records belong to the recipe version named in
    ``init_from``), else the records of earlier versions already in that log (a repeated export).
    """
    from nucseg_zoo.zoo.entry import read_entry

    records = [{"recipe_version": recipe.version, **r} for r in records]
    init = recipe.init_from
    if init:
        entry = read_entry(entry_dir.name)
        current = read_jsonl(entry_dir / entry.raw["training_log"])
        starting = init["sha256"] if isinstance(init["sha256"], list) else [init["sha256"]]
        if starting == [weights.sha256 for weights in entry.weights]:
            parent = [{"recipe_version": init.get("recipe_version"), **r} for r in current]
        else:
            parent = [r for r in current if r.get("recipe_version", recipe.version) != recipe.version]
        records = parent + records
    return "".join(json.dumps(record) + "\n" for record in records)


def export_run(run_dir: str | Path, model_id: str, recipe=None) -> Path:
    """Install ``run_dir``'s best weights, log and postprocessing into ``zoo/<model_id>/``.

    The weights' sha256 is written into ``entry.yaml`` (the comments there are kept) and
    the model card is re-rendered. ``recipe`` is the run's recipe (default: the entry's).
    Returns the entry folder.
    """
    from nucseg_zoo.zoo.card import write_model_card
    from nucseg_zoo.zoo.entry import read_entry

    run_dir, entry_dir = Path(run_dir), zoo_entry_dir(model_id)
    for name in ("best.pt", "log.jsonl", "postprocessing.json"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name} is missing: finish training (and tuning) first")
    log_text = merged_training_log(read_jsonl(run_dir / "log.jsonl"), entry_dir, recipe or read_entry(model_id).recipe)
    copy_atomically(run_dir / "best.pt", entry_dir / "weights.pt")
    write_text_atomically(entry_dir / "training_log.jsonl", log_text)
    copy_atomically(run_dir / "postprocessing.json", entry_dir / "postprocessing.json")
    entry_yaml = entry_dir / "entry.yaml"
    text, n = re.subn(r"(?m)^(  sha256: ).*$", rf"\g<1>{sha256_of(entry_dir / 'weights.pt')}", entry_yaml.read_text())
    if n != 1:
        raise RuntimeError(f"{entry_yaml}: expected one 'weights: sha256:' line, found {n}")
    write_text_atomically(entry_yaml, text)
    write_model_card(model_id)
    return entry_dir

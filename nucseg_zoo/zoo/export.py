"""Copy a finished training run into its zoo entry (weights, log, tuned postprocessing)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from nucseg_zoo._atomic import atomic_path, write_text_atomically
from nucseg_zoo.datasets.source import sha256_of
from nucseg_zoo.zoo.registry import zoo_entry_dir


def _atomic_copy(src: Path, dst: Path) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def export_run(run_dir: str | Path, model_id: str) -> Path:
    """Install ``run_dir``'s best weights, log and postprocessing into ``zoo/<model_id>/``.

    The weights' sha256 is written into ``entry.yaml`` (the comments there are kept) and
    the model card is re-rendered. Returns the entry folder.
    """
    from nucseg_zoo.zoo.card import write_model_card

    run_dir, entry_dir = Path(run_dir), zoo_entry_dir(model_id)
    for name in ("best.pt", "log.jsonl", "postprocessing.json"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name} is missing: finish training (and tuning) first")
    _atomic_copy(run_dir / "best.pt", entry_dir / "weights.pt")
    _atomic_copy(run_dir / "log.jsonl", entry_dir / "training_log.jsonl")
    _atomic_copy(run_dir / "postprocessing.json", entry_dir / "postprocessing.json")
    entry_yaml = entry_dir / "entry.yaml"
    text, n = re.subn(r"(?m)^(  sha256: ).*$", rf"\g<1>{sha256_of(entry_dir / 'weights.pt')}", entry_yaml.read_text())
    if n != 1:
        raise RuntimeError(f"{entry_yaml}: expected one 'weights: sha256:' line, found {n}")
    write_text_atomically(entry_yaml, text)
    write_model_card(model_id)
    return entry_dir

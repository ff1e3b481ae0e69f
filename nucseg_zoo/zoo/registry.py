"""Registry of zoo entries: one folder per model under the bundled ``zoo/``, or a local entry
folder (one that holds an ``entry.yaml``, e.g. written by ``nucseg-zoo train MODEL --images ...``)."""

from __future__ import annotations

import os
from pathlib import Path

from nucseg_zoo._resources import bundled_dir

ENTRY_FILE = "entry.yaml"
"""The file that makes a folder a zoo entry."""


def list_models() -> list[str]:
    """Ids of the shipped zoo models (folders of the bundled ``zoo/`` with an ``entry.yaml``)."""
    root = bundled_dir("zoo")
    return sorted(p.name for p in root.iterdir() if (p / ENTRY_FILE).is_file())


def is_entry_folder(spec: str | os.PathLike) -> bool:
    """Whether ``spec`` is a path to a folder that holds an ``entry.yaml`` (a local zoo entry).

    A shipped zoo id is not a path: ``unet-bbbc039`` names the shipped model even where the
    working folder has a folder of that name."""
    return str(spec) not in list_models() and (Path(spec) / ENTRY_FILE).is_file()


def zoo_entry_dir(model_id: str | os.PathLike) -> Path:
    """The folder of zoo entry ``model_id``: a shipped id, or a local entry folder (absolute).

    Raises:
        ValueError: ``model_id`` is neither; the message lists the shipped ids.
    """
    models = list_models()
    if str(model_id) in models:
        return bundled_dir("zoo") / str(model_id)
    if is_entry_folder(model_id):
        return Path(model_id).resolve()
    hint = (f" ({model_id} is a folder without {ENTRY_FILE})" if Path(model_id).is_dir() else "")
    raise ValueError(f"unknown zoo model {str(model_id)!r}{hint}; available: {', '.join(models) or 'none'}, "
                     f"or a local zoo entry folder (one holding {ENTRY_FILE}, written by "
                     "nucseg-zoo train MODEL --images DIR --labels DIR --out ENTRY_DIR)")

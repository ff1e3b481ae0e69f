"""Registry of zoo entries: one folder per model under the bundled ``zoo/``."""

from __future__ import annotations

from pathlib import Path

from nucseg_zoo._resources import bundled_dir


def list_models() -> list[str]:
    """Ids of the zoo models (folders of ``zoo/`` with a model card)."""
    root = bundled_dir("zoo")
    return sorted(p.name for p in root.iterdir() if (p / "entry.yaml").is_file())


def zoo_entry_dir(model_id: str) -> Path:
    """The folder of zoo entry ``model_id``; ``ValueError`` lists the valid ids."""
    models = list_models()
    if model_id not in models:
        raise ValueError(f"unknown zoo model {model_id!r}; available: {', '.join(models) or 'none'}")
    return bundled_dir("zoo") / model_id

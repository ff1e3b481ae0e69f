"""Locate the data files that ship with nucseg_zoo (dataset cards, zoo entries).

The cards live at the top of the repository (``datasets/``, ``zoo/``). A built wheel
carries copies under ``nucseg_zoo/_bundled/``; a source checkout or an editable
install reads the repository folders directly.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def bundled_dir(kind: str) -> Path:
    """Return the folder holding the bundled ``kind`` ("datasets" or "zoo") files."""
    if kind not in ("datasets", "zoo"):
        raise ValueError(f"unknown resource kind {kind!r}; expected 'datasets' or 'zoo'")
    for candidate in (_PACKAGE_DIR / "_bundled" / kind, _PACKAGE_DIR.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"nucseg_zoo's bundled {kind!r} folder is missing; reinstall the package"
    )

"""Where files live and how small records are read: the download cache, URLs, JSON lines."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

DATA_DIR_ENV = "NUCSEG_ZOO_DATA_DIR"
"""Environment variable naming the download cache folder (datasets, model packages, results)."""

_URL_SCHEMES = ("http://", "https://", "ftp://", "file://")


def cache_dir() -> Path:
    """The download cache: ``$NUCSEG_ZOO_DATA_DIR``, else the OS cache folder (``pooch.os_cache("nucseg-zoo")``).

    The folder is named, not created.
    """
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured)
    import pooch  # ~0.1 s of imports (requests), needed only without the variable

    return Path(pooch.os_cache("nucseg-zoo"))


def is_url(location: str) -> bool:
    """True when ``location`` starts with an ``http://``, ``https://``, ``ftp://`` or ``file://`` scheme
    (any case), i.e. it is downloaded rather than read from a local path."""
    return location.lower().startswith(_URL_SCHEMES)


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file (e.g. a training log), blank lines skipped.

    Raises:
        OSError: the file cannot be read.
        json.JSONDecodeError: a line is not JSON.
    """
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def jsonl_text(records: Iterable[Mapping[str, Any]]) -> str:
    """``records`` as JSON-lines text (one object per line, each line ending in a newline)."""
    return "".join(json.dumps(record) + "\n" for record in records)

"""JSON lines: one JSON object per line (training logs)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The records of the JSON-lines file ``path``, blank lines skipped."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def jsonl_text(records: Iterable[Mapping[str, Any]]) -> str:
    """``records`` as JSON-lines text (one object per line, each line ending in a newline)."""
    return "".join(json.dumps(record) + "\n" for record in records)

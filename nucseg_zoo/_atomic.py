"""Atomic file writes: write a temporary sibling, then rename it over the target."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path``; on success rename it over ``path``.

    Readers never see a half-written file; if the block raises, the temporary file is
    removed and ``path`` is left as it was. The temporary name is unique per call, so two
    writers of the same target never share a temporary file; it keeps the target's
    suffix, for writers that choose the format by suffix.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def copy_atomically(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy ``src`` to ``dst`` through a temporary file renamed over ``dst``."""
    import shutil

    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def refuse_to_overwrite(path: str | os.PathLike, *, what: str, how: str = "pass --overwrite") -> None:
    """Raise ``FileExistsError`` when ``path`` exists (a result written earlier), saying how to redo it."""
    if Path(path).exists():
        raise FileExistsError(f"{what} {path} exists (written earlier); not replacing it — {how} to redo it")

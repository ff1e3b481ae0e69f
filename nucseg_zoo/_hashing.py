"""Content hashes of files: the sha256 that identifies weights, packages, records and data."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable


def sha256_of(path: str | Path, *, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 (64 lowercase characters) of the file at ``path``, read in ``chunk_size``-byte chunks.

    Raises:
        OSError: the file cannot be read (e.g. ``FileNotFoundError``).
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def hash_of_files(paths: Iterable[Path], *, root: Path | None = None) -> str:
    """Hex sha256 over one ``name\\0sha256\\n`` line per file of ``paths``, in their order.

    Names are the bare file names, or the paths relative to ``root`` (POSIX spelling) when
    given; so a set of files keeps its hash wherever it is copied.

    Raises:
        OSError: a file cannot be read.
        ValueError: ``root`` is given and a path is not inside it.
    """
    digest = hashlib.sha256()
    for path in paths:
        name = path.relative_to(root).as_posix() if root is not None else path.name
        digest.update(f"{name}\0{sha256_of(path)}\n".encode())
    return digest.hexdigest()

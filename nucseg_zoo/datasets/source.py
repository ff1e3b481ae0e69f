"""Where a dataset's files come from: the official archives (via pooch) or a mirror.

Default: the official URLs in the card, downloaded once by pooch into the OS cache
(``NUCSEG_ZOO_DATA_DIR`` overrides the folder), each archive checked against its
sha256 and unpacked with :class:`pooch.Unzip`. A mirror is chosen explicitly, by the
``mirror`` argument or the ``NUCSEG_ZOO_<ID>_MIRROR`` environment variable: either a
base URL serving the same archives, or a local folder laid out like the extracted
archives. Every file the loader reads is checked against the card's manifest.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

import pooch

from nucseg_zoo.datasets.card import DatasetCard

DATA_DIR_ENV = "NUCSEG_ZOO_DATA_DIR"
_URL_SCHEMES = ("http://", "https://", "ftp://", "file://")


class DatasetIntegrityError(RuntimeError):
    """Files of a dataset are missing or do not match the card's manifest."""


def mirror_env_var(dataset_id: str) -> str:
    """Name of the environment variable that selects a mirror for ``dataset_id``."""
    return f"NUCSEG_ZOO_{dataset_id.upper().replace('-', '_')}_MIRROR"


def cache_dir() -> Path:
    """The download cache: ``$NUCSEG_ZOO_DATA_DIR`` or the OS cache folder."""
    return Path(os.environ.get(DATA_DIR_ENV) or pooch.os_cache("nucseg-zoo"))


def sha256_of(path: Path, *, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def verify_files(root: Path, card: DatasetCard, relpaths: Iterable[str]) -> None:
    """Check ``relpaths`` under ``root`` against the manifest; raise naming every bad file."""
    missing, altered = [], []
    for relpath in relpaths:
        path = root / relpath
        if not path.is_file():
            missing.append(relpath)
        elif sha256_of(path) != card.manifest[relpath]:
            altered.append(relpath)
    if missing or altered:
        lines = [f"dataset {card.id!r} at {root} does not match its manifest:"]
        lines += [f"  missing: {p}" for p in missing]
        lines += [f"  altered (sha256 mismatch): {p}" for p in altered]
        raise DatasetIntegrityError("\n".join(lines))


def resolve_mirror(card: DatasetCard, mirror: str | os.PathLike | None) -> str | None:
    """The mirror to use: the argument, else the environment variable, else None."""
    if mirror is None:
        mirror = os.environ.get(mirror_env_var(card.id)) or None
    return None if mirror is None else os.fspath(mirror)


def is_url(location: str) -> bool:
    """True when ``location`` is a URL rather than a local folder."""
    return location.lower().startswith(_URL_SCHEMES)


def _pooch_for(card: DatasetCard, base_url: str) -> pooch.Pooch:
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    registry = {f"{card.id}/{name}": digest for name, digest in card.archives.items()}
    return pooch.create(
        path=cache_dir(),
        base_url=base_url,
        registry=registry,
        urls={key: base_url + key.split("/", 1)[1] for key in registry},
        retry_if_failed=3,
    )


def download(card: DatasetCard, *, base_url: str | None = None, progressbar: bool = False) -> Path:
    """Download (once) and unpack every archive of ``card``; return the extracted root.

    Archives are verified by sha256 before they are moved into the cache, so a corrupt
    or truncated download never lands there; failures are retried three times.

    Raises:
        ConnectionError: an archive cannot be downloaded (names the URL and how to use a mirror).
    """
    import requests

    fetcher = _pooch_for(card, base_url or card.base_url)
    for key in fetcher.registry:
        try:
            fetcher.fetch(key, processor=pooch.Unzip(extract_dir="."), progressbar=progressbar)
        except requests.exceptions.RequestException as err:
            raise ConnectionError(
                f"could not download {key} of dataset {card.id!r} from {fetcher.get_url(key)} ({err}); without "
                f"access to it, point to a copy with --mirror FOLDER_OR_URL or ${mirror_env_var(card.id)}") from err
    return cache_dir() / card.id


def dataset_root(
    card: DatasetCard,
    relpaths: Iterable[str],
    *,
    mirror: str | os.PathLike | None = None,
    progressbar: bool = False,
) -> Path:
    """Return a folder holding ``relpaths`` of ``card``, all verified against the manifest.

    Args:
        card: the dataset card.
        relpaths: the files the caller is going to read (e.g. one split's images/masks).
        mirror: a base URL or local folder; defaults to ``$NUCSEG_ZOO_<ID>_MIRROR``,
            then to the official URLs.
        progressbar: show tqdm progress bars while downloading.
    """
    relpaths = list(relpaths)
    location = resolve_mirror(card, mirror)
    if location is not None and not is_url(location):
        root = Path(location).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(
                f"mirror folder {root} for dataset {card.id!r} does not exist "
                f"(set by argument or ${mirror_env_var(card.id)})"
            )
    else:
        root = download(card, base_url=location, progressbar=progressbar)
    verify_files(root, card, relpaths)
    return root

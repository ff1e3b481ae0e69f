"""Where a dataset's files come from: the official archives (via pooch) or a mirror.

Default: the official URLs in the card, downloaded once by pooch into the OS cache
(``NUCSEG_ZOO_DATA_DIR`` overrides the folder). Archives with a pinned sha256 are checked
against it before they are unpacked (:class:`pooch.Unzip`). An archive whose bytes are not
stable (a repository archive generated on request) is downloaded and unpacked in a temporary
folder, every file of the manifest verified there, and only then moved into the cache. A
mirror is chosen explicitly, by the ``mirror`` argument or the ``NUCSEG_ZOO_<ID>_MIRROR``
environment variable: either a base URL serving the same archives, or a local folder laid
out like the extracted archives.

Every file the loader reads is checked against the card's manifest. Hashing is remembered:
``<cache>/verified/`` records, per dataset folder, the size, modification time and sha256
of each file that matched, so a later load re-hashes only files whose size or modification
time changed (a 30,000-file dataset verifies in a second the second time). ``nucseg-zoo
datasets verify`` (``fetch(..., rehash=True)``) hashes everything again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterable

import pooch

from nucseg_zoo._atomic import write_text_atomically
from nucseg_zoo._hashing import sha256_of
from nucseg_zoo._io import cache_dir, is_url
from nucseg_zoo.datasets.card import DatasetCard

log = logging.getLogger(__name__)


class DatasetIntegrityError(RuntimeError):
    """Files of a dataset are missing or do not match the card's manifest."""


def mirror_env_var(dataset_id: str) -> str:
    """Name of the environment variable that selects a mirror for ``dataset_id``."""
    return f"NUCSEG_ZOO_{dataset_id.upper().replace('-', '_')}_MIRROR"


def _verification_record(root: Path, card: DatasetCard) -> Path:
    key = hashlib.sha256(f"{card.id}\n{root.resolve()}".encode()).hexdigest()[:32]
    return cache_dir() / "verified" / f"{card.id}-{key}.json"


def _read_record(path: Path) -> dict[str, list]:
    try:
        record = json.loads(path.read_text())
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        return {}


def verify_files(root: Path, card: DatasetCard, relpaths: Iterable[str], *, rehash: bool = False) -> None:
    """Check ``relpaths`` under ``root`` against the manifest; raise naming every bad file.

    A file whose size and modification time (ns) are those recorded when it last matched
    (``<cache>/verified/``, see the module docstring) is not hashed again, unless ``rehash``.

    Raises:
        DatasetIntegrityError: files missing, altered (sha256 mismatch) or not in the manifest.
    """
    record_path = _verification_record(root, card)
    record = {} if rehash else _read_record(record_path)
    missing, altered, unknown, hashed = [], [], [], 0
    for relpath in relpaths:
        path = root / relpath
        expected = card.manifest.get(relpath)
        if expected is None:
            unknown.append(relpath)
            continue
        try:
            info = path.stat()
        except OSError:
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            missing.append(relpath)
            continue
        seen = [info.st_size, info.st_mtime_ns, expected]
        if record.get(relpath) == seen:
            continue
        hashed += 1
        if sha256_of(path) == expected:
            record[relpath] = seen
        else:
            record.pop(relpath, None)
            altered.append(relpath)
    if hashed:
        log.info("dataset %s: %d files hashed, the others unchanged since they were verified", card.id, hashed)
        try:
            record_path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomically(record_path, json.dumps(record, separators=(",", ":")))
        except OSError as err:  # a read-only cache only costs re-hashing next time
            log.warning("could not record verified files in %s: %s", record_path, err)
    if missing or altered or unknown:
        lines = [f"dataset {card.id!r} at {root} does not match its manifest:"]
        lines += [f"  missing: {p}" for p in missing]
        lines += [f"  altered (sha256 mismatch): {p}" for p in altered]
        lines += [f"  not in the manifest: {p}" for p in unknown]
        raise DatasetIntegrityError("\n".join(lines))


def resolve_mirror(card: DatasetCard, mirror: str | os.PathLike | None) -> str | None:
    """The mirror to use: the argument, else the environment variable, else None."""
    if mirror is None:
        mirror = os.environ.get(mirror_env_var(card.id)) or None
    return None if mirror is None else os.fspath(mirror)


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

    if card.archive_url is not None:
        return _download_unhashed_archive(card, url=base_url or card.archive_url, progressbar=progressbar)
    if not card.archives:
        raise ValueError(f"dataset {card.id!r} has no download source (a bundled subset?)")
    fetcher = _pooch_for(card, base_url or card.base_url or "")
    for key in fetcher.registry:
        try:
            fetcher.fetch(key, processor=pooch.Unzip(extract_dir="."), progressbar=progressbar)
        except requests.exceptions.RequestException as err:
            raise ConnectionError(
                f"could not download {key} of dataset {card.id!r} from {fetcher.get_url(key)} ({err}); without "
                f"access to it, point to a copy with --mirror FOLDER_OR_URL or ${mirror_env_var(card.id)}") from err
    return cache_dir() / card.id


def _download_unhashed_archive(card: DatasetCard, *, url: str, progressbar: bool = False) -> Path:
    """Download the archive at ``url`` (no stable hash), unpack and verify every manifest file in a
    temporary folder, then move the verified tree into the cache; return the cache folder.

    Raises:
        ConnectionError: the archive cannot be downloaded (names the URL and the mirror variable).
        DatasetIntegrityError: what it holds differs from the manifest (nothing enters the cache).
    """
    import requests

    target = cache_dir() / card.id
    if target.is_dir():
        return target
    cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix=f".{card.id}.tmp") as work:
        work_dir = Path(work)
        try:
            archive = pooch.retrieve(url, known_hash=None, fname="archive.zip", path=work_dir,
                                     progressbar=progressbar)
        except requests.exceptions.RequestException as err:
            raise ConnectionError(
                f"could not download dataset {card.id!r} from {url} ({err}); without access to it, "
                f"point to a copy with --mirror FOLDER (Python: mirror=FOLDER) or ${mirror_env_var(card.id)}") from err
        import zipfile

        extracted = work_dir / "extracted"
        with zipfile.ZipFile(archive) as handle:
            handle.extractall(extracted)
        root = extracted / card.archive_prefix if card.archive_prefix else extracted
        verify_files(root, card, card.manifest, rehash=True)
        staged = work_dir / card.id
        staged.mkdir()
        for relpath in card.manifest:  # only the manifest's files enter the cache
            (staged / relpath).parent.mkdir(parents=True, exist_ok=True)
            os.replace(root / relpath, staged / relpath)
        _verification_record(staged, card).unlink(missing_ok=True)
        try:
            os.replace(staged, target)
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(staged)  # another process moved the same verified tree in first
    return target


def dataset_root(
    card: DatasetCard,
    relpaths: Iterable[str],
    *,
    mirror: str | os.PathLike | None = None,
    progressbar: bool = False,
    rehash: bool = False,
) -> Path:
    """Return a folder holding ``relpaths`` of ``card``, all verified against the manifest.

    Args:
        card: the dataset card.
        relpaths: the files the caller is going to read (e.g. one split's images/masks).
        mirror: a base URL or local folder; defaults to ``$NUCSEG_ZOO_<ID>_MIRROR``,
            then to the official URLs.
        progressbar: show tqdm progress bars while downloading.
        rehash: hash every file again, even those unchanged since they were last verified.
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
    verify_files(root, card, relpaths, rehash=rehash)
    return root

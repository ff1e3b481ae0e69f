"""Verified downloads of bioimage.io model packages: what arrives is checked before it is cached.

:func:`download_package` fetches a package ``.zip`` or a bare ``rdf.yaml`` from a URL once,
with pooch (retries, a temporary file), checks that it is a model package *before* it enters
the cache (``$NUCSEG_ZOO_DATA_DIR/models`` or the OS cache), checks it against ``sha256=``
when given, and re-checks it against the hash recorded at download every time it is reused.
bioimageio.core then loads the verified local copy, never the URL, so the recorded hash is
the hash of what runs. For a bare ``rdf.yaml`` URL every file the rdf names by a relative
path is downloaded beside it the same way (each checked against the sha256 the rdf pins for
it), and the hash covers the rdf and all those files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin

import yaml

from nucseg_zoo._atomic import write_text_atomically
from nucseg_zoo._hashing import hash_of_files, sha256_of
from nucseg_zoo._io import cache_dir

log = logging.getLogger(__name__)

DOWNLOAD_RETRIES = 3
"""Extra tries after a failed or interrupted transfer (pooch waits 1, 2, 3 s between them)."""

RDF_NAMES = ("rdf.yaml", "bioimageio.yaml", "model.yaml")
"""Names of the rdf at a zip's root, in bioimageio.spec's order (also ``<anything>.<name>``)."""

_CACHED_RDF = "rdf.yaml"  # name of a downloaded bare rdf inside its cache folder
_MAX_RDF_BYTES = 16 << 20  # a larger file that is not a zip is not read as YAML
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class DownloadError(ValueError):
    """A URL did not deliver a verified model package; nothing of it entered the cache.

    Also raised when a cached download changed on disk since it was verified. The message
    names the URL, what arrived instead and what to do.
    """


# ---------------------------------------------------------------- what a download must be


def _rdf_name(names) -> str | None:
    """The rdf among a zip's root ``names``, chosen as bioimageio.spec does; None without one."""
    names = sorted(names)
    for base in RDF_NAMES:
        for name in names:
            if name == base or name.endswith("." + base):
                return name
    return None


def _yaml_or_none(data: bytes):
    try:
        return yaml.safe_load(data)
    except yaml.YAMLError:
        return None


def _package_kind(path: Path) -> tuple[str, dict]:
    """``("zip", rdf)`` or ``("rdf", rdf)`` when ``path`` is a bioimage.io model package.

    A package is a zip with intact members and ``rdf.yaml`` (or ``*.bioimageio.yaml``,
    see :data:`RDF_NAMES`) at its root, a YAML mapping with ``type: model``; or a bare
    rdf: a YAML mapping with ``type: model`` and ``format_version``.

    Raises:
        ValueError: it is not; the message says what it is instead ("an HTML page", ...).
    """
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                rdf_name = _rdf_name(name for name in archive.namelist() if "/" not in name)
                if rdf_name is None:
                    raise ValueError("a zip archive without rdf.yaml or *.bioimageio.yaml at its root")
                broken = archive.testzip()
                rdf = _yaml_or_none(archive.read(rdf_name))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as err:
            raise ValueError(f"a corrupt zip archive ({type(err).__name__}: {err})") from err
        if broken is not None:
            raise ValueError(f"a corrupt zip archive ({broken} fails its CRC check)")
        if not isinstance(rdf, dict) or rdf.get("type") != "model":
            found = rdf.get("type") if isinstance(rdf, dict) else type(rdf).__name__
            raise ValueError(f"a zip archive whose {rdf_name} is not a model rdf (type: {found})")
        return "zip", rdf
    with open(path, "rb") as handle:
        data = handle.read(_MAX_RDF_BYTES + 1)
    rdf = _yaml_or_none(data) if len(data) <= _MAX_RDF_BYTES else None
    if isinstance(rdf, dict) and rdf.get("type") == "model" and "format_version" in rdf:
        return "rdf", rdf
    start = data[:512].lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        raise ValueError("an HTML page")
    if start.startswith((b"{", b"[")):
        raise ValueError("a JSON document")
    if data.startswith(b"PK"):
        raise ValueError("a truncated or corrupt zip archive")
    if not data:
        raise ValueError("an empty file")
    if isinstance(rdf, dict):
        raise ValueError(f"a YAML mapping that is not a model rdf (type: {rdf.get('type')!r}, "
                         f"format_version: {rdf.get('format_version')!r})")
    raise ValueError("neither a zip archive nor a YAML model rdf")


def _arrival(path: Path, content_type: str | None) -> str:
    """``(Content-Type, size, first bytes)`` of a downloaded file, for error messages."""
    with open(path, "rb") as handle:
        head = handle.read(48)
    return f"({content_type or 'no Content-Type'}, {path.stat().st_size} bytes, starting {head!r})"


def _rdf_files(node, named: dict[str, str | None] | None = None) -> dict[str, str | None]:
    """Files an rdf names by a relative path -> the sha256 it pins for each (or None).

    Found anywhere in the rdf: 0.5 ``{source, sha256}`` entries (weights, architecture,
    test and sample tensors, attachments, covers and documentation as file entries,
    dependencies), plain ``documentation`` / ``covers`` strings, and 0.4's file lists
    (``test_inputs`` ... ``sample_outputs``, ``attachments.files``), ``architecture:
    file.py:Name`` with ``architecture_sha256`` and ``dependencies: conda:file``. URLs and
    other ``scheme:`` references are not files beside the rdf and are left out.
    """
    named = {} if named is None else named

    def add(name, sha256=None):
        if isinstance(name, str) and name.strip() and not _SCHEME.match(name):
            if named.get(name) is None:
                named[name] = sha256.lower() if isinstance(sha256, str) else None

    if isinstance(node, dict):
        for key, value in node.items():
            if key == "source":
                add(value, node.get("sha256"))
            elif key == "documentation":
                add(value)
            elif key in ("covers", "test_inputs", "test_outputs", "sample_inputs", "sample_outputs", "files") \
                    and isinstance(value, list):
                for item in value:
                    add(item)
            elif key == "architecture" and isinstance(value, str) and ".py:" in value:
                add(value.rsplit(":", 1)[0], node.get("architecture_sha256"))
            elif key == "dependencies" and isinstance(value, str) and value.startswith(("conda:", "pip:")):
                add(value.split(":", 1)[1])
            if isinstance(value, (dict, list)):
                _rdf_files(value, named)
    elif isinstance(node, list):
        for value in node:
            _rdf_files(value, named)
    return named


def _beside_rdf(name: str, url: str) -> str:
    """``name`` as a normalised path inside the rdf's folder; refuse one that leaves it."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name or str(path) in (".", _CACHED_RDF):
        raise DownloadError(f"the rdf at {url} names {name!r}, which is not a file beside it; refused "
                            "(nothing was cached)")
    return str(path)


def _rdf_hash(root: Path) -> str:
    """sha256 of an rdf folder in the cache: over ``rdf.yaml`` and every file it names."""
    rdf = yaml.safe_load((root / _CACHED_RDF).read_bytes())
    names = sorted({str(PurePosixPath(name)) for name in _rdf_files(rdf)})
    return hash_of_files([root / _CACHED_RDF, *(root / name for name in names)], root=root)


# ---------------------------------------------------------------- downloading


def _fetch(url: str, folder: Path, fname: str, *, progressbar: bool = False) -> tuple[Path, str | None]:
    """Download ``url`` to ``folder/fname`` with pooch; return the file and its Content-Type.

    pooch writes a temporary file in ``folder`` and moves it to ``fname`` only when the
    transfer completed; a failed or interrupted transfer is retried ``DOWNLOAD_RETRIES``
    times.

    Raises:
        DownloadError: every try failed (HTTP error, connection refused or cut half-way);
            nothing is left at ``folder/fname``.
    """
    import pooch
    import requests

    content_types: list[str | None] = []
    if url.lower().startswith(("http://", "https://")):
        def remember(response, *args, **kwargs):
            content_types.append(response.headers.get("Content-Type"))

        downloader = pooch.HTTPDownloader(progressbar=progressbar, hooks={"response": remember})
    else:
        downloader = pooch.choose_downloader(url, progressbar=progressbar)
    fetcher = pooch.create(path=folder, base_url="", registry={fname: None}, urls={fname: url},
                           retry_if_failed=DOWNLOAD_RETRIES)
    tries = 1 + DOWNLOAD_RETRIES
    try:
        path = Path(fetcher.fetch(fname, downloader=downloader))
    except requests.exceptions.HTTPError as err:
        raise DownloadError(f"download of {url} failed after {tries} tries: {err}; nothing was cached") from err
    except requests.exceptions.RequestException as err:
        raise DownloadError(f"download of {url} was interrupted or failed after {tries} tries "
                            f"({type(err).__name__}: {err}); nothing was cached. Check the URL and the "
                            "connection, then run again") from err
    except (OSError, EOFError) as err:  # FTP errors, a full disk
        raise DownloadError(f"download of {url} failed ({type(err).__name__}: {err}); nothing was cached") \
            from err
    return path, content_types[-1] if content_types else None


def _check_pin(url: str, pin: str | None, digest: str, *, rdf_sha256: str | None = None,
               cached: Path | None = None) -> None:
    if pin is None or pin.lower() in (digest, rdf_sha256):
        return
    if cached is not None:
        raise DownloadError(f"cached download of {url} ({cached}) has sha256 {digest}, expected {pin}; "
                            "delete it to download again")
    raise DownloadError(f"download of {url} failed its hash check: sha256 {digest}, expected {pin}; "
                        "nothing was cached")


def _download_verified(url: str, staging: Path, fname: str, *, sha256: str | None,
                       progressbar: bool) -> tuple[Path, str]:
    """Download ``url`` to ``staging/fname`` and check it; return (zip file or rdf folder, its sha256)."""
    path, content_type = _fetch(url, staging, fname, progressbar=progressbar)
    try:
        kind, rdf = _package_kind(path)
    except ValueError as err:
        raise DownloadError(
            f"{url} sent {err}, not a bioimage.io model package {_arrival(path, content_type)}. A model package "
            "is a zip with rdf.yaml at its root, or a model rdf.yaml. Nothing was cached; open the URL in a "
            "browser (a login or quota page?) and run again once it serves the package") from None
    if kind == "zip":
        digest = sha256_of(path)
        _check_pin(url, sha256, digest)
        return path, digest
    root = staging / (fname + ".files")
    root.mkdir()
    os.replace(path, root / _CACHED_RDF)
    named = {_beside_rdf(name, url): pinned for name, pinned in _rdf_files(rdf).items()}  # all, before any download
    for name, pinned in named.items():
        file_url = urljoin(url, name)
        fetched, content_type = _fetch(file_url, root, name, progressbar=progressbar)
        if pinned is not None:
            actual = sha256_of(fetched)
            if actual != pinned:
                raise DownloadError(f"{name}, named in the rdf at {url}, has sha256 {actual} at {file_url} "
                                    f"{_arrival(fetched, content_type)}, but the rdf pins {pinned}; nothing "
                                    "was cached")
        elif "html" in (content_type or "").lower() and not name.lower().endswith((".html", ".htm")):
            raise DownloadError(f"{file_url}, named {name!r} in the rdf at {url}, sent an HTML page "
                                f"{_arrival(fetched, content_type)}; nothing was cached")
    digest = _rdf_hash(root)
    _check_pin(url, sha256, digest, rdf_sha256=sha256_of(root / _CACHED_RDF))
    return root, digest


def _discard(target: Path, record: Path) -> None:
    record.unlink(missing_ok=True)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)


def _runnable(target: Path) -> Path:
    return target / _CACHED_RDF if target.is_dir() else target


def _reuse(url: str, target: Path, record: Path, sha256: str | None) -> tuple[Path, str] | None:
    """The cached package of ``url`` and its hash; None when it must be downloaded (again)."""
    if not (target.exists() and record.is_file()):
        return None
    recorded = record.read_text().strip()
    try:
        digest = _rdf_hash(target) if target.is_dir() else sha256_of(target)
        rdf_sha256 = sha256_of(target / _CACHED_RDF) if target.is_dir() else None
    except (OSError, yaml.YAMLError) as err:
        digest, rdf_sha256 = f"unreadable ({type(err).__name__}: {err})", None
    if digest != recorded:
        raise DownloadError(f"cached download of {url} ({target}) has sha256 {digest}, expected {recorded} (recorded "
                            "when it was downloaded): it changed on disk; delete it to download again")
    if target.is_file():
        try:
            kind = _package_kind(target)[0]
        except ValueError as err:
            kind = str(err)
        if kind != "zip":  # an error page or a bare rdf kept by an older version
            log.warning("cached download of %s (%s) is not a model package zip but %s; discarding it and "
                        "downloading again", url, target, "a bare rdf" if kind == "rdf" else kind)
            _discard(target, record)
            return None
    _check_pin(url, sha256, digest, rdf_sha256=rdf_sha256, cached=target)
    return _runnable(target), digest


def download_package(url: str, *, sha256: str | None = None, progressbar: bool = False) -> tuple[Path, str]:
    """Download a model package or rdf from ``url`` into the cache once; return what to load and its sha256.

    One path for every file: pooch downloads into a temporary folder beside the cache
    entries (retrying failed or interrupted transfers), the result is checked to be a
    bioimage.io model package (see :func:`_package_kind`), and only then moved into the
    cache with its sha256 recorded beside it (``<entry>.sha256``). A bare rdf becomes a
    folder holding ``rdf.yaml`` and every file it names by a relative path, downloaded
    from beside the URL and checked against the sha256 the rdf pins for it (files named
    by absolute URL are left to bioimageio.core and covered by the rdf's pins).

    The returned sha256 covers what runs: the zip file's hash, or, for an rdf, the hash
    over ``rdf.yaml`` and the files it names (``name\\0sha256`` lines, rdf first). On
    reuse the cached entry is re-hashed and must match the record; an entry that is not a
    model package (an error page kept by an older version) is discarded and downloaded
    again.

    Args:
        url: ``http(s)://`` (or ``ftp://``) URL of a ``.zip`` package or an rdf.
        sha256: expected hash: of the zip, or of an rdf (its own file's hash or the hash
            returned here). A mismatch is refused; nothing is cached.
        progressbar: show tqdm progress bars.

    Returns:
        ``(path, sha256)``: the local zip or ``rdf.yaml`` for bioimageio.core, and its hash.

    Raises:
        DownloadError: (a ``ValueError``) what arrived is not a model package, a file
            differs from the sha256 pinned for it, or the transfer failed on every try
            (the message names the URL); nothing of it is left in the cache. Also raised
            when a cached entry changed on disk since it was downloaded.
    """
    folder = cache_dir() / "models"
    base = re.sub(r"[^A-Za-z0-9._-]", "_", url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])[-64:]
    key = hashlib.sha256(url.encode()).hexdigest()[:16] + "-" + (base or "package")
    target, record = folder / key, folder / (key + ".sha256")
    cached = _reuse(url, target, record, sha256)
    if cached is not None:
        return cached
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=f".{key}.") as staging:
        staged, digest = _download_verified(url, Path(staging), base or "package", sha256=sha256,
                                            progressbar=progressbar)
        _discard(target, record)
        os.replace(staged, target)
        write_text_atomically(record, digest + "\n")
    return _runnable(target), digest

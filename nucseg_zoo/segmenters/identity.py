"""What a source spec names, and the content hash that identifies what runs.

A *source* is one of

* a zoo id (``unet-bbbc039``) or a local zoo entry folder (one holding ``entry.yaml``, as
  ``nucseg-zoo train MODEL --images ... --out ENTRY_DIR`` writes) — hashed over what its
  entry states for inference (architecture, preprocessing, output kind and channels), its
  weights and its postprocessing file, so that a rewrite of ``entry.yaml`` that changes none
  of these keeps the identity;
* a classical baseline name (``cp-basic``, ``cp-basic@dsb2018-fluo``) — hashed over its
  parameter record (which pins the forest file's sha256 for ``random-forest``);
* a bioimage.io package ``.zip`` or ``rdf.yaml`` path — hashed over that file (a 0.5 rdf
  pins the sha256 of every file it names);
* an ``http(s)://`` URL of a package or rdf — downloaded and verified once
  (:func:`nucseg_zoo.downloads.download_package`), hashed over what runs;
* a Python segmenter ``module:callable`` — hashed over its module file, name and declared
  configuration (:func:`nucseg_zoo.segmenters.python_source.describe`).

The sha256 identifies exactly what runs; evaluation results are cached and compared by it,
and ``segment`` resumes a run by it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from nucseg_zoo._hashing import hash_of_files, sha256_of
from nucseg_zoo._io import is_url
from nucseg_zoo.baselines.registry import is_baseline, list_baselines, record_path
from nucseg_zoo.downloads import download_package
from nucseg_zoo.segmenters.python_source import describe, file_path_hint, is_python_spec
from nucseg_zoo.zoo.registry import is_entry_folder, list_models

SOURCE_KINDS = ("zoo", "baseline", "bioimageio", "python")
"""The kinds of :attr:`ModelSource.kind`."""

PACKAGE_SUFFIXES = (".zip", ".yaml", ".yml")
"""File name endings of a bioimage.io package (a zip) or its rdf."""


class UnknownSourceError(ValueError):
    """A source spec names none of: a zoo id, a baseline, a bioimage.io package path or URL, a
    Python ``module:callable``. The message lists the zoo ids and baselines."""


@dataclass(frozen=True)
class ModelSource:
    """A resolved source.

    Attributes:
        spec: the source as the user gave it.
        kind: one of :data:`SOURCE_KINDS`.
        name: zoo id (a local entry folder: its absolute path), baseline name, the package's file
            name, or ``module:callable``.
        sha256: content hash of what runs (see the module docstring).
        location: the local file bioimageio.core loads (for a URL, the verified copy in the
            cache); None for the other kinds.
        details: what else identifies it, recorded as provenance (Python segmenters: module,
            version, file and source hashes, see :func:`~nucseg_zoo.segmenters.python_source.describe`).
    """

    spec: str
    kind: str
    name: str
    sha256: str
    location: str | None = None
    details: dict | None = None


def list_segmenters() -> list[str]:
    """Names that :func:`resolve_source` knows without a path: zoo models, then classical baselines."""
    return list_models() + list_baselines()


def names_package(spec: str) -> bool:
    """Whether ``spec`` is written as a bioimage.io package: a URL, or a path ending in
    ``.zip``, ``.yaml`` or ``.yml`` (:data:`PACKAGE_SUFFIXES`). Nothing is read."""
    return is_url(spec) or spec.lower().endswith(PACKAGE_SUFFIXES)


INFERENCE_FACTS = ("architecture", "preprocessing", "output_kind", "channel_names")
"""The keys of ``entry.yaml`` that decide what a zoo model computes (with its weights and
postprocessing files); its descriptions, links and metadata do not."""


def _zoo_source(spec: str) -> ModelSource:
    from nucseg_zoo.zoo.entry import read_entry  # postprocessing's scikit-image, only for zoo ids

    entry = read_entry(spec)
    name = spec if spec in list_models() else str(entry.dir)  # a local entry: where it is, wherever run from
    inference = {key: entry.raw[key] for key in INFERENCE_FACTS}
    files = [*(w.path for w in entry.weights), entry.dir / entry.raw["postprocessing"]]
    digest = hashlib.sha256(json.dumps(inference, sort_keys=True).encode() + b"\n")
    digest.update(hash_of_files(files).encode())
    return ModelSource(spec=spec, kind="zoo", name=name, sha256=digest.hexdigest())


def _baseline_source(spec: str) -> ModelSource:
    # the record pins the forest's sha256 where there is one
    return ModelSource(spec=spec, kind="baseline", name=spec, sha256=hash_of_files([record_path(spec)]))


def resolve_source(spec: str, *, sha256: str | None = None) -> ModelSource:
    """Resolve ``spec`` (zoo id or local entry folder, baseline name, package path or URL,
    ``module:callable``) to a :class:`ModelSource`.

    Nothing is loaded: a URL is downloaded and verified into the cache, a package file
    hashed, a Python segmenter's module imported (to hash its file and configuration).

    Args:
        spec: the source.
        sha256: expected sha256 of a package file or URL download (optional).

    Raises:
        UnknownSourceError: (a ``ValueError``) ``spec`` names no source; the message lists the
            zoo ids and baselines.
        ValueError: a package whose sha256 differs from ``sha256``; a ``module:callable`` that
            cannot be imported or is not callable, or given with ``sha256``; a file path
            given as ``file.py:callable`` (the message says how to name the module).
        nucseg_zoo.downloads.DownloadError: (a ``ValueError``) a URL that did not deliver a
            verified model package (see :func:`~nucseg_zoo.downloads.download_package`).
        FileNotFoundError: a package path that does not exist.
    """
    if spec in list_models() or is_entry_folder(spec):
        return _zoo_source(spec)
    if is_baseline(spec):
        return _baseline_source(spec)
    if is_url(spec):
        path, digest = download_package(spec, sha256=sha256)  # bioimageio.core loads this verified copy
        return ModelSource(spec=spec, kind="bioimageio", name=spec.rstrip("/").rsplit("/", 1)[-1],
                           sha256=digest, location=str(path))
    path = Path(spec)
    hint = None if path.exists() else file_path_hint(spec)
    if hint:
        raise ValueError(hint)
    if is_python_spec(spec) and not path.exists():
        details = describe(spec)
        if sha256 is not None:
            raise ValueError(f"sha256= pins a package file or download, not the Python segmenter {spec}")
        return ModelSource(spec=spec, kind="python", name=spec, sha256=details["sha256"], details=details)
    if path.suffix.lower() in PACKAGE_SUFFIXES or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"bioimage.io package {spec} does not exist")
        digest = sha256_of(path)
        if sha256 and digest != sha256:
            raise ValueError(f"{spec} has sha256 {digest}, expected {sha256}")
        return ModelSource(spec=spec, kind="bioimageio", name=path.name, sha256=digest, location=str(path.resolve()))
    raise UnknownSourceError(
        f"unknown source {spec!r}; expected a zoo id ({', '.join(list_models())}) or zoo entry folder, a baseline "
        f"({', '.join(list_baselines())}), a bioimage.io package (.zip / rdf.yaml) path or URL, or a "
        "Python segmenter module:callable")

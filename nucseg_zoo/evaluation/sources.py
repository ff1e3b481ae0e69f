"""What the harness can evaluate, resolved to a content hash and a runnable segmenter.

A *source* is one of

* a zoo id (``unet-bbbc039``) — hashed over its entry, weights and postprocessing files;
* a classical baseline name (``cp-basic``) — hashed over its parameter record (which
  pins the forest file's sha256 for ``random-forest``);
* a bioimage.io package ``.zip`` or ``rdf.yaml`` path — hashed over that file (a 0.5 rdf
  pins the sha256 of every file it names);
* an ``http(s)://`` URL of a package or rdf — downloaded once into the cache
  (``$NUCSEG_ZOO_DATA_DIR/models`` or the OS cache), checked against ``sha256=`` when
  given, and re-checked against the hash recorded at download every time it is reused.

The sha256 identifies exactly what runs; results are cached and compared by it.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from nucseg_zoo._atomic import write_text_atomically
from nucseg_zoo.datasets.source import cache_dir, is_url, sha256_of
from nucseg_zoo.postprocessing import OUTPUT_KINDS

SOURCE_KINDS = ("zoo", "baseline", "bioimageio")


@dataclass(frozen=True)
class ModelSource:
    """A resolved evaluation source.

    Attributes:
        spec: the source as the user gave it.
        kind: "zoo", "baseline" or "bioimageio".
        name: zoo id, baseline name, or the package's file name.
        sha256: content hash of what runs (see the module docstring).
        location: what bioimageio.core loads (local file or URL); None for zoo/baselines.
    """

    spec: str
    kind: str
    name: str
    sha256: str
    location: str | None = None


@dataclass(frozen=True)
class OutputKind:
    """The postprocessing adapter used for a source's output, and why it was chosen."""

    kind: str
    reason: str


def _hash_of_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.name}\0{sha256_of(path)}\n".encode())
    return digest.hexdigest()


def _zoo_source(spec: str) -> ModelSource:
    from nucseg_zoo.zoo.entry import read_entry

    entry = read_entry(spec)
    files = [entry.dir / "entry.yaml", entry.weights_path, entry.dir / entry.raw["postprocessing"]]
    return ModelSource(spec=spec, kind="zoo", name=spec, sha256=_hash_of_files(files))


def _baseline_source(spec: str) -> ModelSource:
    from nucseg_zoo.baselines.params import DATA_DIR
    from nucseg_zoo.baselines.registry import RECORDS

    return ModelSource(spec=spec, kind="baseline", name=spec, sha256=_hash_of_files([DATA_DIR / RECORDS[spec]]))


def _package_kind(path: Path) -> str:
    return "zip" if zipfile.is_zipfile(path) else "rdf"


def download_package(url: str, *, sha256: str | None = None, progressbar: bool = False) -> Path:
    """Download a package or rdf from ``url`` into the cache once; return the local file.

    With ``sha256`` the download (and every later use) must have that hash. Without it the
    hash of the first download is recorded beside the file and checked on every reuse, so a
    cached file that changed on disk is detected.

    Raises:
        ValueError: the file's sha256 differs from the expected one (nothing is kept).
    """
    import pooch

    folder = cache_dir() / "models"
    name = hashlib.sha256(url.encode()).hexdigest()[:16] + "-" + (url.rstrip("/").rsplit("/", 1)[-1] or "package")
    target, recorded = folder / name, folder / (name + ".sha256")
    if target.is_file() and recorded.is_file():
        expected = sha256 or recorded.read_text().strip()
        actual = sha256_of(target)
        if actual != expected:
            raise ValueError(f"cached download of {url} ({target}) has sha256 {actual}, expected {expected}; "
                             "delete it to download again")
        return target
    try:
        path = Path(pooch.retrieve(url, known_hash=f"sha256:{sha256}" if sha256 else None, fname=name,
                                   path=folder, progressbar=progressbar))
    except ValueError as err:  # pooch: hash mismatch (it removes the file)
        raise ValueError(f"download of {url} failed its hash check: {err}") from err
    write_text_atomically(recorded, sha256_of(path) + "\n")
    return path


def resolve_source(spec: str, *, sha256: str | None = None) -> ModelSource:
    """Resolve ``spec`` (zoo id, baseline name, package path or URL) to a :class:`ModelSource`.

    Args:
        spec: the source.
        sha256: expected sha256 of a package file or URL download (optional).

    Raises:
        ValueError: unknown source, or a package whose sha256 differs from ``sha256``.
        FileNotFoundError: a package path that does not exist.
    """
    from nucseg_zoo.baselines import list_baselines
    from nucseg_zoo.zoo import list_models

    if spec in list_models():
        return _zoo_source(spec)
    if spec in list_baselines():
        return _baseline_source(spec)
    if is_url(spec):
        path = download_package(spec, sha256=sha256)
        # an rdf is loaded from its URL so that the files it names resolve next to it
        location = str(path) if _package_kind(path) == "zip" else spec
        return ModelSource(spec=spec, kind="bioimageio", name=spec.rstrip("/").rsplit("/", 1)[-1],
                           sha256=sha256_of(path), location=location)
    path = Path(spec)
    if path.suffix.lower() in (".zip", ".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"bioimage.io package {spec} does not exist")
        digest = sha256_of(path)
        if sha256 and digest != sha256:
            raise ValueError(f"{spec} has sha256 {digest}, expected {sha256}")
        return ModelSource(spec=spec, kind="bioimageio", name=path.name, sha256=digest, location=str(path.resolve()))
    raise ValueError(f"unknown source {spec!r}; expected a zoo id ({', '.join(list_models())}), a baseline "
                     f"({', '.join(list_baselines())}), or a bioimage.io package (.zip / rdf.yaml) path or URL")


def open_segmenter(source: ModelSource, *, device: str = "cpu", output_kind: str | None = None,
                   weight_format: str | None = None):
    """Load ``source`` ready to ``segment``; return ``(segmenter, OutputKind)``.

    ``output_kind`` overrides the convention inferred from a bioimage.io model's rdf; zoo
    models and baselines have a fixed one and reject a different choice.
    """
    if output_kind is not None and output_kind not in OUTPUT_KINDS:
        raise ValueError(f"unknown output kind {output_kind!r}; valid: {', '.join(OUTPUT_KINDS)}")
    if source.kind == "bioimageio":
        from nucseg_zoo.zoo.bioimageio_model import BioimageioModel

        model = BioimageioModel.from_source(source.location, device=device, weight_format=weight_format,
                                            output_kind=output_kind)
        return model, OutputKind(model.output_kind, model.output_kind_reason)
    if weight_format is not None:
        raise ValueError(f"--weight-format applies to bioimage.io packages, not to the {source.kind} {source.name}")
    if source.kind == "zoo":
        from nucseg_zoo.zoo import load_model

        segmenter = load_model(source.name, device=device)
        native = OutputKind(segmenter.entry.output_kind, "zoo entry")
    else:
        from nucseg_zoo.baselines import get_baseline

        segmenter = get_baseline(source.name)
        native = OutputKind("instance_labels", "classical baseline (labels directly)")
    if output_kind is not None and output_kind != native.kind:
        raise ValueError(f"{source.name} produces {native.kind} output ({native.reason}); "
                         f"--output-kind {output_kind} applies to bioimage.io packages only")
    return segmenter, native

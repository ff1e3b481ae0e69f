"""Dataset cards: the bundled, read-only description of a dataset, as data.

A dataset is a folder ``datasets/<id>/`` of the repository (bundled into the wheel) holding
``card.yaml``, ``manifest.sha256`` (sha256 of every file the dataset reads, paths relative
to the extracted source) and the split lists (``splits/<split>.txt``, one image stem or file
name per line). :func:`list_card_ids` finds them as the zoo finds its entries; no dataset is
named in code. ``card.yaml`` keys:

* ``id``, ``name`` (short display name), ``title``, ``description``, ``homepage``, ``license``,
  ``citations``;
* ``source``: where the files come from — ``kind: archives`` (``base_url`` and
  ``archives: {name: "sha256:<hex>"}``, each archive verified before it is unpacked) or
  ``kind: archive`` (one ``url`` whose bytes are not stable, e.g. a repository archive made
  on request, unpacked below ``prefix`` and verified file by file against the manifest
  before it enters the cache); or ``based_on: <card id>`` plus ``bundled: <folder inside
  the package>`` for a bundled subset that shares another card's files and manifest;
* ``layout``: ``image`` and ``masks`` path templates with ``{stem}``; a ``masks`` template
  ending in ``/`` is a folder holding one file per nucleus (its files are the manifest's
  entries below it);
* ``image_format``, ``mask_format`` (names in :mod:`nucseg_zoo.datasets.formats`),
  ``mask_connectivity``;
* ``splits``: ``{name: {file, n_images, n_nuclei}}`` (``n_images`` checked on every load,
  ``n_nuclei`` by ``nucseg-zoo datasets verify``);
* ``facts``: measured facts checked by ``datasets verify``: ``image_shapes`` (``"HxW": n``
  over all splits) and ``median_diameter_px`` (median equivalent diameter of all nuclei);
* ``size_bins``: the ground-truth area bins (px) of "missed by size", named ``tiny``,
  ``small``, ``normal``, ``large`` (``(low, high]``);
* ``fields_of``: ``{other dataset: table}``, the images that are fields of another dataset
  (:mod:`nucseg_zoo.datasets.shared_fields`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml

from nucseg_zoo._resources import bundled_dir

SIZE_BIN_NAMES = ("tiny", "small", "normal", "large")


@dataclass(frozen=True)
class SplitInfo:
    """One split: its image stems (in official order) and expected nucleus count."""

    name: str
    stems: tuple[str, ...]
    n_nuclei: int


@dataclass(frozen=True)
class DatasetCard:
    """Everything nucseg_zoo knows about a dataset before downloading it (see the module docstring)."""

    id: str
    title: str
    license: str
    homepage: str
    base_url: str | None
    archives: Mapping[str, str]  # archive file name -> "sha256:<hex>" (source kind "archives")
    manifest: Mapping[str, str]  # relative path (e.g. "images/x.tif") -> sha256 hex
    splits: Mapping[str, SplitInfo]
    mask_connectivity: int = 1
    citations: tuple[str, ...] = field(default=())
    image_template: str = "images/{stem}.tif"
    mask_template: str = "masks/{stem}.png"
    image_format: str = "tiff-uint16"
    mask_format: str = "graph-coloured-png"
    archive_url: str | None = None  # source kind "archive": one unhashed archive
    archive_prefix: str = ""  # its top folder, stripped when unpacking
    bundled: Path | None = None  # a bundled subset: its folder (read instead of any download)
    facts: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    size_bins: Mapping[str, tuple[float, float]] = field(default_factory=lambda: MappingProxyType({}))
    description: str = ""
    name: str = ""  # short display name, e.g. "BBBC039" (default: the id)
    fields_of: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # other dataset -> table

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.id)

    def image_path(self, stem: str) -> str:
        """Relative path of the image of ``stem`` inside the extracted dataset."""
        return self.image_template.format(stem=stem)

    def mask_paths(self, stem: str) -> tuple[str, ...]:
        """Relative paths of the ground truth of ``stem``: one mask file, or one file per nucleus
        (the manifest's files below the mask folder, sorted)."""
        template = self.mask_template.format(stem=stem)
        if not template.endswith("/"):
            return (template,)
        return self._files_below.get(template, ())

    def mask_path(self, stem: str) -> str:
        """Relative path of the one mask file of ``stem`` (cards whose masks are one file each)."""
        (path,) = self.mask_paths(stem)
        return path

    def sample_files(self, stem: str) -> tuple[str, ...]:
        """Every manifest file that sample ``stem`` reads: the image, then its mask file(s)."""
        return (self.image_path(stem), *self.mask_paths(stem))

    @cached_property
    def _files_below(self) -> Mapping[str, tuple[str, ...]]:
        folders: dict[str, list[str]] = {}
        for relpath in self.manifest:
            folder = relpath.rsplit("/", 1)[0] + "/"
            folders.setdefault(folder, []).append(relpath)
        return {folder: tuple(sorted(paths)) for folder, paths in folders.items()}

    def split(self, name: str) -> SplitInfo:
        """Return the split ``name``; a ``ValueError`` lists the valid names otherwise."""
        try:
            return self.splits[name]
        except KeyError:
            raise ValueError(
                f"unknown split {name!r} for dataset {self.id!r}; "
                f"valid splits: {', '.join(self.splits)}"
            ) from None


def _read_manifest(path: Path) -> dict[str, str]:
    manifest = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, relpath = line.split(maxsplit=1)
            manifest[relpath.lstrip("*")] = digest
    return manifest


def read_split_file(path: Path) -> tuple[str, ...]:
    """Image stems listed in a split file (one stem or file name per line)."""
    return tuple(Path(line.strip()).stem for line in path.read_text().splitlines() if line.strip())


def list_card_ids() -> list[str]:
    """Ids of the bundled dataset cards (folders of ``datasets/`` holding a ``card.yaml``), sorted."""
    return sorted(p.parent.name for p in bundled_dir("datasets").glob("*/card.yaml"))


def _size_bins(raw: Mapping[str, Any], dataset_id: str) -> Mapping[str, tuple[float, float]]:
    if not raw:
        return MappingProxyType({})
    if tuple(raw) != SIZE_BIN_NAMES:
        raise RuntimeError(f"card of {dataset_id!r}: size_bins must be {', '.join(SIZE_BIN_NAMES)} in that order")
    bins = {name: (float(low), math.inf if high in (None, "inf") else float(high)) for name, (low, high) in raw.items()}
    return MappingProxyType(bins)


@lru_cache(maxsize=None)
def read_card(dataset_id: str) -> DatasetCard:
    """Read the bundled card of ``dataset_id`` (e.g. ``"bbbc039"``).

    Raises:
        ValueError: no such card (the message lists the bundled ones).
        RuntimeError: the card is inconsistent (a split lists another number of images than it states).
    """
    folder = bundled_dir("datasets") / dataset_id
    if not (folder / "card.yaml").is_file():
        raise ValueError(f"unknown dataset {dataset_id!r}; valid datasets: {', '.join(list_card_ids())}")
    raw = yaml.safe_load((folder / "card.yaml").read_text())
    base = read_card(raw["based_on"]) if "based_on" in raw else None
    splits = {
        name: SplitInfo(name=name, stems=read_split_file(folder / spec["file"]), n_nuclei=int(spec["n_nuclei"]))
        for name, spec in raw["splits"].items()
    }
    for name, spec in raw["splits"].items():
        if len(splits[name].stems) != spec["n_images"]:
            raise RuntimeError(f"card of {dataset_id!r}: split {name!r} lists {len(splits[name].stems)} images, "
                               f"the card says {spec['n_images']}")
    if base is not None:
        bundled = Path(__file__).resolve().parent.parent / raw["bundled"]
        return replace(base, id=raw["id"], title=raw["title"], base_url=None, archives=MappingProxyType({}),
                       splits=MappingProxyType(splits), bundled=bundled, archive_url=None,
                       description=raw.get("description", "").strip(),
                       facts=MappingProxyType(dict(raw.get("facts", {}))), name=raw.get("name", base.name),
                       fields_of=MappingProxyType({}))
    source, layout = raw["source"], raw.get("layout", {})
    if source["kind"] not in ("archives", "archive"):
        raise RuntimeError(f"card of {dataset_id!r}: unknown source kind {source['kind']!r} (archives, archive)")
    return DatasetCard(
        id=raw["id"],
        title=raw["title"],
        license=raw["license"],
        homepage=raw["homepage"],
        base_url=source.get("base_url"),
        archives=MappingProxyType(dict(source.get("archives", {}))),
        manifest=MappingProxyType(_read_manifest(folder / "manifest.sha256")),
        splits=MappingProxyType(splits),
        mask_connectivity=int(raw.get("mask_connectivity", 1)),
        citations=tuple(c["text"].strip() + (f" doi:{c['doi']}" if c.get("doi") else "")
                        for c in raw.get("citations", [])),
        image_template=layout.get("image", "images/{stem}.tif"),
        mask_template=layout.get("masks", "masks/{stem}.png"),
        image_format=raw.get("image_format", "tiff-uint16"),
        mask_format=raw.get("mask_format", "graph-coloured-png"),
        archive_url=source.get("url"),
        archive_prefix=source.get("prefix", ""),
        facts=MappingProxyType(dict(raw.get("facts", {}))),
        size_bins=_size_bins(raw.get("size_bins", {}), dataset_id),
        description=raw.get("description", "").strip(),
        name=raw.get("name", ""),
        fields_of=MappingProxyType(dict(raw.get("fields_of", {}))),
    )

"""Dataset cards: the bundled, read-only description of a dataset.

A card folder (``datasets/<id>/`` in the repository, bundled into the wheel) holds
``card.yaml`` (source URLs, archive hashes, license, citations, split files),
``manifest.sha256`` (sha256 of every extracted file) and the official split lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import yaml

from nucseg_zoo._resources import bundled_dir


@dataclass(frozen=True)
class SplitInfo:
    """One official split: its image stems (in official order) and expected counts."""

    name: str
    stems: tuple[str, ...]
    n_nuclei: int


@dataclass(frozen=True)
class DatasetCard:
    """Everything nucseg_zoo knows about a dataset before downloading it."""

    id: str
    title: str
    license: str
    homepage: str
    base_url: str
    archives: Mapping[str, str]  # archive file name -> "sha256:<hex>"
    manifest: Mapping[str, str]  # relative path (e.g. "images/x.tif") -> sha256 hex
    splits: Mapping[str, SplitInfo]
    image_shape: tuple[int, int]
    mask_connectivity: int
    citations: tuple[str, ...] = field(default=())

    def image_path(self, stem: str) -> str:
        """Relative path of the image of ``stem`` inside the extracted dataset."""
        return f"images/{stem}.tif"

    def mask_path(self, stem: str) -> str:
        """Relative path of the ground-truth mask of ``stem`` inside the extracted dataset."""
        return f"masks/{stem}.png"

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
    """Image stems listed in a split file (one file name per line)."""
    return tuple(Path(line.strip()).stem for line in path.read_text().splitlines() if line.strip())


@lru_cache(maxsize=None)
def read_card(dataset_id: str) -> DatasetCard:
    """Read the bundled card of ``dataset_id`` (e.g. ``"bbbc039"``)."""
    folder = bundled_dir("datasets") / dataset_id
    raw = yaml.safe_load((folder / "card.yaml").read_text())
    splits = {
        name: SplitInfo(name=name, stems=read_split_file(folder / spec["file"]), n_nuclei=int(spec["n_nuclei"]))
        for name, spec in raw["splits"].items()
    }
    for name, spec in raw["splits"].items():
        if len(splits[name].stems) != spec["n_images"]:
            raise RuntimeError(f"card of {dataset_id!r}: split {name!r} lists a wrong number of images")
    return DatasetCard(
        id=raw["id"],
        title=raw["title"],
        license=raw["license"],
        homepage=raw["homepage"],
        base_url=raw["base_url"],
        archives=MappingProxyType(dict(raw["archives"])),
        manifest=MappingProxyType(_read_manifest(folder / "manifest.sha256")),
        splits=MappingProxyType(splits),
        image_shape=tuple(raw["image_shape"]),
        mask_connectivity=int(raw["mask_connectivity"]),
        citations=tuple(c["text"].strip() + f" doi:{c['doi']}" for c in raw.get("citations", [])),
    )

"""Datasets: verified, lazily loaded official splits.

Start with :func:`load`::

    from nucseg_zoo import datasets
    test = datasets.load("bbbc039", split="test")       # downloads once, verifies
    sample = test[0]; sample.image, sample.labels        # uint16 / int32, (520, 696)
    demo = datasets.load("bbbc039-sample", split="test")   # 3 bundled images, offline

Mirrors: ``load(..., mirror=URL_OR_FOLDER)`` or ``$NUCSEG_ZOO_BBBC039_MIRROR``.
"""

from __future__ import annotations

import os
from pathlib import Path

from nucseg_zoo.datasets.card import DatasetCard, read_card, read_split_file
from nucseg_zoo.datasets.masks import decode_graph_coloured_mask
from nucseg_zoo.datasets.samples import DatasetSplit, Sample
from nucseg_zoo.datasets.source import DatasetIntegrityError, dataset_root, verify_files

__all__ = [
    "DatasetCard", "DatasetIntegrityError", "DatasetSplit", "Sample",
    "decode_graph_coloured_mask", "list_datasets", "load", "card", "fetch", "split_names",
]

_SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
# dataset id -> (card id, bundled folder or None for the downloadable dataset)
_DATASETS: dict[str, tuple[str, Path | None]] = {
    "bbbc039": ("bbbc039", None),
    "bbbc039-sample": ("bbbc039", _SAMPLE_DIR / "bbbc039"),
}


def list_datasets() -> list[str]:
    """Ids accepted by :func:`load`."""
    return list(_DATASETS)


def _lookup(name: str) -> tuple[DatasetCard, Path | None]:
    try:
        card_id, bundled = _DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(_DATASETS)}") from None
    return read_card(card_id), bundled


def card(name: str) -> DatasetCard:
    """The card (sources, hashes, splits, license) behind dataset ``name``."""
    return _lookup(name)[0]


def split_names(name: str, split: str) -> tuple[str, ...]:
    """Image stems of ``split`` of dataset ``name``, in official order (no download)."""
    dataset_card, bundled = _lookup(name)
    if bundled is not None:
        split_file = bundled / f"{split}.txt"
        if not split_file.is_file():
            valid = ", ".join(sorted(p.stem for p in bundled.glob("*.txt")))
            raise ValueError(f"unknown split {split!r} for dataset {name!r}; valid splits: {valid}")
        return read_split_file(split_file)
    return dataset_card.split(split).stems


def _relpaths(dataset_card: DatasetCard, stems: tuple[str, ...]) -> list[str]:
    return [p for stem in stems for p in (dataset_card.image_path(stem), dataset_card.mask_path(stem))]


def load(
    name: str,
    split: str = "test",
    *,
    mirror: str | os.PathLike | None = None,
    progressbar: bool = False,
) -> DatasetSplit:
    """Load one official split, verified file by file against the dataset's manifest.

    Args:
        name: a dataset id from :func:`list_datasets`.
        split: ``"training"``, ``"validation"`` or ``"test"`` (BBBC039: 100/50/50 images).
        mirror: base URL serving the official archives, or a local folder laid out like
            them (``images/``, ``masks/``, ``metadata/``). Default: ``$NUCSEG_ZOO_<ID>_MIRROR``,
            then the official URLs.
        progressbar: show download progress.

    Returns:
        A :class:`DatasetSplit` of lazy :class:`Sample` objects (uint16 images, int32 labels).

    Raises:
        ValueError: unknown dataset or split (the message lists the valid ones).
        DatasetIntegrityError: a file is missing or its sha256 differs from the manifest.
    """
    dataset_card, bundled = _lookup(name)
    stems = split_names(name, split)
    relpaths = _relpaths(dataset_card, stems)
    if bundled is not None:
        verify_files(bundled, dataset_card, relpaths)
        root, source = bundled, f"{dataset_card.homepage} (bundled sample)"
    else:
        root = dataset_root(dataset_card, relpaths, mirror=mirror, progressbar=progressbar)
        source = dataset_card.homepage
    samples = [
        Sample(name=stem, dataset=name, split=split, source=source, license=dataset_card.license,
               image_path=root / dataset_card.image_path(stem), mask_path=root / dataset_card.mask_path(stem),
               connectivity=dataset_card.mask_connectivity)
        for stem in stems
    ]
    return DatasetSplit(name, split, samples)


def fetch(name: str, *, mirror: str | os.PathLike | None = None, progressbar: bool = False) -> Path:
    """Download (or locate) dataset ``name`` and verify every file of it; return its root."""
    dataset_card, bundled = _lookup(name)
    if bundled is not None:
        stems = [s for split in ("training", "validation", "test") if (bundled / f"{split}.txt").is_file()
                 for s in split_names(name, split)]
        verify_files(bundled, dataset_card, _relpaths(dataset_card, tuple(stems)))
        return bundled
    return dataset_root(dataset_card, dataset_card.manifest, mirror=mirror, progressbar=progressbar)

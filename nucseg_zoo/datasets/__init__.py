"""Datasets: verified, lazily loaded official splits, described by cards (data, not code).

Start with :func:`load`::

    from nucseg_zoo import datasets
    datasets.list_datasets()                              # ['bbbc039', 'bbbc039-sample', 'dsb2018-fluo']
    test = datasets.load("bbbc039", split="test")         # downloads once, verifies
    sample = test[0]; sample.image, sample.labels         # uint16 / int32, (520, 696)
    demo = datasets.load("bbbc039-sample", split="test")  # 3 bundled images, offline
    own = datasets.from_folder("my_images/", "my_labels/")  # a lab's annotated folder, scored alike

Each dataset is a folder ``datasets/<id>/`` (card, manifest, split files; see
:mod:`nucseg_zoo.datasets.card`). Mirrors: ``load(..., mirror=URL_OR_FOLDER)`` or the
dataset's own variable ``$NUCSEG_ZOO_<ID>_MIRROR`` (e.g. ``NUCSEG_ZOO_DSB2018_FLUO_MIRROR``).
"""

from __future__ import annotations

import os
from pathlib import Path

from nucseg_zoo.datasets.card import DatasetCard, list_card_ids, read_card
from nucseg_zoo.datasets.folder import folder_fingerprint, from_folder, read_imagej_rois
from nucseg_zoo.datasets.masks import decode_graph_coloured_mask, decode_instance_masks
from nucseg_zoo.datasets.samples import DatasetSplit, Sample
from nucseg_zoo.datasets.source import DatasetIntegrityError, dataset_root, mirror_env_var, verify_files

__all__ = [
    "DatasetCard", "DatasetIntegrityError", "DatasetSplit", "Sample",
    "decode_graph_coloured_mask", "decode_instance_masks", "folder_fingerprint", "from_folder", "list_datasets",
    "load", "card", "fetch", "mirror_env_var", "read_imagej_rois", "split_names",
]


def list_datasets() -> list[str]:
    """Ids accepted by :func:`load`: the bundled cards, sorted."""
    return list_card_ids()


def card(name: str) -> DatasetCard:
    """The card (sources, hashes, splits, license, facts) behind dataset ``name``.

    Raises:
        ValueError: unknown dataset (the message lists the valid ones).
    """
    return read_card(name)


def split_names(name: str, split: str) -> tuple[str, ...]:
    """Image stems of ``split`` of dataset ``name``, in official order (no download)."""
    return card(name).split(split).stems


def _relpaths(dataset_card: DatasetCard, stems: tuple[str, ...]) -> list[str]:
    return [path for stem in stems for path in dataset_card.sample_files(stem)]


def _root(dataset_card: DatasetCard, relpaths: list[str], *, mirror: str | os.PathLike | None,
          progressbar: bool, rehash: bool = False) -> tuple[Path, str]:
    """The verified folder holding ``relpaths`` and a description of where it came from."""
    if dataset_card.bundled is not None:
        verify_files(dataset_card.bundled, dataset_card, relpaths, rehash=rehash)
        return dataset_card.bundled, f"{dataset_card.homepage} (bundled sample)"
    root = dataset_root(dataset_card, relpaths, mirror=mirror, progressbar=progressbar, rehash=rehash)
    return root, dataset_card.homepage


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
        split: a split of its card (BBBC039: ``"training"``, ``"validation"``, ``"test"``,
            100/50/50 images).
        mirror: base URL serving the official archives, or a local folder laid out like
            them (BBBC039: ``images/``, ``masks/``; DSB2018: ``stage1_train/``). Default:
            ``$NUCSEG_ZOO_<ID>_MIRROR``, then the official source.
        progressbar: show download progress.

    Returns:
        A :class:`DatasetSplit` of lazy :class:`Sample` objects (images in the dataset's dtype,
        int32 labels).

    Raises:
        ValueError: unknown dataset or split (the message lists the valid ones).
        DatasetIntegrityError: a file is missing or its sha256 differs from the manifest.
    """
    dataset_card = card(name)
    stems = split_names(name, split)
    root, source = _root(dataset_card, _relpaths(dataset_card, stems), mirror=mirror, progressbar=progressbar)
    samples = [
        Sample(name=stem, dataset=name, split=split, source=source, license=dataset_card.license,
               image_path=root / dataset_card.image_path(stem),
               mask_paths=tuple(root / path for path in dataset_card.mask_paths(stem)),
               image_format=dataset_card.image_format, mask_format=dataset_card.mask_format,
               connectivity=dataset_card.mask_connectivity)
        for stem in stems
    ]
    return DatasetSplit(name, split, samples, size_bins=dataset_card.size_bins or None)


def fetch(name: str, *, mirror: str | os.PathLike | None = None, progressbar: bool = False,
          rehash: bool = False) -> Path:
    """Download (or locate) dataset ``name`` and verify every file of its splits; return its root.

    Args:
        rehash: hash every file again instead of trusting those unchanged since they were
            last verified (size and modification time; see :mod:`nucseg_zoo.datasets.source`).
    """
    dataset_card = card(name)
    stems = tuple(stem for split in dataset_card.splits.values() for stem in split.stems)
    return _root(dataset_card, _relpaths(dataset_card, stems), mirror=mirror, progressbar=progressbar,
                 rehash=rehash)[0]

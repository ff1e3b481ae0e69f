"""Provenance recorded with every evaluation: data fingerprint, package versions, device."""

from __future__ import annotations

import hashlib
import platform
from importlib import metadata

from nucseg_zoo.hardware import describe_device

# distributions whose versions can change a result
PACKAGES = ("nucseg-zoo", "numpy", "scipy", "scikit-image", "scikit-learn", "torch", "onnxruntime",
            "bioimageio.core", "bioimageio.spec", "tensorflow")


def dataset_fingerprint(dataset: str, split: str, limit: int | None = None) -> str:
    """sha256 over the manifest hashes of the images and masks evaluated (official order)."""
    from nucseg_zoo import datasets

    card = datasets.card(dataset)
    stems = datasets.split_names(dataset, split)[:limit or None]
    digest = hashlib.sha256()
    for stem in stems:
        for relpath in card.sample_files(stem):
            digest.update(f"{relpath} {card.manifest[relpath]}\n".encode())
    return digest.hexdigest()


def samples_fingerprint(samples, limit: int | None = None) -> str:
    """sha256 identifying the data of ``samples`` (a :class:`~nucseg_zoo.datasets.DatasetSplit`):
    :func:`dataset_fingerprint` for a dataset's split (manifest hashes, no file read), the hash of
    every file's content (:func:`nucseg_zoo.datasets.folder.folder_fingerprint`) for anything
    else, e.g. a lab's own folder."""
    from nucseg_zoo import datasets

    if samples.dataset in datasets.list_datasets():
        return dataset_fingerprint(samples.dataset, samples.split, limit)
    from nucseg_zoo.datasets.folder import folder_fingerprint

    return folder_fingerprint(samples[:limit] if limit else samples)


def package_versions() -> dict[str, str]:
    """Installed versions of :data:`PACKAGES` (absent ones left out)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def environment(device: str) -> dict[str, object]:
    """Python, platform, package versions and device of this process."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "packages": package_versions(),
        "device": describe_device(device),
    }

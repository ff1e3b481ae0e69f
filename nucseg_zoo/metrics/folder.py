"""Predicted label images in a folder: find them by image stem and read them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

SUFFIXES: tuple[str, ...] = (".tif", ".tiff", ".png")
"""File suffixes recognised as label images (case-insensitive)."""


def read_label_image(path: str | os.PathLike) -> np.ndarray:
    """Read a 2-D instance label image (0 = background).

    TIFF files are read with ``tifffile``, PNG files with ``imageio.v3``. A boolean image
    (e.g. a 1-bit PNG) is read as 0/1. Values are returned as they are: a binary mask
    (0/1, 0/255, ...) comes back as a mask, which is a single object, not one per nucleus;
    see :func:`nucseg_zoo.metrics.looks_like_binary_mask` and
    :func:`nucseg_zoo.metrics.label_components`.

    Args:
        path: a ``.tif``, ``.tiff`` or ``.png`` file.

    Returns:
        ``(H, W)`` int32 labels.

    Raises:
        ValueError: the suffix is not supported, or the file is not a 2-D integer (or
            boolean) image with labels in ``[0, 2**31 - 1]`` (the message names the file and
            its shape / dtype).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        import tifffile

        labels = tifffile.imread(path)
    elif suffix == ".png":
        import imageio.v3 as iio

        labels = iio.imread(path)
    else:
        raise ValueError(f"{path}: unsupported label image suffix {path.suffix!r}; supported: {', '.join(SUFFIXES)}")
    if labels.ndim != 2:
        colour = " (a colour image, e.g. a label overlay?)" if labels.ndim == 3 and labels.shape[-1] in (3, 4) else ""
        raise ValueError(f"{path}: expected a 2-D label image (one integer label per pixel, 0 = background), "
                         f"got shape {labels.shape}{colour}; write the label image itself")
    if labels.dtype == bool:
        return labels.astype(np.int32)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{path}: expected an integer label image (0 = background, 1..N = nuclei), got dtype "
                         f"{labels.dtype}: an intensity image or probability map? write instance labels")
    if labels.size and (labels.min() < 0 or labels.max() > np.iinfo(np.int32).max):
        raise ValueError(f"{path}: labels must lie in [0, {np.iinfo(np.int32).max}], "
                         f"got [{labels.min()}, {labels.max()}]")
    return labels.astype(np.int32, copy=False)


def folders_with_predictions(pred_dir: str | os.PathLike, names: Iterable[str], *,
                             max_depth: int = 3) -> dict[Path, int]:
    """Subfolders of ``pred_dir`` (down to ``max_depth`` levels) that hold predictions for
    some of ``names`` (files named as :func:`find_predictions` looks for them), with how many:
    where to look when ``pred_dir`` itself holds none, e.g. ``OUT/imgs`` of a ``segment`` run
    on a folder ``imgs``; sorted by path."""
    pred_dir = Path(pred_dir)
    wanted = set(names)
    counts: dict[Path, int] = {}
    for folder, subfolders, files in os.walk(pred_dir):
        depth = len(Path(folder).relative_to(pred_dir).parts)
        if depth >= max_depth:
            subfolders.clear()
        n = len({Path(file).stem for file in files
                 if Path(file).suffix.lower() in SUFFIXES and Path(file).stem in wanted})
        if depth and n:
            counts[Path(folder)] = n
    return dict(sorted(counts.items()))


def find_predictions(pred_dir: str | os.PathLike, names: Iterable[str]) -> tuple[dict[str, Path], list[str]]:
    """Find the predicted label image of each image stem in ``pred_dir``.

    A prediction for image ``name`` is the file ``pred_dir/<name><suffix>`` with a suffix in
    :data:`SUFFIXES` (case-insensitive); subfolders are not searched.

    Args:
        pred_dir: folder holding the predictions.
        names: image stems, e.g. ``DatasetSplit.names``.

    Returns:
        ``(found, missing)``: ``name -> path`` for the stems with a prediction, and the stems
        without one, in the order of ``names``. Callers score a missing prediction as an
        empty one and report it.

    Raises:
        NotADirectoryError: ``pred_dir`` is not a folder.
        ValueError: a stem has more than one candidate file (e.g. both ``.tif`` and ``.png``).
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise NotADirectoryError(f"prediction folder {pred_dir} does not exist or is not a folder")
    candidates: dict[str, list[Path]] = {}
    for path in pred_dir.iterdir():
        if path.suffix.lower() in SUFFIXES and path.is_file():
            candidates.setdefault(path.stem, []).append(path)
    found: dict[str, Path] = {}
    missing: list[str] = []
    for name in names:
        paths = candidates.get(name, [])
        if len(paths) > 1:
            raise ValueError(f"ambiguous predictions for {name!r}: {', '.join(sorted(p.name for p in paths))}")
        if paths:
            found[name] = paths[0]
        else:
            missing.append(name)
    return found, missing

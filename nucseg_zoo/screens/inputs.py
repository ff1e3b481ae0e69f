"""Input images of a batch run: files, folders (recursive) and glob patterns, and where each
image's outputs go.

Outputs mirror the input folders below their common folder, so that equal file names in
different folders never collide: ``plate1/A01.tif`` and ``plate2/A01.tif`` segmented
together give ``OUT/plate1/A01.tif`` and ``OUT/plate2/A01.tif``.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

from nucseg_zoo.image_files import tiff_fields

IMAGE_SUFFIXES = (".tif", ".tiff", ".png")
"""Suffixes of the images a folder or pattern contributes (case-insensitive)."""


@dataclass(frozen=True)
class ImageInput:
    """One input image and the output stem of its results.

    Attributes:
        path: the image file as found (not resolved).
        key: its outputs' path below ``--out`` without suffix, posix style (e.g. ``"plate1/A01"``;
            ``"plate1/A01_s1"`` for series 1 of a file of several fields); also the ``image``
            column of the tables.
        series: the TIFF series that is this image (:func:`nucseg_zoo.image_files.tiff_fields`),
            None for other formats and unreadable files.
    """

    path: Path
    key: str
    series: int | None = None


def _stem(path: Path) -> str:
    """File name without the image suffix (and without ``.ome`` of ``.ome.tif``)."""
    name = path.name[: -len(path.suffix)] if path.suffix else path.name
    return name[:-4] if name.lower().endswith(".ome") else name


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    return path.resolve().is_relative_to(folder.resolve())


def _none_left(what: str, nothing: str, n_inside_out: int, out: Path | None) -> str:
    """The error when spec ``what`` yields no input: nothing there, or all of it inside ``--out``."""
    if not n_inside_out:
        return f"{what} {nothing}"
    images = "the 1 image it names lies" if n_inside_out == 1 else f"all {n_inside_out} images it names lie"
    return (f"{what}: {images} inside the output folder --out {out}, whose contents are "
            "never read as inputs (they could be earlier results); choose an --out outside the inputs, "
            "e.g. --out results")


def _expand(spec: str | os.PathLike, exclude: Path | None) -> tuple[list[Path], Path | None]:
    """The image files of one spec and the folder their keys are relative to (None: decided
    later for explicitly named files)."""
    path = Path(spec)
    if path.is_file():
        return [path], None
    if path.is_dir():
        images = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        found = [p for p in images if not _inside(p, exclude)]
        if not found:
            raise ValueError(_none_left(f"folder {path}", f"holds no {'/'.join(IMAGE_SUFFIXES)} images (searched "
                                        "recursively)", len(images), exclude))
        return found, path.absolute().parent  # keys keep the folder's own name: stable as the folder fills
    if glob.has_magic(str(spec)):
        images = sorted(Path(p) for p in glob.glob(str(spec), recursive=True)
                        if Path(p).is_file() and Path(p).suffix.lower() in IMAGE_SUFFIXES)
        found = [p for p in images if not _inside(p, exclude)]
        if not found:
            raise ValueError(_none_left(f"pattern {spec!r}", f"matches no {'/'.join(IMAGE_SUFFIXES)} image",
                                        len(images), exclude))
        parts = Path(spec).parts
        base = Path(*parts[:next(i for i, part in enumerate(parts) if glob.has_magic(part))] or ["."])
        return found, base.absolute()
    raise FileNotFoundError(f"input {spec} is neither a file, a folder nor a glob pattern that matches")


def find_inputs(specs: Sequence[str | os.PathLike] | str | os.PathLike, *,
                exclude: str | os.PathLike | None = None) -> list[ImageInput]:
    """The images named by ``specs`` (files, folders searched recursively, glob patterns with
    ``*``, ``?``, ``[...]`` and ``**``), each once, in the order given (folders and patterns
    sorted), with their output keys.

    Keys: an image found in folder ``F`` is ``F``'s name plus its path below ``F``
    (``plate1/A/A01``), one matched by a pattern its path below the pattern's fixed part
    (``'screen/**/*.tif'`` → ``A/A01``), and explicitly named files their path below the
    files' common folder (one file: its name). A folder's keys do not change as it fills.
    A TIFF of several fields (multi-position OME-TIFF series, pages of different shapes) gives
    one input per field, keyed ``<key>_s<series>`` (tifffile's series index); its previews
    (thumbnails, reduced-resolution pages) are none (:mod:`nucseg_zoo.image_files`).

    Args:
        specs: one spec or a sequence of them.
        exclude: a folder whose contents are never inputs (the output folder, which may lie
            inside an input folder).

    Raises:
        FileNotFoundError: a spec names nothing.
        ValueError: a folder or pattern holds no image, or two images would share outputs
            (same name but suffix in one folder, e.g. ``A01.tif`` and ``A01.png``).
    """
    if isinstance(specs, (str, os.PathLike)):
        specs = [specs]
    exclude = Path(exclude) if exclude is not None else None
    found: list[tuple[Path, Path | None]] = []
    seen: set[Path] = set()
    for spec in specs:
        paths, root = _expand(spec, exclude)
        for path in paths:
            real = path.resolve()
            if real not in seen:
                seen.add(real)
                found.append((path, root))
    if not found:
        raise ValueError("no input images given")
    named = [path.absolute().parent for path, root in found if root is None]
    files_root = Path(os.path.commonpath(named)) if named else None
    inputs, owners = [], {}
    for path, root in found:
        relative = path.absolute().parent.relative_to(root or files_root)
        key = str(PurePosixPath(*relative.parts, _stem(path)))
        for field in _fields(path, key):
            if field.key in owners:
                raise ValueError(f"{owners[field.key]} and {path} would write the same outputs ({field.key}.*): "
                                 "rename one or segment them into different --out folders")
            owners[field.key] = path
            inputs.append(field)
    return inputs


def _fields(path: Path, key: str) -> list[ImageInput]:
    """The images of file ``path``: one per field of a TIFF of several (keys ``<key>_s<series>``),
    else one, keyed ``key``."""
    fields = tiff_fields(path) if path.suffix.lower() in (".tif", ".tiff") else None
    if not fields:
        return [ImageInput(path, key)]
    if len(fields) == 1:
        return [ImageInput(path, key, series=fields[0])]
    return [ImageInput(path, f"{key}_s{series}", series=series) for series in fields]

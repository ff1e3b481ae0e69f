"""Where a batch run writes, and whether it may: the files of each image and of the run, the
checks made before any work, and the clean-up of an ``out`` folder a failed start created."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator

from nucseg_zoo._atomic import atomic_path
from nucseg_zoo.screens.inputs import ImageInput
from nucseg_zoo.screens.records import RunOptions
from nucseg_zoo.screens.resume import (
    LABEL_WRITER,
    earlier_record,
    of_other_bytes,
    other_image,
    other_model,
    same_image,
    same_model,
)

TABLES = ("nuclei.parquet", "images.parquet", "nuclei.csv", "images.csv", "manifest.json", "dna_content.png")
"""Run-level files in ``out``."""


class PlanError(ValueError):
    """The run cannot start (an output would replace an input or a file this tool did not
    write, two inputs would share outputs, the output folder is not writable)."""


def image_outputs(out: Path, key: str) -> dict[str, Path]:
    """The per-image files of image ``key`` (the ROI zip exists only when asked for)."""
    return {"labels": out / f"{key}.tif", "nuclei": out / f"{key}.nuclei.parquet", "rois": out / f"{key}.rois.zip"}


def check_plan(inputs: list[ImageInput], out: Path, options: RunOptions) -> None:
    """Refuse, before any work, outputs that would replace inputs or files this tool did not
    write, earlier labels of another model or (without ``overwrite``) of other input bytes,
    and an output folder that cannot be written (created here).

    Raises:
        PlanError: naming the file in the way and what to do.
    """
    real_inputs = {item.path.resolve() for item in inputs}
    input_files = {(stat.st_dev, stat.st_ino) for stat in (item.path.stat() for item in inputs)}  # hard links too
    for item in inputs:
        paths = image_outputs(out, item.key)
        for path in paths.values():
            if path.resolve() in real_inputs or (path.exists() and (path.stat().st_dev, path.stat().st_ino) in input_files):
                raise PlanError(f"the outputs of {item.path} would be written to {path}, which is an input "
                                "image; choose another --out folder (inputs are never overwritten)")
        labels = paths["labels"]
        if labels.exists():
            record = earlier_record(labels)
            if record is None:
                raise PlanError(f"{labels} exists and was not written by `nucseg-zoo segment` (a raw image?); it "
                                "is never replaced, even with --overwrite: choose another --out folder")
            if not options.overwrite and not same_model(record, options):
                raise PlanError(f"{labels} holds the labels of {record.get('input')} {other_model(record, options)} "
                                f"from an earlier run, not by this run's {options.source}; pass --overwrite to replace it, "
                                "or choose another --out")
            if not options.overwrite and not same_image(record, item, options):
                chosen = ", ".join(f"--{role} {index}" for role, index in options.selection.record().items())
                chosen = chosen or "no --channel, --plane or --time"
                raise PlanError(f"{labels} holds the labels of {record.get('input')} ({other_image(record)}) from "
                                f"an earlier run, not of the image this run chooses ({chosen}); to resume that run, "
                                "pass its choice again; to replace it, --overwrite; or choose another --out")
            if not options.overwrite and of_other_bytes(record, item.path):
                raise PlanError(f"{labels} holds the labels of {record.get('input')} from an earlier run, whose "
                                f"bytes differ from {item.path}'s (another image); pass --overwrite to replace it, "
                                "or choose another --out")
    for name in TABLES:
        path = out / name
        if path.exists() and not _written_by_us(out / "manifest.json"):
            raise PlanError(f"{path} exists and was not written by `nucseg-zoo segment` (no manifest of ours "
                            "beside it); it is never replaced: choose another --out folder")
    try:
        _check_writable(out)
    except OSError as err:
        raise PlanError(f"cannot write into --out folder {out}: {err}") from err


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for path in (folder.absolute(), *folder.absolute().parents):
        if path.exists():
            break
        missing.append(path)
    return missing


@contextlib.contextmanager
def removed_if_left_empty(folder: Path) -> Iterator[None]:
    """If the block raises, remove ``folder`` and the parents the block created, while they
    are empty (with the empty folders the block left below a ``folder`` it created); a folder
    that existed before is never removed."""
    created = _missing_folders(folder)
    try:
        yield
    except BaseException:
        if created:
            below = sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
            for path in [*below, *created]:
                with contextlib.suppress(OSError):  # not empty (or gone): kept
                    path.rmdir()
        raise


def _check_writable(folder: Path) -> None:
    """Create ``folder`` and prove that a file can be written there."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / ".nucseg-zoo-write-test"
    with atomic_path(probe) as tmp:
        tmp.write_bytes(b"")
    probe.unlink()


def _written_by_us(manifest: Path) -> bool:
    try:
        return json.loads(manifest.read_text()).get("written_by") == LABEL_WRITER
    except (OSError, ValueError, AttributeError):
        return False

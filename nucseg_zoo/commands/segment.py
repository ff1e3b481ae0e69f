"""``nucseg-zoo segment NAME IMAGE... --out DIR``: segment any image files.

Writes ``DIR/<image stem>.tif`` (int32 instance labels, zlib-compressed) per image,
each atomically. Before any work, the plan is checked: an output that would land on an
input file, or two inputs that would write the same output, are errors (exit 2, nothing
written). Each label file records (in its TIFF description) the input's path and sha256
and the model; an output from an earlier run of the same input and model is skipped
unless ``--overwrite``, one of another input or model is replaced only with
``--overwrite``, and a file this command did not write is never replaced. Every input is
read and every output decided before the model is loaded.
A bioimage.io package whose preprocessing uses dataset statistics gets them over all
input images before the first prediction, so no image's labels depend on the others.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("segment", help="segment image files with a zoo model, baseline or package")
    parser.add_argument("source", help="zoo id, baseline name, or bioimage.io package (.zip / rdf.yaml)")
    parser.add_argument("images", nargs="+", type=Path, help="2-D single-channel TIFF or PNG images")
    parser.add_argument("--out", type=Path, required=True, help="folder for <image stem>.tif label images")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo images whose label file exists from an earlier run (default: skip them)")
    parser.add_argument("--device", default="cpu")
    parser.set_defaults(run=run)


WRITER = "nucseg-zoo segment"


def _same_file(a: Path, b: Path) -> bool:
    return a.exists() and b.exists() and os.path.samefile(a, b)


def plan_outputs(images: list[Path], out: Path) -> dict[Path, Path]:
    """The label file of each input image, checked before anything is written.

    An input named twice (the same file) is segmented once.

    Raises:
        FileNotFoundError: an input does not exist.
        ValueError: an output would be an input file (``--out`` is the input folder and an
            input is a ``.tif``), or two inputs map to the same output (equal stems).
    """
    inputs = {path.resolve() for path in images if path.exists()}
    plan: dict[Path, Path] = {}
    claimed: dict[Path, Path] = {}
    for path in images:
        if not path.is_file():
            raise FileNotFoundError(f"input image {path} does not exist")
        target = out / f"{path.stem}.tif"
        if target.resolve() in inputs or any(_same_file(target, image) for image in images):
            raise ValueError(f"the labels of {path} would be written to {target}, which is an input image; "
                             "choose another --out folder (inputs are never overwritten)")
        if target.resolve() in claimed:
            if _same_file(claimed[target.resolve()], path):
                continue
            raise ValueError(f"{claimed[target.resolve()]} and {path} would both write {target} (same file name "
                             "stem); segment them into different --out folders")
        claimed[target.resolve()] = path
        plan[path] = target
    return plan


def read_image(path: Path, data: bytes | None = None):
    """A 2-D image file (TIFF by ``tifffile``, others by ``imageio``), decoded from ``data``
    (the file's bytes, already read) when given.

    Raises:
        ValueError: naming the file: it cannot be read as an image, or it is not 2-D.
    """
    import io

    import imageio.v3 as iio
    import tifffile

    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            image = tifffile.imread(path if data is None else io.BytesIO(data))
        else:
            image = iio.imread(path if data is None else data, extension=path.suffix)
    except Exception as err:  # each reader has its own errors; all mean "not a readable image"
        raise ValueError(f"{path}: cannot read it as an image ({type(err).__name__}: {err})") from err
    if image.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D single-channel image, got shape {image.shape}")
    return image


def earlier_result(target: Path) -> dict | None:
    """What a label file written by this command records (input, its sha256, model), or None
    when ``target`` was not written by it (e.g. a raw image that happens to have its name)."""
    import tifffile

    try:
        with tifffile.TiffFile(target) as tif:
            record = json.loads(tif.pages[0].description)
    except Exception:  # not a TIFF, no or foreign description: not ours
        return None
    return record if isinstance(record, dict) and record.get("written_by") == WRITER else None


def _decide(path: Path, target: Path, source: str, input_sha256: str, overwrite: bool) -> bool:
    """Whether to (re)write ``target``; ValueError when it must not be touched."""
    if not target.exists():
        return True
    record = earlier_result(target)
    if record is None:
        raise ValueError(f"{target} exists and was not written by `nucseg-zoo segment` (a raw image?); it is "
                         f"never replaced, even with --overwrite: choose another --out folder")
    if record.get("input_sha256") == input_sha256 and record.get("model") == source:
        if overwrite:
            return True
        print(f"{path}: {target} exists from an earlier run, skipped (--overwrite redoes it)", file=sys.stderr)
        return False
    if overwrite:
        return True
    raise ValueError(f"{target} holds the labels of {record.get('input')} by {record.get('model')} from an earlier "
                     f"run, not of {path} by {source}; pass --overwrite to replace it, or choose another --out")


def _check_writable(folder: Path) -> None:
    """Create ``folder`` and prove that a file can be written there, before any work."""
    from nucseg_zoo._atomic import atomic_path

    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / ".nucseg-zoo-write-test"
    with atomic_path(probe) as tmp:
        tmp.write_bytes(b"")
    probe.unlink()


def run(args: argparse.Namespace) -> int:
    import tifffile

    from nucseg_zoo._atomic import atomic_path
    from nucseg_zoo.evaluation import get_segmenter
    from nucseg_zoo.evaluation.harness import LazyImages, fit_dataset_statistics

    plan = plan_outputs(args.images, args.out)
    todo: dict[Path, tuple[Path, str]] = {}
    for path, target in plan.items():  # every input readable and every target decided before any work
        data = path.read_bytes()  # read once: checked as an image and hashed
        read_image(path, data)
        digest = hashlib.sha256(data).hexdigest()
        if _decide(path, target, args.source, digest, args.overwrite):
            todo[path] = (target, digest)
    if not todo:
        return 0
    _check_writable(args.out)
    segmenter = get_segmenter(args.source, device=args.device)
    # over every input image (also those skipped now), so a resumed run uses the same statistics
    statistics = fit_dataset_statistics(segmenter, LazyImages(list(plan), read_image))
    if statistics is not None:
        print(f"dataset statistics of the preprocessing, over all {len(plan)} input images: {statistics}",
              file=sys.stderr)
    for path, (target, digest) in todo.items():
        labels = segmenter.segment(read_image(path))
        record = {"written_by": WRITER, "input": str(path), "input_sha256": digest, "model": args.source}
        with atomic_path(target) as tmp:
            tifffile.imwrite(tmp, labels, compression="zlib", description=json.dumps(record), metadata=None)
        print(f"{path}: {int(labels.max())} objects -> {target}", file=sys.stderr)
        print(target)
    return 0

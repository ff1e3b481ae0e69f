"""``nucseg-zoo segment NAME IMAGE... --out DIR``: segment any image files.

Writes ``DIR/<image stem>.tif`` (int32 instance labels, zlib-compressed) per image,
each atomically. Before any work, the plan is checked: an output that would land on an
input file, or two inputs that would write the same output, are errors (exit 2, nothing
written). An output that exists from an earlier run is skipped unless ``--overwrite``.
A bioimage.io package whose preprocessing uses dataset statistics gets them over all
input images before the first prediction, so no image's labels depend on the others.
"""

from __future__ import annotations

import argparse
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


def _same_file(a: Path, b: Path) -> bool:
    return a.exists() and b.exists() and os.path.samefile(a, b)


def plan_outputs(images: list[Path], out: Path) -> dict[Path, Path]:
    """The label file of each input image, checked before anything is written.

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
            raise ValueError(f"{claimed[target.resolve()]} and {path} would both write {target} (same file name "
                             "stem); segment them into different --out folders")
        claimed[target.resolve()] = path
        plan[path] = target
    return plan


def read_image(path: Path):
    """A 2-D image file (TIFF by ``tifffile``, others by ``imageio``); ValueError unless 2-D."""
    import imageio.v3 as iio
    import tifffile

    image = tifffile.imread(path) if path.suffix.lower() in (".tif", ".tiff") else iio.imread(path)
    if image.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D single-channel image, got shape {image.shape}")
    return image


class _ImageFiles:
    """The images of ``paths``, read on each iteration (never all in memory)."""

    def __init__(self, paths: list[Path]):
        self.paths = paths

    def __iter__(self):
        return (read_image(path) for path in self.paths)


def run(args: argparse.Namespace) -> int:
    import tifffile

    from nucseg_zoo._atomic import atomic_path
    from nucseg_zoo.evaluation import get_segmenter
    from nucseg_zoo.evaluation.harness import fit_dataset_statistics

    plan = plan_outputs(args.images, args.out)
    todo = {path: target for path, target in plan.items() if args.overwrite or not target.exists()}
    for path in (path for path in plan if path not in todo):
        print(f"{path}: {plan[path]} exists from an earlier run, skipped (--overwrite redoes it)", file=sys.stderr)
    if not todo:
        return 0
    segmenter = get_segmenter(args.source, device=args.device)
    # over every input image (also those skipped now), so a resumed run uses the same statistics
    statistics = fit_dataset_statistics(segmenter, _ImageFiles(list(plan)))
    if statistics is not None:
        print(f"dataset statistics of the preprocessing, over all {len(plan)} input images: {statistics}",
              file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    for path, target in todo.items():
        labels = segmenter.segment(read_image(path))
        with atomic_path(target) as tmp:
            tifffile.imwrite(tmp, labels, compression="zlib")
        print(f"{path}: {int(labels.max())} objects -> {target}", file=sys.stderr)
        print(target)
    return 0

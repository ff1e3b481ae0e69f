"""``nucseg-zoo segment NAME IMAGE... --out DIR``: segment any image files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("segment", help="segment image files with a zoo model, baseline or package")
    parser.add_argument("source", help="zoo id, baseline name, or bioimage.io package (.zip / rdf.yaml)")
    parser.add_argument("images", nargs="+", type=Path, help="2-D single-channel TIFF or PNG images")
    parser.add_argument("--out", type=Path, required=True, help="folder for <image stem>.tif label images")
    parser.add_argument("--device", default="cpu")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import imageio.v3 as iio
    import tifffile

    from nucseg_zoo._atomic import atomic_path
    from nucseg_zoo.evaluation import get_segmenter

    segmenter = get_segmenter(args.source, device=args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in args.images:
        image = tifffile.imread(path) if path.suffix.lower() in (".tif", ".tiff") else iio.imread(path)
        if image.ndim != 2:
            raise ValueError(f"{path}: expected a 2-D single-channel image, got shape {image.shape}")
        labels = segmenter.segment(image)
        target = args.out / f"{path.stem}.tif"
        with atomic_path(target) as tmp:
            tifffile.imwrite(tmp, labels, compression="zlib")
        print(f"{path}: {int(labels.max())} objects -> {target}", file=sys.stderr)
        print(target)
    return 0

"""``nucseg-zoo compare A B [--image NAME] [--out FILE.png]``: two leaderboard entries on one image."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare", help="picture of two leaderboard entries on one test image: what one finds that the other misses",
        description="Draw two leaderboard entries' predictions on one BBBC039 test image from their stored "
                    "predictions (no model is run): each with its errors marked as in its error atlas, then "
                    "the ground-truth nuclei coloured by which entry finds them at IoU 0.7.")
    parser.add_argument("first", help="leaderboard entry id, e.g. unet-bbbc039")
    parser.add_argument("second", help="leaderboard entry id, e.g. unet-bbbc039-fast")
    parser.add_argument("--image", help="test image name (default: where their average F1 differ most)")
    parser.add_argument("--dir", type=Path, default=Path("validation"), help="leaderboard folder (default: validation)")
    parser.add_argument("--out", type=Path, help="PNG to write (default: compare-FIRST-SECOND-IMAGE.png)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.add_argument("--mirror", help="dataset mirror (URL or folder)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from nucseg_zoo.leaderboard.compare import compare, save_comparison_png

    if args.out is not None and args.out.suffix.lower() != ".png":
        raise ValueError(f"--out must name a .png file, got {args.out}")
    if args.out is not None and not args.out.parent.is_dir():
        raise FileNotFoundError(f"the folder of --out {args.out} does not exist")
    if args.out is not None:  # before any work (the comparison may download the test images)
        _refuse_existing(args.out, args.overwrite)
    comparison, picture = compare(args.dir, args.first, args.second, image=args.image, mirror=args.mirror)
    out = args.out or Path(f"compare-{args.first}-{args.second}-{comparison.image}.png")
    _refuse_existing(out, args.overwrite)  # the default name, known once the image is chosen
    print(comparison.summary())
    print(save_comparison_png(picture, comparison, out))
    return 0


def _refuse_existing(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; not replacing it — pass --overwrite to replace it")

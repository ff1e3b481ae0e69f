"""``nucseg-zoo score PRED_DIR --dataset bbbc039 --split test [--json]``."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("score", help="score a folder of predicted label images (TIFF/PNG by image stem)")
    parser.add_argument("pred_dir", type=Path, help="folder of <image stem>.tif/.png label images")
    parser.add_argument("--dataset", default="bbbc039")
    parser.add_argument("--split", default="test")
    parser.add_argument("--mirror", help="dataset mirror (URL or folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from nucseg_zoo.commands._report import print_evaluation
    from nucseg_zoo.evaluation import score_folder

    print_evaluation(score_folder(args.pred_dir, dataset=args.dataset, split=args.split, mirror=args.mirror),
                     as_json=args.json)
    return 0

"""``nucseg-zoo evaluate NAME --dataset bbbc039 --split test [--json] [--limit N]``."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="run a zoo model, baseline or bioimage.io package and score it")
    parser.add_argument("source", help="zoo id, baseline name, or bioimage.io package (.zip / rdf.yaml)")
    parser.add_argument("--dataset", default="bbbc039")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, help="only the first N images (a quick look)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mirror", help="dataset mirror (URL or folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    parser.add_argument("--output", type=Path, help="also write the JSON result to this file (atomically)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from nucseg_zoo.commands._report import print_evaluation, write_json_atomically
    from nucseg_zoo.evaluation import evaluate, get_segmenter

    segmenter = get_segmenter(args.source, device=args.device)
    evaluation = evaluate(segmenter, source=args.source, dataset=args.dataset, split=args.split,
                          limit=args.limit, mirror=args.mirror, progress=True)
    print_evaluation(evaluation, as_json=args.json)
    if args.output:
        write_json_atomically(args.output, {**evaluation.to_dict(), "device": args.device})
    return 0

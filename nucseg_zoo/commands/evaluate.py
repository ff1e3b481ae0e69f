"""``nucseg-zoo evaluate SOURCE [--dataset bbbc039] [--split test] | [--images DIR --labels DIR] [--json] ...``."""

from __future__ import annotations

import argparse
from pathlib import Path

from nucseg_zoo.commands.segment import add_diameter_argument, add_selection_arguments
from nucseg_zoo.postprocessing import list_output_kinds


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="run a zoo model, baseline or bioimage.io package on a split and score it",
        description="Evaluate SOURCE on an official split (--dataset, --split) or on your own annotated images "
                    "(--images DIR --labels DIR: label TIFF/PNG, a folder of one mask per nucleus, or an ImageJ ROI "
                    "zip per image, paired by file stem) with the paper's metrics. Zoo models run in fp32, the default "
                    "precision of every entry point and of the leaderboard. Results (per image and "
                    "aggregate, with provenance) are cached by source sha256, data hashes, package versions "
                    "and device; a repeated call is instant unless --force is given.")
    parser.add_argument("source", help="zoo id, baseline name, bioimage.io package (.zip / rdf.yaml) path or URL, "
                        "or a Python segmenter module:callable (image -> instance labels)")
    add_data_arguments(parser)
    add_selection_arguments(parser, "with --images: evaluate")
    add_diameter_argument(parser)
    parser.add_argument("--limit", type=int, help="only the first N images (a quick look)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default: %(default)s)")
    parser.add_argument("--output-kind", choices=list_output_kinds(),
                        help="how to turn a bioimage.io model's output into instances (default: the kind its rdf "
                             "declares or its output tells apart; a package that does neither is refused)")
    parser.add_argument("--weight-format", help="weight format of a bioimage.io package (default: bioimageio.core's)")
    parser.add_argument("--sha256", help="expected sha256 of the package file or download")
    parser.add_argument("--postprocessing", metavar="NAME=VALUE", action="append", type=_assignment, default=[],
                        help="replace a postprocessing parameter of a bioimage.io package (repeatable), e.g. "
                             "prob_thresh=0.6 nms_thresh=0.3 for a StarDist package, interior_threshold=0.4 for "
                             "probability outputs")
    parser.add_argument("--force", action="store_true", help="recompute even if a cached result exists")
    parser.add_argument("--mirror", help="dataset mirror (URL or folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    parser.add_argument("--output", type=Path, help="also write the JSON result to this file (atomically)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


DEFAULT_DATASET, DEFAULT_SPLIT = "bbbc039", "test"


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dataset``/``--split`` (an official split) or ``--images``/``--labels`` (your own folder)."""
    parser.add_argument("--dataset", help=f"dataset id (default: {DEFAULT_DATASET}; `nucseg-zoo datasets list`)")
    parser.add_argument("--split", help=f"official split (default: {DEFAULT_SPLIT} — the split results are reported "
                        "on; tune your own parameters on training or validation)")
    parser.add_argument("--images", type=Path, help="folder of your own images (TIFF/PNG), instead of --dataset")
    parser.add_argument("--labels", type=Path, help="with --images: their ground truth, paired by file stem "
                        "(<stem>.tif/.png label image, <stem>/ one mask per nucleus, <stem>.zip ImageJ ROIs; "
                        "tags _masks, _cp_masks, _labels accepted)")


def data_from_arguments(args: argparse.Namespace, command: str):
    """``(dataset, split)`` for the harness: an id and split, or a folder's DatasetSplit and None.
    Warnings while pairing the folder (labels without an image, binary-mask labels) are printed
    as ``nucseg-zoo COMMAND: warning: ...``. ``--channel``/``--plane``/``--time`` (where the
    command has them) choose the plane of the folder's multi-dimensional images.

    Raises:
        ValueError: --images/--labels mixed with --dataset/--split, or one of them alone;
            a plane selection without --images.
    """
    import sys
    import warnings

    selection = {role: getattr(args, role, None) for role in ("channel", "plane", "time")}
    chosen = [f"--{role}" for role, index in selection.items() if index is not None]
    if args.images is None and args.labels is None:
        if chosen:
            raise ValueError(f"{' and '.join(chosen)} {'chooses' if len(chosen) == 1 else 'choose'} the plane of "
                             "your own multi-dimensional images "
                             "(--images DIR --labels DIR); the official splits' images are 2-D, single-channel")
        return args.dataset or DEFAULT_DATASET, args.split or DEFAULT_SPLIT
    if args.dataset or args.split:
        raise ValueError("--images/--labels score your own annotated folder; they do not go with --dataset/--split")
    if args.labels is None or args.images is None:
        raise ValueError("your own annotated images need both --images DIR (the images, which give each label's "
                         "name and size) and --labels DIR")
    from nucseg_zoo.datasets import from_folder

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        own = from_folder(args.images, args.labels, **selection)
    for warning in caught:
        print(f"nucseg-zoo {command}: warning: {warning.message}", file=sys.stderr)
    return own, None


def _assignment(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` → (name, value); the value is read as YAML (numbers, words)."""
    import yaml

    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, e.g. prob_thresh=0.6; got {text!r}")
    return name.strip(), yaml.safe_load(value)


def run(args: argparse.Namespace) -> int:
    from nucseg_zoo.commands._report import print_evaluation, write_json_atomically
    from nucseg_zoo.evaluation import evaluate_source

    dataset, split = data_from_arguments(args, "evaluate")
    evaluation = evaluate_source(args.source, dataset=dataset, split=split, limit=args.limit,
                                 device=args.device, output_kind=args.output_kind, weight_format=args.weight_format,
                                 sha256=args.sha256, postprocessing=dict(args.postprocessing) or None,
                                 diameter=args.diameter, force=args.force, mirror=args.mirror,
                                 progress=not args.no_progress)
    print_evaluation(evaluation, as_json=args.json)
    if args.output:
        write_json_atomically(args.output, evaluation.to_dict())
    return 0

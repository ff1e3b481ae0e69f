"""``nucseg-zoo score PRED_DIR [--dataset bbbc039 --split test | --images DIR --labels DIR] [--json] ...``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from pathlib import Path

from nucseg_zoo.commands.evaluate import add_data_arguments, data_from_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score", help="score a folder of predicted label images (TIFF/PNG by image stem)",
        description="Score PRED_DIR against an official split (--dataset, --split) or your own ground truth "
                    "(--images DIR --labels DIR: the images name and size each label).")
    parser.add_argument("pred_dir", type=Path, help="folder of <image stem>.tif/.png label images")
    add_data_arguments(parser)
    parser.add_argument("--mirror", help="dataset mirror (URL or folder)")
    parser.add_argument("--label-components", action="store_true",
                        help="label predictions that look like binary masks (one value, several separate "
                             "regions) into connected components (4-connectivity) before scoring")
    parser.add_argument("--only-present", action="store_true",
                        help="score only the images that have a prediction file (default: a missing one is scored "
                             "as an empty prediction, every nucleus missed); the scores then cover part of the split")
    parser.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from nucseg_zoo._text import count
    from nucseg_zoo.commands._report import print_evaluation
    from nucseg_zoo.evaluation import score_folder
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        dataset, split = data_from_arguments(args, "score")
        evaluation = score_folder(args.pred_dir, dataset=dataset, split=split, mirror=args.mirror,
                                  label_components=args.label_components, only_present=args.only_present)
    for warning in caught:
        if issubclass(warning.category, UserWarning):  # ours: binary masks, intensity images, missing predictions
            print(f"nucseg-zoo score: warning: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    if args.json:
        print_evaluation(evaluation, as_json=True)
        return 0
    # the table's provenance lines describe a model run (evaluate); a folder's are printed here
    print_evaluation(dataclasses.replace(evaluation, provenance={}), as_json=False)
    binary = evaluation.provenance["binary_mask_predictions"]
    if binary and args.label_components:
        print(f"  binary-mask predictions labelled into connected components: {', '.join(binary)}", file=sys.stderr)
    elif binary:
        print(f"  binary-mask predictions scored as one object each (--label-components labels them): "
              f"{', '.join(binary)}", file=sys.stderr)
    intensity = evaluation.provenance["intensity_image_predictions"]
    if intensity:
        print(f"  predictions that look like intensity images, not labels: {', '.join(intensity)}", file=sys.stderr)
    missing = evaluation.missing_predictions
    if missing:
        total = evaluation.scores.n_images + (len(missing) if args.only_present else 0)
        how = "left out of the scores (--only-present)" if args.only_present else "scored as empty (every nucleus missed)"
        print(f"  missing predictions: {len(missing)} of {count(total, 'image')} {how}: {', '.join(missing)}",
              file=sys.stderr)
    return 0

"""``nucseg-zoo submit PACKAGE --name NAME --author A [--author B] [--dir validation]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nucseg_zoo.postprocessing import list_output_kinds


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "submit", help="validate, test and evaluate a bioimage.io package and add it to the leaderboard",
        description="Validate PACKAGE with bioimageio.spec and bioimageio.core.test_model, evaluate it on the "
                    "track of DIR (validation/: BBBC039 test; validation/tracks/dsb2018-fluo-test: DSB2018-fluo "
                    "test), write DIR/results/<id>.json and regenerate the pages. A rejected "
                    "package leaves every file untouched; a package already listed (same sha256) is not added.")
    parser.add_argument("package", help="bioimage.io package (.zip / rdf.yaml) path or URL; with --peer also a "
                                        "Python segmenter module:callable")
    parser.add_argument("--name", required=True, help="display name of the entry")
    parser.add_argument("--author", action="append", required=True, dest="authors",
                        help="an author (repeat for several)")
    parser.add_argument("--id", dest="entry_id", help="entry id / result file name (default: from --name)")
    parser.add_argument("--dir", type=Path, default=Path("validation"), help="leaderboard folder (default: validation)")
    parser.add_argument("--sha256", help="expected sha256 of the package file or download")
    parser.add_argument("--output-kind", choices=list_output_kinds(),
                        help="default: the kind the package's rdf declares or its output tells apart")
    parser.add_argument("--weight-format", help="default: bioimageio.core's choice")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mirror", help="dataset mirror (URL or folder)")
    parser.add_argument("--peer", metavar="NOTE",
                        help="add a peer row (a published tool run or trained here) with this note, e.g. "
                             "'trained here with the StarDist library'")
    parser.add_argument("--recipe", help="how to rebuild the source (command, script, budget), recorded with the entry")
    parser.add_argument("--trained-on", action="append", default=[], metavar="DATASET/SPLIT", dest="training_data",
                        help="data the model learned from, e.g. bbbc039/training or 'dsb2018-stage1/all' (repeat "
                             "for several; shown in the row, 'not stated' without)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from nucseg_zoo.leaderboard import submit
    from nucseg_zoo.leaderboard.render import docs_root, write_docs

    record = submit(args.package, name=args.name, authors=args.authors, folder=args.dir, entry_id=args.entry_id,
                    sha256=args.sha256, device=args.device, output_kind=args.output_kind,
                    weight_format=args.weight_format, mirror=args.mirror,
                    kind="peer" if args.peer is not None else "submission", note=args.peer, recipe=args.recipe,
                    training_data=args.training_data)
    scores = record.evaluation.scores
    print(f"added {record.entry.id!r}: average F1 {scores.average_f1:.4f}, missed at IoU 0.7 "
          f"{scores.error_rate:.1%} ({record.evaluation.provenance['output_kind']} output)", file=sys.stderr)
    print(args.dir / "results" / f"{record.entry.id}.json")
    root = docs_root(args.dir)
    for path in write_docs(root) if root is not None else ():  # the README's and docs' tables quote the pages
        print(path)
    return 0

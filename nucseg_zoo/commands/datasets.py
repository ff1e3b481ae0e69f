"""``nucseg-zoo datasets list|fetch|verify|info NAME``."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("datasets", help="list, download, verify and describe datasets")
    parser.add_argument("action", choices=("list", "fetch", "verify", "info"))
    parser.add_argument("name", nargs="?", help="dataset id (e.g. bbbc039)")
    parser.add_argument("--mirror", help="base URL or local folder to read the dataset from")
    parser.add_argument("--json", action="store_true", help="print info as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from nucseg_zoo import datasets

    if args.action == "list":
        for name in datasets.list_datasets():
            print(name)
        return 0
    if args.name is None:
        raise ValueError(f"'datasets {args.action}' needs a dataset name; one of: {', '.join(datasets.list_datasets())}")
    if args.action in ("fetch", "verify"):
        root = datasets.fetch(args.name, mirror=args.mirror, progressbar=args.action == "fetch")
        print(f"{args.name}: all files verified against the manifest in {root}", file=sys.stderr)
        print(root)
        return 0
    info = dataset_info(args.name, mirror=args.mirror)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"{info['dataset']}: {info['title']} (license {info['license']})")
        for split, row in info["splits"].items():
            print(f"  {split:<11} {row['n_images']:>4} images  {row['n_nuclei']:>6} nuclei")
    return 0


def dataset_info(name: str, *, mirror: str | None = None) -> dict:
    """Split sizes and nucleus counts, counted from the decoded masks."""
    from tqdm import tqdm

    from nucseg_zoo import datasets

    card = datasets.card(name)
    splits = {}
    for split in card.splits:
        try:
            samples = datasets.load(name, split, mirror=mirror, progressbar=True)
        except ValueError:
            continue  # the bundled sample has only some splits
        n_nuclei = sum(int(s.labels.max()) for s in tqdm(samples, desc=split, file=sys.stderr, leave=False))
        splits[split] = {"n_images": len(samples), "n_nuclei": n_nuclei}
    return {"dataset": name, "title": card.title, "license": card.license, "splits": splits}

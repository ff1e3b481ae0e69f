"""``nucseg-zoo datasets list|fetch|verify|info NAME`` and ``nucseg-zoo datasets overlap A B``."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "datasets", help="list, download, verify, describe datasets and find fields shared between two",
        description="list: the dataset ids. fetch NAME: download (or locate the mirror) and verify every file. "
                    "verify NAME: hash every file again and check the card's measured facts (images and nuclei "
                    "per split, image sizes, nucleus diameters). info NAME: the card and its facts. "
                    "overlap A B: the images of A that are fields of B (same field at another bit depth or "
                    "intensity scaling, a crop, a rescale), with the split of each.")
    parser.add_argument("action", choices=("list", "fetch", "verify", "info", "overlap"))
    parser.add_argument("name", nargs="?", help="dataset id (e.g. bbbc039); for overlap, dataset A")
    parser.add_argument("other", nargs="?", help="overlap only: dataset B")
    parser.add_argument("--mirror", help="base URL or local folder to read the dataset from (not with overlap: "
                        "use each dataset's variable)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from nucseg_zoo import datasets

    if args.action == "list":
        for name in datasets.list_datasets():
            print(name)
        return 0
    if args.name is None:
        raise ValueError(f"'datasets {args.action}' needs a dataset name; one of: {', '.join(datasets.list_datasets())}")
    if args.action == "overlap":
        return _overlap(args)
    if args.other is not None:
        raise ValueError(f"'datasets {args.action}' takes one dataset name, got {args.name!r} and {args.other!r}")
    if args.action == "fetch":
        root = datasets.fetch(args.name, mirror=args.mirror, progressbar=True)
        print(f"{args.name}: all files verified against the manifest in {root}", file=sys.stderr)
        print(root)
        return 0
    if args.action == "verify":
        return _verify(args)
    info = dataset_info(args.name)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['dataset']}: {info['title']} (license {info['license']})")
    print(f"  images {info['image_format']}, masks {info['mask_format']}; source {info['homepage']}")
    for split, row in info["splits"].items():
        print(f"  {split:<15} {row['n_images']:>4} images  {row['n_nuclei']:>6} nuclei")
    for key, value in info["facts"].items():
        print(f"  {key.replace('_', ' ')}: {value}")
    if info["size_bins"]:
        print("  missed-by-size bins (GT area, px): "
              + ", ".join(f"{b} ({lo:g}, {hi:g}]" for b, (lo, hi) in info["size_bins"].items()))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from nucseg_zoo import datasets
    from nucseg_zoo.datasets.facts import check_facts, combine, measure

    root = datasets.fetch(args.name, mirror=args.mirror, progressbar=True, rehash=True)
    print(f"{args.name}: every file hashed again and verified against the manifest in {root}", file=sys.stderr)
    measured = {split: measure(tqdm(datasets.load(args.name, split, mirror=args.mirror), desc=split,
                                    file=sys.stderr, leave=False))
                for split in datasets.card(args.name).splits}
    problems = check_facts(datasets.card(args.name), measured)
    report = {"dataset": args.name, "root": str(root), "splits": {k: v.to_dict() for k, v in measured.items()},
              "all": combine(measured.values()).to_dict(), "problems": problems}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for split, facts in measured.items():
            print(f"  {split:<15} {facts.n_images:>4} images  {facts.n_nuclei:>6} nuclei  "
                  f"median diameter {facts.median_diameter_px:.2f} px")
        for problem in problems:
            print(f"  differs from the card: {problem}")
        print(f"{args.name}: {'the card facts hold' if not problems else 'the card facts do not hold'}")
    return 1 if problems else 0


def _overlap(args: argparse.Namespace) -> int:
    from nucseg_zoo.datasets.overlap import dataset_overlap

    if args.other is None:
        raise ValueError("'datasets overlap' needs two dataset names, A and B: the images of A that are fields of B")
    if args.mirror:
        raise ValueError("'datasets overlap' reads two datasets: set each one's mirror variable instead of --mirror")
    rows = dataset_overlap(args.name, args.other)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{len(rows)} images of {args.name} are fields of {args.other}")
    if rows:
        head = ("image of " + args.name, "split", "field of " + args.other, "split", "relation", "similarity")
        widths = [max(len(head[i]), *(len(str(list(r.values())[i])) for r in rows)) for i in range(5)]
        print("  ".join(h.ljust(w) for h, w in zip(head, widths)) + "  " + head[5])
        for row in rows:
            values = list(row.values())
            print("  ".join(str(v).ljust(w) for v, w in zip(values[:5], widths)) + f"  {row['similarity']:.3f}")
    return 0


def dataset_info(name: str) -> dict:
    """What the card of ``name`` states: title, formats, splits with counts, facts, size bins (no download)."""
    from nucseg_zoo import datasets

    card = datasets.card(name)
    return {"dataset": name, "title": card.title, "license": card.license, "homepage": card.homepage,
            "image_format": card.image_format, "mask_format": card.mask_format,
            "splits": {s.name: {"n_images": len(s.stems), "n_nuclei": s.n_nuclei} for s in card.splits.values()},
            "facts": dict(card.facts), "size_bins": {k: list(v) for k, v in card.size_bins.items()}}

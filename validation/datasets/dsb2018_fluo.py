"""Build the DSB2018 fluorescence card's files (run once; the outputs are committed, never re-drawn).

    python validation/datasets/dsb2018_fluo.py --dsb PATH/dsb2018 --bbbc039 PATH/bbbc039

Reads the extracted BBBC038 stage1_train with the community's fixes (``PATH/dsb2018`` holds
``stage1_train/`` and ``SHA256SUMS``) and writes, into ``datasets/dsb2018-fluo/``:

* ``manifest.sha256``: the lines of ``SHA256SUMS`` for the members' files;
* ``splits/bbbc039-fields.txt``: members that are fields of BBBC039 (found with
  :func:`nucseg_zoo.datasets.overlap.find_fields` against all 200 BBBC039 fields), kept out of
  the three splits; ``bbbc039-fields.tsv`` beside the card: each with its BBBC039 field,
  split and similarity;
* ``splits/{training,validation,test}.txt``: the other members, split 70/15/15 within each
  image size (rounded; a stratum of fewer than 4 images goes to training), shuffled with
  ``numpy.random.default_rng(2018)`` over the sorted groups of each stratum, strata in sorted
  order. A group is a set of same-sized images of one specimen (two time points, or
  overlapping fields): images whose thumbnails (:func:`nucseg_zoo.datasets.overlap.thumbnail`)
  correlate at :data:`SAME_SPECIMEN` or more are grouped (transitively) and always land in
  the same split, so no test image has a near-copy in training.

Membership rule (the fluorescence subset): the image is grey (R = G = B at every pixel) and
its median grey value is below 60 (dark background). On stage1_train with the fixes this
keeps 541 of 664 images; the others are 16 grey bright-field images (medians 226+) and 107
colour tissue images.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tifffile

from nucseg_zoo.datasets.overlap import find_fields, thumbnail

CARD = Path(__file__).resolve().parents[2] / "datasets" / "dsb2018-fluo"
SEED, FRACTIONS, MEDIAN_BELOW = 2018, (0.70, 0.15, 0.15), 60
SAME_SPECIMEN = 0.5  # thumbnails of different specimens correlate at <= 0.15 (overlap module)


def is_fluorescence(image: np.ndarray) -> bool:
    """The membership rule: grey at every pixel and median below :data:`MEDIAN_BELOW`."""
    rgb = image[..., :3]
    grey = np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])
    return grey and float(np.median(rgb[..., 0])) < MEDIAN_BELOW


def same_specimen_groups(thumbnails: dict[str, np.ndarray]) -> list[list[str]]:
    """Groups of same-sized images whose thumbnails correlate at :data:`SAME_SPECIMEN` or more
    (union of pairs), each sorted, singletons included, in order of their first id."""
    parent = {image_id: image_id for image_id in thumbnails}

    def root(image_id: str) -> str:
        while parent[image_id] != image_id:
            image_id = parent[image_id]
        return image_id

    by_shape: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for image_id in sorted(thumbnails):
        by_shape[thumbnails[image_id].shape].append(image_id)
    for ids in by_shape.values():
        flat = np.stack([thumbnails[i].ravel() for i in ids])
        flat = (flat - flat.mean(1, keepdims=True)) / (flat.std(1, keepdims=True) + 1e-12)
        correlation = flat @ flat.T / flat.shape[1]
        for a, b in zip(*np.nonzero(np.triu(correlation, 1) >= SAME_SPECIMEN)):
            parent[root(ids[b])] = root(ids[a])
    groups: dict[str, list[str]] = defaultdict(list)
    for image_id in sorted(thumbnails):
        groups[root(image_id)].append(image_id)
    return sorted(groups.values())


def stratified_splits(shapes: dict[str, tuple[int, int]], groups: list[list[str]]) -> dict[str, list[str]]:
    """training/validation/test ids: 70/15/15 of the groups within each image size (see the module
    docstring); a group's images stay together."""
    rng = np.random.default_rng(SEED)
    strata: dict[tuple[int, int], list[list[str]]] = defaultdict(list)
    for group in groups:
        strata[shapes[group[0]]].append(group)
    splits: dict[str, list[str]] = {"training": [], "validation": [], "test": []}
    for shape in sorted(strata):
        order = [strata[shape][i] for i in rng.permutation(len(strata[shape]))]
        n = len(order)
        n_val = n_test = round(n * FRACTIONS[1]) if n >= 4 else 0
        for position, group in enumerate(order):
            name = "validation" if position < n_val else "test" if position < n_val + n_test else "training"
            splits[name] += group
    return {name: sorted(ids) for name, ids in splits.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsb", type=Path, required=True, help="folder holding stage1_train/ and SHA256SUMS")
    parser.add_argument("--bbbc039", type=Path, required=True, help="folder holding BBBC039's images/ and metadata/")
    args = parser.parse_args(argv)
    members, shapes = [], {}
    for folder in sorted((args.dsb / "stage1_train").iterdir()):
        image = iio.imread(folder / "images" / f"{folder.name}.png")
        if is_fluorescence(image):
            members.append(folder.name)
            shapes[folder.name] = image.shape[:2]
    print(f"{len(members)} fluorescence images", file=sys.stderr)
    bbbc_split = {Path(line).stem: split for split in ("training", "validation", "test")
                  for line in (args.bbbc039 / "metadata" / f"{split}.txt").read_text().split()}
    reference = [(stem, lambda stem=stem: tifffile.imread(args.bbbc039 / "images" / f"{stem}.tif"))
                 for stem in sorted(bbbc_split)]
    query = [(m, lambda m=m: iio.imread(args.dsb / "stage1_train" / m / "images" / f"{m}.png")[..., 0])
             for m in members]
    matches = find_fields(query, reference)
    fields = {match.query: match for match in matches}
    rest = [m for m in members if m not in fields]
    thumbnails = {m: thumbnail(iio.imread(args.dsb / "stage1_train" / m / "images" / f"{m}.png")[..., 0])
                  for m in rest}
    groups = same_specimen_groups(thumbnails)
    for group in groups:
        if len(group) > 1:
            print(f"one specimen: {', '.join(group)}", file=sys.stderr)
    splits = stratified_splits({m: shapes[m] for m in rest}, groups)
    (CARD / "splits").mkdir(parents=True, exist_ok=True)
    for name, ids in {**splits, "bbbc039-fields": sorted(fields)}.items():
        (CARD / "splits" / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))
        print(f"{name}: {len(ids)} images", file=sys.stderr)
    rows = ["dsb2018_id\tbbbc039_field\tbbbc039_split\tsimilarity\trelation"]
    rows += [f"{m.query}\t{m.reference}\t{bbbc_split[m.reference]}\t{m.similarity:.4f}\t{m.relation}"
             for m in sorted(matches, key=lambda m: m.query)]
    (CARD / "bbbc039-fields.tsv").write_text("\n".join(rows) + "\n")
    keep = set(members)
    lines = [line for line in (args.dsb / "SHA256SUMS").read_text().splitlines()
             if line.split(maxsplit=1)[1].split("/")[1] in keep]
    (CARD / "manifest.sha256").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""DSB2018-fluo: the fluorescence rule, fixed splits without BBBC039 fields, one mask per nucleus,
and the shared-fields record (the images run when $NUCSEG_ZOO_DSB2018_FLUO_MIRROR is set)."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np

from nucseg_zoo import datasets
from nucseg_zoo.cli import main
from nucseg_zoo.datasets.shared_fields import holds_test_fields, shared_fields

from validation.datasets.dsb2018_fluo import is_fluorescence

OVERLAPPING = "72e8c49dea44787114fd191f9e97e260f961c6e7ae4715bc95cc91db8d91a4e3"  # a test image; 2 px in 2 masks


def test_splits_are_fixed_disjoint_and_hold_no_bbbc039_field():
    card = datasets.card("dsb2018-fluo")
    counts = {name: (len(split.stems), split.n_nuclei) for name, split in card.splits.items()}
    assert counts == {"training": (347, 12938), "validation": (75, 2763), "test": (76, 2415),
                      "bbbc039-fields": (43, 4980)}
    members = [stem for split in card.splits.values() for stem in split.stems]
    assert len(members) == len(set(members)) == 541  # the README's 541 grey, dark-background images
    assert {"/".join(p.split("/")[:2]) for p in card.manifest} == {f"stage1_train/{m}" for m in members}
    fields = shared_fields("dsb2018-fluo", "bbbc039")
    assert sorted(f.image for f in fields) == sorted(card.splits["bbbc039-fields"].stems)
    assert {f.field_split for f in fields} == {"training", "validation", "test"}
    assert sum(f.field_split == "test" for f in fields) == 9
    assert all(f.similarity >= 0.99 and f.relation == "same field" for f in fields)
    assert set(card.splits["test"].stems).isdisjoint(f.image for f in fields)
    # the two time points of one specimen (603 x 1272) are in one split
    pair = {"20b20ab049372d184c705acebe7af026d3580f5fd5a72ed796e3622e1685af2f",
            "cb4df20a83b2f38b394c67f1d9d4aef29f9794d5345da3576318374ec3a11490"}
    assert sum(pair <= set(split.stems) for split in card.splits.values()) == 1


def test_which_training_data_holds_test_fields():
    assert holds_test_fields(("bbbc039/training", "bbbc039/validation"), "bbbc039", "test") is False
    assert holds_test_fields(("bbbc039/training",), "dsb2018-fluo", "test") is False
    assert holds_test_fields(("dsb2018-fluo/training",), "bbbc039", "test") is False
    assert holds_test_fields(("dsb2018-fluo/bbbc039-fields",), "bbbc039", "test") is True
    assert holds_test_fields(("dsb2018-fluo/bbbc039-fields",), "bbbc039", "training") is True
    assert holds_test_fields(("bbbc039/test",), "dsb2018-fluo", "bbbc039-fields") is True
    assert holds_test_fields(("bbbc039/test",), "bbbc039", "test") is True
    assert holds_test_fields(("dsb2018-stage1/all",), "bbbc039", "test") is None
    assert holds_test_fields((), "bbbc039", "test") is None


def test_fluorescence_rule_and_a_handful_of_images(dsb2018_mirror):
    root = f"{dsb2018_mirror}/stage1_train"
    tissue = iio.imread(f"{root}/00ae65c1c6631ae6f2be1a449902976e6eb8483bf6b0740d00530220832c6d3e/images/"
                        "00ae65c1c6631ae6f2be1a449902976e6eb8483bf6b0740d00530220832c6d3e.png")
    bright = iio.imread(f"{root}/08275a5b1c2dfcd739e8c4888a5ee2d29f83eccfa75185404ced1dc0866ea992/images/"
                        "08275a5b1c2dfcd739e8c4888a5ee2d29f83eccfa75185404ced1dc0866ea992.png")
    assert not is_fluorescence(tissue) and not is_fluorescence(bright)
    test = datasets.load("dsb2018-fluo", "test", mirror=dsb2018_mirror)
    assert len(test) == 76
    for sample in [test[0], test[-1], test[OVERLAPPING]]:
        image, labels = sample.image, sample.labels
        assert image.dtype == np.uint8 and image.ndim == 2 and labels.shape == image.shape
        assert is_fluorescence(iio.imread(sample.image_path))
        assert int(labels.max()) == len(sample.mask_paths)  # one label per mask file
        assert len(np.unique(labels)) - 1 == len(sample.mask_paths)  # every nucleus keeps pixels


def test_overlapping_masks_go_to_the_smaller_nucleus(dsb2018_mirror):
    sample = datasets.load("dsb2018-fluo", "test", mirror=dsb2018_mirror)[OVERLAPPING]
    masks = [iio.imread(path) > 0 for path in sample.mask_paths]
    cover = np.sum(masks, axis=0)
    assert np.count_nonzero(cover > 1) == 2
    labels = sample.labels
    for y, x in zip(*np.nonzero(cover > 1)):
        owners = [i for i, mask in enumerate(masks) if mask[y, x]]
        smallest = min(owners, key=lambda i: (masks[i].sum(), i))
        assert labels[y, x] == smallest + 1


def test_overlap_command_finds_the_bundled_fields_in_bbbc039(bbbc039_mirror, capsys):
    assert main(["datasets", "overlap", "bbbc039-sample", "bbbc039", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["image"] for row in rows] == sorted(datasets.split_names("bbbc039-sample", "test"))
    assert all(row["field"] == row["image"] and row["field_split"] == "test" and row["split"] == "test"
               and row["relation"] == "same field" and row["similarity"] > 0.999 for row in rows)

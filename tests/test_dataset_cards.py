"""Datasets as data: cards found in datasets/, per-nucleus masks, the verification record,
an unhashed archive verified file by file, per-dataset size bins and measured facts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import imageio.v3 as iio
import numpy as np
import pytest

from nucseg_zoo import datasets
from nucseg_zoo.cli import main
from nucseg_zoo.datasets import DatasetIntegrityError, decode_instance_masks, source
from nucseg_zoo.datasets.card import SplitInfo
from nucseg_zoo.datasets.facts import check_facts, equivalent_diameters, measure
from nucseg_zoo.metrics import SIZE_BINS, score_image

from loopback import LoopbackServer, zip_bytes


def test_cards_are_found_as_folders():
    assert datasets.list_datasets() == ["bbbc039", "bbbc039-sample", "dsb2018-fluo"]
    sample = datasets.card("bbbc039-sample")
    assert sample.bundled is not None and sample.manifest is datasets.card("bbbc039").manifest
    assert (sample.image_format, sample.mask_format) == ("tiff-uint16", "graph-coloured-png")
    dsb = datasets.card("dsb2018-fluo")
    assert (dsb.image_format, dsb.mask_format) == ("png-grey", "instance-mask-pngs")
    assert dsb.archive_url.endswith("30354551efef351c1241da7c6d48cf938d76f02a.zip") and not dsb.archives
    assert dsb.name == "DSB2018-fluo" and datasets.card("bbbc039").name == "BBBC039"


def test_instance_masks_overlap_goes_to_the_smallest():
    big = np.zeros((6, 6), np.uint8)
    big[0:5, 0:5] = 255
    small = np.zeros((6, 6), np.uint8)
    small[3:6, 3:6] = 255
    for order in ((big, small), (small, big)):  # the result does not depend on the file order
        labels = decode_instance_masks(order, shape=(6, 6))
        small_id = 1 + [m is small for m in order].index(True)
        assert (labels[3:6, 3:6] == small_id).all()
        assert np.count_nonzero(labels == 3 - small_id) == 25 - 4
    assert decode_instance_masks([], shape=(4, 5)).shape == (4, 5)
    with pytest.raises(ValueError, match=r"mask 0 has shape \(6, 6\), expected \(4, 4\)"):
        decode_instance_masks([big], shape=(4, 4))


def test_a_second_load_hashes_nothing(sample_split, monkeypatch, tmp_path):
    monkeypatch.setenv("NUCSEG_ZOO_DATA_DIR", str(tmp_path))
    calls = []
    real = source.sha256_of
    monkeypatch.setattr(source, "sha256_of", lambda path: calls.append(path) or real(path))
    datasets.load("bbbc039-sample", "test")
    assert len(calls) == 6  # 3 images + 3 masks hashed once
    datasets.load("bbbc039-sample", "test")
    assert len(calls) == 6  # unchanged size and mtime: trusted from the record
    datasets.fetch("bbbc039-sample", rehash=True)
    assert len(calls) == 12
    records = list((tmp_path / "verified").glob("bbbc039-*.json"))
    assert len(records) == 1 and len(json.loads(records[0].read_text())) == 6


def test_a_changed_file_is_hashed_again_and_caught(sample_split, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("NUCSEG_ZOO_DATA_DIR", str(tmp_path / "cache"))
    mirror = tmp_path / "mirror"
    for sample in sample_split:
        for path, sub in ((sample.image_path, "images"), (sample.mask_path, "masks")):
            (mirror / sub).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, mirror / sub / path.name)
    card = datasets.card("bbbc039")
    relpaths = [p for name in sample_split.names for p in card.sample_files(name)]
    source.verify_files(mirror, card, relpaths)
    altered = mirror / relpaths[1]
    altered.write_bytes(altered.read_bytes()[:-1] + b"\1")  # same size, new mtime
    with pytest.raises(DatasetIntegrityError, match=f"altered \\(sha256 mismatch\\): {relpaths[1]}"):
        source.verify_files(mirror, card, relpaths)


def _dsb_like_card(tmp_path: Path, files: dict[str, bytes], prefix: str, url: str) -> datasets.DatasetCard:
    manifest = {relpath: hashlib.sha256(data).hexdigest() for relpath, data in files.items()}
    return replace(datasets.card("dsb2018-fluo"), id="dsbtest", archive_url=url, archive_prefix=prefix,
                   manifest=MappingProxyType(manifest),
                   splits=MappingProxyType({"test": SplitInfo("test", ("a",), 2)}))


def _two_nuclei_files() -> dict[str, bytes]:
    import io

    def png(array):
        out = io.BytesIO()
        iio.imwrite(out, array, extension=".png")
        return out.getvalue()

    image = np.zeros((8, 10, 4), np.uint8)
    image[..., 3] = 255
    image[1:4, 1:4, :3] = 200
    image[5:8, 5:9, :3] = 120
    first, second = np.zeros((8, 10), np.uint8), np.zeros((8, 10), np.uint8)
    first[1:4, 1:4], second[5:8, 5:9] = 255, 255
    return {"stage1_train/a/images/a.png": png(image), "stage1_train/a/masks/m1.png": png(first),
            "stage1_train/a/masks/m2.png": png(second)}


def test_unhashed_archive_is_verified_file_by_file_before_it_enters_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NUCSEG_ZOO_DATA_DIR", str(tmp_path / "cache"))
    files = _two_nuclei_files()
    prefix = "fixes-0123/"
    server = LoopbackServer({"archive.zip": zip_bytes({prefix + k: v for k, v in {
        **files, "stage1_train/extra.txt": b"not in the manifest"}.items()})})
    try:
        card = _dsb_like_card(tmp_path, files, prefix, server.url + "/archive.zip")
        root = source.dataset_root(card, list(files))
        assert root == tmp_path / "cache" / "dsbtest"
        assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png")) == sorted(files)
        assert not (root / "stage1_train" / "extra.txt").exists()  # only the manifest's files enter
        assert card.mask_paths("a") == ("stage1_train/a/masks/m1.png", "stage1_train/a/masks/m2.png")

        bad = _dsb_like_card(tmp_path, {**files, "stage1_train/a/masks/m1.png": b"other"}, prefix,
                             server.url + "/archive.zip")
        bad = replace(bad, id="dsbbad")
        with pytest.raises(DatasetIntegrityError, match="altered"):
            source.dataset_root(bad, list(files))
        assert not (tmp_path / "cache" / "dsbbad").exists()
        assert [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")] == []
    finally:
        server.close()


def test_dsb_like_sample_reads_grey_png_and_one_mask_per_nucleus(tmp_path):
    files = _two_nuclei_files()
    for relpath, data in files.items():
        (tmp_path / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relpath).write_bytes(data)
    card = _dsb_like_card(tmp_path, files, "", "unused")
    sample = datasets.Sample(name="a", dataset="dsbtest", split="test", source="", license="CC0-1.0",
                             image_path=tmp_path / card.image_path("a"),
                             mask_paths=tuple(tmp_path / p for p in card.mask_paths("a")),
                             image_format=card.image_format, mask_format=card.mask_format)
    assert sample.image.dtype == np.uint8 and sample.image.shape == (8, 10) and sample.image.max() == 200
    labels = sample.labels
    assert labels.dtype == np.int32 and sorted(np.unique(labels)) == [0, 1, 2]
    assert np.count_nonzero(labels == 2) == 12
    facts = measure([sample])
    assert (facts.n_images, facts.n_nuclei, facts.image_shapes) == (1, 2, {"8x10": 1})
    np.testing.assert_allclose(sorted(equivalent_diameters(labels)), [2 * np.sqrt(9 / np.pi), 2 * np.sqrt(12 / np.pi)])


def test_colour_png_is_refused(tmp_path):
    from nucseg_zoo.datasets.formats import read_grey_png

    colour = np.zeros((4, 4, 3), np.uint8)
    colour[0, 0] = (10, 20, 30)
    iio.imwrite(tmp_path / "c.png", colour)
    with pytest.raises(ValueError, match="expected a grey image .* got a colour image"):
        read_grey_png(tmp_path / "c.png")


def test_size_bins_are_the_datasets():
    truth = np.zeros((40, 40), np.int32)
    truth[0:10, 0:10] = 1  # 100 px
    truth[20:40, 20:40] = 2  # 400 px
    bbbc = score_image(truth, np.zeros_like(truth))
    assert dict(bbbc.missed_by_size) == {"tiny": (1, 1), "small": (1, 1), "normal": (0, 0), "large": (0, 0)}
    other = {"tiny": (0, 50), "small": (50, 150), "normal": (150, 300), "large": (300, np.inf)}
    scores = score_image(truth, np.zeros_like(truth), size_bins=other)
    assert dict(scores.missed_by_size) == {"tiny": (0, 0), "small": (1, 1), "normal": (0, 0), "large": (1, 1)}
    with pytest.raises(ValueError, match="contiguous"):
        score_image(truth, truth, size_bins={**other, "small": (60, 150)})
    assert datasets.card("bbbc039").size_bins == dict(SIZE_BINS)
    assert datasets.load("bbbc039-sample").size_bins == dict(SIZE_BINS)


def test_card_facts_hold_for_the_bundled_sample(sample_split):
    card = datasets.card("bbbc039-sample")
    measured = {"test": measure(sample_split)}
    assert check_facts(card, measured) == []
    assert measured["test"].n_nuclei == 317 and measured["test"].median_diameter_px == 27.29
    wrong = replace(card, splits=MappingProxyType({"test": SplitInfo("test", card.splits["test"].stems, 318)}))
    assert check_facts(wrong, measured) == ["test: 317 nuclei, the card states 318"]


def test_datasets_verify_and_info_commands(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NUCSEG_ZOO_DATA_DIR", str(tmp_path))
    assert main(["datasets", "verify", "bbbc039-sample"]) == 0
    out = capsys.readouterr().out
    assert "  test               3 images     317 nuclei  median diameter 27.29 px" in out
    assert "the card facts hold" in out
    assert main(["datasets", "info", "dsb2018-fluo", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["mask_format"] == "instance-mask-pngs" and set(info["size_bins"]) == set(SIZE_BINS)


def test_the_datasets_page_quotes_the_cards():
    """The generated tables of docs/datasets.md show each card's counts and diameter."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "datasets.md").read_text().splitlines()
    for dataset in datasets.list_datasets():
        card = datasets.card(dataset)
        for name, split in card.splits.items():
            assert f"| `{dataset}` | `{name}` | {len(split.stems):,} | {split.n_nuclei:,} |" in page, (dataset, name)
        [line] = [line for line in page if line.startswith(f"| `{dataset}` | `{card.image_format}` |")]
        assert f"| {card.facts['median_diameter_px']:.2f} px |" in line, line
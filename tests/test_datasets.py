"""The BBBC039 card, the bundled sample, mirror verification and the full official splits."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import xarray as xr

from nucseg_zoo import datasets
from nucseg_zoo.datasets import DatasetIntegrityError


def test_card_holds_sources_hashes_and_official_splits():
    card = datasets.card("bbbc039")
    assert card.base_url == "https://data.broadinstitute.org/bbbc/BBBC039/"
    assert set(card.archives) == {"images.zip", "masks.zip", "metadata.zip"}
    assert all(digest.startswith("sha256:") and len(digest) == 71 for digest in card.archives.values())
    assert {name: len(split.stems) for name, split in card.splits.items()} == \
        {"training": 100, "validation": 50, "test": 50}
    all_stems = [s for split in card.splits.values() for s in split.stems]
    assert len(set(all_stems)) == 200  # the splits are disjoint
    assert sum(p.startswith("images/") for p in card.manifest) == 200
    assert sum(p.startswith("masks/") for p in card.manifest) == 200
    assert card.license == "CC0-1.0"


def test_unknown_dataset_and_split_list_the_valid_ones():
    with pytest.raises(ValueError, match="valid datasets: bbbc039, bbbc039-sample, dsb2018-fluo"):
        datasets.load("bbbc038")
    with pytest.raises(ValueError, match="valid splits: training, validation, test"):
        datasets.load("bbbc039", split="train")
    with pytest.raises(ValueError, match="valid splits: test"):
        datasets.load("bbbc039-sample", split="training")


def test_bundled_sample_loads_offline(sample_split):
    assert len(sample_split) == 3
    assert set(sample_split.names) <= set(datasets.card("bbbc039").splits["test"].stems)
    for sample in sample_split:
        image, labels = sample.image, sample.labels
        assert image.shape == labels.shape == (520, 696)
        assert image.dtype == np.uint16 and labels.dtype == np.int32
        assert image.max() <= 4095
    assert [int(s.labels.max()) for s in sample_split] == [26, 93, 198]


def test_xarray_view_has_dims_and_attrs(sample_split):
    sample = sample_split[0]
    view = sample.to_xarray()
    assert isinstance(view, xr.DataArray) and view.dims == ("y", "x")
    assert view.attrs["name"] == sample.name and view.attrs["split"] == "test"
    assert view.attrs["license"] == "CC0-1.0" and "bbbc.broadinstitute.org" in view.attrs["source"]
    assert sample.to_xarray(what="labels").dtype == np.int32
    assert sample_split[sample.name] is sample


def _local_mirror(tmp_path, sample_split):
    for sample in sample_split:
        for path, sub in ((sample.image_path, "images"), (sample.mask_path, "masks")):
            (tmp_path / sub).mkdir(exist_ok=True)
            shutil.copy(path, tmp_path / sub / path.name)
    return tmp_path


def test_local_mirror_is_verified_file_by_file(tmp_path, sample_split):
    mirror = _local_mirror(tmp_path, sample_split)
    card = datasets.card("bbbc039")
    relpaths = [f"images/{n}.tif" for n in sample_split.names] + [f"masks/{n}.png" for n in sample_split.names]
    assert datasets.source.dataset_root(card, relpaths, mirror=mirror) == mirror

    altered = mirror / "masks" / f"{sample_split.names[1]}.png"
    altered.write_bytes(altered.read_bytes()[:-1] + b"\0")
    (mirror / "images" / f"{sample_split.names[2]}.tif").unlink()
    with pytest.raises(DatasetIntegrityError) as err:
        datasets.source.dataset_root(card, relpaths, mirror=mirror)
    message = str(err.value)
    assert f"altered (sha256 mismatch): masks/{sample_split.names[1]}.png" in message
    assert f"missing: images/{sample_split.names[2]}.tif" in message


def test_mirror_from_environment_and_missing_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("NUCSEG_ZOO_BBBC039_MIRROR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="NUCSEG_ZOO_BBBC039_MIRROR"):
        datasets.load("bbbc039", split="test")


def _touching_pairs_share_no_label(colours: np.ndarray, labels: np.ndarray) -> bool:
    for a, b in (((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
                 ((slice(1, None), slice(None)), (slice(None, -1), slice(None)))):
        touching = (colours[a] > 0) & (colours[b] > 0) & (colours[a] != colours[b])
        if np.any(labels[a][touching] == labels[b][touching]):
            return False
    return True


@pytest.mark.parametrize("split, n_images, n_nuclei",
                         [("training", 100, 12001), ("validation", 50, 5896), ("test", 50, 5720)])
def test_full_splits_have_the_published_counts(bbbc039_mirror, split, n_images, n_nuclei):
    import imageio.v3 as iio

    samples = datasets.load("bbbc039", split=split, mirror=bbbc039_mirror)
    assert len(samples) == n_images
    total = 0
    for sample in samples:
        image, labels = sample.image, sample.labels
        assert image.shape == labels.shape == (520, 696)
        assert image.dtype == np.uint16 and labels.dtype == np.int32
        total += int(labels.max())
        assert _touching_pairs_share_no_label(iio.imread(sample.mask_path)[..., 0], labels)
    assert total == n_nuclei


def test_validation_split_has_one_empty_image(bbbc039_mirror):
    samples = datasets.load("bbbc039", split="validation", mirror=bbbc039_mirror)
    empty = [s.name for s in samples if s.labels.max() == 0]
    assert empty == ["IXMtest_L10_s6_w12D12D64C-2639-4CA8-9BB4-99F92C9B7068"]


def test_eight_connectivity_gives_11999_training_nuclei(bbbc039_mirror):
    import imageio.v3 as iio

    samples = datasets.load("bbbc039", split="training", mirror=bbbc039_mirror)
    total = sum(int(datasets.decode_graph_coloured_mask(iio.imread(s.mask_path), connectivity=2).max())
                for s in samples)
    assert total == 11999

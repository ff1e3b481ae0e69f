"""Zoo entries: schema, shipped weights, and the load_model / predict / segment API."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import nucseg_zoo
from nucseg_zoo.metrics import score_image, summarize
from nucseg_zoo.zoo.entry import read_entry


def test_list_models_and_unknown_id():
    assert "unet-bbbc039" in nucseg_zoo.list_models()
    with pytest.raises(ValueError, match="available: .*unet-bbbc039"):
        nucseg_zoo.load_model("unet-bbbc038")


@pytest.fixture(scope="module")
def entry():
    entry = read_entry("unet-bbbc039")
    if entry.weights_sha256 is None:
        pytest.skip("unet-bbbc039 has no trained weights recorded yet")
    return entry


@pytest.fixture(scope="module")
def model(entry):
    return nucseg_zoo.load_model("unet-bbbc039")


@pytest.mark.parametrize("model_id", nucseg_zoo.list_models())
def test_every_entry_is_complete_and_its_parameter_count_is_recomputed(model_id):
    entry = read_entry(model_id)
    if entry.weights_sha256 is None:
        pytest.skip(f"{model_id} has no trained weights recorded yet")
    network = entry.build_network()
    assert sum(p.numel() for p in network.parameters()) == entry.raw["num_params"]
    assert (entry.dir / "README.md").is_file() and (entry.dir / entry.raw["training_log"]).is_file()
    assert entry.recipe.validation_split == "validation"  # postprocessing tuned on validation


def test_segment_a_sample_image(model, sample_split):
    sample = sample_split[1]
    probabilities = model.predict(sample.image)
    assert probabilities.shape == (3, 520, 696) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=0), 1.0, atol=1e-2)
    labels = model.segment(sample.image)
    assert labels.shape == (520, 696) and labels.dtype == np.int32
    assert summarize([score_image(sample.labels, labels, name=sample.name)]).average_f1 > 0.75


def test_accepts_xarray_uint8_float_and_odd_sizes(model, sample_split):
    image = sample_split[0].image[:301, :257]
    reference = model.predict(image)
    assert reference.shape == (3, 301, 257)
    as_xarray = model.predict(xr.DataArray(image, dims=("y", "x")))
    np.testing.assert_allclose(as_xarray, reference, atol=1e-6)
    as_float = model.predict(image.astype(np.float32))
    np.testing.assert_allclose(as_float, reference, atol=1e-6)  # percentile normalisation: scale-free
    assert model.predict((image >> 4).astype(np.uint8)).shape == (3, 301, 257)


def test_tiled_prediction_matches_whole_image(entry, sample_split):
    from nucseg_zoo.zoo.model import ZooModel

    image = sample_split[2].image
    whole = ZooModel(entry, precision="fp32").predict(image)
    tiled = ZooModel(entry, precision="fp32", tile=256).predict(image)
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 8, 8), np.uint16), "2-D"),
    (np.zeros((0, 8), np.uint16), "non-empty"),
    (np.zeros((8, 8), bool), "dtype"),
    (np.zeros((8, 8), complex), "dtype"),
    (np.full((8, 8), np.nan, np.float32), "NaN"),
    (xr.DataArray(np.zeros((8, 8), np.uint16), dims=("x", "y")), "dims"),
])
def test_bad_images_are_rejected_with_the_reason(model, bad, message):
    with pytest.raises(ValueError, match=message):
        model.segment(bad)


def test_corrupt_weights_are_detected(entry, tmp_path):
    from dataclasses import replace

    corrupt = tmp_path / "weights.pt"
    corrupt.write_bytes(entry.weights_path.read_bytes()[:-10])
    with pytest.raises(RuntimeError, match="sha256"):
        replace(entry, weights_path=corrupt).build_network()

"""Zoo entries: schema, shipped weights, and the predict / segment API of the loaded models."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
import yaml

import nucseg_zoo
from nucseg_zoo.metrics import score_image, summarize
from nucseg_zoo.postprocessing import get_output_kind
from nucseg_zoo.training.recipe import ENTRY_FACTS, read_recipe
from nucseg_zoo.zoo.entry import WeightsFile, entry_yaml_text, read_entry
from nucseg_zoo.zoo.registry import zoo_entry_dir


@pytest.mark.parametrize("model_id", nucseg_zoo.list_models())
def test_the_committed_model_card_is_a_fresh_rendering_of_the_entrys_files(model_id):
    """Every number in a card comes from the entry's files (python -m nucseg_zoo.cards ID)."""
    from nucseg_zoo.cards import ZOO, gather, render_card

    entry = read_entry(model_id)
    committed = (entry.dir / "README.md").read_text()
    assert committed == render_card(gather(entry), ZOO), f"re-render: python -m nucseg_zoo.cards {model_id}"


@pytest.mark.parametrize("model_id", nucseg_zoo.list_models())
def test_entry_yaml_is_in_the_form_install_writes(model_id):
    """``nucseg_zoo.zoo.install`` rewrites entry.yaml from its YAML: nothing in the file may be lost."""
    text = (zoo_entry_dir(model_id) / "entry.yaml").read_text()
    assert entry_yaml_text(yaml.safe_load(text)) == text


@pytest.mark.parametrize("model_id", nucseg_zoo.list_models())
def test_the_recipe_states_training_facts_only_and_trains_the_entrys_networks(model_id):
    """Architecture, geometry, normalisation and the number of networks are the entry's; the
    network a run trains (shipped and training form) fits every weights slot of the entry."""
    entry = read_entry(model_id)
    assert not ENTRY_FACTS & set(yaml.safe_load(entry.recipe_path.read_text()))
    recipe = read_recipe(entry)
    assert recipe.architecture == entry.member_architecture and recipe.normalization == entry.normalization
    assert recipe.members == len(entry.weights)
    network = entry.build_network(load_weights=False)
    slots = list(network.members) if entry.ensemble else [network]
    assert len(slots) == len(entry.weights)
    for form in (recipe.architecture.build(), recipe.architecture.build(**recipe.training_kwargs)):
        shapes = {name: value.shape for name, value in form.state_dict().items()}
        assert all({name: value.shape for name, value in slot.state_dict().items()} == shapes for slot in slots)
    if recipe.distillation:
        assert read_entry(recipe.distillation["teacher"]).weights_sha256 == recipe.distillation["sha256"]


def test_every_entry_runs_without_its_recipe_or_the_training_code(tmp_path):
    """Inference reads entry.yaml only: with the recipes removed and ``nucseg_zoo.training``
    unimportable, every zoo model loads and segments a crop."""
    root = tmp_path / "zoo"
    for model_id in nucseg_zoo.list_models():
        shutil.copytree(zoo_entry_dir(model_id), root / model_id, copy_function=os.symlink,
                        ignore=shutil.ignore_patterns("recipe.yaml", "training_log.jsonl"))
    code = f"""
import importlib.abc, pathlib, sys

class NoTraining(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[:2] == ["nucseg_zoo", "training"]:
            raise ImportError("inference imported " + name)

sys.meta_path.insert(0, NoTraining())
import nucseg_zoo, nucseg_zoo.zoo.registry as registry
from nucseg_zoo import datasets
registry.bundled_dir = lambda kind: pathlib.Path({str(root)!r})
image = datasets.load("bbbc039-sample", "test")[0].image[:64, :80]
for model_id in nucseg_zoo.list_models():
    assert nucseg_zoo.load_model(model_id, precision="fp32").segment(image).shape == (64, 80), model_id
print(" ".join(nucseg_zoo.list_models()))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == nucseg_zoo.list_models()


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
    if not entry.trained:
        pytest.skip(f"{model_id} has no trained weights recorded yet")
    network = entry.build_network()
    assert sum(p.numel() for p in network.parameters()) == entry.raw["num_params"]
    assert (entry.dir / "README.md").is_file() and (entry.dir / entry.raw["training_log"]).is_file()
    assert read_recipe(entry).validation_split == "validation"  # postprocessing tuned on validation
    kind = get_output_kind(entry.output_kind)  # a registered kind, its parameters and channels
    assert isinstance(entry.postprocessing, kind.params) and kind.channels.fits(len(entry.channel_names))


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


@pytest.mark.parametrize("axis", [0, -1], ids=["(1, y, x)", "(y, x, 1)"])
def test_a_single_plane_or_channel_axis_is_accepted(model, sample_split, axis):
    """Critic's report: (1, H, W) and (H, W, 1) arrays were refused as multichannel data by
    the Python API while `segment` read the same arrays from TIFF files."""
    image = sample_split[0].image[:128, :160]
    np.testing.assert_array_equal(model.segment(np.expand_dims(image, axis)), model.segment(image))


def _grey(shape=(520, 696)):
    return np.random.default_rng(0).integers(0, 4000, shape, dtype=np.uint16)


@pytest.mark.parametrize("image, remedy", [
    (np.stack([_grey()] * 3, axis=-1),
     "(520, 696, 3): an RGB image whose colour channels are identical, i.e. a grey image saved as colour; "
     "save it as a single-channel (greyscale) image (in Fiji: Image > Type > 8-bit or 16-bit), or pass one "
     "channel, e.g. image[..., 0]"),
    (np.stack([_grey()] * 3 + [np.full((520, 696), 65535, np.uint16)], axis=-1),
     "(520, 696, 4): an RGBA image whose colour channels (R, G, B; alpha aside) are identical"),
    (np.stack([_grey(), _grey() // 2, _grey()], axis=-1),
     "(520, 696, 3): 3 channels (last axis); pass the nuclear-stain channel alone, e.g. image[..., 0], "
     "or save it as a single-channel image"),
    (np.stack([_grey(), _grey() // 2]),
     "(2, 520, 696): 2 channels or planes (first axis); pass the nuclear-stain channel alone, e.g. image[0]"),
    (np.zeros((7, 20, 20), np.uint16), "(7, 20, 20); pass one 2-D plane of the stack"),
    (np.zeros((2, 3, 20, 20), np.uint16), "(2, 3, 20, 20); pass one 2-D plane (one channel, z-slice or time point)"),
], ids=["grey-as-RGB", "grey-as-RGBA", "RGB", "2-channel", "z-stack", "4-D"])
def test_multichannel_images_are_refused_with_a_remedy_for_their_shape(image, remedy):
    """The report: a grey image saved as RGB (a typical Fiji export) or a 2-channel TIFF was
    refused without saying what to do; the wording is shared with `segment`'s file reader."""
    from nucseg_zoo.images import as_image, not_single_channel_message

    expected = "expected a 2-D (y, x) single-channel image, got shape " + remedy
    with pytest.raises(ValueError) as caught:
        as_image(image)
    assert str(caught.value).startswith(expected)
    assert not_single_channel_message(image) == str(caught.value)


def test_a_grey_rgb_image_is_refused_by_every_kind_of_segmenter(model):
    from nucseg_zoo.segmenters import get_segmenter

    rgb = np.stack([_grey((64, 64))] * 3, axis=-1)
    for segmenter in (model, get_segmenter("cp-basic")):
        with pytest.raises(ValueError, match=r"an RGB image whose colour channels are identical"):
            segmenter.segment(rgb)


@pytest.mark.parametrize("bad, expected", [
    ((slice(100, 110), slice(200, 210)),
     "100 pixels of 361,920 are not finite (100 NaN, 0 infinite), within rows 100-109 and columns 200-209 "
     "(first at row 100, column 200)"),
    ((slice(5, 6), slice(7, 8)), "1 pixel of 361,920 is not finite (1 NaN, 0 infinite), at row 5, column 7;"),
], ids=["10x10 patch", "one pixel"])
def test_nan_pixels_are_counted_and_located(model, bad, expected):
    """The report: a 10x10 NaN patch gave "image contains NaN or infinite values" without how
    many pixels or where."""
    image = _grey().astype(np.float32)
    image[bad] = np.nan
    with pytest.raises(ValueError) as caught:
        model.segment(image)
    assert str(caught.value) == ("image contains NaN or infinite values: " + expected.rstrip(";") +
                                 "; replace them (e.g. with numpy.nan_to_num or the background level) or crop them out")


def test_infinite_pixels_are_counted_apart_from_nan():
    from nucseg_zoo.images import as_image

    image = np.zeros((8, 8), np.float64)
    image[2, 3], image[6, 1], image[4, 4] = np.inf, -np.inf, np.nan
    with pytest.raises(ValueError, match=r"3 pixels of 64 are not finite \(1 NaN, 2 infinite\), within rows 2-6 "
                                         r"and columns 1-4 \(first at row 2, column 3\)"):
        as_image(image)


def test_corrupt_weights_are_detected(entry, tmp_path):
    from dataclasses import replace

    corrupt = tmp_path / "weights.pt"
    corrupt.write_bytes(entry.weights_path.read_bytes()[:-10])
    with pytest.raises(RuntimeError, match="sha256"):
        replace(entry, weights=(WeightsFile(corrupt, entry.weights_sha256),)).build_network()

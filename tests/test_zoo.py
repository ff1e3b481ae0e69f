"""Zoo entries: schema, shipped weights, and the predict / segment API of the loaded models."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
import yaml
from artefacts import away_from, lone_nuclei, with_square
from blank_fields import blank_fields

import nucseg_zoo
from nucseg_zoo.images import saturated_artefact
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


def test_extreme_finite_values_are_refused_like_nan_by_every_zoo_model(zoo_model):
    """Issue 37: a band of float32's maximum (a no-data fill) gave 0 nuclei and "ok"."""
    image = _grey().astype(np.float32)
    image[:40] = np.finfo(np.float32).max
    with pytest.raises(ValueError, match=r"^image contains extreme values: 27,840 pixels of 361,920 have a "
                                         r"magnitude above 1e\+18 \(the largest 3.4e\+38\), within rows 0-39 and "
                                         r"columns 0-695 \(first at row 0, column 0\); such values are no intensities"):
        zoo_model.segment(image)
    from nucseg_zoo.images import as_image

    assert as_image(np.full((4, 4), 1e17)).shape == (4, 4)  # below the bound: accepted


def test_corrupt_weights_are_detected(entry, tmp_path):
    from dataclasses import replace

    corrupt = tmp_path / "weights.pt"
    corrupt.write_bytes(entry.weights_path.read_bytes()[:-10])
    with pytest.raises(RuntimeError, match="sha256"):
        replace(entry, weights=(WeightsFile(corrupt, entry.weights_sha256),)).build_network()


# ---------------------------------------------------------------- fields with little or no dynamic range


@pytest.fixture(scope="module", params=nucseg_zoo.list_models())
def zoo_model(request):
    """Every trained zoo model, at its default precision (fp32)."""
    if not read_entry(request.param).trained:
        pytest.skip(f"{request.param} has no trained weights recorded yet")
    return nucseg_zoo.load_model(request.param)


@pytest.fixture(scope="module")
def raw_labels(zoo_model, sample_split):
    """``raw_labels(i)``: ``zoo_model.segment`` of sample image ``i`` as it is, computed once per
    model (the reference that several perturbation tests compare against)."""
    @functools.cache
    def labels(index: int) -> np.ndarray:
        return zoo_model.segment(sample_split[index].image)
    return labels


def test_a_blank_field_with_a_hot_pixel_has_no_nuclei(zoo_model):
    """Users' report: zeros with one pixel at 4095 gave 8 objects (one of 4,947 px); later
    deepcell-bbbc039 version 1 found one nucleus there."""
    image = np.zeros((520, 696), np.uint16)
    image[200, 300] = 4095
    labels = zoo_model.segment(image)
    assert labels.shape == image.shape and labels.max() == 0


@pytest.mark.parametrize("name", list(blank_fields()))
def test_blank_and_near_blank_fields_have_no_nuclei(zoo_model, name):
    assert zoo_model.segment(blank_fields()[name]).max() == 0


@pytest.mark.parametrize("size", [1, 2, 3], ids=["single pixels", "2x2 spots", "3x3 spots"])
@pytest.mark.parametrize("index, hot_value", [(0, 65535), (1, 4095)], ids=["16-bit saturated", "12-bit saturated"])
def test_hot_pixels_in_a_real_field_add_no_nuclei(zoo_model, sample_split, raw_labels, index, hot_value, size,
                                                  request):
    """30 saturated camera hot pixels (or spots of size x size px) in the background of a real
    field: version 1 of deepcell-bbbc039 found 28 more objects on image 0, version 2 of
    unet-bbbc039-fast 11; version 3 of the fast model made a nucleus of each of ten 2x2 spots
    (critic's report)."""
    from scipy import ndimage as ndi

    sample = sample_split[index]
    background = ~ndi.binary_dilation(sample.labels > 0, iterations=10)
    corners = np.argwhere(background[:-size, :-size] if size > 1 else background)
    hot = corners[np.random.default_rng(0).choice(len(corners), 30, replace=False)]
    spots = np.zeros(sample.image.shape, bool)
    for dy in range(size):
        for dx in range(size):
            spots[hot[:, 0] + dy, hot[:, 1] + dx] = True
    image = np.where(spots, np.uint16(hot_value), sample.image)
    hot_pixels = read_recipe(read_entry(zoo_model.id)).augmentation.hot_pixels or {}
    # measured: 1x1 and 2x2 generalise, 3x3 does not, unless the 270 px at 65535 are clipped as an artefact
    if size >= 3 and hot_pixels.get("max_size", 1) < size and saturated_artefact(image) is None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"{zoo_model.id} is not yet trained with "
                                              f"{size}x{size} hot spots (unet-bbbc039: +30 objects, "
                                              "deepcell-bbbc039: +1..3)"))
    raw, with_hot = raw_labels(index), zoo_model.segment(image)
    assert with_hot.max() == raw.max()
    assert (with_hot[spots] == 0).all()


def test_a_saturated_square_leaves_the_nuclei_around_it_as_they_were(zoo_model, sample_split, raw_labels):
    """Users' report: a 30 x 30 px square at 65535 (0.25 % of the field) pinned the p99.8 of the
    normalisation, and unet-bbbc039-fast found 1 object instead of 152 on a test field."""
    image, square = with_square(sample_split[0].image)
    labels = zoo_model.segment(image)
    clean, found = away_from(raw_labels(0), square), away_from(labels, square)
    assert clean.max() > 20 and score_image(clean, found).f1[0.9] == 1.0
    assert labels.max() <= raw_labels(0).max() + 1  # at most the square itself


def test_a_nucleus_alone_on_zeros_is_one_object(zoo_model, sample_split):
    """Issue 37: one real nucleus (background-subtracted) on a zero image gave unet-bbbc039 4
    objects: both percentiles were 0 and the nucleus a flat plateau at the clip. Now the upper
    percentile comes from the pixels above 0 (measured on 24 nuclei: 9 -> 23 single objects)."""
    for image, truth in lone_nuclei(sample_split[0]):
        labels = zoo_model.segment(image)
        assert labels.max() == 1 and score_image(truth, labels).f1[0.7] == 1.0


@pytest.mark.parametrize("width", [5, 20])
def test_a_black_frame_around_a_real_field_adds_no_nuclei(zoo_model, sample_split, raw_labels, width, request):
    """Critic's report: a 20-px zero frame around test image B04 gave unet-bbbc039-fast 21 and
    unet-bbbc039 22 more objects along the frame (bands of background read as nuclei);
    on the three sample images version 3 of the fast model went from 1-8 to 16-41 extra
    objects (F1 at IoU 0.7 down by up to 0.10). Trained with ``padded_borders``, versions 4
    and 5 add 0-5 (F1 down by at most 0.028: the frame also changes the field's normalisation),
    within the bound asserted here."""
    if not read_recipe(read_entry(zoo_model.id)).augmentation.padded_borders:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"{zoo_model.id} is not yet trained with "
                                              "black frames (augmentation padded_borders)"))
    for index, sample in enumerate(sample_split):
        raw = score_image(sample.labels, raw_labels(index))
        framed_image = np.pad(sample.image, width)
        framed = score_image(sample.labels, zoo_model.segment(framed_image)[width:-width, width:-width])
        assert framed.extra_objects <= raw.extra_objects + 6, (sample.name, raw, framed)
        assert framed.f1[0.7] >= raw.f1[0.7] - 0.03, (sample.name, raw, framed)


def _sparse_field(sample, *, flat: bool) -> tuple[np.ndarray, np.ndarray]:
    """Three real nuclei of ``sample`` on a background with nothing else (flat, or the
    image's own background pixels shuffled); returns the image and its true labels."""
    from scipy import ndimage as ndi

    image, labels = sample.image.astype(np.float32), sample.labels
    areas = np.bincount(labels.ravel())
    keep_ids = [i for i in range(1, labels.max() + 1) if 150 < areas[i] < 600][:3]
    keep = np.isin(labels, keep_ids)
    near = ndi.binary_dilation(keep, iterations=6)
    background = image[~ndi.binary_dilation(labels > 0, iterations=8)]
    fill = np.median(background) if flat else np.random.default_rng(1).choice(background, size=image.shape)
    return np.where(near, image, fill).astype(np.uint16), np.where(keep, labels, 0)


@pytest.mark.parametrize("flat", [True, False], ids=["flat background", "background texture"])
def test_a_sparse_field_keeps_its_nuclei(zoo_model, sample_split, flat):
    """With 3 nuclei p99.8 lies in the background, so the nuclei normalise far above 1;
    the clip turns them into bright plateaus that are still found, one object each."""
    image, truth = _sparse_field(sample_split[0], flat=flat)
    scores = score_image(truth, zoo_model.segment(image))
    assert scores.n_true == 3 and scores.f1[0.7] == 1.0, scores


def test_a_background_subtracted_field_is_segmented_like_the_raw_one(zoo_model, sample_split, raw_labels):
    sample = sample_split[0]
    subtracted = np.clip(sample.image.astype(np.float32) - np.percentile(sample.image, 60), 0, None)
    raw = summarize([score_image(sample.labels, raw_labels(0))])
    assert np.mean(subtracted == 0) >= 0.6
    result = summarize([score_image(sample.labels, zoo_model.segment(subtracted.astype(np.uint16)))])
    assert result.f1[0.7] >= raw.f1[0.7] - 0.01 and result.f1[0.5] > 0.95

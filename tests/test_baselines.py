"""The classical baselines: registry, input checks, shipped parameters, segmentation quality."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.draw import disk

from artefacts import away_from, with_square
from blank_fields import blank_fields

from nucseg_zoo.baselines import baseline_record, get_baseline, list_baselines
from nucseg_zoo.baselines.cellprofiler import CPAdvancedParams
from nucseg_zoo.baselines.features import FeatureSettings, normalize, pixel_features
from nucseg_zoo.baselines.identify import IdentifyParams
from nucseg_zoo.baselines.params import DATA_DIR
from nucseg_zoo.baselines.random_forest import ForestSettings, RandomForest, RandomForestParams
from nucseg_zoo.evaluation import score_segmenter
from nucseg_zoo.metrics import score_image
from nucseg_zoo.training.cellprofiler_tuning import SEARCH_GRIDS
from nucseg_zoo.training.samples import load_samples

NAMES = ("cp-basic", "cp-advanced", "random-forest")
PARAMS = {"cp-basic": IdentifyParams, "cp-advanced": CPAdvancedParams, "random-forest": RandomForestParams}
# Average F1 on the 3 bundled test images with the shipped parameters (measured: cp-basic
# 0.837, cp-advanced 0.844, random-forest 0.902), minus a 0.03 margin.
SAMPLE_F1_BOUND = {"cp-basic": 0.80, "cp-advanced": 0.81, "random-forest": 0.87}


@pytest.fixture(scope="module")
def baselines() -> dict:
    return {name: get_baseline(name) for name in NAMES}


@pytest.fixture(scope="module")
def samples(sample_split) -> list:
    return load_samples(sample_split)


def _synthetic(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 12-bit-like uint16 image of 5 dome-shaped nuclei (two touching) and its labels."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((160, 200), np.int32)
    signal = np.zeros(truth.shape)
    rows, cols = np.indices(truth.shape)
    centres = {1: (40, 40), 2: (40, 120), 3: (110, 50), 4: (110, 130), 5: (110, 151)}
    for label, (r, c) in centres.items():
        truth[disk((r, c), 11, shape=truth.shape)] = label
        dome = np.sqrt(np.clip(1 - ((rows - r) ** 2 + (cols - c) ** 2) / 11.5**2, 0, None))
        signal = np.maximum(signal, 200 + 400 * dome)
    signal[truth == 0] = 0
    image = 150 + ndi.gaussian_filter(signal, 1.0) + rng.normal(0, 4, truth.shape)
    return np.clip(image, 0, 4095).astype(np.uint16), truth


# --- registry ---------------------------------------------------------------------------

def test_registry_lists_the_three_baselines():
    assert list_baselines() == list(NAMES)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="cp-basic, cp-advanced, random-forest"):
        get_baseline("cellprofiler")


@pytest.mark.parametrize("name", NAMES)
def test_baselines_have_name_params_segment(baselines, name):
    baseline = baselines[name]
    assert baseline.name == name
    assert isinstance(baseline.params, PARAMS[name])
    assert callable(baseline.segment)


# --- shipped parameter records ----------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_records_match_their_dataclasses(name):
    record = baseline_record(name)
    params = record["params"]
    params_cls = PARAMS[name]
    assert params_cls.from_dict(params).to_dict() == params  # every field present, no extra one
    assert record["chosen_on"] == "bbbc039/validation"
    assert 0.5 < record["validation_average_f1"] <= 1.0
    assert 0.0 <= record["validation_error_rate_at_0.7"] < 0.5


@pytest.mark.parametrize("name", ["cp-basic", "cp-advanced"])
def test_tuned_values_lie_on_the_search_grid(name):
    params = baseline_record(name)["params"]
    for dotted, values in SEARCH_GRIDS[name].items():
        value = params
        for key in dotted.split("."):
            value = value[key]
        assert value in values, dotted


def test_unknown_parameter_is_rejected():
    with pytest.raises(ValueError, match="valid"):
        IdentifyParams.from_dict({"threshold": 1.0})
    with pytest.raises(ValueError, match="threshold_method"):
        IdentifyParams(threshold_method="triangle")


def test_nested_params_round_trip():
    params = RandomForestParams(features=FeatureSettings(sigma_max=8.0), forest=ForestSettings(seed=3))
    assert RandomForestParams.from_dict(json.loads(json.dumps(params.to_dict()))) == params


# --- input checks -----------------------------------------------------------------------

BAD_IMAGES = {
    "3-D": (np.zeros((2, 16, 16)), "2-D"),
    "1-D": (np.zeros(16), "2-D"),
    "empty": (np.zeros((0, 16)), "non-empty"),
    "NaN": (np.full((16, 16), np.nan), "NaN"),
    "inf": (np.full((16, 16), np.inf), "NaN or infinite"),
    "bool": (np.zeros((16, 16), bool), "dtype"),
    # issue 37: a band of float32's maximum (a fill value) raised scikit-learn's "Input X contains
    # infinity or a value too large" from random-forest; the CellProfiler baselines found 0 nuclei
    "extreme": (np.where(np.arange(16)[:, None] < 4, np.float32(3.4e38), np.float32(100)) * np.ones((16, 16), np.float32),
                r"extreme values: 64 pixels of 256 have a magnitude above 1e\+18 \(the largest 3.4e\+38\), within rows 0-3"),
    "int64 sentinel": (np.full((16, 16), np.iinfo(np.int64).max), "extreme values"),
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_bad_images_raise(baselines, name, case):
    image, message = BAD_IMAGES[case]
    with pytest.raises(ValueError, match=message):
        baselines[name].segment(image)


@pytest.mark.parametrize("name", NAMES)
def test_constant_image_has_no_nuclei(baselines, name):
    labels = baselines[name].segment(np.full((64, 80), 150, np.uint16))
    assert labels.shape == (64, 80) and labels.dtype == np.int32 and labels.max() == 0


@pytest.mark.parametrize("field", list(blank_fields()))
@pytest.mark.parametrize("name", NAMES)
def test_blank_camera_frames_have_no_nuclei(baselines, name, field):
    """The zoo models' blank-field cases, run on the baselines: cp-basic found one object in a
    Poisson background (Li's threshold lay in the noise; now the threshold is at least 3 robust
    SDs above the median) and cp-advanced one of 1,049 px around a dead pixel (the illumination
    function's minimum filter took the dead pixel; now it runs on a 3x3 median-filtered copy)."""
    assert baselines[name].segment(blank_fields()[field]).max() == 0


# --- segmentation -----------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_synthetic_nuclei_are_found_and_separated(baselines, name):
    image, truth = _synthetic()
    labels = baselines[name].segment(image)
    assert labels.dtype == np.int32 and labels.shape == truth.shape
    scores = score_image(truth, labels)
    assert scores.f1[0.5] == 1.0  # all five, the touching pair split


@pytest.mark.parametrize("name", NAMES)
def test_dtype_and_scale_do_not_matter(baselines, name):
    image, _ = _synthetic()
    labels = baselines[name].segment(image)
    np.testing.assert_array_equal(baselines[name].segment(image.astype(np.float64)), labels)
    np.testing.assert_array_equal(baselines[name].segment(image.astype(np.float32) / 4095), labels)


AFFINE_CHANGES = {  # users' report: +1000 took cp-advanced from F1@0.7 0.938 to 0.160 on a test image
    "+300": lambda image: image + 300,
    "+1000": lambda image: image + 1000,
    "+1000 in uint16": lambda image: (image + 1000).astype(np.uint16),
    "x0.5": lambda image: image * 0.5,
    "x4 + 50": lambda image: image * 4 + 50,
    "-250 (negative background)": lambda image: image - 250,
}


@pytest.mark.parametrize("change", list(AFFINE_CHANGES))
@pytest.mark.parametrize("name", NAMES)
def test_a_camera_offset_or_gain_does_not_change_the_labels(baselines, sample_split, name, change):
    """Every bundled BBBC039 test field, shifted and scaled: the same labels, so the same F1."""
    for sample in sample_split:
        raw = sample.image.astype(np.float32)
        expected = baselines[name].segment(raw)
        labels = baselines[name].segment(AFFINE_CHANGES[change](raw))
        assert np.mean(labels != expected) < 1e-4, (sample.name, change)
        assert labels.max() == expected.max() > 20


@pytest.mark.parametrize("name", NAMES)
def test_a_saturated_square_leaves_the_nuclei_around_it_as_they_were(baselines, sample_split, name):
    """Users' report: a 25 x 25 px square at 65535 already left cp-basic 1 object of 149; a
    30 x 30 one random-forest too. Both the sparse and the dense bundled field."""
    for index in (0, 2):
        image, square = with_square(sample_split[index].image)
        clean = away_from(baselines[name].segment(sample_split[index].image), square)
        found = away_from(baselines[name].segment(image), square)
        assert clean.max() > 20 and score_image(clean, found).f1[0.9] >= 0.97, (name, index)


@pytest.mark.parametrize("name", ["cp-basic", "cp-advanced"])
def test_a_background_subtracted_field_with_an_offset_is_the_subtracted_field(baselines, sample_split, name):
    """Background subtracted (60 % of the pixels at 0), then saved with a pedestal of 500."""
    sample = sample_split[1]
    raw = sample.image.astype(np.float32)
    subtracted = np.clip(raw - np.percentile(raw, 60), 0, None)
    labels = baselines[name].segment(subtracted + 500)
    np.testing.assert_array_equal(labels, baselines[name].segment(subtracted))
    assert score_image(sample.labels, labels).f1[0.7] >= score_image(
        sample.labels, baselines[name].segment(raw)).f1[0.7] - 0.02


def test_the_offset_is_rebased_to_a_pedestal_of_the_background_level():
    from nucseg_zoo.baselines.offset import PEDESTAL_RATIO, rebase_offset

    image = np.full((64, 64), 120.0, np.float32)
    image[16:48, 16:48] = 150.0  # a bright square on a quarter of the field: the median is the floor
    image[:2, :2] = 0.0  # 4 dead pixels do not set the floor
    rebased = rebase_offset(image)
    assert rebased[0, 10] == 0.0 and rebased[30, 30] == 30.0  # median = floor: no pedestal
    image[:40] += 10.0  # the median moves 10 above the floor
    rebased = rebase_offset(image)
    assert rebased[60, 60] == pytest.approx(PEDESTAL_RATIO * 10)
    np.testing.assert_allclose(rebase_offset(3 * image + 7), 3 * rebased, rtol=1e-6, atol=1e-4)
    assert not rebase_offset(np.full((8, 8), 5.0, np.float32)).any()  # a constant image becomes zeros


@pytest.mark.parametrize("name", NAMES)
def test_sample_images_score_sanely(baselines, samples, name):
    scores = score_segmenter(baselines[name], samples)[0]
    assert scores.average_f1 >= SAMPLE_F1_BOUND[name]
    for sample, image_scores in zip(samples, scores.images):
        assert 0.85 * image_scores.n_true < image_scores.n_pred < 1.15 * image_scores.n_true, sample.name


# --- tiny and small images -------------------------------------------------------------
# Every baseline segments any image of at least 1 x 1 px: labels of the input's shape,
# numbered 1..N, and no phantom object in background (the random forest used to fail on a
# 1-px side inside np.gradient, and to turn the whole background of an image of at most
# max_hole_size px into one object).

TINY_SHAPES = [(1, 1), (1, 696), (520, 1), (2, 2), (3, 5), (7, 7), (8, 8), (16, 16)]


def _shape_id(shape: tuple[int, int]) -> str:
    return f"{shape[0]}x{shape[1]}"


def _assert_labels(labels: np.ndarray, shape: tuple[int, int]) -> None:
    assert labels.shape == shape and labels.dtype == np.int32
    np.testing.assert_array_equal(np.setdiff1d(labels, [0]), np.arange(1, labels.max() + 1))  # 1..N


def _window(mask: np.ndarray, shape: tuple[int, int]) -> tuple[slice, slice]:
    """The first window of ``shape`` (raster order, stride 8) where ``mask`` is all False."""
    for r in range(0, mask.shape[0] - shape[0] + 1, 8):
        for c in range(0, mask.shape[1] - shape[1] + 1, 8):
            window = (slice(r, r + shape[0]), slice(c, c + shape[1]))
            if not mask[window].any():
                return window
    raise AssertionError(f"no window of {shape} px")


@pytest.fixture(scope="module")
def background(sample_split) -> tuple[np.ndarray, np.ndarray]:
    """Sample image 0 and its pixels farther than 15 px from every true nucleus (beyond their
    blurred halo, which a 1-px strip's own normalisation can lift to nucleus level)."""
    sample = sample_split[0]
    return sample.image, ndi.distance_transform_edt(sample.labels == 0) > 15


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", TINY_SHAPES, ids=_shape_id)
def test_tiny_background_crops_have_no_nuclei(baselines, background, name, shape):
    image, is_background = background
    crop = image[_window(~is_background, shape)]
    labels = baselines[name].segment(crop)
    _assert_labels(labels, shape)
    assert labels.max() == 0


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", TINY_SHAPES, ids=_shape_id)
def test_tiny_constant_images_have_no_nuclei(baselines, name, shape):
    labels = baselines[name].segment(np.full(shape, 150, np.uint16))
    _assert_labels(labels, shape)
    assert labels.max() == 0


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", TINY_SHAPES, ids=_shape_id)
def test_tiny_crops_through_nuclei_are_segmented(baselines, sample_split, name, shape):
    """Crops of the densest sample image, centred on a nucleus, in every dtype the baselines take."""
    sample = sample_split[2]
    r, c = (int(v) for v in ndi.center_of_mass(sample.labels == 1))
    height, width = sample.image.shape
    top = min(max(0, r - shape[0] // 2), height - shape[0])
    left = min(max(0, c - shape[1] // 2), width - shape[1])
    crop = sample.image[top:top + shape[0], left:left + shape[1]]
    for image in (crop, crop.astype(np.float32) / 4095, crop.astype(np.int64)):
        _assert_labels(baselines[name].segment(image), shape)


def test_random_forest_features_of_a_one_pixel_side():
    """A 1-px side is padded to 2 px for the Hessian: the features are those of the row doubled."""
    settings = FeatureSettings()
    row = _synthetic()[0][40:41]
    features = pixel_features(row, settings)
    assert features.shape == (1, row.shape[1], settings.n_features) and features.dtype == np.float32
    np.testing.assert_array_equal(features, pixel_features(np.vstack([row, row]), settings)[:1])
    np.testing.assert_array_equal(pixel_features(row.T, settings), np.swapaxes(features, 0, 1))
    assert not pixel_features(np.array([[7]], np.uint16), settings).any()  # a constant image normalises to 0


def test_random_forest_predicts_a_one_pixel_strip(baselines):
    probabilities = baselines["random-forest"].predict_probabilities(np.full((1, 696), 150, np.uint16))
    assert probabilities.shape == (3, 1, 696) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=0), 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def isolated_nuclei(sample_split) -> list[tuple[np.ndarray, np.ndarray]]:
    """40 x 40 crops of sample images 0 and 1 centred on a nucleus alone in its crop (3 each),
    with the nucleus's mask."""
    crops = []
    for sample in sample_split[:2]:
        height, width = sample.labels.shape
        found = 0
        for label, (r, c) in enumerate(ndi.center_of_mass(sample.labels > 0, sample.labels,
                                                          range(1, sample.labels.max() + 1)), start=1):
            r, c = int(r), int(c)
            window = (slice(r - 20, r + 20), slice(c - 20, c + 20))
            if not (20 <= r <= height - 20 and 20 <= c <= width - 20):
                continue
            truth = sample.labels[window]
            if 150 < np.count_nonzero(truth == label) < 700 and set(np.unique(truth)) == {0, label}:
                crops.append((sample.image[window], truth == label))
                found += 1
            if found == 3:
                break
    assert len(crops) == 6
    return crops


@pytest.mark.parametrize("name", NAMES)
def test_nuclei_are_found_in_40_px_crops(baselines, isolated_nuclei, name):
    for image, nucleus in isolated_nuclei:
        labels = baselines[name].segment(image)
        _assert_labels(labels, (40, 40))
        scores = score_image(nucleus.astype(np.int32), labels)
        assert scores.tp[0.5] == 1, scores  # some object matches the nucleus at IoU > 0.5


# --- random forest ----------------------------------------------------------------------

def test_saved_forest_loads_and_is_deterministic(baselines, samples):
    forest = baselines["random-forest"]
    assert isinstance(forest, RandomForest)
    image = samples[0].image[:256, :256]
    probabilities = forest.predict_probabilities(image)
    assert probabilities.shape == (3, *image.shape) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(forest.predict_probabilities(image), probabilities)
    np.testing.assert_array_equal(get_baseline("random-forest").segment(image), forest.segment(image))


def test_forest_record_describes_the_file():
    record = baseline_record("random-forest")
    path = DATA_DIR / record["forest_file"]
    assert path.stat().st_size == record["forest_size_bytes"] < 10_000_000
    counts = record["training"]["class_counts"]
    assert sum(counts.values()) == record["training"]["n_samples"]
    assert record["training"]["trained_on"] == "bbbc039/training"


def test_forest_with_wrong_hash_is_refused(tmp_path):
    record = dict(baseline_record("random-forest"))
    shutil.copy(DATA_DIR / record["forest_file"], tmp_path / record["forest_file"])
    record["forest_sha256"] = "sha256:" + "0" * 64
    with pytest.raises(ValueError, match="nucseg_zoo.training.random_forest"):
        RandomForest.load(record, tmp_path)


def test_forest_and_feature_settings_must_agree(baselines):
    forest = baselines["random-forest"].forest
    params = RandomForestParams(features=FeatureSettings(num_sigma=2))
    with pytest.raises(ValueError, match="features"):
        RandomForest(forest, params)


def test_features_shape_and_normalisation():
    image, truth = _synthetic()
    settings = FeatureSettings()
    assert pixel_features(image, settings).shape == (*image.shape, settings.n_features)
    normalized = normalize(image.astype(np.float32), settings.min_scale_sds)
    assert abs(np.median(normalized)) < 1e-6
    assert abs(normalized[truth > 0].mean() - 1.0) < 0.1  # the mean nucleus is near 1
    # an image 10x brighter (or offset) normalises the same way
    np.testing.assert_allclose(normalize(image.astype(np.float32) * 10 + 50, settings.min_scale_sds), normalized,
                               atol=1e-4)


# --- parameters per dataset -------------------------------------------------------------

def test_dataclass_defaults_are_valid():
    for params_cls in PARAMS.values():
        params = params_cls()
        assert params_cls.from_dict(params.to_dict()) == params
        assert dataclasses.is_dataclass(params)


def test_parameters_per_dataset_are_their_own_source(tmp_path, monkeypatch):
    """``cp-basic@<dataset>``: the baseline with parameters tuned on another dataset, its own record
    (and so its own sha256), chosen for that dataset's leaderboard track."""
    import shutil

    from nucseg_zoo.baselines import registry
    from nucseg_zoo.segmenters import resolve_source
    from nucseg_zoo.training.cellprofiler_tuning import target

    for path in registry.DATA_DIR.iterdir():
        if "@" not in path.name:
            shutil.copy(path, tmp_path / path.name)
    record = json.loads((tmp_path / "cp_basic.json").read_text())
    record["params"]["min_area"], record["chosen_on"] = 10, "otherset/training"
    (tmp_path / "cp_basic@otherset.json").write_text(json.dumps(record))
    monkeypatch.setattr(registry, "DATA_DIR", tmp_path)
    assert registry.list_parameter_sets("cp-basic") == ["cp-basic", "cp-basic@otherset"]
    assert get_baseline("cp-basic@otherset").params.min_area == 10
    assert registry.baseline_source("cp-basic", "otherset") == "cp-basic@otherset"
    assert registry.baseline_source("cp-advanced", "otherset") == "cp-advanced"
    assert registry.baseline_training_data("cp-basic@otherset") == ("otherset/training",)
    assert registry.baseline_training_data("random-forest") == ("bbbc039/training", "bbbc039/validation")
    assert resolve_source("cp-basic@otherset").sha256 != resolve_source("cp-basic").sha256
    with pytest.raises(ValueError, match="has no parameters tuned on 'nowhere'; it has: cp-basic, cp-basic@otherset"):
        get_baseline("cp-basic@nowhere")
    assert target("cp-basic", "bbbc039") == "cp-basic" and target("cp-basic", "otherset") == "cp-basic@otherset"


@pytest.mark.parametrize("spec", ["cp-basic@dsb2018-fluo", "cp-advanced@dsb2018-fluo"])
def test_dsb_parameter_records_were_chosen_on_its_training_split(spec):
    record = baseline_record(spec)
    name = spec.split("@")[0]
    assert PARAMS[name].from_dict(record["params"]).to_dict() == record["params"]
    assert record["chosen_on"] == "dsb2018-fluo/training" and 0.5 < record["training_average_f1"] <= 1.0
    for dotted, values in SEARCH_GRIDS[name].items():
        value = record["params"]
        for key in dotted.split("."):
            value = value[key]
        assert value in values, dotted

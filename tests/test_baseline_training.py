"""The training layer of the classical baselines: the coordinate search of the CellProfiler-like
parameters and the random forest's pixel sampling and seeded fit."""

from __future__ import annotations

import numpy as np
import pytest

from nucseg_zoo.baselines.random_forest import ForestSettings, RandomForest, RandomForestParams
from nucseg_zoo.training.cellprofiler_tuning import coordinate_search
from nucseg_zoo.training.random_forest import fit_forest, sample_pixels, training_set
from nucseg_zoo.training.samples import LoadedSample, load_samples


@pytest.fixture(scope="module")
def samples(sample_split) -> list:
    return load_samples(sample_split)


def test_sampling_balances_classes():
    classes = np.zeros((50, 50), np.uint8)
    classes[10:40, 10:40] = 1
    classes[10:40, 10] = 2
    features = np.arange(classes.size, dtype=np.float32).reshape(50, 50, 1)
    x, y = sample_pixels(features, classes, 100, np.random.default_rng(0))
    assert np.bincount(y).tolist() == [100, 100, 30]
    np.testing.assert_array_equal(classes.ravel()[x[:, 0].astype(int)], y)


def test_training_is_seeded(samples):
    params = RandomForestParams(forest=ForestSettings(n_estimators=3, max_depth=4, samples_per_class=200))
    crops = [LoadedSample(s.name, s.image[:200, :200], s.labels[:200, :200]) for s in samples[:2]]
    x, y = training_set(crops, params)
    assert x.shape == (1200, params.features.n_features)
    image = samples[2].image[:128, :128]
    first = RandomForest(fit_forest(x, y, params.forest), params).predict_probabilities(image)
    x2, y2 = training_set(crops, params)
    second = RandomForest(fit_forest(x2, y2, params.forest), params).predict_probabilities(image)
    np.testing.assert_array_equal(first, second)


def test_coordinate_search_finds_the_separable_optimum():
    def objective(values):
        if values["a"] == 3:
            raise ValueError("invalid combination")
        return -(values["a"] - 2) ** 2 - (values["nested"]["b"] - 0.5) ** 2

    best, score = coordinate_search(objective, {"a": 0, "nested": {"b": 0.0}},
                                    {"a": (0, 1, 2, 3), "nested.b": (0.0, 0.5, 1.0)}, progress=False)
    assert best == {"a": 2, "nested": {"b": 0.5}} and score == 0.0

"""Input normalisation (``nucseg_zoo.normalization``): bioimage.io ``scale_range`` then ``clip``."""

from __future__ import annotations

import numpy as np
import pytest

from nucseg_zoo import datasets
from nucseg_zoo.normalization import PercentileNormalization
from nucseg_zoo.zoo.entry import read_entry


def test_a_blank_field_with_a_hot_pixel_stays_within_the_clip():
    """Users' report: p99.8 - p1 = 0, so 4095 / (0 + 1e-6) reached the network. Now the upper
    percentile is that of the pixels above 0: the hot pixel itself, normalised to 1."""
    image = np.zeros((520, 696), np.uint16)
    image[200, 300] = 4095
    normalized = PercentileNormalization()(image)
    assert normalized.dtype == np.float32
    assert normalized[200, 300] == pytest.approx(1.0) and np.count_nonzero(normalized) == 1


@pytest.mark.parametrize("value", [0, 100, 65535])
def test_a_constant_image_becomes_zeros(value):
    assert not np.any(PercentileNormalization()(np.full((64, 80), value, np.uint16)))


def test_a_dead_pixel_in_a_flat_field_is_clipped_below():
    image = np.full((64, 80), 100, np.uint16)
    image[3, 4] = 0
    normalized = PercentileNormalization()(image)
    assert normalized[3, 4] == -1.0 and np.count_nonzero(normalized) == 1


def test_without_a_clip_it_is_plain_scale_range():
    image = np.arange(1000, dtype=np.float32).reshape(25, 40)
    low, high = np.percentile(image, [1, 99.8])
    expected = (image - low) / (high - low + 1e-6)
    np.testing.assert_allclose(PercentileNormalization(clip=None)(image), expected, rtol=0, atol=1e-6)
    assert PercentileNormalization(clip=None)(image).max() > 1.0


@pytest.mark.parametrize("kwargs, message", [
    ({"clip": (5.0, -1.0)}, "min < max"),
    ({"eps": 0.5}, "eps"),
    ({"min_percentile": 99.8, "max_percentile": 1.0}, "min_percentile"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PercentileNormalization(**kwargs)


def test_the_shipped_recipe_declares_the_clip_and_its_dict_form_round_trips():
    norm = read_entry("unet-bbbc039").normalization
    assert norm.clip == (-1.0, 5.0)
    assert PercentileNormalization(**norm.to_dict()) == norm


def test_the_clip_changes_no_image_of_the_bundled_sample():
    unclipped = PercentileNormalization(clip=None)
    for sample in datasets.load("bbbc039-sample", "test"):
        values = unclipped(sample.image)
        assert -1.0 <= values.min() and values.max() <= 5.0, sample.name


def test_the_clip_changes_no_training_image(bbbc039_mirror):
    """The bounds hold the normalised values of every image the U-Net was trained on
    (measured: [-0.41, 4.91]), so the clip leaves training unchanged."""
    unclipped = PercentileNormalization(clip=None)
    lows, highs = zip(*((v.min(), v.max()) for v in (unclipped(s.image) for s in datasets.load("bbbc039", "training"))))
    assert -1.0 < min(lows) and max(highs) < 5.0, (min(lows), max(highs))


def test_without_range_the_upper_percentile_comes_from_the_pixels_above():
    from nucseg_zoo.normalization import percentile_range

    image = np.zeros((100, 100), np.float32)
    image[40:44, 40:44] = np.arange(16).reshape(4, 4) + 100  # 0.16 %: p99.8 is 0
    low, high = percentile_range(image, 1.0, 99.8)
    assert low == 0.0 and high == pytest.approx(np.percentile(np.arange(16) + 100, 99.8))
    assert percentile_range(np.full((8, 8), 3.0), 1.0, 99.8) == (3.0, 3.0)  # a constant image stays as it is
    noisy = np.random.default_rng(0).normal(100, 5, (64, 64))
    assert percentile_range(noisy, 1.0, 99.8) == pytest.approx(tuple(np.percentile(noisy, [1.0, 99.8])))

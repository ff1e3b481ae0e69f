"""Shared fixtures. The full BBBC039 dataset is used when $NUCSEG_ZOO_BBBC039_MIRROR is set
(.ci/run points it at ../shared/data/bbbc039); tests that need it skip otherwise."""

from __future__ import annotations

import os

import pytest

from nucseg_zoo import datasets

MIRROR_ENV = "NUCSEG_ZOO_BBBC039_MIRROR"


@pytest.fixture(scope="session")
def bbbc039_mirror() -> str:
    """The configured BBBC039 mirror (skips the test when none is configured)."""
    mirror = os.environ.get(MIRROR_ENV)
    if not mirror:
        pytest.skip(f"${MIRROR_ENV} is not set: the full BBBC039 dataset is unavailable")
    return mirror


@pytest.fixture(scope="session")
def sample_split() -> datasets.DatasetSplit:
    """The three bundled BBBC039 test images."""
    return datasets.load("bbbc039-sample", split="test")

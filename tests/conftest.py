"""Shared fixtures. The full BBBC039 dataset is used when $NUCSEG_ZOO_BBBC039_MIRROR is set
(.ci/run points it at ../shared/data/bbbc039), DSB2018 when $NUCSEG_ZOO_DSB2018_FLUO_MIRROR is
(../shared/data/dsb2018); tests that need them skip otherwise."""

from __future__ import annotations

import os
from dataclasses import replace

# The README's test command runs the tests in parallel processes (pytest-xdist, pyproject's
# addopts): each worker gets its share of the cores for torch, onnxruntime and OpenMP, so that
# the workers do not oversubscribe them. Set before any of those libraries is imported.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_variable, _threads)

import pytest

from nucseg_zoo import datasets
from nucseg_zoo.training.recipe import Recipe, read_recipe
from nucseg_zoo.zoo.entry import read_entry

MIRROR_ENV = "NUCSEG_ZOO_BBBC039_MIRROR"
DSB_MIRROR_ENV = "NUCSEG_ZOO_DSB2018_FLUO_MIRROR"


def _configured_mirror(variable: str, what: str) -> str:
    mirror = os.environ.get(variable)
    if not mirror:
        pytest.skip(f"${variable} is not set: {what} unavailable")
    return mirror


@pytest.fixture(scope="session")
def bbbc039_mirror() -> str:
    """The configured BBBC039 mirror (skips the test when none is configured)."""
    return _configured_mirror(MIRROR_ENV, "the full BBBC039 dataset is")


@pytest.fixture(scope="session")
def dsb2018_mirror() -> str:
    """The configured DSB2018 mirror (the folder holding stage1_train/; skips when none is configured)."""
    return _configured_mirror(DSB_MIRROR_ENV, "the DSB2018 images are")


@pytest.fixture(scope="session")
def sample_split() -> datasets.DatasetSplit:
    """The three bundled BBBC039 test images."""
    return datasets.load("bbbc039-sample", split="test")


@pytest.fixture
def tiny_recipe() -> Recipe:
    """unet-bbbc039's recipe shrunk to a seconds-long run on the bundled sample (no warm start)."""
    recipe = read_recipe(read_entry("unet-bbbc039"))
    return replace(recipe, dataset="bbbc039-sample", train_split="test", validation_split="test",
                   architecture=replace(recipe.architecture, kwargs={**recipe.architecture.kwargs, "widths": [4, 8, 16]}),
                   crop_size=64, batch_size=2, epochs=2, steps_per_epoch=2,
                   schedule={**recipe.schedule, "warmup_steps": 1}, init_from=None)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small CPU workloads: one torch thread avoids stalls when other jobs share the cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

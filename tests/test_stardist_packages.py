"""StarDist packages: recognised, turned into objects by the stardist library's NMS with the
package's thresholds (overridable), tiled like any package; the NMS adapter on exact targets."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("stardist", reason="StarDist outputs need the stardist package (nucseg-zoo[tensorflow])")

from stardist.geometry import polygons_to_label, star_dist  # noqa: E402
from stardist.nms import non_maximum_suppression  # noqa: E402
from stardist.utils import edt_prob  # noqa: E402

from external_model import STARDIST_RAYS, build_external_package  # noqa: E402
from nucseg_zoo.cli import main  # noqa: E402
from nucseg_zoo.evaluation import evaluate_source  # noqa: E402
from nucseg_zoo.metrics import score_image, summarize  # noqa: E402
from nucseg_zoo.postprocessing import StarDistParams, stardist_to_labels  # noqa: E402
from nucseg_zoo.zoo.bioimageio_model import BioimageioModel  # noqa: E402


def _with_config(thresholds: dict, grid=(1, 1)):
    def edit(rdf, folder):
        rdf["config"] = {"stardist": {"python_version": "0.9.2", "thresholds": thresholds,
                                      "config": {"n_dim": 2, "n_rays": STARDIST_RAYS, "grid": list(grid)}}}
    return edit


@pytest.fixture(scope="module")
def stardist_package(sample_split, tmp_path_factory):
    """A StarDist-layout package with config.stardist (thresholds prob 0.6, nms 0.3, grid 2×2)."""
    return build_external_package(tmp_path_factory.mktemp("stardist"), sample_split[0].image, variant="stardist",
                                  edit=_with_config({"prob": 0.6, "nms": 0.3}, grid=(2, 2)))


@pytest.fixture(scope="module")
def bare_stardist_package(sample_split, tmp_path_factory):
    """The same network without config.stardist."""
    return build_external_package(tmp_path_factory.mktemp("bare-stardist"), sample_split[0].image,
                                  variant="stardist")


def _library_labels(output: np.ndarray, prob_thresh: float, nms_thresh: float) -> np.ndarray:
    """What StarDist2D._instances_from_prediction does with a dense prediction on a 2×2 grid
    (the grid cells are every second pixel of the exported, upsampled output)."""
    grid = output[:, ::2, ::2]
    points, probi, disti = non_maximum_suppression(np.moveaxis(grid[1:], 0, -1).astype(np.float32),
                                                   grid[0].astype(np.float32), grid=(2, 2),
                                                   prob_thresh=prob_thresh, nms_thresh=nms_thresh)
    return polygons_to_label(disti, points, prob=probi, shape=output.shape[1:])


def test_a_package_with_config_stardist_is_scored_through_the_librarys_nms(stardist_package, sample_split):
    model = BioimageioModel.from_source(stardist_package)
    assert model.output_kind == "stardist" and "config.stardist" in model.output_kind_reason
    assert model.postprocessing == StarDistParams(prob_thresh=0.6, nms_thresh=0.3, grid=(2, 2))
    image = sample_split[1].image
    output = model.predict(image)
    assert output.shape == (1 + STARDIST_RAYS, *image.shape)
    labels = model.segment(image)
    np.testing.assert_array_equal(labels, _library_labels(output, 0.6, 0.3))
    assert labels.dtype == np.int32 and labels.max() > 10
    # the objects lie on the nuclei (the toy network's radius-10 polygons overhang small ones)
    assert np.mean(sample_split[1].labels[labels > 0] > 0) > 0.6


def test_thresholds_are_overridable_and_recorded(stardist_package, sample_split, capsys):
    strict = BioimageioModel.from_source(stardist_package, postprocessing_overrides={"prob_thresh": 0.95})
    image = sample_split[1].image
    labels = strict.segment(image)
    np.testing.assert_array_equal(labels, _library_labels(strict.predict(image), 0.95, 0.3))
    assert labels.max() < BioimageioModel.from_source(stardist_package).segment(image).max()

    packaged = evaluate_source(str(stardist_package), dataset="bbbc039-sample")
    overridden = evaluate_source(str(stardist_package), dataset="bbbc039-sample",
                                 postprocessing={"prob_thresh": 0.95})
    assert packaged.provenance["postprocessing"] == {"prob_thresh": 0.6, "nms_thresh": 0.3, "grid": [2, 2]}
    assert overridden.provenance["postprocessing"]["prob_thresh"] == 0.95
    assert overridden.provenance["cache_key"] != packaged.provenance["cache_key"]
    assert overridden.scores.n_pred < packaged.scores.n_pred

    assert main(["evaluate", str(stardist_package), "--dataset", "bbbc039-sample", "--json",
                 "--postprocessing", "prob_thresh=0.95"]) == 0
    assert json.loads(capsys.readouterr().out)["n_pred"] == overridden.scores.n_pred
    assert main(["evaluate", str(stardist_package), "--dataset", "bbbc039-sample",
                 "--postprocessing", "prob=0.9"]) == 2
    assert "unknown postprocessing parameter(s) ['prob'] for StarDistParams; valid: ['prob_thresh'" \
        in capsys.readouterr().err
    with pytest.raises(ValueError, match="nms_thresh must lie in"):
        BioimageioModel.from_source(stardist_package, postprocessing_overrides={"nms_thresh": 1.5})
    with pytest.raises(ValueError, match="apply to bioimage.io packages, not to the zoo"):
        evaluate_source("unet-bbbc039", dataset="bbbc039-sample", postprocessing={"prob_thresh": 0.5})


def test_the_stardist_layout_without_config_is_recognised_with_the_default_thresholds(bare_stardist_package):
    model = BioimageioModel.from_source(bare_stardist_package)
    assert model.output_kind == "stardist" and "17 float channels" in model.output_kind_reason
    assert model.postprocessing == StarDistParams(prob_thresh=0.5, nms_thresh=0.4)


def test_large_images_are_tiled_and_the_nms_runs_once_over_the_whole(stardist_package, sample_split):
    image = sample_split[2].image
    whole = BioimageioModel.from_source(stardist_package)
    tiled = BioimageioModel.from_source(stardist_package, tile=128)
    np.testing.assert_allclose(tiled.predict(image), whole.predict(image), atol=1e-5)
    np.testing.assert_array_equal(tiled.segment(image), whole.segment(image))


def test_output_kind_stardist_needs_probability_and_rays(sample_split, tmp_path):
    package = build_external_package(tmp_path, sample_split[0].image)  # foreground + boundary: 2 channels
    with pytest.raises(ValueError, match=r"output kind stardist expects 1 \+ n_rays \(>= 4\) output channel"):
        BioimageioModel.from_source(package, output_kind="stardist")


def _exported(labels: np.ndarray, grid: tuple[int, int], n_rays: int = 32) -> np.ndarray:
    """StarDist's training targets of ``labels`` laid out as its bioimage.io export lays out a
    prediction with ``grid``: probability at every grid-th pixel, distances repeated."""
    gy, gx = grid
    prob = edt_prob(labels)[::gy, ::gx]
    dist = star_dist(labels, n_rays)[::gy, ::gx]
    height, width = labels.shape
    output = np.zeros((1 + n_rays, height, width), np.float32)
    output[0, ::gy, ::gx] = prob
    output[1:] = np.repeat(np.repeat(np.moveaxis(dist, -1, 0), gy, axis=1), gx, axis=2)[:, :height, :width]
    return output


@pytest.mark.parametrize("grid", [(1, 1), (2, 2)])
def test_exact_stardist_targets_give_back_the_ground_truth(sample_split, grid):
    """The adapter is StarDist's own decoding: the library's targets of the true nuclei decode to them."""
    scores = [score_image(s.labels, stardist_to_labels(_exported(s.labels, grid), StarDistParams(grid=grid)),
                          name=s.name) for s in sample_split]
    summary = summarize(scores)
    assert summary.f1[0.5] > 0.95 and summary.average_f1 > 0.8


def test_bad_stardist_outputs_and_parameters_are_named():
    with pytest.raises(ValueError, match=r"\(1 \+ n_rays, H, W\) with n_rays >= 3; got shape \(3, 8, 8\)"):
        stardist_to_labels(np.zeros((3, 8, 8), np.float32))
    with pytest.raises(ValueError, match="finite floating-point"):
        stardist_to_labels(np.full((5, 8, 8), np.nan, np.float32))
    with pytest.raises(ValueError, match="grid must be two positive integers"):
        StarDistParams(grid=(0, 2))
    with pytest.raises(ValueError, match="3-D model"):
        StarDistParams.from_config({"config": {"n_dim": 3, "grid": [1, 2, 2]}})

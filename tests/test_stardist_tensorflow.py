"""A real StarDist2D network (TensorFlow, Keras 3) as a bioimage.io package: the harness gives
the objects the stardist library itself gives. Runs in CI's TensorFlow environment
(``pip install "nucseg-zoo[tensorflow]"``, ``pytest -m tensorflow``)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow
pytest.importorskip("tensorflow", reason="StarDist networks need `pip install 'nucseg-zoo[tensorflow]'`")
stardist_models = pytest.importorskip("stardist.models")

from nucseg_zoo.metrics import match  # noqa: E402
from nucseg_zoo.normalization import PercentileNormalization  # noqa: E402
from nucseg_zoo.postprocessing import StarDistParams  # noqa: E402
from nucseg_zoo.zoo.bioimageio_model import BioimageioModel  # noqa: E402

GRID, N_RAYS = (2, 2), 16


@pytest.fixture(scope="module")
def tiny_stardist(sample_split, tmp_path_factory):
    """(StarDist2D model, its package .zip): a small untrained network (fixed seed), thresholds
    chosen so that a tenth of the grid cells are candidates, exported by
    :func:`nucseg_zoo.packaging.stardist.export_stardist_package`."""
    import keras

    from nucseg_zoo.packaging.stardist import export_stardist_package

    folder = tmp_path_factory.mktemp("tiny-stardist")
    keras.utils.set_random_seed(0)
    config = stardist_models.Config2D(n_rays=N_RAYS, grid=GRID, n_channel_in=1, unet_n_depth=2,
                                      unet_n_filter_base=8, train_tensorboard=False)
    model = stardist_models.StarDist2D(config, name="tiny", basedir=str(folder))
    prob, _ = model.predict(PercentileNormalization(1.0, 99.8, clip=None)(sample_split[0].image).astype(np.float32))
    model.thresholds = {"prob": float(np.quantile(prob, 0.9)), "nms": 0.4}
    package = export_stardist_package(model, folder / "tiny-stardist.zip", sample_split[0].image[:200, :240],
                                      name="Tiny StarDist", description="An untrained StarDist2D network (tests only).",
                                      authors=["An Outside Lab"])
    return model, package


def test_a_stardist_package_gives_the_objects_of_the_stardist_library(tiny_stardist, sample_split):
    model, package = tiny_stardist
    packaged = BioimageioModel.from_source(package)
    assert packaged.output_kind == "stardist"
    assert packaged.postprocessing == StarDistParams(prob_thresh=model.thresholds.prob, nms_thresh=0.4, grid=GRID)
    for sample in sample_split:
        image = PercentileNormalization(1.0, 99.8, clip=None)(sample.image).astype(np.float32)  # = the package's scale_range
        # the library: its padding, network and NMS on the dense grid (what the harness decodes)
        theirs, _ = model.predict_instances(image, sparse=False)
        ours = packaged.segment(sample.image)  # the harness: preprocessing, halo tiling, network, the library's NMS
        prob, _ = model.predict(image)
        inner = (slice(24, -24), slice(24, -24))  # the two paddings differ only near the border
        np.testing.assert_allclose(packaged.predict(sample.image)[0, ::2, ::2][inner], prob[inner], atol=1e-4)
        matching = match(theirs, ours)
        f1 = 2 * matching.n_matched(0.5) / (matching.n_true + matching.n_pred)
        assert theirs.max() > 20 and f1 > 0.95



def test_the_exported_package_passes_bioimageio_test_model(tiny_stardist):
    from nucseg_zoo.packaging.validate import test_package

    report = test_package(tiny_stardist[1])
    assert report.passed, report.reasons


def test_the_peer_training_script_trains_packages_and_resumes(tmp_path, monkeypatch):
    """validation/peers/stardist/train.py end to end on the bundled sample, with a tiny budget."""
    import importlib.util
    import json
    from pathlib import Path

    import yaml

    from nucseg_zoo._hashing import sha256_of
    from nucseg_zoo.evaluation import evaluate_source

    script = Path(__file__).parents[1] / "validation" / "peers" / "stardist" / "train.py"
    spec = importlib.util.spec_from_file_location("stardist_peer_train", script)
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    recipe = yaml.safe_load(train.RECIPE.read_text())
    recipe.update(dataset="bbbc039-sample", train_split="test", validation_split="test")
    recipe["config"].update(n_rays=8, unet_n_depth=2, unet_n_filter_base=8, train_patch_size=[64, 64],
                            train_batch_size=2)
    # an untrained network's probabilities are all near 0.5: search high thresholds only, or the
    # NMS of ~every pixel makes the search take minutes
    recipe["thresholds"] = {"nms_threshs": [0.4], "iou_threshs": [0.5], "bracket": [0.9, 0.99], "maxiter": 3}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    args = ["--recipe", str(tmp_path / "recipe.yaml"), "--out", str(out), "--epochs", "1", "--steps-per-epoch", "2"]
    assert train.main(args) == 0
    assert train.main([*args, "--resume"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["epochs"] == 2 and len(result["runs"]) == 2 and result["sha256"] == sha256_of(out / train.PACKAGE)
    assert 0 < result["thresholds"]["prob"] < 1 and result["recipe"]["config"]["n_rays"] == 8
    evaluation = evaluate_source(str(out / train.PACKAGE), dataset="bbbc039-sample", split="test")
    assert evaluation.provenance["output_kind"] == "stardist"
    assert evaluation.provenance["postprocessing"]["prob_thresh"] == pytest.approx(result["thresholds"]["prob"])
    with pytest.raises(SystemExit):  # an earlier run is not overwritten
        train.main(args)

"""A real StarDist2D network (TensorFlow, Keras 3) as a bioimage.io package: the harness gives
the objects the stardist library itself gives. Runs in CI's TensorFlow environment
(``pip install "nucseg-zoo[tensorflow]"``, ``pytest -m tensorflow``)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.tensorflow
pytest.importorskip("tensorflow", reason="StarDist networks need `pip install 'nucseg-zoo[tensorflow]'`")
stardist_models = pytest.importorskip("stardist.models")

from nucseg_zoo.datasets.source import sha256_of  # noqa: E402
from nucseg_zoo.metrics import match  # noqa: E402
from nucseg_zoo.normalization import PercentileNormalization  # noqa: E402
from nucseg_zoo.star_convex import StarDistParams  # noqa: E402
from nucseg_zoo.zoo.bioimageio_model import BioimageioModel  # noqa: E402

GRID, N_RAYS = (2, 2), 16


def _exported_network(model):
    """StarDist's export layout (``export_TF(upsample_grid=True)``) in Keras 3 layers: probability
    by a transposed 1×1 convolution with stride ``grid``, distances upsampled, one output."""
    from keras import Model, layers

    prob, dist = model.keras_model.outputs
    prob = layers.Conv2DTranspose(1, (1, 1), strides=GRID, padding="same", kernel_initializer="ones",
                                  use_bias=False)(prob)
    dist = layers.UpSampling2D(GRID)(dist)
    return Model(model.keras_model.inputs[0], layers.Concatenate()([prob, dist]))


@pytest.fixture(scope="module")
def tiny_stardist(sample_split, tmp_path_factory):
    """(StarDist2D model, its package .zip): a small untrained network (fixed seed), thresholds
    chosen so that a tenth of the grid cells are candidates."""
    import keras
    import tensorflow as tf

    folder = tmp_path_factory.mktemp("tiny-stardist")
    keras.utils.set_random_seed(0)
    config = stardist_models.Config2D(n_rays=N_RAYS, grid=GRID, n_channel_in=1, unet_n_depth=2,
                                      unet_n_filter_base=8, train_tensorboard=False)
    model = stardist_models.StarDist2D(config, name="tiny", basedir=str(folder))
    image = PercentileNormalization(1.0, 99.8)(sample_split[0].image).astype(np.float32)
    prob, _ = model.predict(image)
    model.thresholds = {"prob": float(np.quantile(prob, 0.9)), "nms": 0.4}

    network = _exported_network(model)
    network.save(folder / "weights.keras")
    crop = image[:128, :160]
    np.save(folder / "input.npy", crop[None, :, :, None])
    np.save(folder / "output.npy", network.predict(crop[None, :, :, None], verbose=0).astype(np.float32))
    (folder / "README.md").write_text("# Tiny StarDist\n\nAn untrained StarDist2D network (tests only).\n")
    halo = int(np.ceil(max(model._axes_tile_overlap("YX")) / 8) * 8)
    div_by = max(model._axes_div_by("YX"))  # the network's size step
    smallest = -(-(div_by + 2 * halo) // div_by) * div_by  # room for the halo, as stardist's export sizes it
    space_in = [{"type": "space", "id": a, "size": {"min": smallest, "step": div_by}} for a in ("y", "x")]
    space_out = [{"type": "space", "id": a, "size": {"tensor_id": "input", "axis_id": a}, "halo": halo}
                 for a in ("y", "x")]
    rdf = {
        "format_version": "0.5.9", "type": "model", "id": "tiny-stardist", "name": "Tiny StarDist",
        "description": "An untrained StarDist2D network in StarDist's export layout (tests only).",
        "authors": [{"name": "An Outside Lab"}], "cite": [{"text": "StarDist", "doi": "10.1007/978-3-030-00934-2_30"}],
        "license": "BSD-3-Clause", "documentation": "README.md", "tags": ["nuclei", "stardist"],
        "inputs": [{"id": "input", "axes": [{"type": "batch"}, *space_in, {"type": "channel", "channel_names": ["dna"]}],
                    "test_tensor": {"source": "input.npy", "sha256": sha256_of(folder / "input.npy")},
                    "data": {"type": "float32"}}],
        "outputs": [{"id": "output", "axes": [{"type": "batch"}, *space_out,
                                             {"type": "channel", "channel_names": ["prob", *(f"dist{k}" for k in range(N_RAYS))]}],
                     "test_tensor": {"source": "output.npy", "sha256": sha256_of(folder / "output.npy")},
                     "data": {"type": "float32"}}],
        "weights": {"keras_v3": {"source": "weights.keras", "sha256": sha256_of(folder / "weights.keras"),
                                 "keras_version": keras.__version__, "backend": ["tensorflow", tf.__version__]}},
        "config": {"stardist": {"thresholds": dict(model.thresholds._asdict()),
                                "config": {"n_dim": 2, "n_rays": N_RAYS, "grid": list(GRID)}}},
    }
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False))
    package = folder / "tiny-stardist.zip"
    with zipfile.ZipFile(package, "w") as archive:
        for name in ("rdf.yaml", "weights.keras", "input.npy", "output.npy", "README.md"):
            archive.write(folder / name, name)
    return model, package


def test_a_stardist_package_gives_the_objects_of_the_stardist_library(tiny_stardist, sample_split):
    model, package = tiny_stardist
    packaged = BioimageioModel.from_source(package)
    assert packaged.output_kind == "stardist"
    assert packaged.postprocessing == StarDistParams(prob_thresh=model.thresholds.prob, nms_thresh=0.4, grid=GRID)
    for sample in sample_split:
        image = PercentileNormalization(1.0, 99.8)(sample.image).astype(np.float32)
        # the library: its padding, network and NMS on the dense grid (what the harness decodes)
        theirs, _ = model.predict_instances(image, sparse=False)
        ours = packaged.segment(image)  # the harness: halo tiling, the package's network, the library's NMS
        prob, _ = model.predict(image)
        inner = (slice(24, -24), slice(24, -24))  # the two paddings differ only near the border
        np.testing.assert_allclose(packaged.predict(image)[0, ::2, ::2][inner], prob[inner], atol=1e-4)
        matching = match(theirs, ours)
        f1 = 2 * matching.n_matched(0.5) / (matching.n_true + matching.n_pred)
        assert theirs.max() > 20 and f1 > 0.95


"""A trained ``stardist.models.StarDist2D`` as a bioimage.io package (Keras 3 weights).

StarDist's own exporter (``stardist.bioimageio_utils.export_bioimageio``) cannot run with
the versions this project pins: it writes TensorFlow SavedModel weights through csbdeep,
which refuses that under Keras 3, and it builds the rdf with ``bioimageio.core.build_spec``,
which bioimageio.core removed in 0.6. This module writes the package that exporter would
write, in the current spec (0.5) and with ``keras_v3`` weights, which bioimageio.core 0.11
runs:

* the network in the exporter's layout (``StarDist2D.export_TF(upsample_grid=True)``): one
  output of ``1 + n_rays`` channels at the input's size, the probability placed on every
  ``grid``-th pixel by a transposed 1×1 convolution with ones, the distances upsampled;
* preprocessing ``scale_range`` per image over y/x with the exporter's percentiles;
* input sizes and output halo as the exporter computes them (the halo from
  ``model._axes_tile_overlap``, rounded up to a multiple of 8; the smallest input leaves
  room for it);
* ``config.stardist`` with the library version, the optimised ``thresholds`` and the
  training ``config`` (what :mod:`nucseg_zoo.postprocessing.star_convex` and StarDist's Fiji plugin read).

Needs ``pip install "nucseg-zoo[tensorflow]"``.
"""

from __future__ import annotations

import math
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from nucseg_zoo._atomic import atomic_path
from nucseg_zoo._hashing import sha256_of
from nucseg_zoo.normalization import PercentileNormalization
from nucseg_zoo.packaging.validate import load_valid_description


def export_network(model):
    """StarDist's exported network in Keras 3 layers (see the module docstring)."""
    from keras import Model, layers

    grid = tuple(model.config.grid)
    prob, dist = model.keras_model.outputs[:2]
    if any(g > 1 for g in grid):
        prob = layers.Conv2DTranspose(1, (1, 1), strides=grid, padding="same", kernel_initializer="ones",
                                      use_bias=False, trainable=False)(prob)
        dist = layers.UpSampling2D(grid)(dist)
    return Model(model.keras_model.inputs[0], layers.Concatenate()([prob, dist]))


def _sizes(model) -> tuple[int, int, int]:
    """(size step, smallest input side, output halo) in px, as StarDist's exporter computes them."""
    step = int(max(model._axes_div_by("YX")))
    halo = int(math.ceil(max(model._axes_tile_overlap("YX")) / 8) * 8)
    smallest = -(-(step + 2 * halo) // step) * step
    return step, smallest, halo


def export_stardist_package(model, path: str | Path, test_image: np.ndarray, *, name: str, description: str,
                            authors: Sequence[str], min_percentile: float = 1.0, max_percentile: float = 99.8,
                            documentation: str = "", tags: Sequence[str] = ("nuclei", "stardist"),
                            training_data: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as a bioimage.io package ``.zip`` at ``path`` (atomically).

    Args:
        model: a 2-D, single-channel ``StarDist2D`` (its ``thresholds`` are written as the
            package's thresholds: run ``optimize_thresholds`` first).
        path: the ``.zip`` to write; an existing file is an error.
        test_image: ``(H, W)`` raw image for the test tensors (cropped to a valid size).
        name, description, authors, documentation, tags: the rdf's fields (documentation:
            markdown text of the package's README).
        min_percentile, max_percentile: the ``scale_range`` preprocessing (the exporter's
            defaults, also StarDist's usual ``normalize(img, 1, 99.8)``).
        training_data: extra ``config.stardist`` entries (e.g. the dataset and splits).

    Returns:
        ``path``.

    Raises:
        ValueError: a 3-D or multichannel model, or a test image smaller than the smallest input;
            :class:`~nucseg_zoo.packaging.validate.PackageValidationError` when bioimageio.spec
            rejects the package (e.g. a name with characters the spec forbids); nothing is written.
        FileExistsError: ``path`` exists.
    """
    import keras
    import stardist
    import tensorflow as tf

    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; not overwritten")
    if model.config.n_dim != 2 or model.config.n_channel_in != 1:
        raise ValueError("only 2-D single-channel StarDist models segment single-channel nucleus images")
    step, smallest, halo = _sizes(model)
    height = (test_image.shape[0] // step) * step
    width = (test_image.shape[1] // step) * step
    if min(height, width) < smallest:
        raise ValueError(f"test image {test_image.shape} is smaller than the smallest input {smallest} px")
    crop = np.asarray(test_image[:height, :width], dtype=np.float32)
    normalized = PercentileNormalization(min_percentile, max_percentile, clip=None)(crop)  # = the rdf's scale_range
    network = export_network(model)
    n_rays = int(model.config.n_rays)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        network.save(folder / "weights.keras")
        np.save(folder / "input.npy", crop[None, :, :, None])
        np.save(folder / "output.npy", network.predict(normalized[None, :, :, None], verbose=0).astype(np.float32))
        (folder / "README.md").write_text(documentation or f"# {name}\n\n{description}\n")
        space_in = [{"type": "space", "id": a, "size": {"min": smallest, "step": step}} for a in ("y", "x")]
        space_out = [{"type": "space", "id": a, "size": {"tensor_id": "input", "axis_id": a}, "halo": halo}
                     for a in ("y", "x")]
        rdf = {
            "format_version": "0.5.9", "type": "model", "id": None, "name": name, "description": description,
            "authors": [{"name": author} for author in authors],
            "cite": [{"text": "Schmidt et al. 2018, Cell Detection with Star-Convex Polygons, MICCAI",
                      "doi": "10.1007/978-3-030-00934-2_30"}],
            "license": "BSD-3-Clause", "documentation": "README.md", "tags": list(tags),
            "inputs": [{"id": "input",
                        "axes": [{"type": "batch"}, *space_in, {"type": "channel", "channel_names": ["dna"]}],
                        "test_tensor": {"source": "input.npy", "sha256": sha256_of(folder / "input.npy")},
                        "data": {"type": "float32"},
                        "preprocessing": [{"id": "scale_range", "kwargs": {
                            "axes": ["y", "x"], "min_percentile": min_percentile, "max_percentile": max_percentile}}]}],
            "outputs": [{"id": "output",
                         "axes": [{"type": "batch"}, *space_out, {"type": "channel", "channel_names": [
                             "prob", *(f"dist{k}" for k in range(n_rays))]}],
                         "test_tensor": {"source": "output.npy", "sha256": sha256_of(folder / "output.npy")},
                         "data": {"type": "float32"}}],
            "weights": {"keras_v3": {"source": "weights.keras", "sha256": sha256_of(folder / "weights.keras"),
                                     "keras_version": keras.__version__,
                                     "backend": ["tensorflow", tf.__version__.split("+")[0]]}},
            "config": {"stardist": {"stardist_version": stardist.__version__,
                                    "thresholds": {k: float(v) for k, v in model.thresholds._asdict().items()},
                                    "config": _plain(vars(model.config)), **(training_data or {})}},
        }
        del rdf["id"]
        (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False))
        with atomic_path(path) as tmp:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
                for member in ("rdf.yaml", "weights.keras", "input.npy", "output.npy", "README.md"):
                    archive.write(folder / member, member)
            load_valid_description(tmp)  # an invalid package is never written
    return path


def _plain(value: Any) -> Any:
    """numpy scalars/arrays and tuples in a config as YAML-safe plain data."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value

"""A small bioimage.io model package made the way an outside lab would, for harness tests.

Unlike the zoo's U-Net it has a different output convention (2 channels: foreground and
boundary probability, no ``config.nucseg_zoo``), a single weight format (ONNX, or Keras
HDF5 with channel-last axes for the TensorFlow path) and its own size step. The network
is a hand-set threshold on the smoothed normalised image with its morphological gradient
as the boundary, so it segments real nuclei reasonably without training.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from nucseg_zoo._hashing import sha256_of

MIN_SIZE, STEP, HALO = 64, 16, 8


STARDIST_RAYS, STARDIST_RADIUS = 16, 10.0

OUTPUT_CHANNELS = {"foreground_boundary": ["foreground", "boundary"], "binary_mask": ["mask"],
                   "three_class": ["background", "interior", "boundary"],
                   "stardist": ["prob", *(f"dist{k}" for k in range(STARDIST_RAYS))]}


def _network(variant: str):
    import torch

    class ThresholdNet(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            smooth = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
            foreground = torch.sigmoid(25.0 * (smooth - 0.22))
            if variant == "stardist":  # StarDist's output layout: probability (high at blob centres), ray distances
                centre = torch.nn.functional.avg_pool2d(foreground, 9, stride=1, padding=4, count_include_pad=False)
                return torch.cat([centre ** 8, STARDIST_RADIUS * foreground.expand(-1, STARDIST_RAYS, -1, -1)], dim=1)
            if variant == "binary_mask":
                return (foreground > 0.5).float()
            dilated = torch.nn.functional.max_pool2d(foreground, 3, stride=1, padding=1)
            eroded = -torch.nn.functional.max_pool2d(-foreground, 3, stride=1, padding=1)
            boundary = (dilated - eroded).clamp(0.0, 1.0)
            if variant == "three_class":  # the same map as the foreground_boundary adapter makes of these two
                return torch.cat([1.0 - foreground, foreground * (1.0 - boundary), foreground * boundary], dim=1)
            return torch.cat([foreground, boundary], dim=1)

    return ThresholdNet().eval()


def _keras_network():
    """The foreground/boundary network in Keras layers (channel-last)."""
    import keras
    from keras import initializers, layers

    image = keras.Input((None, None, 1))
    smooth = layers.AveragePooling2D(3, strides=1, padding="same")(image)
    foreground = layers.Conv2D(1, 1, activation="sigmoid", kernel_initializer=initializers.Constant(25.0),
                               bias_initializer=initializers.Constant(-25.0 * 0.22))(smooth)
    dilated = layers.MaxPooling2D(3, strides=1, padding="same")(foreground)
    negated = layers.Conv2D(1, 1, use_bias=False, kernel_initializer=initializers.Constant(-1.0))(foreground)
    minus_eroded = layers.MaxPooling2D(3, strides=1, padding="same")(negated)
    boundary = layers.ReLU(max_value=1.0)(layers.Add()([dilated, minus_eroded]))
    return keras.Model(image, layers.Concatenate(axis=-1)([foreground, boundary]))


def _onnx_weights(variant: str, normalized: np.ndarray, path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Export the torch network to ONNX; return its output on ``normalized`` and the weights entry."""
    import torch

    network = _network(variant)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter writes IR 8 like the zoo's
        output = network(torch.from_numpy(normalized)).numpy()
        torch.onnx.export(network, torch.from_numpy(normalized), path, dynamo=False,
                          opset_version=17, input_names=["image"], output_names=["probabilities"],
                          dynamic_axes={"image": {0: "b", 2: "y", 3: "x"}, "probabilities": {0: "b", 2: "y", 3: "x"}})
    return output, {"onnx": {"source": path.name, "sha256": sha256_of(path), "opset_version": 17}}


def _keras_weights(normalized: np.ndarray, path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Save the Keras network as HDF5; return its output on ``normalized`` (b, y, x, c) and the entry."""
    import tensorflow as tf

    network = _keras_network()
    output = np.asarray(network.predict(normalized, verbose=0))
    network.save(path)
    return output, {"keras_hdf5": {"source": path.name, "sha256": sha256_of(path),
                                   "tensorflow_version": tf.__version__.split("+")[0]}}


def rdf_for(files: dict[str, Path], channel_names: list[str], weights: dict[str, Any], *,
            channel_last: bool = False) -> dict[str, Any]:
    """The rdf of the package (plain data), pointing at ``files`` by name."""
    space_in = [{"type": "space", "id": a, "size": {"min": MIN_SIZE, "step": STEP}} for a in ("y", "x")]
    space_out = [{"type": "space", "id": a, "size": {"tensor_id": "image", "axis_id": a}, "halo": HALO}
                 for a in ("y", "x")]

    def axes(channel, space):
        return [{"type": "batch"}, *space, channel] if channel_last else [{"type": "batch"}, channel, *space]

    return {
        "format_version": "0.5.9",
        "type": "model",
        "id": "threshold-fg-boundary",
        "name": "Threshold foreground-boundary test model",
        "description": "Hand-set threshold network with foreground and boundary outputs (tests only).",
        "authors": [{"name": "An Outside Lab"}],
        "cite": [{"text": "nucseg-zoo test model", "url": "https://example.org"}],
        "license": "MIT",
        "documentation": "README.md",
        "covers": ["cover.png"],
        "tags": ["nuclei", "test"],
        "inputs": [{
            "id": "image",
            "axes": axes({"type": "channel", "channel_names": ["dna"]}, space_in),
            "test_tensor": {"source": "input.npy", "sha256": sha256_of(files["input.npy"])},
            "data": {"type": "float32"},
            "preprocessing": [{"id": "scale_range", "kwargs": {"axes": ["y", "x"], "min_percentile": 1.0,
                                                               "max_percentile": 99.8}}],
        }],
        "outputs": [{
            "id": "probabilities",
            "axes": axes({"type": "channel", "channel_names": channel_names}, space_out),
            "test_tensor": {"source": "output.npy", "sha256": sha256_of(files["output.npy"])},
            "data": {"type": "float32", "range": [0.0, 1.0]},
        }],
        "weights": weights,
    }


def build_external_package(folder: Path, image: np.ndarray, *, variant: str = "foreground_boundary",
                           weight_format: str = "onnx", edit: Callable[[dict[str, Any], Path], None] | None = None,
                           drop: tuple[str, ...] = ()) -> Path:
    """Write ``folder/threshold-model.zip`` built from a crop of ``image``.

    Args:
        variant: "foreground_boundary" (2 float channels), "binary_mask" (1 channel, 0/1),
            "three_class" (3 float channels: background, interior, boundary made of the same
            two maps; no ``config.nucseg_zoo``, so its output kind is undeclared) or
            "stardist" (1 + 16 channels: object probability and ray distances as StarDist's
            export lays them out; add ``config.stardist`` with ``edit``).
        weight_format: "onnx" (axes b, c, y, x) or "keras_hdf5" (TensorFlow; axes b, y, x, c;
            foreground_boundary only).
        edit: called with the rdf dict and the file folder before zipping (to break it).
        drop: file names to leave out of the zip (e.g. a test tensor).
    """
    from nucseg_zoo.normalization import PercentileNormalization

    folder.mkdir(parents=True, exist_ok=True)
    weights_file = "weights.onnx" if weight_format == "onnx" else "weights.h5"
    files = {name: folder / name for name in ("input.npy", "output.npy", weights_file, "README.md", "cover.png")}
    crop = image[:128, :160].astype("float32")
    normalized = PercentileNormalization(1.0, 99.8)(crop).astype("float32")
    if weight_format == "onnx":
        output, weights = _onnx_weights(variant, normalized[None, None], files[weights_file])
        crop, channels_first = crop[None, None], output
    else:
        output, weights = _keras_weights(normalized[None, :, :, None], files[weights_file])
        crop, channels_first = crop[None, :, :, None], np.moveaxis(output, -1, 1)
    np.save(files["input.npy"], crop)
    np.save(files["output.npy"], output.astype("float32"))
    files["README.md"].write_text("# Threshold test model\n\nForeground and boundary from a fixed threshold.\n")
    import imageio.v3 as iio

    cover = np.concatenate([channels_first[0, 0, :, :128], channels_first[0, -1, :, :128]], axis=1)
    iio.imwrite(files["cover.png"], (np.clip(cover, 0.0, 1.0) * 255).astype("uint8"))
    rdf = rdf_for(files, OUTPUT_CHANNELS[variant], weights, channel_last=weight_format != "onnx")
    if variant == "stardist":  # distances in px, not probabilities
        rdf["outputs"][0]["data"] = {"type": "float32"}
    if edit:
        edit(rdf, folder)
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False))
    package = folder / "threshold-model.zip"
    with zipfile.ZipFile(package, "w") as archive:
        for name in ("rdf.yaml", *files):
            if name not in drop:
                archive.write(folder / name, name)
    return package

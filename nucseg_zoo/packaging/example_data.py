"""The package's test tensors: a crop of a BBBC039 *test* image and the network's output.

``test_model`` feeds the test input through the package's preprocessing and network and
compares the result with the test output, so the output is computed here exactly the way
the package declares it: ``scale_range`` over the crop (the crop is its own sample), then
the network in float32 without padding (the crop size is a valid input size).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nucseg_zoo.normalization import PercentileNormalization

SAMPLE_DATASET = "bbbc039-sample"
SAMPLE_SPLIT = "test"
# a dense field (198 nuclei, 38 in the centre crop, several touching) of the bundled test images
SAMPLE_NAME = "IXMtest_L06_s5_w1610AE208-D6E8-4DC4-AC19-D26284AA8556"
CROP_SIZE = 256


@dataclass(frozen=True)
class ExampleData:
    """Test tensors of a package and where they come from.

    Attributes:
        raw: ``(1, 1, H, W)`` float32, raw intensities (uint16 values) of the crop.
        normalized: ``(H, W)`` float32, the crop after the package's ``scale_range``.
        output: ``(1, C, H, W)`` float32 network output for ``raw``.
        image: the whole ``(520, 696)`` uint16 source image.
        source: human-readable origin, e.g. ``"bbbc039 test image <name>, rows 132:388, ..."``.
    """

    raw: np.ndarray
    normalized: np.ndarray
    output: np.ndarray
    image: np.ndarray
    source: str


def load_sample_image() -> tuple[np.ndarray, str]:
    """The bundled BBBC039 test image :data:`SAMPLE_NAME` (uint16, 520 × 696) and its name."""
    from nucseg_zoo import datasets

    sample = datasets.load(SAMPLE_DATASET, split=SAMPLE_SPLIT)[SAMPLE_NAME]
    return sample.image, sample.name


def centre_crop(image: np.ndarray, size: int) -> tuple[np.ndarray, tuple[slice, slice]]:
    """The central ``size × size`` window of a 2-D image and its slices."""
    height, width = image.shape
    if size > min(height, width):
        raise ValueError(f"crop size {size} exceeds the image shape {image.shape}")
    y0, x0 = (height - size) // 2, (width - size) // 2
    window = (slice(y0, y0 + size), slice(x0, x0 + size))
    return image[window], window


def run_network(network, normalized: np.ndarray) -> np.ndarray:
    """``network`` (eval, CPU, float32) on a ``(H, W)`` normalised image → ``(1, C, H, W)``."""
    import torch

    with torch.no_grad():
        tensor = torch.from_numpy(np.ascontiguousarray(normalized, dtype=np.float32))[None, None]
        return network(tensor).float().numpy()


def make_example_data(network, normalization: PercentileNormalization, *,
                      crop_size: int = CROP_SIZE) -> ExampleData:
    """Test input (a centre crop of a BBBC039 test image) and the network's output for it."""
    image, name = load_sample_image()
    crop, (ys, xs) = centre_crop(image, crop_size)
    normalized = np.ascontiguousarray(normalization(crop), dtype=np.float32)
    output = run_network(network, normalized)
    source = (f"BBBC039 test split, image {name}, rows {ys.start}:{ys.stop}, "
              f"columns {xs.start}:{xs.stop} (raw uint16 intensities stored as float32)")
    return ExampleData(raw=crop.astype(np.float32)[None, None], normalized=normalized, output=output,
                       image=image, source=source)

"""Training data: normalised images, 3-class targets and augmented random crops."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from nucseg_zoo.datasets.samples import DatasetSplit
from nucseg_zoo.normalization import PercentileNormalization
from nucseg_zoo.targets import three_class_targets
from nucseg_zoo.training.recipe import Augmentation


class CropSampler:
    """Draw augmented ``(image, target)`` crops from a training split held in memory."""

    def __init__(self, samples: DatasetSplit, normalization: PercentileNormalization, crop_size: int,
                 augmentation: Augmentation, *, thin_boundary_max_area: int = 0):
        self.images = [normalization(sample.image) for sample in samples]
        self.targets = [three_class_targets(sample.labels, thin_boundary_max_area=thin_boundary_max_area)
                        for sample in samples]
        self.crop_size = crop_size
        self.augmentation = augmentation

    def batch(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """``(B, 1, S, S)`` float32 images and ``(B, S, S)`` int64 class targets."""
        pairs = [self._crop(rng) for _ in range(batch_size)]
        images = np.stack([p[0] for p in pairs])[:, None]
        targets = np.stack([p[1] for p in pairs]).astype(np.int64)
        return images, targets

    def _crop(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        index = rng.integers(len(self.images))
        image, target = self.images[index], self.targets[index]
        size = self.crop_size
        y = rng.integers(image.shape[0] - size + 1)
        x = rng.integers(image.shape[1] - size + 1)
        image, target = image[y:y + size, x:x + size], target[y:y + size, x:x + size]
        aug = self.augmentation
        if aug.elastic:
            image, target = _elastic(image, target, rng, **aug.elastic)
        if aug.flips and rng.random() < 0.5:
            image, target = image[:, ::-1], target[:, ::-1]
        if aug.rot90:
            k = int(rng.integers(4))
            image, target = np.rot90(image, k), np.rot90(target, k)
        image = image * rng.uniform(*aug.gain) + rng.uniform(*aug.offset)
        return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(target)


def _elastic(image: np.ndarray, target: np.ndarray, rng: np.random.Generator, *, alpha: float,
             sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random displacement (Simard et al. 2003); targets use nearest neighbour."""
    shape = image.shape
    dy = ndi.gaussian_filter(rng.uniform(-1, 1, shape), sigma) * alpha
    dx = ndi.gaussian_filter(rng.uniform(-1, 1, shape), sigma) * alpha
    yy, xx = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    coords = np.array([yy + dy, xx + dx])
    return (ndi.map_coordinates(image, coords, order=1, mode="reflect"),
            ndi.map_coordinates(target, coords, order=0, mode="reflect"))

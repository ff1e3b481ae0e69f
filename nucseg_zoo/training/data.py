"""Training data: normalised images, 3-class targets and augmented random crops."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from nucseg_zoo.datasets.samples import DatasetSplit
from nucseg_zoo.normalization import PercentileNormalization
from nucseg_zoo.targets import pixel_weights, three_class_targets
from nucseg_zoo.training.recipe import Augmentation


class CropSampler:
    """Draw augmented ``(image, target, weight[, soft target])`` crops from a training split in memory.

    ``soft_targets``: optional per-sample ``(C, H, W)`` teacher probabilities (distillation),
    cropped and flipped/rotated with the image.
    """

    def __init__(self, samples: DatasetSplit, normalization: PercentileNormalization, crop_size: int,
                 augmentation: Augmentation, *, class_weights: tuple[float, ...] = (1.0, 1.0, 1.0),
                 thin_boundary_max_area: int = 0, small_interior_weight: float | None = None,
                 soft_targets: list[np.ndarray] | None = None):
        self.images = [normalization(sample.image) for sample in samples]
        self.targets = [three_class_targets(sample.labels, thin_boundary_max_area=thin_boundary_max_area)
                        for sample in samples]
        self.weights = [pixel_weights(sample.labels, target, class_weights, small_max_area=thin_boundary_max_area,
                                      small_interior_weight=small_interior_weight)
                        for sample, target in zip(samples, self.targets)]
        if soft_targets is not None:
            if len(soft_targets) != len(self.images) or any(
                    soft.shape[1:] != image.shape for soft, image in zip(soft_targets, self.images)):
                raise ValueError("soft_targets must hold one (C, H, W) map per sample, of the sample's H, W")
            if augmentation.elastic:
                raise ValueError("elastic augmentation of soft targets is not supported")
        self.soft_targets = soft_targets
        self.crop_size = crop_size
        self.augmentation = augmentation

    def batch(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, ...]:
        """``(B, 1, S, S)`` float32 images, ``(B, S, S)`` int64 class targets, float32 pixel weights
        and, with ``soft_targets``, ``(B, C, S, S)`` float32 teacher probabilities."""
        crops = [self._crop(rng) for _ in range(batch_size)]
        images = np.stack([c[0] for c in crops])[:, None]
        targets = np.stack([c[1] for c in crops]).astype(np.int64)
        rest = tuple(np.stack([c[k] for c in crops]) for k in range(2, len(crops[0])))
        return (images, targets, *rest)

    def _crop(self, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        index = rng.integers(len(self.images))
        image, target, weight = self.images[index], self.targets[index], self.weights[index]
        size = self.crop_size
        y = rng.integers(image.shape[0] - size + 1)
        x = rng.integers(image.shape[1] - size + 1)
        window = np.s_[y:y + size, x:x + size]
        image, target, weight = image[window], target[window], weight[window]
        soft = None if self.soft_targets is None else self.soft_targets[index][(slice(None), *window)]
        aug = self.augmentation
        if aug.elastic:
            image, target, weight = _elastic(image, target, weight, rng, **aug.elastic)
        if aug.flips and rng.random() < 0.5:
            image, target, weight = image[:, ::-1], target[:, ::-1], weight[:, ::-1]
            soft = None if soft is None else soft[:, :, ::-1]
        if aug.rot90:
            k = int(rng.integers(4))
            image, target, weight = np.rot90(image, k), np.rot90(target, k), np.rot90(weight, k)
            soft = None if soft is None else np.rot90(soft, k, axes=(1, 2))
        image = image * rng.uniform(*aug.gain) + rng.uniform(*aug.offset)
        crop = (np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(target),
                np.ascontiguousarray(weight))
        return crop if soft is None else (*crop, np.ascontiguousarray(soft, dtype=np.float32))


def balanced_pixel_mask(targets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per crop, an equal number of randomly chosen pixels of every class present.

    Van Valen et al. 2016 (DeepCell) train on as many pixels of each class as the rarest
    class has (1:1:1 cross-entropy); this applies that rule to each crop of a batch.

    Args:
        targets: ``(B, H, W)`` integer class targets.
        rng: random generator (the epoch's, so a resumed run draws the same pixels).

    Returns:
        ``(B, H, W)`` float32 mask: 1 on the chosen pixels, 0 elsewhere.
    """
    mask = np.zeros(targets.shape, np.float32)
    for crop, out in zip(targets, mask):
        flat = crop.ravel()
        classes, counts = np.unique(flat, return_counts=True)
        for cls in classes:
            where = np.flatnonzero(flat == cls)
            out.ravel()[rng.choice(where, size=counts.min(), replace=False)] = 1.0
    return mask


def _elastic(image: np.ndarray, target: np.ndarray, weight: np.ndarray, rng: np.random.Generator, *,
             alpha: float, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smooth random displacement (Simard et al. 2003); targets and weights use nearest neighbour."""
    shape = image.shape
    dy = ndi.gaussian_filter(rng.uniform(-1, 1, shape), sigma) * alpha
    dx = ndi.gaussian_filter(rng.uniform(-1, 1, shape), sigma) * alpha
    yy, xx = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    coords = np.array([yy + dy, xx + dx])
    return (ndi.map_coordinates(image, coords, order=1, mode="reflect"),
            ndi.map_coordinates(target, coords, order=0, mode="reflect"),
            ndi.map_coordinates(weight, coords, order=0, mode="reflect"))

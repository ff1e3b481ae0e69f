"""Training data: normalised images, their output kind's targets and augmented random crops."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from nucseg_zoo.datasets.samples import DatasetSplit
from nucseg_zoo.normalization import PercentileNormalization
from nucseg_zoo.training.recipe import Augmentation


class CropSampler:
    """Draw augmented ``(image, target, weight[, soft target])`` crops from a training split in memory.

    Args:
        samples: the training split.
        normalization: the recipe's input normalisation.
        crop_size: side (px) of the square crops.
        augmentation: the recipe's augmentation.
        targets: the output kind's target builder (``Training.targets(recipe)`` of
            :class:`~nucseg_zoo.postprocessing.Training`, e.g.
            :class:`~nucseg_zoo.targets.ThreeClassTargets`): ``(H, W)`` instance labels →
            ``(H, W)`` target and ``(H, W)`` float32 weights. Applied to an empty label image
            it gives the target and weight of pixels known to be background (blank fields,
            zero frames).
        soft_targets: optional per-sample ``(C, H, W)`` teacher probabilities (distillation)
            of a kind with class targets, cropped and flipped/rotated with the image.

    Raises:
        ValueError: ``soft_targets`` of another count or size, or with elastic augmentation.
    """

    def __init__(self, samples: DatasetSplit, normalization: PercentileNormalization, crop_size: int,
                 augmentation: Augmentation, *, targets: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                 soft_targets: list[np.ndarray] | None = None):
        self.images = [normalization(sample.image) for sample in samples]
        # raw images, only for padded_borders (a framed image is normalised with its frame)
        self.raw_images = [sample.image for sample in samples] if augmentation.padded_borders else None
        pairs = [targets(sample.labels) for sample in samples]
        self.targets = [target for target, _ in pairs]
        self.weights = [weight for _, weight in pairs]
        background_target, background_weight = targets(np.zeros((1, 1), np.int32))
        self.background_target = background_target[0, 0]
        self.background_weight = background_weight[0, 0]
        if soft_targets is not None:
            if len(soft_targets) != len(self.images) or any(
                    soft.shape[1:] != image.shape for soft, image in zip(soft_targets, self.images)):
                raise ValueError("soft_targets must hold one (C, H, W) map per sample, of the sample's H, W")
            if augmentation.elastic:
                raise ValueError("elastic augmentation of soft targets is not supported")
        self.soft_targets = soft_targets
        self.normalization = normalization
        self.crop_size = crop_size
        self.augmentation = augmentation

    def batch(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, ...]:
        """``(B, 1, S, S)`` float32 images, ``(B, S, S)`` targets (int64 for class targets, torch's
        index type; float32 for others), float32 pixel weights and, with ``soft_targets``,
        ``(B, C, S, S)`` float32 teacher probabilities."""
        crops = [self._crop(rng) for _ in range(batch_size)]
        images = np.stack([c[0] for c in crops])[:, None]
        targets = np.stack([c[1] for c in crops])
        targets = targets.astype(np.int64 if np.issubdtype(targets.dtype, np.integer) else np.float32)
        rest = tuple(np.stack([c[k] for c in crops]) for k in range(2, len(crops[0])))
        return (images, targets, *rest)

    def _crop(self, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        aug = self.augmentation
        if aug.blank_fields and rng.random() < aug.blank_fields["probability"]:
            image, target, weight, soft = self._blank_crop(rng)
        elif aug.padded_borders and rng.random() < aug.padded_borders["probability"]:
            image, target, weight, soft = self._framed_window(rng)
        else:
            image, target, weight, soft = self._random_window(rng)
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
        if aug.hot_pixels and rng.random() < aug.hot_pixels["probability"]:
            image = add_hot_pixels(image, rng, max_count=aug.hot_pixels["max_count"],
                                   values=aug.hot_pixels["values"], max_size=aug.hot_pixels.get("max_size", 1))
        crop = (np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(target),
                np.ascontiguousarray(weight))
        return crop if soft is None else (*crop, np.ascontiguousarray(soft, dtype=np.float32))

    def _random_window(self, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """A random ``crop_size`` window of a random training image, its targets, weights and soft targets."""
        index = rng.integers(len(self.images))
        image = self.images[index]
        size = self.crop_size
        y = rng.integers(image.shape[0] - size + 1)
        x = rng.integers(image.shape[1] - size + 1)
        window = np.s_[y:y + size, x:x + size]
        soft = None if self.soft_targets is None else self.soft_targets[index][(slice(None), *window)]
        return image[window], self.targets[index][window], self.weights[index][window], soft

    def _framed_window(self, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """A window against a zero frame of a random training image (see :func:`frame_with_zeros`),
        the image normalised with the frame; the frame's pixels are background."""
        index = rng.integers(len(self.raw_images))
        raw, frame = frame_with_zeros(self.raw_images[index], rng, max_width=self.augmentation.padded_borders["max_width"])
        image = self.normalization(raw)
        size, (height, width) = self.crop_size, raw.shape
        side = rng.choice(np.flatnonzero(frame.sides))  # 0 top, 1 bottom, 2 left, 3 right
        y = {0: 0, 1: height - size}.get(side, rng.integers(height - size + 1))
        x = {2: 0, 3: width - size}.get(side, rng.integers(width - size + 1))
        window = np.s_[y:y + size, x:x + size]
        outside = frame.mask[window]
        target = np.where(outside, self.background_target, self.targets[index][window])
        weight = np.where(outside, self.background_weight, self.weights[index][window])
        soft = None
        if self.soft_targets is not None:
            soft = self.soft_targets[index][(slice(None), *window)].copy()
            soft[:, outside] = self._background_probabilities[:, None]
        return image[window], target, weight, soft

    def _blank_crop(self, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """A synthetic empty field, normalised like a real image: every pixel background."""
        shape = (self.crop_size, self.crop_size)
        image = self.normalization(synthetic_blank_field(rng, shape))
        target = np.full(shape, self.background_target, self.targets[0].dtype)
        weight = np.full(shape, self.background_weight, np.float32)
        soft = None
        if self.soft_targets is not None:
            background = self._background_probabilities
            soft = np.broadcast_to(background[:, None, None], (len(background), *shape))
        return image, target, weight, soft

    @property
    def _background_probabilities(self) -> np.ndarray:
        """``(C,)`` float32 soft target of a pixel known to be background: one-hot at its class."""
        return np.eye(self.soft_targets[0].shape[0], dtype=np.float32)[self.background_target]


def synthetic_blank_field(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A camera frame without nuclei, ``shape`` float32 in raw counts.

    One of three kinds, equally likely, at a level drawn log-uniformly from 1..1000 counts:
    a constant (a blank or background-subtracted field), Poisson shot noise (``level``
    photons per pixel) or Gaussian read noise (sigma 1..10 counts) around an offset of
    ``level`` (below a few counts it dips under zero, like a background-subtracted frame). Per-image percentile normalisation stretches the noise of such a frame to
    the range of nuclei (0..1), which is what a network must learn to call background.
    """
    level = 10.0 ** rng.uniform(0.0, 3.0)
    kind = rng.integers(3)
    if kind == 0:
        frame = np.full(shape, level)
    elif kind == 1:
        frame = rng.poisson(level, shape)
    else:
        frame = level + rng.normal(0.0, rng.uniform(1.0, 10.0), shape)
    return frame.astype(np.float32)


def add_hot_pixels(image: np.ndarray, rng: np.random.Generator, *, max_count: int,
                   values: tuple[float, float], max_size: int = 1) -> np.ndarray:
    """A copy of ``image`` (2-D, normalised) with 1..``max_count`` camera hot spots: squares of
    1..``max_size`` px per side (1: isolated pixels) at random places, each set to one value
    drawn uniformly from ``values`` (``(low, high)``)."""
    out = np.array(image, dtype=np.float32)
    count = int(rng.integers(1, max_count + 1))
    ys = rng.integers(out.shape[0], size=count)
    xs = rng.integers(out.shape[1], size=count)
    if max_size == 1:  # the draws of recipes written before max_size existed, unchanged
        out[ys, xs] = rng.uniform(values[0], values[1], size=count)
        return out
    sizes = rng.integers(1, max_size + 1, size=count)
    for y, x, size, value in zip(ys, xs, sizes, rng.uniform(values[0], values[1], size=count)):
        out[y:y + size, x:x + size] = value
    return out


@dataclass(frozen=True)
class Frame:
    """Where :func:`frame_with_zeros` put its frame.

    Attributes:
        mask: ``(H, W)`` bool, True in the frame.
        sides: ``(4,)`` bool, the framed sides in the order top, bottom, left, right.
    """

    mask: np.ndarray
    sides: np.ndarray


def frame_with_zeros(image: np.ndarray, rng: np.random.Generator, *, max_width: int) -> tuple[np.ndarray, Frame]:
    """A copy of a raw ``(H, W)`` image with a black frame: each side, with probability 1/2
    (at least one side), has its outer 1..``max_width`` px set to 0, as a stitched,
    registered or zero-padded field has. Returns the float32 image and the :class:`Frame`."""
    height, width = image.shape
    sides = rng.random(4) < 0.5
    if not sides.any():
        sides[rng.integers(4)] = True
    widths = rng.integers(1, max_width + 1, size=4)
    mask = np.zeros(image.shape, bool)
    if sides[0]:
        mask[:widths[0]] = True
    if sides[1]:
        mask[height - widths[1]:] = True
    if sides[2]:
        mask[:, :widths[2]] = True
    if sides[3]:
        mask[:, width - widths[3]:] = True
    return np.where(mask, np.float32(0), image.astype(np.float32)), Frame(mask, sides)


def balanced_pixel_mask(targets: np.ndarray, rng: np.random.Generator, *, per: str = "crop") -> np.ndarray:
    """An equal number of randomly chosen pixels of every class present.

    Van Valen et al. 2016 (DeepCell) train on as many pixels of each class as the rarest
    class has (1:1:1 cross-entropy). ``per="crop"`` applies that rule to each crop of a batch
    (a crop with one class contributes all its pixels); ``per="batch"`` applies it to the
    batch as a whole, so crops without nuclei (all background) add background candidates
    without tilting the batch's 1:1:1 balance.

    Args:
        targets: ``(B, H, W)`` integer class targets.
        rng: random generator (the epoch's, so a resumed run draws the same pixels).
        per: ``"crop"`` or ``"batch"``.

    Returns:
        ``(B, H, W)`` float32 mask: 1 on the chosen pixels, 0 elsewhere.

    Raises:
        ValueError: ``per`` is neither.
    """
    if per not in ("crop", "batch"):
        raise ValueError(f"per must be 'crop' or 'batch', got {per!r}")
    mask = np.zeros(targets.shape, np.float32)
    groups = zip(targets, mask) if per == "crop" else [(targets, mask)]
    for group, out in groups:
        flat = group.ravel()
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

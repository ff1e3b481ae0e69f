"""Versioned training recipes (YAML) for zoo models.

A recipe holds the training facts only. The network, its size step and halo, and the input
normalisation are the zoo entry's (``entry.yaml``'s ``architecture`` and ``preprocessing``,
stated once there): :func:`read_recipe` reads ``recipe.yaml`` together with its entry, and a
recipe file that restates them is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from nucseg_zoo.normalization import PercentileNormalization
from nucseg_zoo.zoo.architecture import Architecture
from nucseg_zoo.zoo.entry import ZooEntry


@dataclass(frozen=True)
class Augmentation:
    """Random augmentation of training crops."""

    flips: bool = True
    rot90: bool = True
    gain: tuple[float, float] = (0.7, 1.4)
    offset: tuple[float, float] = (-0.1, 0.1)
    elastic: dict[str, float] | None = None
    hot_pixels: dict[str, Any] | None = None
    """Camera hot pixels: ``{probability: p, max_count: n, values: [low, high]}`` and optionally
    ``max_size: s``. With probability ``p`` a crop gets 1..n hot spots, each a square of
    1..s px per side (default 1: isolated pixels) set to one value drawn uniformly from
    ``[low, high]`` (normalised units, after gain and offset; a saturated hot pixel normalises
    to the clip's upper bound, 5). The targets are unchanged: a hot pixel is not a nucleus."""
    blank_fields: dict[str, Any] | None = None
    """Fields without nuclei: ``{probability: p}``. With probability ``p`` a crop is replaced by
    a synthetic empty camera frame (:func:`nucseg_zoo.training.data.synthetic_blank_field`),
    normalised per crop like a real image and all background."""
    padded_borders: dict[str, Any] | None = None
    """Black frames (stitched, registered or padded fields): ``{probability: p, max_width: w}``.
    With probability ``p`` the crop comes from a training image whose pixels within 1..w px of
    1 to 4 of its sides are set to 0 (raw units, before the image is normalised with its own
    percentiles, as a user's framed image is); the crop lies against one framed side, and the
    frame is background (:func:`nucseg_zoo.training.data.frame_with_zeros`)."""

    def __post_init__(self) -> None:
        if self.hot_pixels is not None:
            keys = {"probability", "max_count", "values"}
            if not keys <= set(self.hot_pixels) <= keys | {"max_size"}:
                raise ValueError(f"augmentation hot_pixels must have the keys {sorted(keys)} (and optionally "
                                 f"max_size), got {sorted(self.hot_pixels)}")
            low, high = self.hot_pixels["values"]
            if not (0.0 <= self.hot_pixels["probability"] <= 1.0 and int(self.hot_pixels["max_count"]) >= 1
                    and low <= high and int(self.hot_pixels.get("max_size", 1)) >= 1):
                raise ValueError("augmentation hot_pixels needs 0 <= probability <= 1, max_count >= 1, "
                                 f"values [low, high] with low <= high and max_size >= 1, got {self.hot_pixels}")
        if self.padded_borders is not None:
            if set(self.padded_borders) != {"probability", "max_width"} \
                    or not 0.0 <= self.padded_borders["probability"] <= 1.0 \
                    or int(self.padded_borders["max_width"]) < 1:
                raise ValueError("augmentation padded_borders must be {probability: p, max_width: w} with "
                                 f"0 <= p <= 1 and w >= 1, got {self.padded_borders}")
        if self.blank_fields is not None:
            if set(self.blank_fields) != {"probability"} or not 0.0 <= self.blank_fields["probability"] <= 1.0:
                raise ValueError(f"augmentation blank_fields must be {{probability: p}} with 0 <= p <= 1, "
                                 f"got {self.blank_fields}")


PIXEL_SAMPLING = {"all": None, "balanced": "crop", "balanced_batch": "batch"}
"""Recipe ``pixel_sampling`` values and the ``per`` of their balanced pixel mask (None: every pixel)."""

ENTRY_FACTS = {"architecture", "normalization", "preprocessing", "members", "size_step", "halo"}
"""Keys a recipe file may not have: the entry states them (``members``: its weights files)."""


@dataclass(frozen=True)
class Recipe:
    """Everything that determines a training run (``zoo/<id>/recipe.yaml`` and its entry).

    ``architecture``, ``normalization`` and ``members`` come from the entry
    (:func:`read_recipe`): the network one run trains (an ensemble's member network, else the
    entry's; validated and shipped in that form, with its ``size_step`` and ``halo``), the
    per-image normalisation of its inputs, and the number of networks (weights files). The
    architecture's callable must accept ``softmax=False`` (training and validation use logits).
    """

    version: int
    architecture: Architecture
    seed: int
    dataset: str
    train_split: str
    validation_split: str
    normalization: PercentileNormalization
    crop_size: int
    batch_size: int
    epochs: int
    steps_per_epoch: int
    optimizer: dict[str, Any]
    schedule: dict[str, Any]
    class_weights: tuple[float, ...]
    augmentation: Augmentation = field(default_factory=Augmentation)
    members: int = 1
    """Networks trained from this recipe (the entry's weights files; an ensemble when > 1);
    member K uses ``seed + K`` (:meth:`for_member`)."""
    training_kwargs: dict[str, Any] = field(default_factory=dict)
    """Overrides of the architecture's ``kwargs`` for training (same parameters), e.g. a
    valid-convolution form whose output is smaller than its crop; the targets are centre-cropped
    to it."""
    pixel_sampling: str = "all"
    """Pixels that carry the loss: ``"all"`` (weighted by ``class_weights``), ``"balanced"``
    — per crop, as many randomly chosen pixels of each class as the crop has of its rarest
    present class (the 1:1:1 sampling of Van Valen et al. 2016 applied to a crop) — or
    ``"balanced_batch"``, the same rule over the whole batch (see
    :func:`nucseg_zoo.training.data.balanced_pixel_mask`)."""
    thin_boundary_max_area: int = 0
    """Nuclei of at most this area (px) get a one-pixel boundary in the training targets
    (see :func:`nucseg_zoo.targets.three_class_targets`); 0 = the paper's band for all."""
    small_interior_weight: float | None = None
    """Loss weight of the interior pixels of those small nuclei (see
    :func:`nucseg_zoo.targets.pixel_weights`); None = the interior class weight."""
    init_from: dict[str, Any] | None = None
    """Warm start: ``{"sha256": ..., "recipe_version": ..., "description": ...}`` of the state
    dict training starts from (the weights an earlier recipe version produced); an ensemble
    recipe lists one sha256 per member (:meth:`for_member` picks the member's)."""
    distillation: dict[str, Any] | None = None
    """Knowledge distillation (Hinton et al. 2015, arXiv:1503.02531): ``{"teacher": zoo id,
    "sha256": the teacher's weights, "weight": w}``. The loss becomes
    ``(1 - w) * CE(labels) + w * CE(teacher probabilities)``, both pixel-weighted; the teacher's
    probabilities are predicted once per training image (see :mod:`nucseg_zoo.training.teacher`)."""
    weight_averaging: dict[str, Any] | None = None
    """Exponential moving average of the weights and batch-norm statistics (Polyak & Juditsky
    1992; ``torch.optim.swa_utils.AveragedModel``): ``{"decay": d}``, updated after every step
    with the decay warmed up as ``min(d, (1 + n) / (10 + n))`` after ``n`` updates
    (:func:`nucseg_zoo.training.loop.ema_decay`).
    Validation, the best checkpoint and the shipped weights are the averaged network's."""
    freeze_batch_norm: bool = False
    """Keep the batch-norm layers' running statistics (mean, variance) as they start, normalising
    training batches with them instead of with the batch's own (their scale and shift still
    learn): for fine-tuning on a few images, whose crops would otherwise replace the statistics
    the network learned on its whole training set (as torchvision's detection models freeze
    batch norm when fine-tuned, ``FrozenBatchNorm2d``)."""
    train_images: tuple[str, ...] | None = None
    """Names of the training split's images to learn from (None: all of them), e.g. a random
    subset for a learning curve (the paper's Fig. 5); part of the recipe's digest, so a
    resumed run keeps its subset."""

    @classmethod
    def from_yaml(cls, path: str | Path, entry: ZooEntry) -> "Recipe":
        """Read and check the recipe file ``path`` of zoo entry ``entry``.

        Raises:
            ValueError: the file restates a fact of the entry (:data:`ENTRY_FACTS`), or a
                field is out of range (the message names it).
        """
        raw = yaml.safe_load(Path(path).read_text())
        restated = sorted(ENTRY_FACTS & set(raw))
        if restated:
            raise ValueError(f"{path}: the zoo entry states {', '.join(restated)} ({entry.dir / 'entry.yaml'}: "
                             "architecture, preprocessing, weights); remove them from the training recipe")
        augmentation = dict(raw.get("augmentation") or {})
        for key in ("gain", "offset"):
            if key in augmentation:
                augmentation[key] = tuple(augmentation[key])
        raw["augmentation"] = Augmentation(**augmentation)
        raw["class_weights"] = tuple(raw["class_weights"])
        if raw.get("train_images") is not None:
            raw["train_images"] = tuple(raw["train_images"])
        recipe = cls(**raw, architecture=entry.member_architecture, normalization=entry.normalization,
                     members=len(entry.weights))
        step = recipe.architecture.size_step
        if recipe.crop_size % step:
            raise ValueError(f"crop_size must be a multiple of the size step {step}, got {recipe.crop_size}")
        if recipe.init_from is not None and isinstance(recipe.init_from.get("sha256"), list) \
                and len(recipe.init_from["sha256"]) != recipe.members:
            raise ValueError(f"init_from sha256 lists one state dict per member: {recipe.members} expected, "
                             f"got {len(recipe.init_from['sha256'])}")
        if recipe.pixel_sampling not in PIXEL_SAMPLING:
            raise ValueError(f"pixel_sampling must be one of {list(PIXEL_SAMPLING)}, got {recipe.pixel_sampling!r}")
        if recipe.optimizer.get("name", "adam") not in ("adam", "sgd"):
            raise ValueError(f"optimizer name must be 'adam' or 'sgd', got {recipe.optimizer.get('name')!r}")
        if recipe.small_interior_weight is not None and recipe.thin_boundary_max_area <= 0:
            raise ValueError("small_interior_weight needs thin_boundary_max_area > 0 (the size limit of small nuclei)")
        if recipe.distillation is not None:
            missing = {"teacher", "sha256", "weight"} - set(recipe.distillation)
            if missing:
                raise ValueError(f"distillation needs teacher, sha256 and weight; missing {sorted(missing)}")
            if not 0.0 < recipe.distillation["weight"] <= 1.0:
                raise ValueError(f"distillation weight must lie in (0, 1], got {recipe.distillation['weight']}")
        if recipe.weight_averaging is not None:
            decay = recipe.weight_averaging.get("decay")
            if set(recipe.weight_averaging) != {"decay"} or not isinstance(decay, float) or not 0.0 < decay < 1.0:
                raise ValueError(f"weight_averaging must be {{decay: d}} with 0 < d < 1, got {recipe.weight_averaging}")
        return recipe

    def for_member(self, member: int) -> "Recipe":
        """The recipe of ensemble member ``member`` (0-based): this one with seed ``seed + member``
        (and, for a warm start, the member's own ``init_from`` sha256).

        Raises:
            ValueError: ``member`` is not in ``range(members)``.
        """
        if not 0 <= member < self.members:
            raise ValueError(f"member must be in 0..{self.members - 1} (the recipe trains {self.members} "
                             f"network{'s' if self.members > 1 else ''}), got {member}")
        init_from = self.init_from
        if init_from is not None and isinstance(init_from["sha256"], list):
            init_from = {**init_from, "sha256": init_from["sha256"][member]}
        return replace(self, seed=self.seed + member, init_from=init_from)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (stored in checkpoints and logs)."""
        return asdict(self)

    @property
    def total_steps(self) -> int:
        """Optimizer steps of the whole run."""
        return self.epochs * self.steps_per_epoch

    def digest(self) -> str:
        """sha256 of the recipe's content, to tie checkpoints to the recipe."""
        return hashlib.sha256(yaml.safe_dump(self.to_dict(), sort_keys=True).encode()).hexdigest()


def read_recipe(entry: ZooEntry, path: str | Path | None = None) -> Recipe:
    """The training recipe of zoo entry ``entry``: its ``recipe.yaml``, or the file ``path``."""
    return Recipe.from_yaml(entry.recipe_path if path is None else path, entry)


def builtin_training_data(kind: str, source: str) -> tuple[str, ...]:
    """The ``dataset/split`` pairs a zoo model (its recipe: training and validation split) or a
    baseline (its parameter record: trained on, chosen on) learned from."""
    if kind == "zoo":
        from nucseg_zoo.zoo.entry import read_entry

        recipe = read_recipe(read_entry(source))
        return (f"{recipe.dataset}/{recipe.train_split}", f"{recipe.dataset}/{recipe.validation_split}")
    from nucseg_zoo.baselines import baseline_training_data

    return baseline_training_data(source)

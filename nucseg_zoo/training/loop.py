"""The training loop: seeded, resumable, logged, best checkpoint chosen on validation.

Layout of a run folder::

    last.pt          full state after the latest finished epoch (resume point)
    best.pt          model state dict with the best validation average F1 (the averaged
                     network's when the recipe has ``weight_averaging``)
    log.jsonl        one JSON line per epoch (loss, validation average F1, lr, seconds)

Each epoch draws its crops from a generator seeded by (recipe seed, epoch), so a run
resumed after an interruption continues exactly as an uninterrupted one would.

Targets, loss and the network's output activation come from the training record of the
output kind the recipe trains (:data:`RECIPE_OUTPUT_KIND`, see
:class:`nucseg_zoo.postprocessing.Training`); validation postprocesses with that kind's
adapter.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from nucseg_zoo import datasets
from nucseg_zoo._atomic import atomic_path, refuse_to_overwrite
from nucseg_zoo.devices import check_device
from nucseg_zoo.inference import autocast_context, default_precision, predict_tiled
from nucseg_zoo.metrics import DatasetScores, score_image, summarize
from nucseg_zoo.postprocessing import KindParams, OutputKind, get_output_kind
from nucseg_zoo.training.data import CropSampler, balanced_pixel_mask
from nucseg_zoo.training.recipe import PIXEL_SAMPLING, Recipe

log = logging.getLogger(__name__)

RECIPE_OUTPUT_KIND = "three_class"
"""The output kind every recipe's network is trained to give. Recipes name no kind yet: their
``class_weights``, ``thin_boundary_max_area`` and ``small_interior_weight`` are this kind's
target options (:class:`nucseg_zoo.targets.ThreeClassTargets`)."""


def recipe_output_kind(recipe: Recipe) -> OutputKind:
    """The registered kind ``recipe`` trains (:data:`RECIPE_OUTPUT_KIND`), checked to be
    trainable with the recipe's options.

    Raises:
        ValueError: the kind has no training record, or the recipe asks for distillation or
            class-balanced pixel sampling that the kind's targets do not allow.
    """
    kind = get_output_kind(RECIPE_OUTPUT_KIND)
    if kind.training is None:
        raise ValueError(f"output kind {kind.name} cannot be trained here (no training record)")
    if recipe.distillation and kind.training.soft_loss is None:
        raise ValueError(f"output kind {kind.name} has no distillation loss; the recipe's distillation cannot apply")
    if PIXEL_SAMPLING[recipe.pixel_sampling] and not kind.training.class_targets:
        raise ValueError(f"pixel_sampling {recipe.pixel_sampling!r} balances classes; output kind {kind.name} "
                         "has no class targets")
    return kind


def training_subset(samples, names: Sequence[str]) -> list:
    """The samples of the split ``samples`` named in ``names``, in the order of ``names``.

    Raises:
        ValueError: ``names`` is empty, repeats a name, or names an image the split lacks.
    """
    if not names or len(set(names)) != len(names):
        raise ValueError(f"train_images must name distinct images of {samples.label}, got {list(names)}")
    missing = sorted(set(names) - set(samples.names))
    if missing:
        raise ValueError(f"train_images names {len(missing)} image(s) that {samples.label} lacks: {missing[:3]}")
    return [samples[name] for name in names]


def freeze_batch_norm_statistics(model: torch.nn.Module) -> None:
    """Put every batch-norm layer of ``model`` in eval mode: batches are normalised with the
    layers' running statistics, which stay as they are (their weights and biases still train;
    :attr:`~nucseg_zoo.training.recipe.Recipe.freeze_batch_norm`)."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()


def atomic_torch_save(obj: object, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename over ``path``."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def build_model(recipe: Recipe, *, training: bool = False) -> torch.nn.Module:
    """The recipe's network with logits output: the shipped form, or with ``training`` its
    training form (the recipe's ``training_kwargs`` applied; same parameters)."""
    return recipe.architecture.build(**(recipe.training_kwargs if training else {}), softmax=False)


def make_optimizer(recipe: Recipe, model: torch.nn.Module) -> torch.optim.Optimizer:
    """Adam, or SGD with ``momentum``/``nesterov``; ``weight_decay`` (L2) on kernels only
    (parameters of 2 or more dimensions) when ``decay_kernels_only`` (Keras' kernel_regularizer)."""
    opt = recipe.optimizer
    decay = opt.get("weight_decay", 0.0)
    params = list(model.parameters())
    if opt.get("decay_kernels_only"):
        groups = [{"params": [p for p in params if p.ndim > 1], "weight_decay": decay},
                  {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]
    else:
        groups = [{"params": params, "weight_decay": decay}]
    if opt.get("name", "adam") == "sgd":
        return torch.optim.SGD(groups, lr=opt["lr"], momentum=opt.get("momentum", 0.0),
                               nesterov=opt.get("nesterov", False))
    return torch.optim.Adam(groups, lr=opt["lr"])


def centre_crop(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The central ``shape`` of the last two axes of ``array`` (training targets of a network
    whose training form returns a smaller output than its input crop)."""
    dy, dx = (array.shape[-2] - shape[0]) // 2, (array.shape[-1] - shape[1]) // 2
    return array[..., dy:dy + shape[0], dx:dx + shape[1]]


def load_init_weights(recipe: Recipe, path: str | Path | None, device: torch.device) -> dict:
    """The warm-start state dict named by ``recipe.init_from``, checked by sha256."""
    from nucseg_zoo._hashing import sha256_of

    expected = recipe.init_from["sha256"]
    if path is None:
        raise ValueError(f"the recipe starts from the state dict with sha256 {expected} "
                         f"({recipe.init_from.get('description', 'see the recipe')}); pass it as init_weights / --init-from")
    actual = sha256_of(Path(path))
    if actual != expected:
        raise ValueError(f"{path}: sha256 {actual} is not the recipe's init_from sha256 {expected}")
    return torch.load(path, map_location=device, weights_only=True)


def training_memory_format(device: torch.device, precision: str) -> torch.memory_format:
    """Layout of the network and its batches in training: NCHW for fp32 on CPU, else channels_last.

    oneDNN's bf16 kernels and cuDNN's tensor cores want channels_last. For fp32 training on
    a CPU NCHW was faster (`benchmarks/bench_unet.py --layouts`, AVX2 CPU: 25.5 vs 37.4 s
    per step of 8 crops), while inference stays faster in channels_last (4.8 vs 5.6 s).
    """
    if device.type == "cpu" and precision == "fp32":
        return torch.contiguous_format
    return torch.channels_last


def learning_rate(recipe: Recipe, step: int) -> float:
    """Linear warm-up, then cosine decay from ``lr`` to ``final_lr`` over the run."""
    peak, final = recipe.optimizer["lr"], recipe.schedule["final_lr"]
    warmup = recipe.schedule.get("warmup_steps", 0)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, recipe.total_steps - warmup)
    return final + 0.5 * (peak - final) * (1 + math.cos(math.pi * min(progress, 1.0)))


def ema_decay(decay: float, n_averaged: int) -> float:
    """Decay of the exponential moving average at its update ``n_averaged + 1``:
    ``min(decay, (1 + n) / (10 + n))``, the warm-up of TensorFlow's
    ``tf.train.ExponentialMovingAverage(num_updates=...)``.

    Without it the average of a network trained from scratch keeps ``decay ** n`` of its
    first, random weights: measured here, widths 24/48/96 with decay 0.998 validated at
    average F1 0.02 / 0.02 / 0.10 after 400 / 800 / 1,200 steps while the live network was at
    0.93 (4 validation images, step 800).
    """
    return min(decay, (1 + n_averaged) / (10 + n_averaged))


def _ema_update(decay: float) -> Callable:
    """``AveragedModel`` ``multi_avg_fn``: lerp towards the live parameters by ``1 - ema_decay``."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], live: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        step = 1.0 - ema_decay(decay, int(n_averaged))
        if averaged[0].is_floating_point():
            torch._foreach_lerp_(averaged, live, step)
        else:  # integer buffers (batch norm's num_batches_tracked)
            for tensor, value in zip(averaged, live, strict=True):
                tensor.copy_(tensor + (value - tensor) * step)

    return update


def weight_average(recipe: Recipe, model: torch.nn.Module) -> torch.optim.swa_utils.AveragedModel | None:
    """The exponential moving average of ``model`` the recipe asks for (weights and buffers,
    decay warmed up by :func:`ema_decay`), or None."""
    if not recipe.weight_averaging:
        return None
    from torch.optim.swa_utils import AveragedModel

    return AveragedModel(model, multi_avg_fn=_ema_update(recipe.weight_averaging["decay"]), use_buffers=True)


def validation_predictions(model: torch.nn.Module, samples, recipe: Recipe, device: torch.device,
                           precision: str) -> list[np.ndarray]:
    """The network's output ``(C, H, W)`` float32 for every validation image, in the recipe's
    output kind (three-class softmax maps; ``model``: the shipped form with logits output,
    see :func:`build_model`)."""
    activation = recipe_output_kind(recipe).training.output
    model.eval()
    outputs = []
    step, halo = recipe.architecture.size_step, recipe.architecture.halo
    for sample in samples:
        logits = predict_tiled(model, recipe.normalization(sample.image), device=device, precision=precision,
                               step=step, halo=halo)
        outputs.append(activation(logits))
    return outputs


def validation_summary(outputs: list[np.ndarray], truths: list[np.ndarray], params: KindParams, *,
                       kind: str | OutputKind) -> DatasetScores:
    """Metric summary of the postprocessed outputs (of ``kind``, with its ``params``) against
    the ground truth ``(H, W)`` integer labels."""
    kind = get_output_kind(kind)
    return summarize([score_image(truth, kind.to_labels(output, params), name=str(index))
                      for index, (output, truth) in enumerate(zip(outputs, truths))])


def average_f1(outputs: list[np.ndarray], truths: list[np.ndarray], params: KindParams, *,
               kind: str | OutputKind) -> float:
    """Average F1 of the postprocessed outputs against the ground truth (see :func:`validation_summary`)."""
    return validation_summary(outputs, truths, params, kind=kind).average_f1


def train(
    recipe: Recipe,
    run_dir: Path,
    *,
    device: str = "cpu",
    precision: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    init_weights: str | Path | None = None,
    mirror: str | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
    data: tuple[Sequence, Sequence] | None = None,
) -> Path:
    """Train ``recipe`` into ``run_dir``; return the path of the best state dict.

    Args:
        recipe: the training recipe.
        run_dir: output folder (created); holds ``last.pt``, ``best.pt``, ``log.jsonl``.
        device: "cpu" or "cuda".
        precision: "bf16", "fp16" or "fp32"; default bf16 where the device supports it.
        resume: continue from ``run_dir/last.pt`` (must come from the same recipe).
        overwrite: start afresh in a ``run_dir`` that holds an earlier run (its files are
            replaced); without it or ``resume`` such a folder is an error.
        init_weights: state dict to start from when the recipe has ``init_from``; its sha256
            must equal the recipe's.
        mirror: dataset mirror (see :func:`nucseg_zoo.datasets.load`).
        progress: show a tqdm progress bar.
        on_epoch: called with each epoch's log record.
        data: ``(training, validation)`` samples (each with ``name``, ``(H, W)`` ``image`` and
            ``(H, W)`` integer ``labels``) learned from and validated on instead of the recipe's
            dataset splits, e.g. a lab's own annotated folder (:mod:`nucseg_zoo.training.fine_tune`);
            the caller ties them to the recipe (its digest guards a resume).

    Raises:
        FileExistsError: ``run_dir`` holds an earlier run and neither ``resume`` nor
            ``overwrite`` is set (checked before any work).
        ValueError, DeviceUnavailableError: ``device`` is unknown or missing here
            (:func:`nucseg_zoo.devices.check_device`, checked before any work).
        ValueError: the recipe's output kind cannot be trained with its options
            (:func:`recipe_output_kind`, checked before any work).
    """
    run_dir = Path(run_dir)
    torch_device = torch.device(check_device(device))
    kind = recipe_output_kind(recipe)
    last_path, best_path, log_path = run_dir / "last.pt", run_dir / "best.pt", run_dir / "log.jsonl"
    if not (resume or overwrite):
        for path in (last_path, best_path, log_path):
            refuse_to_overwrite(path, what="earlier training run file",
                                how="pass --resume to continue that run, or --overwrite")
    run_dir.mkdir(parents=True, exist_ok=True)
    precision = precision or default_precision(torch_device)
    torch.manual_seed(recipe.seed)
    if torch_device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick its fastest kernels
    layout = training_memory_format(torch_device, precision)
    model = build_model(recipe, training=True).to(torch_device).to(memory_format=layout)
    optimizer = make_optimizer(recipe, model)
    start_epoch, best_f1 = 0, -1.0
    if resume and last_path.exists():
        state = torch.load(last_path, map_location=torch_device, weights_only=False)
        if state["recipe_digest"] != recipe.digest():
            raise ValueError(f"{last_path} was made with another recipe; start a new run folder")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, best_f1 = state["epoch"] + 1, state["best_f1"]
        log.info("resuming at epoch %d (best validation average F1 %.4f)", start_epoch, best_f1)
    else:
        if recipe.init_from:
            model.load_state_dict(load_init_weights(recipe, init_weights, torch_device))
        if log_path.exists():
            log_path.unlink()
    averaged = weight_average(recipe, model)  # starts from the (resumed or warm-start) weights
    if averaged is not None and start_epoch > 0:
        averaged.load_state_dict(state["averaged"])

    if data is None:
        train_samples = datasets.load(recipe.dataset, recipe.train_split, mirror=mirror)
        if recipe.train_images is not None:
            train_samples = training_subset(train_samples, recipe.train_images)
        val_samples = datasets.load(recipe.dataset, recipe.validation_split, mirror=mirror)
    else:
        train_samples, val_samples = data
    soft_targets = None
    if recipe.distillation:
        from nucseg_zoo.training.teacher import teacher_probabilities

        soft_targets = teacher_probabilities(recipe.distillation, train_samples, device=device,
                                             precision=precision, progress=progress)
    train_set = CropSampler(train_samples, recipe.normalization, recipe.crop_size, recipe.augmentation,
                            targets=kind.training.targets(recipe), soft_targets=soft_targets)
    separate_eval_form = bool(recipe.training_kwargs)
    distillation_weight = recipe.distillation["weight"] if recipe.distillation else 0.0
    val_truths = [sample.labels for sample in val_samples]
    scaler = torch.amp.GradScaler(enabled=precision == "fp16")

    for epoch in range(start_epoch, recipe.epochs):
        started = time.perf_counter()
        rng = np.random.default_rng([recipe.seed, epoch])
        model.train()
        if recipe.freeze_batch_norm:
            freeze_batch_norm_statistics(model)
        losses = []
        bar = tqdm(range(recipe.steps_per_epoch), desc=f"epoch {epoch + 1}/{recipe.epochs}", disable=not progress)
        for step_in_epoch in bar:
            step = epoch * recipe.steps_per_epoch + step_in_epoch
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(recipe, step)
            images, targets, pixel_weights, *soft = train_set.batch(rng, recipe.batch_size)
            images = torch.from_numpy(images).to(torch_device).contiguous(memory_format=layout)
            with autocast_context(torch_device, precision):
                logits = model(images)
            if logits.shape[-2:] != images.shape[-2:]:
                targets, pixel_weights = (centre_crop(a, logits.shape[-2:]) for a in (targets, pixel_weights))
                soft = [centre_crop(a, logits.shape[-2:]) for a in soft]
            if PIXEL_SAMPLING[recipe.pixel_sampling]:
                pixel_weights = balanced_pixel_mask(targets, rng, per=PIXEL_SAMPLING[recipe.pixel_sampling])
            targets = torch.from_numpy(np.ascontiguousarray(targets)).to(torch_device)
            pixel_weights = torch.from_numpy(np.ascontiguousarray(pixel_weights)).to(torch_device)
            loss = kind.training.loss(logits, targets, pixel_weights)
            if soft:
                teacher = torch.from_numpy(np.ascontiguousarray(soft[0])).to(torch_device)
                loss = ((1 - distillation_weight) * loss
                        + distillation_weight * kind.training.soft_loss(logits, teacher, pixel_weights))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if averaged is not None:
                averaged.update_parameters(model)
            losses.append(loss.detach())  # no .item() per step: the next batch is drawn while the GPU runs
            if progress and step_in_epoch % 20 == 19:
                bar.set_postfix(loss=f"{torch.stack(losses[-20:]).mean().item():.4f}")
        train_loss = torch.stack(losses).mean().item()
        train_seconds = time.perf_counter() - started
        shipped = model if averaged is None else averaged.module
        if separate_eval_form:
            trained_state = shipped.state_dict()
            shipped = build_model(recipe).to(torch_device).to(memory_format=layout)
            shipped.load_state_dict(trained_state)
        outputs = validation_predictions(shipped, val_samples, recipe, torch_device, precision)
        val_f1 = average_f1(outputs, val_truths, kind.params(), kind=kind)
        record = {"recipe_version": recipe.version, "epoch": epoch + 1, "step": (epoch + 1) * recipe.steps_per_epoch,
                  "train_loss": train_loss, "validation_average_f1": val_f1,
                  "lr": learning_rate(recipe, (epoch + 1) * recipe.steps_per_epoch - 1),
                  "train_seconds": round(train_seconds, 1),
                  "seconds": round(time.perf_counter() - started, 1), "device": device, "precision": precision}
        if val_f1 > best_f1:
            best_f1 = val_f1
            atomic_torch_save(shipped.state_dict(), best_path)
        atomic_torch_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                           "averaged": None if averaged is None else averaged.state_dict(),
                           "best_f1": best_f1, "recipe_digest": recipe.digest(), "recipe": recipe.to_dict()},
                          last_path)
        with open(log_path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        log.info("epoch %d: %s", epoch + 1, record)
        if on_epoch:
            on_epoch(record)
    return best_path

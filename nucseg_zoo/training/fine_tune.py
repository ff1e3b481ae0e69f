"""Fine-tune a zoo model on a lab's own annotated images into a local zoo entry.

When no zoo model is good enough on a screen, a few annotated images go a long way (Caicedo
et al. 2019, Fig. 5). :func:`fine_tune` (``nucseg-zoo train MODEL --images DIR --labels DIR
--out ENTRY_DIR``) starts from a zoo model's weights, holds out part of the folder (a seeded
draw, :func:`holdout_split`) to choose the best epoch and tune the postprocessing on, and
writes an entry folder that :func:`nucseg_zoo.load_model`, ``segment``, ``evaluate`` and
``package`` accept like a shipped one::

    ENTRY_DIR/
        entry.yaml            the starting model's inference facts; new id, weights, nucleus sizes, fine_tuned
        weights.pt            the fine-tuned fp32 state dict (its sha256 in entry.yaml)
        postprocessing.json   tuned on the held-out images
        fine_tuning.yaml      the fine-tuning recipe (starting model, folder, image names, schedule)
        fine_tuning.json      what it reached: held-out scores of the starting and fine-tuned model, time
        recipe.yaml, training_log.jsonl   how the starting weights were trained (the starting entry's)
        README.md             the model card
        run/                  last.pt, best.pt, log.jsonl of the fine-tuning (``resume`` continues it)

Labels are read as own-folder scoring reads them (:func:`nucseg_zoo.datasets.from_folder`:
label images, one mask per nucleus, ImageJ ROIs). Single networks only: an ensemble's members
would each need fine-tuning.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from nucseg_zoo._atomic import atomic_path, write_text_atomically
from nucseg_zoo._hashing import sha256_of
from nucseg_zoo._io import read_jsonl
from nucseg_zoo.datasets.folder import folder_fingerprint, from_folder
from nucseg_zoo.devices import check_device
from nucseg_zoo.hardware import describe_cpu
from nucseg_zoo.metrics import DatasetScores, score_image, summarize
from nucseg_zoo.metrics.binary_masks import BinaryMaskWarning
from nucseg_zoo.training.diameters import nucleus_diameter_record
from nucseg_zoo.training.loop import build_model, recipe_output_kind, train, validation_predictions, validation_summary
from nucseg_zoo.training.recipe import Recipe, read_recipe
from nucseg_zoo.training.samples import LoadedSample, load_samples
from nucseg_zoo.training.tuning import tune_params
from nucseg_zoo.zoo.entry import ENTRY_FILE, ZooEntry, entry_yaml_text, read_entry
from nucseg_zoo.zoo.install import RUN_LOG
from nucseg_zoo.zoo.model import ZooModel
from nucseg_zoo.zoo.registry import list_models

RECIPE_FILE = "fine_tuning.yaml"
RESULT_FILE = "fine_tuning.json"
RUN_DIR = "run"
WEIGHTS_FILE = "weights.pt"
POSTPROCESSING_FILE = "postprocessing.json"

HOLDOUT_FRACTION = 0.2
"""Share of the folder's images held out by default (at least one)."""
STEPS = 300
"""Default optimizer steps: on a 2-core CPU about 1 min for unet-bbbc039-fast and 7 min for
unet-bbbc039 (bf16, batches of 8 crops of 128 px; ``docs/tutorials/fine-tune.md`` has measured times)."""
EPOCHS = 3
"""The steps are split into this many epochs; the held-out images choose the best."""
CROP_SIZE = 128
"""Side (px) of the training crops; smaller when an image is smaller (a multiple of the size step)."""
BATCH_SIZE = 8
"""Crops per optimizer step by default."""
LEARNING_RATE = 3e-4
"""Adam's peak rate, warmed up over 20 steps and cosine-decayed to 1e-5 (the rate of the zoo's
own fine-tuning stages, e.g. unet-bbbc039-fast's recipe versions 3-5)."""

_LONG = ("folder_sha256", "recipe_sha256", "training_images", "held_out_images")
"""Keys of ``fine_tuning.yaml`` named, not shown, when a resume finds them changed."""

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}")
"""An entry id: it goes into the bioimage.io package's name, which allows letters, digits, ``_-+ ()``."""


@dataclass(frozen=True)
class FineTuneResult:
    """What :func:`fine_tune` wrote and reached.

    Attributes:
        entry_dir: the local zoo entry.
        record: the contents of its ``fine_tuning.json`` (held-out scores of the starting and
            the fine-tuned model, images used, seconds).
    """

    entry_dir: Path
    record: dict[str, Any]

    @property
    def improved(self) -> bool:
        """Whether the fine-tuned model's held-out average F1 is above the starting model's."""
        return self.record["fine_tuned"]["average_f1"] > self.record["starting_model"]["average_f1"]


def holdout_split(names: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """``(training, held_out)`` image names: a seeded draw of ``round(fraction * n)`` (at least
    1) images held out, the rest for training, each list sorted.

    Raises:
        ValueError: fewer than 2 images, or ``fraction`` not in (0, 1), or nothing left to train on.
    """
    names = sorted(names)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"holdout must be a fraction in (0, 1) of the images, got {fraction}")
    if len(names) < 2:
        raise ValueError(f"fine-tuning needs at least 2 annotated images (1 to train on, 1 held out for "
                         f"validation), got {len(names)}")
    n_held = min(len(names) - 1, max(1, round(fraction * len(names))))
    order = np.random.default_rng(seed).permutation(len(names))
    held = {names[i] for i in order[:n_held]}
    return [name for name in names if name not in held], sorted(held)


def crop_size_for(samples: Sequence[LoadedSample], step: int, preferred: int = CROP_SIZE) -> int:
    """The training crop side: ``preferred``, or the smallest image side rounded down to a
    multiple of ``step`` where that is smaller.

    Raises:
        ValueError: an image smaller than ``2 * step`` px on a side (named).
    """
    smallest = min(samples, key=lambda sample: min(sample.image.shape))
    side = min(smallest.image.shape) // step * step
    if side < 2 * step:
        raise ValueError(f"image {smallest.name} is {smallest.image.shape[0]}x{smallest.image.shape[1]} px: "
                         f"fine-tuning needs images of at least {2 * step} px per side")
    return min(preferred // step * step, side)


def fine_tuning_recipe(base: Recipe, *, base_sha256: str, base_id: str, crop_size: int, steps: int, epochs: int,
                       learning_rate: float, seed: int, train_images: Sequence[str],
                       batch_size: int = BATCH_SIZE) -> Recipe:
    """The starting model's recipe turned into a fine-tuning one: its targets, class weights and
    augmentation kept; starting from its weights (``init_from``) with its batch-norm statistics
    frozen (:attr:`~nucseg_zoo.training.recipe.Recipe.freeze_batch_norm`; measured on one DSB2018
    imaging set, 360 x 360 images, 14 validation images: average F1 0.859 / 0.821 after fine-tuning on
    2 / 8 images, against 0.848 / 0.817 with the statistics learning), no distillation or weight
    averaging; ``steps`` Adam steps over ``epochs`` epochs at ``learning_rate`` (warm-up of
    20 steps at most a tenth of the run, cosine to 1e-5), batches of ``batch_size`` crops.

    Raises:
        ValueError: ``steps`` or ``epochs`` below 1, ``steps`` not a multiple of ``epochs``, a
            rate that is not positive, or ``batch_size`` below 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    if epochs < 1 or steps < epochs or steps % epochs:
        raise ValueError(f"steps must be a positive multiple of the epochs ({epochs}), got {steps}")
    if not learning_rate > 0:
        raise ValueError(f"learning rate must be positive, got {learning_rate}")
    return replace(
        base, version=1, seed=seed, dataset="folder", train_split="training", validation_split="held-out",
        crop_size=crop_size, batch_size=batch_size, epochs=epochs, steps_per_epoch=steps // epochs,
        optimizer={"name": "adam", "lr": float(learning_rate), "weight_decay": 0.0},
        schedule={"warmup_steps": min(20, max(1, steps // 10)), "final_lr": 1e-5},
        init_from={"sha256": base_sha256, "description": f"the weights of zoo model {base_id}"},
        distillation=None, weight_averaging=None, freeze_batch_norm=True, train_images=tuple(train_images))


def _read_log(run_dir: Path) -> list[dict[str, Any]]:
    """The fine-tuning run's epoch records (none before its first epoch)."""
    path = run_dir / RUN_LOG
    return read_jsonl(path) if path.is_file() else []


def score_summary(summary: DatasetScores) -> dict[str, Any]:
    """The scores ``fine_tuning.json`` records of a model on some images: average F1, F1 at IoU
    0.5 and missed at IoU 0.7 (4 decimals), extra objects."""
    return {"average_f1": round(summary.average_f1, 4), "f1_at_0.5": round(summary.f1[0.5], 4),
            "missed_at_0.7": round(summary.error_rate, 4), "extra_objects": summary.extra_objects}


def _check_out(out: Path, *, resume: bool, overwrite: bool, inputs: Sequence[Path]) -> None:
    """Refuse an ``out`` that is an input folder, or holds anything but an earlier fine-tuning
    (and that only with ``resume`` or ``overwrite``)."""
    resolved = out.resolve()
    for folder in inputs:
        if resolved.is_relative_to(folder):  # the folder itself, or one inside it
            raise ValueError(f"--out {out} is {'the input folder' if resolved == folder else 'inside the input folder'} "
                             f"{folder}: the entry needs a folder of its own, outside the annotated images")
    if not out.exists():
        return
    if not out.is_dir():
        raise NotADirectoryError(f"--out {out} is a file; expected a folder for the zoo entry")
    if not any(out.iterdir()):
        return
    if not (out / RECIPE_FILE).is_file():
        raise FileExistsError(f"{out} holds files that are not a fine-tuning of a zoo model; choose a new or empty "
                              "folder for the entry (nothing in it is overwritten)")
    if not (resume or overwrite):
        raise FileExistsError(f"{out} holds an earlier fine-tuning ({RECIPE_FILE}): pass --resume (resume=True) to "
                              "continue it, or --overwrite (overwrite=True) to replace it")


def fine_tune(model_id: str | os.PathLike, images: str | os.PathLike, labels: str | os.PathLike,
              out: str | os.PathLike, *, entry_id: str | None = None, holdout: float = HOLDOUT_FRACTION,
              steps: int = STEPS, epochs: int = EPOCHS, learning_rate: float = LEARNING_RATE,
              crop_size: int = CROP_SIZE, batch_size: int = BATCH_SIZE, seed: int = 0, device: str = "cpu",
              precision: str | None = None, channel: int | None = None, plane: int | None = None, time_point: int | None = None,
              resume: bool = False, overwrite: bool = False, progress: bool = True,
              on_epoch: Callable[[dict], None] | None = None) -> FineTuneResult:
    """Fine-tune zoo model ``model_id`` on the annotated images of a folder; write a local zoo entry.

    The folder's images are split by :func:`holdout_split`; the network trains on the rest
    (random crops with the starting recipe's targets and augmentation, see
    :func:`fine_tuning_recipe`), the held-out images choose the best epoch (default
    postprocessing) and then the postprocessing (the output kind's grids,
    :func:`nucseg_zoo.training.tuning.tune_params`, fp32 predictions). The starting model is
    scored on the same held-out images with its own postprocessing, and both results go into
    ``fine_tuning.json`` and the card: when fine-tuning did not help, the entry says so.

    Args:
        model_id: a shipped zoo id or a local entry folder (a single network, trained).
        images, labels: the annotated folder (as :func:`nucseg_zoo.datasets.from_folder`; may be one folder).
        out: the new entry's folder (created; must be new or empty unless ``resume``/``overwrite``).
        entry_id: the entry's id (default: ``out``'s name); letters, digits, ``_``, ``-``.
        holdout: share of the images held out (at least one image).
        steps, epochs: optimizer steps in all, and how many epochs they are split into.
        learning_rate: Adam's peak rate.
        crop_size: side of the training crops (px; reduced for small images, :func:`crop_size_for`).
        batch_size: crops per step.
        seed: draws the held-out images and the crops.
        device, precision: of training ("cpu", "cuda", ...; default precision bf16 where the
            device has it, else fp32). The postprocessing is tuned on fp32 predictions.
        channel, plane, time_point: the plane of multi-dimensional images (as ``segment --channel ...``).
        resume: continue an interrupted fine-tuning in ``out`` (same options and folder content).
        overwrite: replace an earlier fine-tuning in ``out``.
        progress: show progress bars; ``on_epoch``: called with each epoch's log record.

    Returns:
        :class:`FineTuneResult`.

    Raises:
        ValueError: an ensemble or untrained starting model; an ``entry_id`` with other
            characters; fewer than 2 images, images smaller than 2 size steps, labels without
            nuclei; bad ``holdout``/``steps``/``epochs``; on ``resume``, other options or folder
            content than the run being resumed (the message names what differs); ``out`` equal
            to an input folder; the errors of :func:`~nucseg_zoo.datasets.from_folder`.
        FileExistsError: ``out`` holds other files, or an earlier fine-tuning without
            ``resume``/``overwrite`` (nothing is written).
        nucseg_zoo.devices.DeviceUnavailableError: this machine cannot run on ``device``.
    """
    started = time.perf_counter()
    device = check_device(device)
    base = read_entry(model_id)
    if base.ensemble:
        raise ValueError(f"zoo model {base.id} is an ensemble of {len(base.weights)} networks; fine-tuning takes "
                         "one network (e.g. unet-bbbc039 or unet-bbbc039-fast)")
    if not base.trained:
        raise ValueError(f"zoo model {base.id} has no trained weights to start from")
    out = Path(out)
    entry_id_given = entry_id is not None
    entry_id = entry_id or out.resolve().name
    if not _ID.fullmatch(entry_id):
        raise ValueError(f"entry id {entry_id!r}: use ASCII letters, digits, '_' and '-' (at most 60), starting "
                         "with a letter or digit" + ("" if entry_id_given else " (the --out folder's name is the "
                                                      "default; pass --id / entry_id= to choose another)"))
    if entry_id in list_models():
        raise ValueError(f"entry id {entry_id!r} is a shipped zoo model's: choose another (--id / entry_id=), so that "
                         "the fine-tuned model and its package are not taken for the shipped one")
    with warnings.catch_warnings():
        warnings.simplefilter("error", BinaryMaskWarning)  # fine-tuning on them would teach one object per image
        try:
            folder = from_folder(images, labels, channel=channel, plane=plane, time=time_point)
        except BinaryMaskWarning as warning:
            raise ValueError(f"{warning}; fine-tuning needs instance labels (a different value for each nucleus): "
                             "label the mask's connected nuclei first, e.g. skimage.measure.label") from None
    _check_out(out, resume=resume, overwrite=overwrite,
               inputs=[Path(images).resolve(), Path(labels).resolve()])
    samples = load_samples(folder)
    train_names, held_names = holdout_split([s.name for s in samples], holdout, seed)
    by_name = {sample.name: sample for sample in samples}
    train_samples = [by_name[name] for name in train_names]
    held_samples = [by_name[name] for name in held_names]
    diameter = nucleus_diameter_record([s.labels for s in train_samples],
                                       f"{folder.dataset.removeprefix('folder:')} ({len(train_samples)} images)")
    base_recipe = read_recipe(base)
    recipe = fine_tuning_recipe(base_recipe, base_sha256=base.weights_sha256, base_id=base.id,
                                crop_size=crop_size_for(train_samples, base.architecture.size_step, crop_size),
                                steps=steps, epochs=epochs, learning_rate=learning_rate, seed=seed,
                                train_images=train_names, batch_size=batch_size)
    plan = {"starting_model": {"id": base.id, "weights_sha256": base.weights_sha256},
            "images": str(Path(images).resolve()), "labels": str(Path(labels).resolve()),
            "selection": {"channel": channel, "plane": plane, "time": time_point},
            "folder_sha256": folder_fingerprint(folder), "holdout": holdout, "seed": seed,
            "training_images": train_names, "held_out_images": held_names,
            "crop_size": recipe.crop_size, "batch_size": recipe.batch_size, "steps": steps, "epochs": epochs,
            "learning_rate": learning_rate, "recipe_sha256": recipe.digest()}
    if resume and (out / RECIPE_FILE).is_file():
        earlier = yaml.safe_load((out / RECIPE_FILE).read_text())
        differs = [key for key in plan if earlier.get(key) != plan[key]]
        if differs:
            shown = [f"{key} {earlier.get(key)!r} (now {plan[key]!r})" if key not in _LONG else
                     {"folder_sha256": "the folder's files", "recipe_sha256": "the training recipe"}.get(key, key)
                     for key in differs if key != "recipe_sha256" or differs == ["recipe_sha256"]]
            raise ValueError(f"{out / RECIPE_FILE}: the run being resumed had other {'; '.join(shown)}; resume with "
                             "the same folder and options, or pass --overwrite (overwrite=True) to start again")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomically(out / RECIPE_FILE, "# nucseg-zoo fine-tuning of a zoo model on an annotated folder "
                          "(nucseg_zoo/training/fine_tune.py)\n" + yaml.safe_dump(plan, sort_keys=False))

    run_dir = out / RUN_DIR
    earlier_records = len(_read_log(run_dir)) if resume else 0
    best = train(recipe, run_dir, device=device, precision=precision, resume=resume, overwrite=overwrite or not resume,
                 init_weights=base.weights_path, progress=progress, on_epoch=on_epoch,
                 data=(train_samples, held_samples))
    log = _read_log(run_dir)

    # the postprocessing, tuned on the held-out images (fp32, as the harness and the packages run)
    torch_device = torch.device(device)
    network = build_model(recipe).to(torch_device).to(memory_format=torch.channels_last)
    network.load_state_dict(torch.load(best, map_location=torch_device, weights_only=True))
    kind = recipe_output_kind(recipe)
    outputs = validation_predictions(network, held_samples, recipe, torch_device, "fp32")
    truths = [s.labels for s in held_samples]
    refine = kind.tuning.refine if kind.tuning is not None else None
    params, _ = tune_params(outputs, truths, kind, refine=refine)
    tuned = validation_summary(outputs, truths, params, kind=kind)

    starting = ZooModel(base, device=device)
    start = summarize([score_image(s.labels, starting.segment(s.image), name=s.name) for s in held_samples])
    record = {
        "starting_model": {"id": base.id, "weights_sha256": base.weights_sha256, **score_summary(start)},
        "fine_tuned": score_summary(tuned),
        "scored_on": f"{len(held_samples)} held-out image(s) of {folder.dataset.removeprefix('folder:')}",
        "n_training_images": len(train_samples), "n_held_out_images": len(held_samples),
        "n_training_nuclei": diameter["n_nuclei"],
        "best_epoch": max(log, key=lambda r: r["validation_average_f1"])["epoch"] if log else None,
        "training_seconds": round(sum(r["seconds"] for r in log), 1),
        # in all: every epoch (of earlier calls too, when resumed) and this call's work around them
        "seconds": round(sum(r["seconds"] for r in log[:earlier_records]) + time.perf_counter() - started, 1),
        "resumed": bool(resume and earlier_records),
        "precision": log[-1]["precision"] if log else precision, "device": device, "cpu": describe_cpu(),
    }
    chosen_on = f"{len(held_samples)} held-out image(s) of {folder.dataset.removeprefix('folder:')}"
    postprocessing = {"params": params.to_dict(), "validation_average_f1": tuned.average_f1,
                      "validation_error_rate": tuned.error_rate, "chosen_on": chosen_on}
    _write_entry(base, out, entry_id, best, postprocessing=postprocessing, record=record, diameter=diameter,
                 folder_name="/".join(Path(images).resolve().parts[-2:]))
    from nucseg_zoo.cards import write_zoo_card  # the layer above renders cards; an entry is complete with one

    write_zoo_card(out)
    return FineTuneResult(out, record)


def _write_entry(base: ZooEntry, out: Path, entry_id: str, weights: Path, *, postprocessing: dict[str, Any],
                 record: dict[str, Any], diameter: dict[str, Any], folder_name: str) -> None:
    """The entry's files, each written to a temporary sibling and renamed into place when all
    are written, ``entry.yaml`` last (as :func:`nucseg_zoo.zoo.install.install_run`)."""
    raw = yaml.safe_load((base.dir / ENTRY_FILE).read_text())
    raw["id"] = entry_id
    root_name = base.raw.get("fine_tuned", {}).get("root_name", base.name)  # of the shipped model it descends from
    raw["name"] = f"{root_name} fine-tuned"
    raw["description"] = (f"Zoo model {base.id} fine-tuned on {record['n_training_images']} annotated image(s) "
                          f"of {folder_name} (nucseg-zoo train {base.id} --images ...): {base.description}")
    raw["weights"] = {"file": WEIGHTS_FILE, "sha256": sha256_of(weights)}
    raw["postprocessing"] = POSTPROCESSING_FILE
    raw["recipe"] = "recipe.yaml"
    raw["training_log"] = "training_log.jsonl"
    raw["tags"] = list(dict.fromkeys([*raw.get("tags", []), "fine-tuned"]))
    raw["nucleus_diameter"] = diameter
    raw["fine_tuned"] = {"from": base.id, **({} if base.id in list_models() else {"from_folder": str(base.dir)}),
                         "from_weights_sha256": base.weights_sha256, "root_name": root_name, "recipe": RECIPE_FILE,
                         "record": RESULT_FILE}
    for key in ("paper", "original_border_px"):  # the starting method's facts, not this model's
        raw.pop(key, None)
    texts = {POSTPROCESSING_FILE: json.dumps(postprocessing, indent=2) + "\n",
             RESULT_FILE: json.dumps(record, indent=2) + "\n",
             "recipe.yaml": base.recipe_path.read_text(),
             "training_log.jsonl": (base.dir / base.raw["training_log"]).read_text()}
    with contextlib.ExitStack() as stack:  # renamed into place last-entered first: entry.yaml last
        stack.enter_context(atomic_path(out / ENTRY_FILE)).write_text(entry_yaml_text(raw))
        shutil.copyfile(weights, stack.enter_context(atomic_path(out / WEIGHTS_FILE)))
        for name, text in texts.items():
            stack.enter_context(atomic_path(out / name)).write_text(text)

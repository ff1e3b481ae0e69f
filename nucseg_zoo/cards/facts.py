"""What a model card states, gathered from a zoo entry's files, its recipe and its dataset's card."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from nucseg_zoo import datasets
from nucseg_zoo.datasets.card import DatasetCard
from nucseg_zoo.training.recipe import Recipe, read_recipe
from nucseg_zoo.zoo.entry import EXPERIMENTS_DIR, METRICS_FILE, VALIDATION_FILE, ZooEntry


@dataclass(frozen=True)
class PackageFacts:
    """What only a bioimage.io package's card states.

    Attributes:
        input_id, output_id: the ids of the package's input and output tensors.
        min_size, size_step: input height and width are ``min_size + k * size_step`` px.
        halo: the output halo (px) written into the rdf.
        receptive_field: measured receptive-field radius of the network (px).
        onnx_opset: opset of the package's ONNX weights.
        example_source: where the package's test input comes from (one sentence, no full stop).
    """

    input_id: str
    output_id: str
    min_size: int
    size_step: int
    halo: int
    receptive_field: int
    onnx_opset: int
    example_source: str


@dataclass(frozen=True)
class CardFacts:
    """Everything a card renders; every number comes from one of these.

    Attributes:
        entry: the zoo entry (architecture, preprocessing, weights, postprocessing).
        recipe: its training recipe.
        dataset: the card of the recipe's dataset (splits, counts, license, citations).
        training_log: ``training_log.jsonl`` (empty when the entry has none).
        tuned: ``postprocessing.json`` (the tuned parameters and their validation scores), or None.
        validation: an ensemble's ``validation.json``, or None.
        experiments: the ``experiments/*.json`` reports, by file name.
        metrics: the harness's test-split evaluation (``metrics.json``), or None.
        package: the package's own facts; None for the zoo card.
        fine_tuning: a fine-tuned entry's ``fine_tuning.json`` (held-out scores of the
            starting and the fine-tuned model) and ``fine_tuning.yaml`` (what it learned from)
            as ``{"record": ..., "recipe": ...}``; None for other entries.
    """

    entry: ZooEntry
    recipe: Recipe
    dataset: DatasetCard
    training_log: list[dict[str, Any]]
    tuned: dict[str, Any] | None
    validation: dict[str, Any] | None
    experiments: list[dict[str, Any]]
    metrics: dict[str, Any] | None
    package: PackageFacts | None = None
    fine_tuning: dict[str, Any] | None = None


def gather(entry: ZooEntry, *, recipe: Recipe | None = None, package: PackageFacts | None = None) -> CardFacts:
    """The facts of ``entry``'s card (``recipe``: default the entry's ``recipe.yaml``)."""
    recipe = recipe or read_recipe(entry)
    log_path = entry.dir / entry.raw["training_log"]
    fine_tuned = entry.raw.get("fine_tuned")
    fine_tuning = None if not fine_tuned else {
        "record": entry.record(fine_tuned["record"]),
        "recipe": yaml.safe_load((entry.dir / fine_tuned["recipe"]).read_text())}
    return CardFacts(
        entry=entry, recipe=recipe, dataset=datasets.card(recipe.dataset),
        training_log=entry.training_log() if log_path.is_file() else [],
        tuned=entry.record(entry.raw["postprocessing"]),
        validation=entry.record(VALIDATION_FILE) if entry.ensemble else None,
        experiments=[json.loads(path.read_text()) for path in sorted((entry.dir / EXPERIMENTS_DIR).glob("*.json"))],
        metrics=entry.record(METRICS_FILE), package=package, fine_tuning=fine_tuning)

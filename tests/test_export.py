"""Installing a finished training run into its zoo entry (weights, log, postprocessing) and its card."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest
import torch
import yaml

import nucseg_zoo.zoo.registry as registry
from nucseg_zoo._hashing import sha256_of
from nucseg_zoo.cards import write_zoo_card
from nucseg_zoo.training.export import export_run
from nucseg_zoo.training.recipe import read_recipe
from nucseg_zoo.zoo.entry import read_entry
from nucseg_zoo.zoo.registry import zoo_entry_dir

MODEL_ID = "unet-bbbc039"


@pytest.fixture
def zoo(tmp_path, monkeypatch):
    """A copy of the zoo whose U-Net entry has a three-epoch log and a recipe that warm-starts
    from the entry's current weights (the next stage of a staged training)."""
    root = tmp_path / "zoo"
    entry_dir = root / MODEL_ID
    shutil.copytree(zoo_entry_dir(MODEL_ID), entry_dir)
    monkeypatch.setattr(registry, "bundled_dir", lambda kind: root)
    entry = read_entry(MODEL_ID)
    raw = yaml.safe_load((entry_dir / "recipe.yaml").read_text())
    raw["init_from"] = {"sha256": entry.weights_sha256, "recipe_version": raw["version"],
                        "description": "the entry's current weights"}
    raw["version"] += 1
    (entry_dir / "recipe.yaml").write_text(yaml.safe_dump(raw))
    parent_log = [{"epoch": e, "step": 100 * e, "train_loss": 0.2, "validation_average_f1": 0.7 + e / 100,
                   "lr": 1e-3, "train_seconds": 700.0, "seconds": 800.0, "device": "cpu", "precision": "bf16"}
                  for e in range(1, 4)]
    (entry_dir / "training_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in parent_log))
    return entry_dir, read_recipe(read_entry(MODEL_ID))


def _run(folder, recipe, f1s):
    folder.mkdir()
    torch.save({"weights": torch.arange(len(f1s), dtype=torch.float32)}, folder / "best.pt")
    log = [{"epoch": e, "step": 100 * e, "train_loss": 0.1, "validation_average_f1": f1, "lr": 3e-4,
            "train_seconds": 700.0, "seconds": 750.0, "device": "cpu", "precision": "bf16"}
           for e, f1 in enumerate(f1s, 1)]
    (folder / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    (folder / "postprocessing.json").write_text(json.dumps(
        {"params": read_entry(MODEL_ID).postprocessing.to_dict(), "validation_average_f1": 0.9,
         "chosen_on": "bbbc039/validation"}))
    return folder


def test_warm_started_run_keeps_the_earlier_stage_in_log_and_card(zoo, tmp_path):
    entry_dir, recipe = zoo
    run = _run(tmp_path / "run", recipe, [0.89, 0.895])
    export_run(run, MODEL_ID, recipe, replace=True)
    log = [json.loads(line) for line in (entry_dir / "training_log.jsonl").read_text().splitlines()]
    parent, current = recipe.init_from["recipe_version"], recipe.version
    assert [r["recipe_version"] for r in log] == [parent] * 3 + [current] * 2
    assert [r["epoch"] for r in log] == [1, 2, 3, 1, 2]
    assert yaml.safe_load((entry_dir / "entry.yaml").read_text())["weights"]["sha256"] == sha256_of(run / "best.pt")
    assert (entry_dir / "weights.pt").read_bytes() == (run / "best.pt").read_bytes()
    card = write_zoo_card(MODEL_ID)
    assert f"recipe version {parent}: 3 epochs, 300 steps, 40 min" in card
    assert f"recipe version {current} (warm start from the previous stage's weights): 2 epochs" in card
    assert f"epoch 2 of recipe version {current}" in card and "5 epochs in 1.1 h of wall time in all" in card

    export_run(run, MODEL_ID, recipe)  # exporting again changes nothing: the earlier stage is kept once
    again = [json.loads(line) for line in (entry_dir / "training_log.jsonl").read_text().splitlines()]
    assert again == log


def test_run_from_scratch_replaces_the_log(zoo, tmp_path):
    entry_dir, recipe = zoo
    scratch = replace(recipe, init_from=None)
    export_run(_run(tmp_path / "run", scratch, [0.8, 0.9, 0.85]), MODEL_ID, scratch, replace=True)
    log = [json.loads(line) for line in (entry_dir / "training_log.jsonl").read_text().splitlines()]
    assert [(r["recipe_version"], r["epoch"]) for r in log] == [(scratch.version, e) for e in (1, 2, 3)]


def test_export_refuses_an_unfinished_run(zoo, tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(FileNotFoundError, match="finish training"):
        export_run(tmp_path / "run", MODEL_ID)


def test_export_never_replaces_trained_weights_silently(zoo, tmp_path):
    entry_dir, recipe = zoo
    before = {path.name: path.read_bytes() for path in entry_dir.iterdir() if path.is_file()}
    with pytest.raises(FileExistsError, match="would change weights.pt: pass replace=True"):
        export_run(_run(tmp_path / "run", recipe, [0.89]), MODEL_ID, recipe)
    assert {path.name: path.read_bytes() for path in entry_dir.iterdir() if path.is_file()} == before


def test_an_interrupted_install_leaves_the_entry_as_it_was(zoo, tmp_path, monkeypatch):
    import nucseg_zoo.zoo.install as install

    entry_dir, recipe = zoo
    before = {path.name: path.read_bytes() for path in entry_dir.iterdir()}

    def copy_half(src, dst):
        dst.write_bytes(src.read_bytes()[:100])
        raise OSError("disk full")

    monkeypatch.setattr(install.shutil, "copyfile", copy_half)
    with pytest.raises(OSError, match="disk full"):
        export_run(_run(tmp_path / "run", recipe, [0.89]), MODEL_ID, recipe, replace=True)
    assert {path.name: path.read_bytes() for path in entry_dir.iterdir()} == before  # no temporary file left


def test_install_writes_entry_yaml_as_yaml_and_keeps_every_other_key(zoo, tmp_path):
    entry_dir, recipe = zoo
    before = yaml.safe_load((entry_dir / "entry.yaml").read_text())
    run = _run(tmp_path / "run", recipe, [0.89])
    export_run(run, MODEL_ID, recipe, replace=True)
    after = yaml.safe_load((entry_dir / "entry.yaml").read_text())
    assert after == {**before, "weights": {**before["weights"], "sha256": sha256_of(run / "best.pt")}}
    assert list(after) == list(before)


def test_a_recipe_version_without_training_ships_the_previous_versions_weights(zoo):
    """A version that changes inference or postprocessing only (no epoch of it in the log): the
    card names the version whose run produced the shipped weights."""
    entry_dir, recipe = zoo
    parent = recipe.init_from["recipe_version"]
    log = entry_dir / "training_log.jsonl"
    log.write_text("".join(json.dumps({"recipe_version": parent, **json.loads(line)}) + "\n"
                           for line in log.read_text().splitlines()))
    card = write_zoo_card(MODEL_ID)
    assert f"* Shipped weights: epoch 3 of recipe version {parent}, the best validation average F1 (0.7300" in card
    assert f"recipe version {recipe.version} did not retrain them" in card


def test_the_card_names_every_robustness_augmentation_of_the_recipe():
    """Critic's report: the fast model's card left out its 3x3 hot spots and black frames."""
    from nucseg_zoo.cards import ZOO, gather, render_card

    card = render_card(gather(read_entry("unet-bbbc039-fast")), ZOO)
    assert "up to 30 isolated pixels or spots of up to 3×3 px at 1–5 normalised units" in card
    assert "black frames (20% of crops from an image with 1–60 px of zeros along 1–4 sides" in card


def test_an_experiment_report_becomes_a_table_of_the_card(zoo):
    from nucseg_zoo.zoo.install import write_experiment

    out = write_experiment(read_entry(MODEL_ID), "views", title="Views", description="Two ways.",
                           rows=[{"name": "one", "average_f1": 0.91234, "error_rate_at_0.7": 0.0812}])
    assert json.loads(out.read_text())["rows"][0]["name"] == "one"
    card = write_zoo_card(MODEL_ID)
    assert "## Views\n\nTwo ways.\n" in card and "| one | 0.9123 | 8.12% |" in card

"""Accuracy against the number of training images (the paper's Fig. 5, adapted): the summary,
the comparison with the paper's statements and the figure on hand-made runs; the experiment's
subsets and run recipes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from PIL import Image

from nucseg_zoo.leaderboard.learning_curve import (
    compare_with_paper,
    findings,
    plot_learning_curve,
    summarize_runs,
)

ROOT = Path(__file__).resolve().parent.parent


def _run(n: int, repeat: int, augmentation: str, f1: float, missed: int, merges: int, splits: int) -> dict:
    return {"n": n, "repeat": repeat, "augmentation": augmentation, "images": [f"i{k}" for k in range(n)],
            "scores": {"average_f1": f1, "error_rate": missed / 1000, "missed": missed, "merges": merges,
                       "splits": splits, "extra_objects": 5, "n_true": 1000}}


RUNS = [
    _run(2, 0, "basic", 0.80, 200, 60, 10), _run(2, 1, "basic", 0.84, 180, 50, 12),
    _run(20, 0, "basic", 0.88, 120, 30, 14), _run(20, 1, "basic", 0.91, 100, 26, 16),
    _run(100, 0, "basic", 0.90, 100, 20, 20), _run(100, 1, "basic", 0.90, 90, 20, 22),
    _run(2, 0, "extra", 0.81, 190, 55, 11), _run(20, 0, "extra", 0.88, 115, 28, 15),
    _run(100, 0, "extra", 0.91, 95, 21, 21),
]
BASELINE = {"name": "cp-advanced", "average_f1": 0.81, "error_rate": 0.16, "missed": 160, "merges": 80,
            "splits": 30, "extra_objects": 50, "n_true": 1000}


def test_summary_averages_the_repeats_of_each_size():
    summary = summarize_runs(RUNS)
    basic = summary["basic"]
    assert [p["n"] for p in basic] == [2, 20, 100] and [p["repeats"] for p in basic] == [2, 2, 2]
    assert basic[0]["average_f1"]["mean"] == pytest.approx(0.82)
    assert basic[0]["average_f1"]["min"] == 0.80 and basic[0]["average_f1"]["max"] == 0.84
    assert basic[0]["average_f1"]["std"] == pytest.approx(math.sqrt(2 * 0.02 ** 2))  # sample std of 0.80, 0.84
    assert basic[0]["missed"]["mean"] == 190 and basic[2]["merges"]["mean"] == 20
    assert summary["extra"][1]["average_f1"] == {"mean": 0.88, "min": 0.88, "max": 0.88, "std": 0.0}


def test_findings_measure_each_of_the_papers_statements():
    found = findings(summarize_runs(RUNS), BASELINE)
    basic = found["basic"]
    assert basic["beats_baseline_at_smallest_n"] is True  # 0.82 > 0.81
    assert basic["share_of_gain_at_plateau"] == pytest.approx((0.895 - 0.82) / (0.90 - 0.82))
    assert basic["error_ratio"] == pytest.approx(95 / 190)
    assert basic["merges_change"] == pytest.approx(20 - 55) and basic["splits_change"] == pytest.approx(21 - 11)
    assert found["extra"]["beats_baseline_at_smallest_n"] is False  # 0.81 is not above 0.81
    # sizes 2, 20, 100: |0.82-0.81|, |0.895-0.88|, |0.90-0.91|
    assert found["largest_augmentation_difference"] == pytest.approx(0.015)
    rows = {row[0]: row[1:] for row in compare_with_paper(found, "cp-advanced")}
    assert rows["2 images already beat cp-advanced"] == ["yes", "no", "partly"]
    assert rows["accuracy plateaus near 20 images"] == ["94 % of the gain (2→100) at 20",
                                                        "70 % of the gain (2→100) at 20", "partly"]
    assert rows["missed nuclei fall by about half from 2 to 100 images"] == ["× 0.50", "× 0.50", "same"]
    assert rows["merges fall with more images"] == ["-35.0", "-34.0", "same"]
    assert rows["splits rise with more images"] == ["+10.0", "+10.0", "same"]
    assert rows["little difference between the augmentation sets"] == ["at most 0.015 in mean average F1", "",
                                                                        "not found"]


def test_without_the_plateau_size_or_a_baseline_the_statements_are_left_open():
    runs = [r for r in RUNS if r["n"] != 20 and r["augmentation"] == "basic"]
    found = findings(summarize_runs(runs), None)
    assert found["basic"]["share_of_gain_at_plateau"] is None
    assert found["basic"]["beats_baseline_at_smallest_n"] is None
    assert found["largest_augmentation_difference"] is None


def test_the_figure_is_drawn(tmp_path):
    data = {"runs": RUNS, "summary": summarize_runs(RUNS), "baseline": BASELINE, "sizes": [2, 20, 100],
            "scored_on": "bbbc039/validation", "n_true": 1000, "architecture": "a U-Net", "pool": 100,
            "repeats": 2, "steps": 300, "batch_size": 8, "crop_size": 128, "model": "unet-bbbc039-fast"}
    path = tmp_path / "curve.png"
    plot_learning_curve(data, path)
    width, height = Image.open(path).size
    assert width > 1000 and height > 400


def test_the_experiments_subsets_are_seeded_distinct_and_shared_by_both_augmentations():
    from validation.experiments.training_set_size import AUGMENTATIONS, run_recipe, subset

    names = tuple(f"image{k:03d}" for k in range(100))
    first = subset(names, 10, 7, 0)
    assert len(set(first)) == 10 and first == sorted(first) and first == subset(names, 10, 7, 0)
    assert first != subset(names, 10, 7, 1)  # another repeat, another draw
    assert subset(names, 100, 7, 2) == list(names)
    assert AUGMENTATIONS["extra"].elastic and not AUGMENTATIONS["basic"].elastic
    assert AUGMENTATIONS["basic"].gain == (1.0, 1.0) and AUGMENTATIONS["basic"].hot_pixels is None

    from nucseg_zoo.training.recipe import read_recipe
    from nucseg_zoo.zoo.entry import read_entry

    base = read_recipe(read_entry("unet-bbbc039-fast"))
    recipe = run_recipe(base, images=first, augmentation="extra", steps=300, repeat=2)
    assert recipe.train_images == tuple(first) and recipe.distillation is None and recipe.init_from is None
    assert recipe.epochs == 1 and recipe.steps_per_epoch == 300 and recipe.seed == base.seed + 2
    assert recipe.digest() != run_recipe(base, images=first, augmentation="basic", steps=300, repeat=2).digest()


def test_a_training_subset_is_checked():
    from nucseg_zoo import datasets
    from nucseg_zoo.training.loop import training_subset

    split = datasets.load("bbbc039-sample", "test")
    assert [s.name for s in training_subset(split, split.names[:2])] == list(split.names[:2])
    with pytest.raises(ValueError, match="lacks"):
        training_subset(split, ["no-such-image"])
    with pytest.raises(ValueError, match="distinct"):
        training_subset(split, [split.names[0], split.names[0]])


def test_the_committed_experiment_is_complete_and_its_summary_is_recomputed(bbbc039_mirror):
    import json

    from nucseg_zoo import datasets
    from nucseg_zoo.leaderboard.learning_curve import LEARNING_CURVE_FIGURE, LEARNING_CURVE_FILE
    from nucseg_zoo.training.recipe import read_recipe
    from nucseg_zoo.zoo.entry import read_entry
    from validation.experiments.training_set_size import SIZES, subset

    data = json.loads((ROOT / "validation" / LEARNING_CURVE_FILE).read_text())
    assert data["sizes"] == list(SIZES) and data["repeats"] >= 3 and data["scored_on"] == "bbbc039/validation"
    assert len(data["runs"]) == len(SIZES) * data["repeats"] * len(data["augmentations"])
    assert data["summary"] == summarize_runs(data["runs"])
    assert data["findings"] == findings(data["summary"], data["baseline"])
    pool = datasets.load("bbbc039", "training", mirror=bbbc039_mirror).names
    seed = read_recipe(read_entry(data["model"])).seed
    for run in data["runs"]:  # each run learned its own seeded subset of the training split, nothing else
        assert run["images"] == subset(pool, run["n"], seed, run["repeat"]) and run["seed"] == seed + run["repeat"]
    assert (ROOT / "validation" / LEARNING_CURVE_FIGURE).is_file()

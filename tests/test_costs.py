"""What each leaderboard row costs (the paper's Fig. 7, adapted): training costs read from the
files each row was built from, the measuring process on hand-made cases, the command end to
end on one entry, and the committed costs' freshness."""

from __future__ import annotations

import json
import os
import shutil
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nucseg_zoo.cli import main
from nucseg_zoo.leaderboard.cost_probe import measure, pin_to_cpus
from nucseg_zoo.leaderboard.costs import (
    COSTS_FIGURE,
    COSTS_FILE,
    CPU_THREADS,
    cpu_seconds,
    read_costs,
    stale_costs,
    training_cost,
)
from nucseg_zoo.leaderboard.records import read_results

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "validation"


def _records() -> dict:
    return {record.entry.id: record for record in read_results(COMMITTED / "results")}


def test_a_zoo_rows_training_time_is_the_sum_of_its_training_log():
    """Every epoch record of every run the weights descend from (fine-tunes, ensemble members)."""
    for entry_id in ("unet-bbbc039", "unet-bbbc039-fast", "deepcell-bbbc039"):
        lines = (ROOT / "zoo" / entry_id / "training_log.jsonl").read_text().splitlines()
        expected = sum(json.loads(line)["seconds"] for line in lines)
        cost = training_cost(_records()[entry_id].entry)
        assert cost.seconds == pytest.approx(expected, abs=0.05) and cost.seconds > 0
        assert f"{len(lines)} epoch records" in cost.source and cost.hardware


def test_a_baseline_that_only_chose_parameters_has_no_training_and_the_forest_has_its_record():
    records = _records()
    for name in ("cp-basic", "cp-advanced"):
        cost = training_cost(records[name].entry)
        assert cost.seconds == 0 and cost.source.startswith("no training: parameters chosen on bbbc039/validation")
    forest = json.loads((ROOT / "nucseg_zoo" / "baselines" / "data" / "random_forest.json").read_text())
    cost = training_cost(records["random-forest"].entry)
    assert cost.seconds == forest["training"]["seconds"] > 0 and "one thread" in cost.hardware


def test_a_row_trained_elsewhere_points_to_its_recipe():
    cost = training_cost(_records()["stardist-bbbc039"].entry)
    assert cost.seconds is None and cost.hardware is None and "recipe" in cost.source


def test_measure_times_every_image_after_a_warm_up_and_counts_a_convolutions_flops():
    """A 3x3 convolution of one channel over H x W pixels is 9 multiply-adds per pixel: 18 HW FLOPs."""
    weight = torch.ones(1, 1, 3, 3)
    calls = []

    def segment(image: np.ndarray) -> np.ndarray:
        calls.append(image.shape)
        out = torch.nn.functional.conv2d(torch.from_numpy(image)[None, None], weight, padding=1)
        return (out[0, 0].numpy() > 0).astype(np.int32)

    images = [np.ones((100, 120), np.float32), np.ones((50, 60), np.float32)]
    result = measure(segment, images, count_flops=True)
    assert calls == [(100, 120), (100, 120), (50, 60), (100, 120)]  # warm-up, timed, counted
    assert len(result["seconds"]) == 2
    assert result["seconds_per_image"] == pytest.approx(statistics.median(result["seconds"]), abs=1e-4)
    assert result["gflop_per_image"] == pytest.approx(18 * 100 * 120 / 1e9)
    assert result["peak_memory_mib"] > 0
    assert measure(segment, images, count_flops=False)["gflop_per_image"] is None


def test_measure_counts_no_flops_where_no_network_runs():
    result = measure(lambda image: (image > 0).astype(np.int32), [np.ones((8, 8))], count_flops=True)
    assert result["gflop_per_image"] is None


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")
def test_more_cores_than_allowed_are_refused():
    with pytest.raises(ValueError, match="this process may use"):
        pin_to_cpus(len(os.sched_getaffinity(0)) + 1)
    with pytest.raises(ValueError, match="this process may use"):
        pin_to_cpus(0)


def test_costs_measures_one_entry_end_to_end_and_notices_changes(tmp_path, capsys, monkeypatch, bbbc039_mirror):
    """`leaderboard --costs` on a leaderboard reduced to cp-basic: both core counts measured in
    processes of their own, the training read, the table printed, the figure drawn; then a
    changed source and a missing row make the costs stale."""
    monkeypatch.setenv("NUCSEG_ZOO_DATA_DIR", str(tmp_path / "cache"))
    board = Path(shutil.copytree(COMMITTED, tmp_path / "validation"))
    for path in [*(board / "results").glob("*.json"), *(board / "predictions").glob("*.npz")]:
        if path.stem != "cp-basic":
            path.unlink()
    assert main(["leaderboard", "--dir", str(board), "--costs", "--no-atlases"]) == 2
    assert main(["leaderboard", "--dir", str(board), "--costs"]) == 0
    out = capsys.readouterr().out
    assert "bbbc039 test: costs measured on" in out and "cp-basic" in out
    data = read_costs(board)
    row = data["entries"]["cp-basic"]
    assert list(data["entries"]) == ["cp-basic"] and len(data["images"]) == 3
    assert [m["threads"] for m in row["inference"]] == list(CPU_THREADS)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    for measured in row["inference"]:
        assert len(measured["seconds"]) == 3 and measured["peak_memory_mib"] > 0
        assert measured["gflop_per_image"] is None  # a classical pipeline: no network
        if cores is not None:
            assert measured["cpus"] == min(measured["threads"], cores)
    assert cpu_seconds(row, 1) == row["inference"][0]["seconds_per_image"] > 0
    assert row["training"]["seconds"] == 0 and row["not_measured"] is None
    width, height = Image.open(board / COSTS_FIGURE).size
    assert width > 800 and height > 200
    assert stale_costs(board) == []

    stored = json.loads((board / COSTS_FILE).read_text())
    stored["entries"]["cp-basic"]["source_sha256"] = "0" * 64
    (board / COSTS_FILE).write_text(json.dumps(stored))
    assert stale_costs(board) == ["cp-basic: its source changed"]
    assert main(["leaderboard", "--dir", str(board), "--check", "--no-atlases"]) == 1
    assert "costs.json is out of date (cp-basic: its source changed)" in capsys.readouterr().err
    del stored["entries"]["cp-basic"]
    (board / COSTS_FILE).write_text(json.dumps(stored))
    assert stale_costs(board) == ["cp-basic: not in the costs"]


def test_the_committed_costs_are_of_the_current_rows():
    assert stale_costs(COMMITTED) == [], "run `nucseg-zoo leaderboard --costs`"
    data = read_costs(COMMITTED)
    assert set(data["entries"]) == set(_records())
    for entry_id, row in data["entries"].items():
        assert bool(row["inference"]) != bool(row["not_measured"]), entry_id  # measured, or says why not

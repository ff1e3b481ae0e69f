"""The committed transfer experiment (validation/experiments/transfer.py, the paper's Fig. 6 with
DSB2018-fluo): its rows quote the leaderboards, its trained network is the script's recipe, and
no network in it learned a field of a test split it is scored on."""

from __future__ import annotations

import json
from dataclasses import asdict

from nucseg_zoo.datasets.shared_fields import holds_test_fields
from validation.experiments import transfer as T


def _committed() -> dict:
    return json.loads(T.OUT.read_text())


def test_the_shipped_rows_are_the_leaderboards_evaluations():
    data = _committed()
    shipped = {entry for _, entry, _ in T.SHIPPED}
    rows = [row for row in data["rows"] if row["entry"] in shipped]
    assert len(rows) == len(shipped)
    for row in rows:
        assert row["scores"] == {test: T.leaderboard_row(row["entry"], test) for test in T.TRACKS}
    assert {row["scores"]["dsb2018-fluo"]["source"] for row in rows if row["trained_on"] == "each"} == \
        {"cp-advanced@dsb2018-fluo"}  # CellProfiler advanced tuned on DSB2018-fluo for its test split


def test_the_trained_network_is_the_scripts_recipe_from_scratch_on_dsb2018_fluo_alone():
    data = _committed()
    recipe = data["trained"]["recipe"]
    parser_defaults = T.dsb_recipe(1000, 8, 128)  # the script's defaults: one command rebuilds the row
    assert recipe == json.loads(json.dumps(asdict(parser_defaults), default=str))
    assert (recipe["dataset"], recipe["train_split"], recipe["validation_split"]) == \
        ("dsb2018-fluo", "training", "validation")
    assert recipe["init_from"] is None and recipe["distillation"] is None  # nothing learned from BBBC039
    trained = next(row for row in data["rows"] if row["entry"] == T.TRAINED_ID)
    assert set(trained["scores"]) == set(T.TRACKS)
    for score in trained["scores"].values():
        assert 0.0 <= score["average_f1"] <= 1.0 and 0.0 <= score["missed_at_0.7"] <= 1.0
    assert trained["scores"]["bbbc039"]["n_images"] == 50 and trained["scores"]["dsb2018-fluo"]["n_images"] == 76
    assert T.OUT.with_suffix(".png").is_file()


def test_no_network_of_the_matrix_learned_a_field_of_the_other_sets_test_split():
    assert holds_test_fields(("dsb2018-fluo/training", "dsb2018-fluo/validation"), "bbbc039", "test") is False
    assert holds_test_fields(("bbbc039/training", "bbbc039/validation"), "dsb2018-fluo", "test") is False

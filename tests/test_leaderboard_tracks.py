"""A leaderboard per (dataset, split): the DSB2018-fluo test track holds every zoo model and baseline,
states what each learned from, and refuses results of another track."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from nucseg_zoo.datasets import split_names
from nucseg_zoo.leaderboard import read_results, stale_pages
from nucseg_zoo.leaderboard.entries import builtin_sources
from nucseg_zoo.leaderboard.records import Track, read_track

VALIDATION = Path(__file__).resolve().parents[1] / "validation"
DSB_TRACK = VALIDATION / "tracks" / "dsb2018-fluo-test"


def test_tracks_are_named_by_their_folders():
    assert read_track(VALIDATION) == Track("bbbc039", "test")
    assert read_track(DSB_TRACK) == Track("dsb2018-fluo", "test")


def test_dsb_track_covers_the_zoo_and_baselines_on_its_test_split():
    records = {r.entry.id: r for r in read_results(DSB_TRACK / "results")}
    for kind, name, source in builtin_sources(read_track(DSB_TRACK)):
        record = records[name]
        assert record.entry.source == source and record.entry.training_data
        assert tuple(i.name for i in record.evaluation.scores.images) == split_names("dsb2018-fluo", "test")
        assert record.evaluation.scores.n_true == 2415
    assert records["cp-basic"].entry.source == "cp-basic@dsb2018-fluo"
    assert records["cp-basic"].entry.training_data == ("dsb2018-fluo/training",)
    data = json.loads((DSB_TRACK / "leaderboard.json").read_text())
    assert data["references"]["rows"] == [] and (data["dataset"], data["split"]) == ("dsb2018-fluo", "test")
    assert all(row["training_holds_test_fields"] is False for row in data["entries"])
    assert "No published numbers on this split" in (DSB_TRACK / "LEADERBOARD.md").read_text()


def test_dsb_track_pages_are_generated():
    assert stale_pages(DSB_TRACK) == []


def test_a_result_of_another_track_is_refused(tmp_path):
    board = tmp_path / "board"
    shutil.copytree(DSB_TRACK, board, ignore=shutil.ignore_patterns("atlas", "predictions"))
    shutil.copy(VALIDATION / "results" / "cp-basic.json", board / "results" / "bbbc-cp-basic.json")
    with pytest.raises(ValueError, match="evaluated on bbbc039/test, the leaderboard is dsb2018-fluo/test"):
        read_results(board / "results")


def _section(page: Path, heading: str) -> list[str]:
    """The lines of ``page`` below ``## heading`` up to the next ``##`` heading."""
    lines = page.read_text().splitlines()
    start = lines.index(f"## {heading}") + 1
    end = next((k for k in range(start, len(lines)) if lines[k].startswith("## ")), len(lines))
    return lines[start:end]


def test_the_results_pages_quote_the_dsb_track():
    """The generated results tables (docs/results.md, and the README's summary) show each row's
    DSB2018-fluo numbers from the committed track."""
    root = VALIDATION.parent
    full_table = _section(root / "docs" / "results.md", "DSB2018-fluo test split")
    summaries = [(root / "README.md").read_text().splitlines(), _section(root / "docs" / "results.md", "Summary")]
    for row in json.loads((DSB_TRACK / "leaderboard.json").read_text())["entries"]:
        f1, missed = f"{row['average_f1']:.3f}", f"{100 * row['error_rate_at_0.7']:.1f} %"
        [line] = [line for line in full_table if re.match(rf"\| \d+ \| `{re.escape(row['id'])}` \|", line)]
        assert f"| {f1} |" in line and f"| {missed} |" in line, line
        for summary in summaries:
            [line] = [line for line in summary if line.startswith(f"| `{row['id']}` |")]
            assert line.endswith(f"| {f1} / {missed} |"), line

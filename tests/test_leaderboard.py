"""The leaderboard: committed pages match their data, hand edits are caught, submissions work
end to end and rejected packages leave every file byte-for-byte untouched."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from external_model import build_external_package

from nucseg_zoo._hashing import sha256_of
from nucseg_zoo.cli import main
from nucseg_zoo.datasets import split_names
from nucseg_zoo.leaderboard import DuplicateSubmission, UnknownEntry, read_results, render, stale_pages, submit, verify
from nucseg_zoo.leaderboard.entries import builtin_sources
from nucseg_zoo.leaderboard.records import read_track

COMMITTED = Path(__file__).resolve().parent.parent / "validation"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NUCSEG_ZOO_DATA_DIR", str(tmp_path / "cache"))


@pytest.fixture
def board(tmp_path) -> Path:
    """A copy of the committed leaderboard folder."""
    return Path(shutil.copytree(COMMITTED, tmp_path / "validation"))


@pytest.fixture(scope="module")
def package(sample_split, tmp_path_factory):
    return build_external_package(tmp_path_factory.mktemp("external"), sample_split[0].image)


def _snapshot(folder: Path, *, pictures: bool = True) -> dict[str, str]:
    """sha256 of every file; without ``pictures``, of every file but the atlas's PNG/WebP
    (their encoders may change bytes, not pixels: :func:`stale_pages` compares those)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and (pictures or p.suffix not in (".png", ".webp"))}


# ---------------------------------------------------------------- the committed leaderboard


def test_committed_pages_are_generated_from_the_results():
    assert stale_pages(COMMITTED) == [], "run `nucseg-zoo leaderboard` and commit the pages"


def test_committed_results_cover_the_zoo_and_baselines_on_the_full_test_split():
    records = read_results(COMMITTED / "results")  # checks every aggregate against the per-image counts
    assert {r.entry.id for r in records} >= {name for _, name, _ in builtin_sources()}
    for record in records:
        assert tuple(i.name for i in record.evaluation.scores.images) == split_names("bbbc039", "test")
        assert record.evaluation.scores.n_true == 5720
        assert record.evaluation.provenance["source_sha256"] == record.entry.source_sha256
    data = json.loads((COMMITTED / "leaderboard.json").read_text())
    assert [row["average_f1"] for row in data["entries"]] == sorted((row["average_f1"] for row in data["entries"]),
                                                                   reverse=True)
    assert len(data["references"]["rows"]) == 5


def test_builtin_entries_match_the_shipped_models():
    """A zoo model or baseline whose files changed must be re-evaluated (`leaderboard --update`)."""
    from nucseg_zoo.segmenters import resolve_source

    records = {r.entry.id: r for r in read_results(COMMITTED / "results")}
    for _, name, source in builtin_sources(read_track(COMMITTED)):
        assert records[name].entry.source == source
        assert records[name].entry.source_sha256 == resolve_source(source).sha256, name


def test_pages_show_every_entry_references_and_figures():
    pages = render(COMMITTED)
    for record in read_results(COMMITTED / "results"):
        assert record.entry.name in pages["LEADERBOARD.md"]
        assert f"{record.evaluation.scores.average_f1:.3f}" in pages["LEADERBOARD.md"]
    assert "0.898" in pages["LEADERBOARD.md"] and "not re-computed" in pages["LEADERBOARD.md"]
    html = pages["leaderboard.html"]
    assert html.count("<svg") == 4 and "<script" not in html and "src=\"http" not in html


def test_hand_edited_numbers_are_caught(board):
    result = next((board / "results").glob("*.json"))
    data = json.loads(result.read_text())
    data["evaluation"]["average_f1"] += 0.01
    result.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="average_f1 is .* but the per-image counts give"):
        read_results(board / "results")

    shutil.copy(COMMITTED / "results" / result.name, result)
    markdown = board / "LEADERBOARD.md"
    markdown.write_text(markdown.read_text().replace("0.8", "0.9", 1))
    assert stale_pages(board) == ["LEADERBOARD.md"]
    assert main(["leaderboard", "--dir", str(board), "--check", "--no-atlases"]) == 1
    assert main(["leaderboard", "--dir", str(board), "--no-atlases"]) == 0  # the pages, not the atlases
    assert stale_pages(board) == []
    assert _snapshot(board, pictures=False) == _snapshot(COMMITTED, pictures=False)


def _keep_one_entry(board: Path, entry_id: str) -> None:
    """Reduce a leaderboard folder to one entry (its result, predictions and atlas) and its pages
    (without the readouts of all entries)."""
    (board / "experiments" / "readouts.json").unlink()
    (board / "experiments" / "costs.json").unlink()
    for path in [*(board / "results").glob("*.json"), *(board / "predictions").glob("*.npz")]:
        if path.stem != entry_id:
            path.unlink()
    for path in (board / "atlas").iterdir():
        if path.name not in ("images", entry_id, f"{entry_id}.html"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert main(["leaderboard", "--dir", str(board), "--no-atlases"]) == 0


def test_hand_edited_atlas_pictures_are_caught_and_redrawn(board, bbbc039_mirror, capsys):
    """The atlas half of `nucseg-zoo leaderboard` (check and regeneration), on one entry: the
    committed atlases of every entry are checked by test_atlas.py."""
    _keep_one_entry(board, "cp-basic")
    picture = sorted((board / "atlas" / "cp-basic").glob("*.png"))[0]
    width, height = Image.open(picture).size
    Image.new("RGBA", (width, height)).save(picture)  # the marks erased
    display = sorted((board / "atlas" / "images").glob("*.webp"))[0]
    display.unlink()
    before = _snapshot(board, pictures=False)
    capsys.readouterr()

    assert main(["leaderboard", "--dir", str(board), "--check"]) == 1
    named = sorted(line.split(" is out of date")[0] for line in capsys.readouterr().err.splitlines())
    assert named == sorted(str(board / p.relative_to(board)) for p in (picture, display))
    assert _snapshot(board, pictures=False) == before  # --check writes nothing

    assert main(["leaderboard", "--dir", str(board)]) == 0
    assert np.array_equal(np.asarray(Image.open(picture)),
                          np.asarray(Image.open(COMMITTED / picture.relative_to(board))))
    assert Image.open(display).size == Image.open(COMMITTED / display.relative_to(board)).size
    assert _snapshot(board, pictures=False) == before


def test_no_atlases_is_refused_where_atlases_are_always_drawn(board, capsys):
    for extra in (["--update"], ["--verify"]):
        assert main(["leaderboard", "--dir", str(board), "--no-atlases", *extra]) == 2
        assert "--no-atlases applies to regenerating or checking the pages" in capsys.readouterr().err
    assert _snapshot(board) == _snapshot(COMMITTED)


@pytest.mark.parametrize("options, message", [
    (["--check", "--verify", "cp-basic"], "not allowed with argument"),
    (["--check", "--update"], "not allowed with argument"),
    (["--update", "--verify"], "not allowed with argument"),
    (["--force"], "--force applies to --update only"),
    (["--check", "--tolerance", "0.01"], "--tolerance applies to --verify only"),
    (["--verify", "cp-basic", "no-such-entry"], "no leaderboard entry 'no-such-entry'"),
])
def test_options_that_would_be_ignored_or_match_nothing_are_refused(board, capsys, options, message):
    """Critic's report: `--check --verify ID` only checked the pages, and `--verify` of a mistyped id
    re-ran nothing and passed (exit 0), so a merge gate could pass without a re-run."""
    argv = ["leaderboard", "--dir", str(board), *options]
    if "not allowed" in message:  # argparse's usage error
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
    else:
        assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert _snapshot(board) == _snapshot(COMMITTED)


def test_verify_of_an_unknown_id_reruns_nothing():
    with pytest.raises(UnknownEntry, match="no leaderboard entry 'cp-basics' .* entries: .*cp-basic"):
        verify(COMMITTED, ["cp-basic", "cp-basics"])


def test_results_on_a_partial_split_are_refused(board):
    result = next((board / "results").glob("*.json"))
    data = json.loads(result.read_text())
    data["evaluation"]["images"] = data["evaluation"]["images"][:10]
    result.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="not the official bbbc039/test images"):
        read_results(board / "results")


def test_results_on_other_data_are_refused(board):
    result = next((board / "results").glob("*.json"))
    data = json.loads(result.read_text())
    data["evaluation"]["dataset_sha256"] = "0" * 64
    result.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="dataset_sha256 is not the hash of the official images"):
        read_results(board / "results")


# ---------------------------------------------------------------- submissions


def _break_weights_hash(rdf, folder):
    rdf["weights"]["onnx"]["sha256"] = "0" * 64


def _three_d_input(rdf, folder):
    rdf["inputs"][0]["axes"].insert(2, {"type": "space", "id": "z", "size": 1})
    np.save(folder / "input.npy", np.load(folder / "input.npy")[:, :, None])
    rdf["inputs"][0]["test_tensor"]["sha256"] = sha256_of(folder / "input.npy")


@pytest.mark.parametrize("breakage, reason", [
    ({"edit": _break_weights_hash}, "weights.onnx: Value error, SHA256 mismatch"),
    ({"edit": _three_d_input}, "cannot take a single-channel 2-D image: input 'image' has a space axis 'z'"),
    ({"drop": ("output.npy",)}, "output.npy: named in rdf.yaml but missing from the package"),
])
def test_invalid_packages_are_rejected_and_nothing_changes(board, sample_split, tmp_path, capsys, breakage, reason):
    bad = build_external_package(tmp_path / "bad", sample_split[0].image, **breakage)
    before = _snapshot(board)
    code = main(["submit", str(bad), "--name", "Broken", "--author", "Someone", "--dir", str(board)])
    err = capsys.readouterr().err
    assert code == 2 and reason in err
    assert _snapshot(board) == before


def test_submit_evaluates_records_and_refuses_duplicates(board, package, bbbc039_mirror, capsys):
    before = _snapshot(board)
    assert main(["submit", str(package), "--name", "Threshold FG/B (test)", "--author", "An Outside Lab",
                 "--author", "A. Person", "--dir", str(board)]) == 0
    out, err = capsys.readouterr()
    result_file = board / "results" / "threshold-fg-b-test.json"
    assert out.strip() == str(result_file) and "foreground_boundary" in err
    record = json.loads(result_file.read_text())
    assert record["entry"]["kind"] == "submission"
    assert record["entry"]["authors"] == ["An Outside Lab", "A. Person"]
    assert record["entry"]["source"] == package.name and record["entry"]["source_sha256"] == sha256_of(package)
    assert record["evaluation"]["n_images"] == 50 and record["evaluation"]["output_kind"] == "foreground_boundary"
    assert "Threshold FG/B (test)" in (board / "LEADERBOARD.md").read_text()
    assert stale_pages(board) == []
    changed = {name for name, digest in _snapshot(board).items() if before.get(name) != digest}
    overlays = {f"atlas/threshold-fg-b-test/{name}.png" for name in split_names("bbbc039", "test")}
    assert changed == {"results/threshold-fg-b-test.json", "leaderboard.json", "LEADERBOARD.md", "leaderboard.html",
                       "predictions/threshold-fg-b-test.npz", "atlas/threshold-fg-b-test.html", *overlays}
    assert "atlas/threshold-fg-b-test.html" in (board / "LEADERBOARD.md").read_text()

    after = _snapshot(board)
    with pytest.raises(DuplicateSubmission, match="already on the leaderboard as 'threshold-fg-b-test'"):
        submit(str(package), name="Same again", authors=["Someone"], folder=board)
    assert main(["submit", str(package), "--name", "Same again", "--author", "X", "--dir", str(board)]) == 2
    assert "not added again" in capsys.readouterr().err
    assert _snapshot(board) == after


def test_verify_reruns_an_entry_from_its_source(bbbc039_mirror):
    [result] = verify(COMMITTED, ["cp-basic"])
    assert result.passed, result.message
    assert result.average_f1 == pytest.approx(result.recorded_average_f1, abs=1e-9)  # deterministic baseline


def _section(page: Path, heading: str) -> list[str]:
    """The lines of ``page`` below ``## heading`` up to the next ``##`` heading."""
    lines = page.read_text().splitlines()
    start = lines.index(f"## {heading}") + 1
    end = next((k for k in range(start, len(lines)) if lines[k].startswith("## ")), len(lines))
    return lines[start:end]


def test_the_results_pages_quote_the_leaderboard():
    """The generated results tables (docs/results.md, and the README's summary) show the
    committed leaderboard's numbers."""
    root = COMMITTED.parent
    full_table = _section(root / "docs" / "results.md", "BBBC039 test split")
    summaries = [(root / "README.md").read_text().splitlines(), _section(root / "docs" / "results.md", "Summary")]
    for row in json.loads((COMMITTED / "leaderboard.json").read_text())["entries"]:
        if row["kind"] == "submission":
            continue
        f1, missed = f"{row['average_f1']:.3f}", f"{100 * row['error_rate_at_0.7']:.1f} %"
        [line] = [line for line in full_table if re.match(rf"\| \d+ \| `{re.escape(row['id'])}` \|", line)]
        assert f"| {f1} |" in line and f"| {missed} |" in line, line
        for summary in summaries:
            [line] = [line for line in summary if line.startswith(f"| `{row['id']}` |")]
            assert line.split(" | ")[2] == f"{f1} / {missed}", line


def test_zoo_metrics_files_are_the_leaderboard_results():
    """zoo/<id>/metrics.json (quoted by the model card and package) is the same evaluation."""
    from nucseg_zoo.zoo import list_models
    from nucseg_zoo.zoo.registry import zoo_entry_dir

    records = {r.entry.id: r for r in read_results(COMMITTED / "results")}
    for model_id in list_models():
        metrics = json.loads((zoo_entry_dir(model_id) / "metrics.json").read_text())
        assert metrics["source_sha256"] == records[model_id].entry.source_sha256, model_id
        assert metrics["average_f1"] == records[model_id].evaluation.scores.average_f1


def test_a_peer_row_is_labelled_and_records_how_to_rebuild_it(board, bbbc039_mirror, tmp_path, monkeypatch, capsys):
    """A published tool run here (here: a Python segmenter) is a 'peer' row with its note and recipe."""
    (tmp_path / "otsu_peer.py").write_text(
        "from scipy import ndimage\nfrom skimage.filters import threshold_otsu\n\n\n"
        "def segment(image):\n    return ndimage.label(image > threshold_otsu(image))[0]\n")
    monkeypatch.chdir(tmp_path)
    before = _snapshot(board)
    with pytest.raises(ValueError, match="needs a note saying how it was made"):
        submit("otsu_peer:segment", name="Otsu", authors=["N. Otsu"], folder=board, kind="peer")
    with pytest.raises(ValueError, match="is a python; a submission is a bioimage.io package"):
        submit("otsu_peer:segment", name="Otsu", authors=["N. Otsu"], folder=board)
    assert _snapshot(board) == before
    assert main(["submit", "otsu_peer:segment", "--name", "Otsu threshold", "--author", "N. Otsu", "--dir", str(board),
                 "--peer", "run here with scikit-image", "--recipe", "otsu_peer.py (Otsu 1979)"]) == 0
    capsys.readouterr()
    record = json.loads((board / "results" / "otsu-threshold.json").read_text())
    assert record["entry"]["kind"] == "peer" and record["entry"]["note"] == "run here with scikit-image"
    assert record["entry"]["recipe"] == "otsu_peer.py (Otsu 1979)" and record["entry"]["source"] == "otsu_peer:segment"
    assert record["evaluation"]["source_kind"] == "python" and record["evaluation"]["n_images"] == 50
    row = next(line for line in (board / "LEADERBOARD.md").read_text().splitlines() if "Otsu threshold" in line)
    assert "| peer: run here with scikit-image |" in row
    assert stale_pages(board) == []
    committed = json.loads((COMMITTED / "results" / "cp-basic.json").read_text())["entry"]
    assert "note" not in committed and "recipe" not in committed  # other rows' files are unchanged

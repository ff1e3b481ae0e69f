"""The leaderboard's Cellpose peer (``validation/peers/cellpose/``): its training script and its
Python segmenter, end to end with the cellpose library on the bundled sample. Runs in CI's
peer-tools environment (the TensorFlow one plus ``pip install --no-deps cellpose==3.1.1.3 ...``,
see ``.ci/run``; ``pytest -m "tensorflow or cellpose"``); skipped where cellpose is missing."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.cellpose
pytest.importorskip("cellpose", reason="the Cellpose peer needs `pip install --no-deps cellpose==3.1.1.3 ...` "
                                       "(validation/peers/cellpose/train.py)")

PEER = Path(__file__).parents[1] / "validation" / "peers" / "cellpose"


def _train_module():
    spec = importlib.util.spec_from_file_location("cellpose_peer_train", PEER / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_peer_is_trained_from_scratch_and_scored_through_the_python_segmenter_path(tmp_path, monkeypatch):
    from nucseg_zoo._hashing import sha256_of
    from nucseg_zoo.evaluation import evaluate_source

    train = _train_module()
    recipe = yaml.safe_load(train.RECIPE.read_text())
    recipe.update(dataset="bbbc039-sample", train_split="test")
    recipe["train_seg"].update(batch_size=2, bsize=64)  # a tiny budget: one epoch of 64x64 patches
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    assert train.main(["--recipe", str(tmp_path / "recipe.yaml"), "--out", str(out), "--epochs", "1",
                       "--device", "cpu"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["sha256"] == sha256_of(out / train.WEIGHTS)
    assert result["epochs_completed"] == 1 and not result["stopped_early"]
    assert result["data"]["images"] == 3 and 10 < result["diameter"] < 60  # BBBC039 nuclei: ~28 px across

    monkeypatch.setenv("NUCSEG_ZOO_CELLPOSE_WEIGHTS", str(out / train.WEIGHTS))
    monkeypatch.chdir(PEER.parents[2])  # the module path is resolved from the repository root
    evaluation = evaluate_source("validation.peers.cellpose.segmenter:segment", dataset="bbbc039-sample",
                                 split="test", force=True)
    assert evaluation.provenance["output_kind"] == "instance_labels"
    configuration = evaluation.provenance["source_details"]["configuration"]  # other weights: another model
    assert configuration["weights_sha256"] == result["sha256"] and configuration["diameter"] == result["diameter"]
    assert evaluation.scores.n_true == 317 and 0.0 <= evaluation.scores.average_f1 <= 1.0


def test_the_segmenter_refuses_what_it_cannot_segment(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(PEER.parents[2]))
    from validation.peers.cellpose import segmenter

    with pytest.raises(ValueError, match="expected one 2-D image"):
        segmenter.segment(np.zeros((2, 32, 32), np.uint16))
    with pytest.raises(ValueError, match="needs at least 16 px per side"):  # critic: a raw OpenCV resize error
        segmenter.segment(np.zeros((2, 2), np.uint16))
    monkeypatch.delenv(segmenter.WEIGHTS_ENV, raising=False)
    with pytest.raises(RuntimeError, match=segmenter.WEIGHTS_ENV):
        segmenter.segment(np.zeros((32, 32), np.uint16))
    monkeypatch.setenv(segmenter.WEIGHTS_ENV, str(tmp_path / "missing.pt"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        segmenter.segment(np.zeros((32, 32), np.uint16))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a state dict")
    monkeypatch.setenv(segmenter.WEIGHTS_ENV, str(junk))
    with pytest.raises(ValueError, match="is not a Cellpose 3 \\(CPnet\\) state dict"):  # not torch's weights_only advice
        segmenter.segment(np.zeros((32, 32), np.uint16))

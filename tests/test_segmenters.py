"""The one resolver (:mod:`nucseg_zoo.segmenters`): what a spec names, one default precision for
every entry point, and the protocols that say what an opened source offers."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

import nucseg_zoo
from nucseg_zoo.baselines import list_baselines
from nucseg_zoo.cli import build_parser
from nucseg_zoo.precision import DEFAULT_PRECISION
from nucseg_zoo.screens import segment_images
from nucseg_zoo.segmenters import (
    BatchedModel,
    DatasetStatisticsModel,
    ProbabilityModel,
    Segmenter,
    UnknownSourceError,
    get_segmenter,
    list_segmenters,
    load_model,
    open_segmenter,
    resolve_source,
)
from nucseg_zoo.segmenters.statistics import fit_dataset_statistics, fitted_statistics
from nucseg_zoo.zoo.model import ZooModel

VALIDATION = Path(__file__).resolve().parent.parent / "validation"


def test_list_models_and_unknown_id():
    assert "unet-bbbc039" in nucseg_zoo.list_models()
    with pytest.raises(ValueError, match="available: .*unet-bbbc039"):
        nucseg_zoo.load_model("unet-bbbc038")


@pytest.mark.parametrize("precision", ["int8", "FP32", "float32"])
def test_an_unknown_precision_is_refused_when_loading(precision):
    """Critic's report: load_model accepted precision="int8" and failed with a bare KeyError
    at the first segment call."""
    with pytest.raises(ValueError, match="unknown precision .*fp32, bf16, fp16"):
        nucseg_zoo.load_model("unet-bbbc039-fast", precision=precision)
    with pytest.raises(ValueError, match="unknown precision .*fp32, bf16, fp16"):
        get_segmenter("cp-basic", precision=precision)  # checked for every kind, before resolving


@pytest.mark.parametrize("call", [resolve_source, get_segmenter, load_model])
def test_an_unknown_source_is_the_documented_error_listing_the_zoo(call):
    with pytest.raises(UnknownSourceError, match="unet-bbbc039") as caught:
        call("no-such-model")
    assert isinstance(caught.value, ValueError)
    assert nucseg_zoo.errors.UnknownSourceError is UnknownSourceError


@pytest.mark.parametrize("spec", ["cp-basic", "not_a_module_anywhere:segment"])
def test_load_model_refuses_sources_without_predict_before_importing_them(spec):
    with pytest.raises(UnknownSourceError, match=f"unknown model '{spec}'; available: .*bioimage.io package"):
        load_model(spec)
    assert "not_a_module_anywhere" not in sys.modules


def test_list_segmenters_names_the_zoo_then_the_baselines():
    assert list_segmenters() == nucseg_zoo.list_models() + list_baselines()


@pytest.mark.parametrize("function", [load_model, get_segmenter, open_segmenter, segment_images, ZooModel])
def test_every_entry_point_defaults_to_the_one_precision(function):
    assert inspect.signature(function).parameters["precision"].default == DEFAULT_PRECISION == "fp32"


def test_the_same_zoo_id_runs_in_one_precision_through_every_entry_point():
    assert load_model("unet-bbbc039-fast").precision == get_segmenter("unet-bbbc039-fast").precision == "fp32"
    assert get_segmenter("unet-bbbc039-fast", precision="bf16").precision == "bf16"


def test_the_segment_command_states_the_default_precision():
    segment = build_parser()._subparsers._group_actions[0].choices["segment"]
    (option,) = [action for action in segment._actions if "--precision" in action.option_strings]
    assert option.default == DEFAULT_PRECISION
    assert "default: %(default)s" in option.help and "--precision" in segment.format_help()
    assert "default: fp32" in " ".join(segment.format_help().split())


def test_the_leaderboard_was_made_in_the_default_precision():
    """Every committed zoo result (both tracks) records the precision the evaluate path still uses."""
    records = [json.loads(path.read_text()) for path in VALIDATION.glob("**/results/*.json")]
    zoo = {record["evaluation"]["inference_precision"] for record in records if record["entry"]["kind"] == "zoo"}
    assert len(records) > 10 and zoo == {DEFAULT_PRECISION}


def test_protocols_say_what_each_kind_offers():
    zoo, baseline = get_segmenter("unet-bbbc039-fast"), get_segmenter("cp-basic")
    assert isinstance(zoo, BatchedModel) and isinstance(zoo, ProbabilityModel) and isinstance(zoo, Segmenter)
    assert not isinstance(zoo, DatasetStatisticsModel)
    assert isinstance(baseline, Segmenter) and not isinstance(baseline, ProbabilityModel)
    assert fit_dataset_statistics(baseline, [], reference="none") is None and fitted_statistics(zoo) is None


def test_resolving_identifies_without_loading():
    """A zoo id or a baseline resolves to its kind and content hash without importing torch."""
    script = ("import json, sys\nfrom nucseg_zoo.segmenters import resolve_source\n"
              "sources = [resolve_source(s) for s in ('unet-bbbc039-fast', 'cp-basic')]\n"
              "print(json.dumps([[s.kind, len(s.sha256)] for s in sources] + ['torch' in sys.modules]))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == [["zoo", 64], ["baseline", 64], False]


def test_one_zoo_id_gives_the_same_labels_through_every_entry_point(sample_split, tmp_path):
    """Before the one resolver, load_model and segment_images ran bf16 on CPUs with native bf16
    and the harness fp32: the same id gave other labels depending on the entry point."""
    import numpy as np
    import tifffile

    from nucseg_zoo.evaluation import evaluate_source
    from nucseg_zoo.evaluation.predictions import read_labels

    sample = sample_split[0]
    tifffile.imwrite(tmp_path / f"{sample.name}.tif", sample.image)
    expected = load_model("unet-bbbc039-fast").segment(sample.image)
    np.testing.assert_array_equal(get_segmenter("unet-bbbc039-fast").segment(sample.image), expected)
    evaluation = evaluate_source("unet-bbbc039-fast", dataset="bbbc039-sample", limit=1, force=True)
    np.testing.assert_array_equal(read_labels(evaluation.labels_path, sample.name), expected)
    segment_images([tmp_path / f"{sample.name}.tif"], model="unet-bbbc039-fast", out=tmp_path / "out", progress=False)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / f"{sample.name}.tif"), expected)

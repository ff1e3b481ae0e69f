"""The evaluation harness on sources of every kind: zoo id, baseline, package file, URL."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from external_model import build_external_package
from loopback import LoopbackServer

from nucseg_zoo._hashing import sha256_of
from nucseg_zoo.cli import main
from nucseg_zoo.evaluation import evaluate_source
from nucseg_zoo.segmenters import resolve_source
from nucseg_zoo.zoo.bioimageio_model import TEST_INPUT_REFERENCE

PROVENANCE_KEYS = {"source_kind", "source_name", "source_sha256", "dataset_sha256", "limit", "output_kind",
                   "output_kind_reason", "weight_format", "device", "environment", "evaluated_at", "cache_key"}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own download and result cache."""
    monkeypatch.setenv("NUCSEG_ZOO_DATA_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def package(sample_split, tmp_path_factory):
    """The outside lab's 2-channel (foreground, boundary) ONNX-only package."""
    return build_external_package(tmp_path_factory.mktemp("external"), sample_split[0].image)


def test_external_package_runs_with_its_own_convention(package, sample_split):
    result = evaluate_source(str(package), dataset="bbbc039-sample", split="test")
    assert result.provenance["output_kind"] == "foreground_boundary"
    assert "2 float channel" in result.provenance["output_kind_reason"]
    assert result.provenance["source_kind"] == "bioimageio"
    assert result.provenance["source_sha256"] == sha256_of(package)
    assert result.scores.n_images == 3
    assert result.scores.n_true == sum(len(np.unique(sample.labels)) - 1 for sample in sample_split)
    # a hand-set threshold network: far from perfect, far from nothing
    assert 0.5 < result.scores.average_f1 < 0.95
    record = result.to_dict()
    assert PROVENANCE_KEYS <= set(record)
    assert set(record["environment"]["packages"]) >= {"nucseg-zoo", "numpy", "bioimageio.core", "onnxruntime"}
    assert len(record["images"]) == 3 and all(image["seconds"] > 0 for image in record["images"])


def test_results_are_cached_by_content_and_force_recomputes(package):
    first = evaluate_source(str(package), dataset="bbbc039-sample")
    again = evaluate_source(str(package), dataset="bbbc039-sample")
    assert not first.cached and again.cached
    assert again.to_dict() == first.to_dict()
    forced = evaluate_source(str(package), dataset="bbbc039-sample", force=True)
    assert not forced.cached and forced.scores.to_dict() == first.scores.to_dict()
    limited = evaluate_source(str(package), dataset="bbbc039-sample", limit=1)
    assert not limited.cached and limited.scores.n_images == 1 and limited.provenance["limit"] == 1
    assert limited.provenance["cache_key"] != first.provenance["cache_key"]


def test_explicit_output_kind_is_used_and_recorded(sample_split, tmp_path):
    # a 0/1 mask in float32 looks like a foreground probability; read as labels, it is one object
    mask_model = str(build_external_package(tmp_path / "mask", sample_split[0].image, variant="binary_mask"))
    inferred = evaluate_source(mask_model, dataset="bbbc039-sample")
    chosen = evaluate_source(mask_model, dataset="bbbc039-sample", output_kind="instance_labels")
    assert inferred.provenance["output_kind"] == "foreground"
    assert chosen.provenance["output_kind"] == "instance_labels"
    assert "--output-kind" in chosen.provenance["output_kind_reason"]
    assert chosen.provenance["cache_key"] != inferred.provenance["cache_key"]
    assert chosen.scores.n_pred == 3 < inferred.scores.n_pred  # one "instance" per image


def test_output_kind_must_fit_the_channels(package):
    with pytest.raises(ValueError, match="three_class expects 3 output channel.*has 2"):
        evaluate_source(str(package), dataset="bbbc039-sample", output_kind="three_class")


@pytest.mark.tensorflow
def test_tensorflow_weights_run_with_the_extra_installed(package, sample_split, tmp_path):
    """The same network as Keras HDF5 weights with channel-last axes (``nucseg-zoo[tensorflow]``)."""
    pytest.importorskip("tensorflow", reason="TensorFlow weights need `pip install 'nucseg-zoo[tensorflow]'`")
    from nucseg_zoo.packaging.validate import test_package

    keras_package = build_external_package(tmp_path / "keras", sample_split[0].image, weight_format="keras_hdf5")
    report = test_package(keras_package)
    assert report.passed and report.formats == {"keras_hdf5": "passed"}, report.reasons
    keras_result = evaluate_source(str(keras_package), dataset="bbbc039-sample")
    onnx_result = evaluate_source(str(package), dataset="bbbc039-sample")
    assert keras_result.provenance["output_kind"] == "foreground_boundary"
    assert "tensorflow" in keras_result.provenance["environment"]["packages"]
    assert keras_result.scores.average_f1 == pytest.approx(onnx_result.scores.average_f1, abs=0.01)


def test_zoo_models_and_baselines_keep_their_convention():
    baseline = evaluate_source("cp-basic", dataset="bbbc039-sample", limit=1)
    assert baseline.provenance["output_kind"] == "instance_labels"
    assert baseline.provenance["source_kind"] == "baseline"
    with pytest.raises(ValueError, match="applies to bioimage.io packages only"):
        evaluate_source("cp-basic", dataset="bbbc039-sample", output_kind="foreground")
    zoo = resolve_source("unet-bbbc039")
    assert zoo.kind == "zoo" and len(zoo.sha256) == 64


def test_url_is_downloaded_once_and_hash_checked(package, tmp_path):
    server = LoopbackServer({"threshold-model.zip": package.read_bytes()})
    try:
        url = server.url + "threshold-model.zip"
        with pytest.raises(ValueError, match="hash"):
            evaluate_source(url, dataset="bbbc039-sample", sha256="0" * 64, limit=1)
        assert not list((tmp_path / "cache" / "models").glob("*.zip"))
        first = evaluate_source(url, dataset="bbbc039-sample", limit=1, sha256=sha256_of(package))
        second = evaluate_source(url, dataset="bbbc039-sample", limit=1)
        assert server.requests.count("threshold-model.zip") == 2  # the rejected download and one good one
        assert second.cached and second.provenance["source_sha256"] == sha256_of(package)
        assert first.provenance["output_kind"] == "foreground_boundary"
        cached = next((tmp_path / "cache" / "models").glob("*.zip"))
        cached.write_bytes(cached.read_bytes() + b"tampered")
        with pytest.raises(ValueError, match="cached download .* has sha256"):
            evaluate_source(url, dataset="bbbc039-sample", limit=1)
    finally:
        server.close()


def test_model_that_needs_two_channels_is_refused_clearly(sample_split, tmp_path):
    def two_channels(rdf, folder):
        rdf["inputs"][0]["axes"][1]["channel_names"] = ["dna", "membrane"]
        crop = np.load(folder / "input.npy")
        np.save(folder / "input.npy", np.concatenate([crop, crop], axis=1))
        rdf["inputs"][0]["test_tensor"]["sha256"] = sha256_of(folder / "input.npy")

    bad = build_external_package(tmp_path / "two", sample_split[0].image, edit=two_channels)
    with pytest.raises(ValueError, match="cannot take a single-channel 2-D image: input 'image' has 2 channels"):
        evaluate_source(str(bad), dataset="bbbc039-sample", limit=1)


def test_unknown_source_lists_what_is_accepted():
    with pytest.raises(ValueError, match="unet-bbbc039.*cp-basic.*bioimage.io package"):
        evaluate_source("no-such-model", dataset="bbbc039-sample")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        evaluate_source("missing/model.zip", dataset="bbbc039-sample")


def test_cli_prints_json_and_a_per_image_table(package, capsys):
    assert main(["evaluate", str(package), "--dataset", "bbbc039-sample", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["output_kind"] == "foreground_boundary" and data["n_images"] == 3
    assert main(["evaluate", str(package), "--dataset", "bbbc039-sample", "--output-kind", "foreground_boundary"]) == 0
    table = capsys.readouterr().out
    assert "IXMtest_L06_s5" in table and "output kind: foreground_boundary (chosen explicitly" in table
    assert "cached result" not in table
    assert main(["evaluate", str(package), "--dataset", "bbbc039-sample", "--output-kind", "foreground_boundary"]) == 0
    assert "cached result from" in capsys.readouterr().out
    assert main(["evaluate", "cp-basic", "--dataset", "bbbc039-sample", "--limit", "0"]) == 2
    assert "positive number" in capsys.readouterr().err


# ---------------------------------------------------------------- dataset-scope preprocessing


def _dataset_scope(kind: str):
    def edit(rdf, folder):
        if kind == "zero_mean_unit_variance":  # spec 0.5: no `axes` = all axes, batch included
            rdf["inputs"][0]["preprocessing"] = [{"id": "zero_mean_unit_variance", "kwargs": {}}]
        else:  # percentiles over the batch too
            rdf["inputs"][0]["preprocessing"] = [{"id": "scale_range", "kwargs": {
                "axes": ["batch", "y", "x"], "min_percentile": 1.0, "max_percentile": 99.8}}]
    return edit


@pytest.fixture(scope="module", params=["zero_mean_unit_variance", "scale_range"])
def dataset_scope_package(request, sample_split, tmp_path_factory):
    return build_external_package(tmp_path_factory.mktemp(request.param), sample_split[0].image,
                                  edit=_dataset_scope(request.param))


def _segment(package, paths, out, *extra):
    assert main(["segment", str(package), *map(str, paths), "--out", str(out), "--no-progress", *extra]) == 0
    return {path.stem: tifffile.imread(out / f"{path.stem}.tif") for path in paths}


@pytest.fixture
def three_files(sample_split, tmp_path):
    paths = []
    for name, sample in zip("ABC", sample_split):
        paths.append(tmp_path / f"{name}.tif")
        tifffile.imwrite(paths[-1], sample.image)
    return paths


def test_an_images_labels_do_not_depend_on_the_images_run_with_it(dataset_scope_package, three_files, tmp_path):
    """Users' reports: with dataset-scope zero_mean_unit_variance, `segment PACKAGE A.tif B.tif`
    gave B 9 or 8 objects depending on whether A ran first (the core's running statistics);
    fitted over the whole input set, B's labels still depended on whether A was in the call.
    The statistics are a fixed reference's: B's labels are the same alone, after A, first, or
    in any company."""
    a, b, c = three_files
    alone = _segment(dataset_scope_package, [b], tmp_path / "b")["B"]
    assert alone.max() > 10
    for order in ([a, b], [b, a], [c, a, b]):
        labels = _segment(dataset_scope_package, order, tmp_path / "".join(p.stem for p in order))
        np.testing.assert_array_equal(labels["B"], alone)
    manifest = json.loads((tmp_path / "AB" / "manifest.json").read_text())
    assert manifest["parameters"]["dataset_statistics"]["reference"] == TEST_INPUT_REFERENCE


def test_the_default_reference_is_the_packages_test_input(dataset_scope_package, sample_split):
    from nucseg_zoo.zoo.bioimageio_model import BioimageioModel

    model = BioimageioModel.from_source(dataset_scope_package)
    assert model.needs_dataset_statistics
    statistics = model.dataset_statistics
    assert statistics["reference"] == TEST_INPUT_REFERENCE and statistics["n_images"] == 1
    test_input = sample_split[0].image[:128, :160].astype(np.float64)  # what build_external_package ships
    if "image: dataset mean over all axes" in statistics:
        assert statistics["image: dataset mean over all axes"] == pytest.approx(test_input.mean(), rel=1e-5)
        assert statistics["image: dataset std over all axes"] == pytest.approx(test_input.std(), rel=1e-4)
    else:
        assert statistics["image: dataset quantile 0.01 over batch, y, x"] == \
            pytest.approx([np.percentile(test_input, 1.0)], rel=1e-6)
        assert statistics["image: dataset quantile 0.998 over batch, y, x"] == \
            pytest.approx([np.percentile(test_input, 99.8)], rel=1e-6)
    # no fit is needed before predicting, and fitting the test input again changes nothing
    image = sample_split[1].image
    before = model.segment(image)
    model.fit_dataset_statistics([test_input], reference="again")
    np.testing.assert_array_equal(model.segment(image), before)


def test_a_reference_set_is_chosen_recorded_and_part_of_the_outputs_identity(dataset_scope_package, three_files,
                                                                              tmp_path, capsys):
    from nucseg_zoo.zoo.bioimageio_model import BioimageioModel

    a, b, c = three_files
    out = tmp_path / "out"
    labels = _segment(dataset_scope_package, [b, c], out, "--statistics-from", str(a))
    model = BioimageioModel.from_source(dataset_scope_package)
    statistics = model.fit_dataset_statistics([tifffile.imread(a)], reference=str(a))
    np.testing.assert_array_equal(labels["B"], model.segment(tifffile.imread(b)))
    recorded = json.loads((out / "manifest.json").read_text())["parameters"]["dataset_statistics"]
    assert recorded == statistics and recorded["reference"] == str(a) and recorded["n_images"] == 1
    # the same reference resumes; another one is another model setting, refused unless --overwrite
    _segment(dataset_scope_package, [b, c], out, "--statistics-from", str(a))
    assert "0 images segmented, 2 skipped" in capsys.readouterr().err
    assert main(["segment", str(dataset_scope_package), str(b), "--out", str(out), "--no-progress"]) == 2
    assert "with other dataset statistics" in capsys.readouterr().err
    _segment(dataset_scope_package, [b], out, "--overwrite")
    assert json.loads((out / "manifest.json").read_text())["parameters"]["dataset_statistics"]["reference"] == \
        TEST_INPUT_REFERENCE
    # a model without dataset statistics has nothing to set
    assert main(["segment", "cp-basic", str(b), "--out", str(tmp_path / "cp"), "--statistics-from", str(a),
                 "--no-progress"]) == 2
    assert "cp-basic uses none" in capsys.readouterr().err
    assert not (tmp_path / "cp").exists()


def test_evaluate_scores_each_image_as_it_would_alone(dataset_scope_package, sample_split):
    result = evaluate_source(str(dataset_scope_package), dataset="bbbc039-sample", split="test")
    assert result.provenance["dataset_statistics"]["reference"] == TEST_INPUT_REFERENCE
    single = evaluate_source(str(dataset_scope_package), dataset="bbbc039-sample", split="test", limit=1)
    assert single.provenance["dataset_statistics"] == result.provenance["dataset_statistics"]
    assert single.to_dict()["images"][0]["f1"] == result.to_dict()["images"][0]["f1"]
    assert all(image.n_pred > 10 for image in result.scores.images)  # a toy threshold network, but nuclei
    # a result cached when the statistics were fitted over the split is recomputed, not served
    cached = result.labels_path.with_name(result.labels_path.name.replace(".labels.npz", ".json"))
    record = json.loads(cached.read_text())
    del record["dataset_statistics"]["reference"]
    cached.write_text(json.dumps(record))
    again = evaluate_source(str(dataset_scope_package), dataset="bbbc039-sample", split="test")
    assert not again.cached and again.provenance["dataset_statistics"]["reference"] == TEST_INPUT_REFERENCE


def test_a_package_without_dataset_statistics_records_none(package):
    result = evaluate_source(str(package), dataset="bbbc039-sample", limit=1)
    assert result.provenance["dataset_statistics"] is None and result.provenance["inference_precision"] is None


def test_zoo_models_are_evaluated_in_fp32_like_their_package():
    result = evaluate_source("unet-bbbc039", dataset="bbbc039-sample", limit=1)
    assert result.provenance["inference_precision"] == "fp32"


def test_a_cached_result_is_reported_under_the_name_it_was_asked_for(package, tmp_path):
    """Critic's report: `evaluate URL` returned the cached result of the same zip evaluated
    from a file path, with the file's name as its source."""
    import shutil

    copy = tmp_path / "renamed.zip"
    shutil.copyfile(package, copy)
    first = evaluate_source(str(package), dataset="bbbc039-sample", limit=1)
    again = evaluate_source(str(copy), dataset="bbbc039-sample", limit=1)
    assert again.cached and again.provenance["source_sha256"] == first.provenance["source_sha256"]
    assert again.source == str(copy) and again.provenance["source_name"] == "renamed.zip"

"""bioimage.io packaging (``nucseg_zoo.packaging``, ``nucseg-zoo package``) and
running packages (``nucseg_zoo.zoo.bioimageio_model``).

Two packages are built once per module: one from a temporary zoo entry with a thin,
randomly initialised U-Net (exercises every code path in seconds) and one from the
shipped ``zoo/unet-bbbc039`` weights (skipped while training has not produced them).
Both pass ``bioimageio.core.test_model`` in every weight format.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from artefacts import away_from, lone_nuclei

pytest.importorskip("bioimageio.core")
torch = pytest.importorskip("torch")

import nucseg_zoo  # noqa: E402
from nucseg_zoo import datasets, load_model  # noqa: E402
from nucseg_zoo._hashing import sha256_of  # noqa: E402
from nucseg_zoo.cli import main  # noqa: E402
from nucseg_zoo.metrics import score_image  # noqa: E402
from nucseg_zoo.models.unet import UNet  # noqa: E402
from nucseg_zoo.packaging import PackageValidationError, build_package, test_package  # noqa: E402
from nucseg_zoo.packaging import layout as L  # noqa: E402
from nucseg_zoo.packaging.receptive_field import receptive_field_radius  # noqa: E402
from nucseg_zoo.postprocessing import PostprocessingParams  # noqa: E402
from nucseg_zoo.zoo.bioimageio_model import BioimageioModel  # noqa: E402
from nucseg_zoo.zoo.bioimageio_rdf import UndeclaredOutputKindError, read_output_kind  # noqa: E402
from nucseg_zoo.zoo.entry import WeightsFile, ZooEntry, entry_yaml_text, load_entry, read_entry  # noqa: E402
from nucseg_zoo.zoo.model import ZooModel  # noqa: E402
from nucseg_zoo.zoo.registry import zoo_entry_dir  # noqa: E402

MODEL_ID = "unet-bbbc039"
DEEPIMAGEJ_PREPROCESSING = {"binarize", "clip", "ensure_dtype", "fixed_zero_mean_unit_variance", "scale_linear",
                            "scale_range", "sigmoid", "zero_mean_unit_variance"}
TILED_ATOL = 1e-5   # tiled vs whole image (same network, same weights format)
ZOO_ATOL = 1e-4     # packaged model (through bioimageio.core) vs ZooModel in fp32
DENSE_FIELD = 2     # bundled sample IXMtest_L06_s5: 198 nuclei, 30 of them touching the border


# ---------------------------------------------------------------- fixtures


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random_entry(folder: Path, widths=(8, 16, 32), *, metrics: dict | None = None) -> ZooEntry:
    """A zoo-like entry of the shipped model's recipe with a thin random-init U-Net."""
    source = zoo_entry_dir(MODEL_ID)
    raw = yaml.safe_load((source / "entry.yaml").read_text())
    raw["architecture"]["kwargs"]["widths"] = list(widths)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    network = UNet(widths=widths).eval()
    for module in network.modules():  # non-trivial batch-norm statistics, as after training
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    torch.save(network.state_dict(), folder / "weights.pt")
    raw["weights"]["sha256"] = sha256_of(folder / "weights.pt")
    (folder / "entry.yaml").write_text(entry_yaml_text(raw))
    shutil.copyfile(source / raw["recipe"], folder / raw["recipe"])
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    return dataclasses.replace(load_entry(folder), postprocessing=PostprocessingParams(min_size=20))


@pytest.fixture(scope="module")
def random_entry(tmp_path_factory):
    return _random_entry(tmp_path_factory.mktemp("entry"), metrics={"dataset": "bbbc039", "split": "test", "n_images": 3,
                                                                     "n_true": 317, "average_f1": 0.5,
                                                                     "f1": {"0.5": 0.6}})


@pytest.fixture(scope="module")
def random_package(random_entry, tmp_path_factory):
    return build_package(random_entry, tmp_path_factory.mktemp("dist"), check=True)


@pytest.fixture(scope="module")
def shipped_entry():
    folder = zoo_entry_dir(MODEL_ID)
    raw = yaml.safe_load((folder / "entry.yaml").read_text())
    missing = [name for name in (raw["weights"]["file"], raw["postprocessing"]) if not (folder / name).is_file()]
    if missing or raw["weights"]["sha256"] is None:
        pytest.skip(f"zoo/{MODEL_ID} has no trained weights yet ({', '.join(missing) or 'sha256 not recorded'}): "
                    "training is still running")
    return read_entry(MODEL_ID)


@pytest.fixture(scope="module")
def shipped_package(shipped_entry, tmp_path_factory):
    return build_package(shipped_entry, tmp_path_factory.mktemp("dist"), check=True)


@pytest.fixture(scope="module", params=nucseg_zoo.list_models())
def zoo_package(request, tmp_path_factory):
    """Every shipped zoo model with its package: (entry, PackageResult); test_model passed."""
    if request.param == MODEL_ID:
        return request.getfixturevalue("shipped_entry"), request.getfixturevalue("shipped_package")
    entry = read_entry(request.param)
    return entry, build_package(entry, tmp_path_factory.mktemp("dist"), check=True)


@pytest.fixture(params=["random", "shipped"])
def package(request):
    """Each built package with its entry: (entry, PackageResult)."""
    if request.param == "random":
        return request.getfixturevalue("random_entry"), request.getfixturevalue("random_package")
    return request.getfixturevalue("shipped_entry"), request.getfixturevalue("shipped_package")


@pytest.fixture(scope="module")
def sample():
    return datasets.load("bbbc039-sample", split="test")[1]


@pytest.fixture(scope="module")
def crop(sample):
    """A 256 x 384 window with nuclei (sizes multiple of 8: bioimageio.core's tiling keeps its grid)."""
    return sample.image[128:384, 160:544]


def _rdf(path: Path) -> tuple[dict, str]:
    with zipfile.ZipFile(path) as archive:
        text = archive.read("rdf.yaml").decode()
    return yaml.safe_load(text), text


def _rewrite_zip(source: Path, target: Path, changes: dict[str, bytes | None]) -> Path:
    """Copy a zip, replacing (bytes) or dropping (None) members."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for name in old.namelist():
            if name in changes:
                if changes[name] is not None:
                    new.writestr(name, changes[name])
            else:
                new.writestr(name, old.read(name))
    return target


# ---------------------------------------------------------------- the package


def test_every_weight_format_passes_test_model(package):
    _, result = package
    assert result.test is not None and result.test.passed, result.test.reasons
    assert result.test.formats == {fmt: "passed" for fmt in L.WEIGHT_FORMATS}
    assert result.summary.status in ("passed", "valid-format")


def test_package_contents_and_atomic_output(package):
    _, result = package
    assert result.path.name == f"{MODEL_ID}.zip"
    assert sorted(p.name for p in result.path.parent.iterdir()) == [result.path.name]  # no staging left
    with zipfile.ZipFile(result.path) as archive:
        names = set(archive.namelist())
    assert names == {"rdf.yaml", L.STATE_DICT_FILE, L.TORCHSCRIPT_FILE, L.ONNX_FILE, "unet.py", L.TEST_INPUT_FILE,
                     L.TEST_OUTPUT_FILE, L.COVER_FILE, L.DOCUMENTATION_FILE}
    assert not any(name.endswith(".data") for name in names)


def test_rdf_is_readable_by_old_specs_and_deepimagej(package):
    entry, result = package
    rdf, text = _rdf(result.path)
    assert rdf["format_version"] == "0.5.9"
    assert rdf["id"] == entry.id
    assert rdf["covers"] == [L.COVER_FILE] and rdf["documentation"] == L.DOCUMENTATION_FILE  # plain strings
    assert "&id" not in text and "*id" not in text  # no YAML aliases
    assert rdf["config"]["deepimagej"] == {"allow_tiling": True, "pyramidal_model": False}
    assert all("github_user" not in author for author in rdf["authors"])
    assert {c["doi"] for c in rdf["cite"]} >= {"10.1002/cyto.a.23863", "10.1038/nmeth.2083"}
    assert rdf["training_data"]["name"] == "BBBC039"
    (inp,), (out,) = rdf["inputs"], rdf["outputs"]
    assert [a.get("id", a["type"]) for a in inp["axes"]] == ["batch", "channel", "y", "x"]
    assert {p["id"] for p in inp["preprocessing"]} <= DEEPIMAGEJ_PREPROCESSING
    scale_range = next(p["kwargs"] for p in inp["preprocessing"] if p["id"] == "scale_range")
    assert scale_range == {"axes": ["y", "x"], "min_percentile": entry.normalization.min_percentile,
                           "max_percentile": entry.normalization.max_percentile, "eps": entry.normalization.eps}
    assert out["axes"][1]["channel_names"] == ["background", "interior", "boundary"]
    assert out.get("postprocessing", []) == []  # softmax lives inside the network
    nucseg = rdf["config"]["nucseg_zoo"]
    assert nucseg["output_kind"] == "three_class"
    assert nucseg["postprocessing"] == entry.postprocessing.to_dict()
    tolerance = rdf["config"]["bioimageio"]["reproducibility_tolerance"][0]
    assert tolerance["absolute_tolerance"] == L.ABSOLUTE_TOLERANCE


def test_sizes_halo_and_receptive_field(package):
    _, result = package
    rdf, _ = _rdf(result.path)
    size = rdf["inputs"][0]["axes"][2]["size"]
    halo = rdf["outputs"][0]["axes"][2]["halo"]
    assert halo >= result.receptive_field and halo % size["step"] == 0
    assert size["min"] - 2 * halo >= 1 and size["min"] % size["step"] == 0
    assert (L.Layout(step=8, halo=halo).is_valid_size(256)) and not L.Layout(step=8, halo=halo).is_valid_size(260)


def test_receptive_field_of_the_unet():
    # radius of an L-level U-Net with two 3x3 convs per block: 7 * 2**L - 5 (51 px for 3 levels)
    assert receptive_field_radius(UNet(widths=(2, 2, 2))) == 51
    assert receptive_field_radius(UNet(widths=(2, 2))) == 23


def test_onnx_is_self_contained_ir8(package):
    onnx = pytest.importorskip("onnx")
    _, result = package
    with zipfile.ZipFile(result.path) as archive:
        model = onnx.load_from_string(archive.read(L.ONNX_FILE))
    assert model.ir_version <= 8
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) == 17
    assert not any(init.data_location == onnx.TensorProto.EXTERNAL for init in model.graph.initializer)
    onnx.checker.check_model(model)
    assert 0 < result.max_abs_diff["onnx"] <= L.ABSOLUTE_TOLERANCE or result.max_abs_diff["onnx"] == 0.0


def test_documentation_has_validation_section(random_package, tmp_path):
    with zipfile.ZipFile(random_package.path) as archive:
        readme = archive.read(L.DOCUMENTATION_FILE).decode()
        cover = archive.read(L.COVER_FILE)
    assert "## Test-split metrics" in readme and "| average_f1 | 0.5 |" in readme and "| f1.0.5 | 0.6 |" in readme
    assert "ilastik" in readme and "10.1002/cyto.a.23863" in readme
    import imageio.v3 as iio

    image = iio.imread(io.BytesIO(cover), extension=".png")
    assert image.shape[1] == 2 * image.shape[0] and image.dtype == np.uint8


def test_documentation_without_metrics_says_not_yet_evaluated(random_entry):
    from nucseg_zoo.cards import PACKAGE, PackageFacts, gather, render_card

    package = PackageFacts(input_id=L.INPUT_ID, output_id=L.OUTPUT_ID, min_size=120, size_step=8, halo=56,
                           receptive_field=51, onnx_opset=17, example_source="A crop")
    card = render_card(dataclasses.replace(gather(random_entry, package=package), metrics=None), PACKAGE)
    assert "Not yet evaluated" in card and "`zoo/unet-bbbc039/metrics.json` is missing" in card
    with pytest.raises(ValueError, match="needs the package's facts"):
        render_card(gather(random_entry), PACKAGE)


# ---------------------------------------------------------------- running the package


def test_tiled_prediction_equals_whole_image(package, crop):
    from bioimageio.core import Tensor, predict
    from bioimageio.spec import load_description

    _, result = package
    whole = load_model(str(result.path)).predict(crop)
    tiled = BioimageioModel.from_source(result.path, tile=128).predict(crop)  # 2 x 3 blocks
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=TILED_ATOL)
    # bioimageio.core's own tiling: blocks of 120 + 8 * 16 = 248 px, 2 x 3 of them
    descr = load_description(result.path)
    x = Tensor.from_numpy(crop[None, None].astype(np.float32), dims=("batch", "channel", "y", "x"))
    core_tiled = predict(model=descr, inputs=x, blocksize_parameter=16).members[L.OUTPUT_ID].data.to_numpy()[0]
    np.testing.assert_allclose(core_tiled, whole, rtol=0, atol=TILED_ATOL)


def test_load_model_matches_zoo_model(package, crop):
    entry, result = package
    model = load_model(str(result.path))
    assert isinstance(model, BioimageioModel)
    assert model.id == MODEL_ID and model.output_kind == "three_class"
    assert model.channel_names == ("background", "interior", "boundary")
    assert model.postprocessing == entry.postprocessing
    probabilities = model.predict(crop)
    assert probabilities.shape == (3, *crop.shape) and probabilities.dtype == np.float32
    reference = ZooModel(entry, precision="fp32").predict(crop)
    # one border convention (nucseg_zoo.tiling): the same output up to the image border
    np.testing.assert_allclose(probabilities, reference, rtol=0, atol=ZOO_ATOL)


@pytest.fixture(scope="module")
def dense_window(sample_split) -> np.ndarray:
    """264 x 344 px (odd multiples of 8, as the 520 x 696 fields) of the densest bundled field, its
    nuclei cut by every edge."""
    return sample_split[DENSE_FIELD].image[128:392, 160:504]


@pytest.fixture(scope="module")
def zoo_labels(zoo_package, dense_window):
    """The zoo model's fp32 labels of the dense window, computed once per model (the reference of
    every weight format)."""
    return ZooModel(zoo_package[0], precision="fp32").segment(dense_window)


@pytest.mark.parametrize("weight_format", ["pytorch_state_dict", "torchscript", "onnx"])
def test_package_and_zoo_model_give_identical_labels_up_to_every_border(zoo_package, dense_window, zoo_labels,
                                                                        weight_format):
    """Users' report: the zoo path and its package disagreed within 64 px of the border
    (5 test images: 440 vs 443 objects). Now both pad by the halo, symmetric, and agree on a
    dense window whose nuclei touch every border (images up to 1024 px run as one block in
    both paths, so a window tests what a whole field does)."""
    entry, result = zoo_package
    package = BioimageioModel.from_source(result.path, weight_format=weight_format)
    labels = package.segment(dense_window)
    assert labels.shape == (264, 344)
    np.testing.assert_array_equal(labels, zoo_labels, err_msg=weight_format)
    assert labels.max() > 40  # a real, dense field of nuclei
    edges = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    assert len(np.unique(edges[edges > 0])) > 10  # nuclei cut by the borders


def test_a_saturated_square_in_a_package_run_leaves_the_nuclei_around_it(zoo_package, dense_window, zoo_labels):
    """The zoo path clips a saturated artefact before the normalisation; so does nucseg-zoo's
    package runner, which therefore gives the zoo model's labels."""
    entry, result = zoo_package
    image, square = dense_window.copy(), np.zeros(dense_window.shape, bool)
    square[100:130, 150:180] = True  # 900 px: 1 % of the window
    image[square] = 65535
    labels = BioimageioModel.from_source(result.path).segment(image)
    np.testing.assert_array_equal(labels, ZooModel(entry, precision="fp32").segment(image))
    clean, found = away_from(zoo_labels, square), away_from(labels, square)
    assert clean.max() > 20 and score_image(clean, found).f1[0.9] >= 0.97


def test_a_nucleus_alone_on_zeros_is_one_object_in_the_package_run(zoo_package, sample_split):
    """The package runner takes the zoo path's percentile range where both percentiles coincide."""
    entry, result = zoo_package
    package = BioimageioModel.from_source(result.path)
    image, truth = lone_nuclei(sample_split[0], n=1)[0]
    labels = package.segment(image)
    np.testing.assert_array_equal(labels, ZooModel(entry, precision="fp32").segment(image))
    assert labels.max() == 1 and score_image(truth, labels).f1[0.7] == 1.0


def test_load_model_segments_a_sample_image(package, sample):
    from nucseg_zoo.metrics import score_image

    entry, result = package
    labels = load_model(str(result.path)).segment(sample.image)
    assert labels.shape == sample.image.shape and labels.dtype == np.int32
    if entry.dir == zoo_entry_dir(MODEL_ID):  # trained weights: real nuclei
        scores = score_image(sample.labels, labels)
        assert scores.f1[0.5] > 0.7, scores


def test_predict_accepts_odd_sizes(random_package):
    model = load_model(str(random_package.path))
    image = np.random.default_rng(0).integers(0, 4000, size=(131, 203)).astype(np.uint16)
    assert model.predict(image).shape == (3, 131, 203)
    with pytest.raises(ValueError, match="2-D"):
        model.predict(np.zeros((2, 64, 64), np.float32))


# ---------------------------------------------------------------- broken packages


def test_corrupted_weights_are_rejected_with_reasons(random_package, tmp_path):
    with zipfile.ZipFile(random_package.path) as archive:
        weights = bytearray(archive.read(L.STATE_DICT_FILE))
    weights[-100] ^= 0xFF
    broken = _rewrite_zip(random_package.path, tmp_path / "broken.zip", {L.STATE_DICT_FILE: bytes(weights)})
    with pytest.raises(ValueError, match="(?i)sha256") as err:
        load_model(str(broken))
    assert isinstance(err.value, PackageValidationError) and err.value.reasons


def test_missing_test_tensor_is_rejected_with_reasons(random_package, tmp_path):
    broken = _rewrite_zip(random_package.path, tmp_path / "broken.zip", {L.TEST_OUTPUT_FILE: None})
    with pytest.raises(ValueError, match=L.TEST_OUTPUT_FILE.replace(".", r"\.")):
        load_model(str(broken))
    report = test_package(broken)
    assert not report.passed and any(L.TEST_OUTPUT_FILE in reason for reason in report.reasons)


def test_rdf_rejected_by_the_validator(random_package, tmp_path):
    rdf, _ = _rdf(random_package.path)
    rdf["inputs"][0]["preprocessing"][1]["kwargs"]["max_percentile"] = 0.5  # below min_percentile
    broken = _rewrite_zip(random_package.path, tmp_path / "broken.zip", {"rdf.yaml": yaml.safe_dump(rdf).encode()})
    with pytest.raises(ValueError, match="max_percentile"):
        load_model(str(broken))


def test_failed_build_writes_nothing(random_entry, tmp_path, monkeypatch, capsys):
    import nucseg_zoo.commands.package as command
    import nucseg_zoo.packaging.build as build

    def invalid_rdf(*args, **kwargs):
        rdf = original(*args, **kwargs)
        rdf["outputs"][0]["axes"][2]["halo"] = 1000  # larger than the minimum input size allows
        return rdf

    original = build.build_rdf
    monkeypatch.setattr(build, "build_rdf", invalid_rdf)
    monkeypatch.setattr(command, "_read_entry", lambda model_id: random_entry)
    out = tmp_path / "dist"
    assert main(["package", MODEL_ID, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "halo" in captured.err and "invalid; nothing written" in captured.err
    assert list(out.iterdir()) == []


def test_check_failure_writes_nothing(random_entry, tmp_path, monkeypatch, capsys):
    import nucseg_zoo.commands.package as command
    import nucseg_zoo.packaging.build as build

    def wrong_output(*args, **kwargs):
        example = original(*args, **kwargs)
        return dataclasses.replace(example, output=np.roll(example.output, 1, axis=1))

    original = build.make_example_data
    monkeypatch.setattr(build, "make_example_data", wrong_output)
    monkeypatch.setattr(build, "_check_formats", lambda *args: {})
    monkeypatch.setattr(command, "_read_entry", lambda model_id: random_entry)
    out = tmp_path / "dist"
    assert main(["package", MODEL_ID, "--out", str(out), "--check"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "test_model failed" in captured.err and "disagree" in captured.err
    assert list(out.iterdir()) == []


def test_corrupted_entry_weights_write_nothing(random_entry, tmp_path):
    entry = dataclasses.replace(random_entry, weights=(WeightsFile(random_entry.weights_path, "0" * 64),))
    out = tmp_path / "dist"
    with pytest.raises(RuntimeError, match="sha256"):
        build_package(entry, out)
    assert not out.exists() or list(out.iterdir()) == []


def test_cli_prints_path_and_summary(random_entry, tmp_path, monkeypatch, capsys):
    import nucseg_zoo.commands.package as command

    monkeypatch.setattr(command, "_read_entry", lambda model_id: random_entry)
    assert main(["package", MODEL_ID, "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(tmp_path / f"{MODEL_ID}.zip")
    assert "valid-format" in captured.err or "passed" in captured.err


# ---------------------------------------------------------------- models from elsewhere


def _description(package_path: Path, tmp_path: Path, edit):
    """The package's description after ``edit(rdf)``, validated without file checks."""
    from bioimageio.spec import ValidationContext, build_description

    with zipfile.ZipFile(package_path) as archive:
        archive.extractall(tmp_path)
    rdf = yaml.safe_load((tmp_path / "rdf.yaml").read_text())
    edit(rdf)
    descr = build_description(rdf, context=ValidationContext(root=tmp_path, perform_io_checks=False),
                              format_version="latest")
    assert descr.validation_summary.status != "failed", descr.validation_summary.format()
    return descr


def test_output_kind_inference(random_package, tmp_path):
    def no_config(rdf):
        del rdf["config"]["nucseg_zoo"]

    def two_channels(rdf):
        no_config(rdf)
        rdf["outputs"][0]["axes"][1]["channel_names"] = ["foreground", "boundary"]

    def one_channel(rdf):
        no_config(rdf)
        rdf["outputs"][0]["axes"][1]["channel_names"] = ["foreground"]

    def labels(rdf):
        one_channel(rdf)
        rdf["outputs"][0]["data"] = {"type": "uint16"}

    def declared(rdf):
        rdf["config"]["nucseg_zoo"]["output_kind"] = "foreground"

    for i, (edit, kind) in enumerate([(two_channels, "foreground_boundary"), (one_channel, "foreground"),
                                      (labels, "instance_labels"), (declared, "foreground")]):
        descr = _description(random_package.path, tmp_path / str(i), edit)
        assert read_output_kind(descr, descr.outputs[0])[0].name == kind
    # three float channels may be three-class probabilities or Cellpose-style flows: not guessed
    descr = _description(random_package.path, tmp_path / "undeclared", no_config)
    with pytest.raises(UndeclaredOutputKindError, match=r"does not declare its output kind.*output 'probabilities' "
                       r"has 3 channels \(background, interior, boundary\), data type float32, axes \(batch, "
                       r"channel, y, x\).*Cellpose-style flows.*--output-kind.*three_class"):
        read_output_kind(descr, descr.outputs[0])
    assert read_output_kind(descr, descr.outputs[0], "three_class")[0].name == "three_class"


def test_models_that_cannot_take_a_2d_single_channel_image(random_package, tmp_path):
    def two_input_channels(rdf):
        rdf["inputs"][0]["axes"][1]["channel_names"] = ["nuclei", "membrane"]

    descr = _description(random_package.path, tmp_path, two_input_channels)
    with pytest.raises(ValueError, match="cannot take a single-channel 2-D image: input 'raw' has 2 channels"):
        BioimageioModel(descr)


def test_the_package_declares_the_clip_and_a_blank_field_with_a_hot_pixel_has_no_nuclei(zoo_package):
    """Users' report: the package, like the zoo path, found 8 objects in zeros with one
    pixel at 4095. The clip is declared in the rdf, so every consumer applies it."""
    from bioimageio.core import Tensor, predict
    from bioimageio.spec import load_description

    from nucseg_zoo.postprocessing import to_labels

    entry, shipped_package = zoo_package
    steps = _rdf(shipped_package.path)[0]["inputs"][0]["preprocessing"]
    assert [step["id"] for step in steps] == ["ensure_dtype", "scale_range", "clip", "ensure_dtype"]
    assert steps[2]["kwargs"] == {"min": -1.0, "max": 5.0}
    image = np.zeros((256, 320), np.uint16)  # a valid input size of every package (no tiling below)
    image[100, 150] = 4095
    labels = BioimageioModel.from_source(shipped_package.path).segment(image)
    # bioimageio.core's own predict with only what the rdf declares (as ilastik runs it)
    x = Tensor.from_numpy(image[None, None].astype(np.float32), dims=("batch", "channel", "y", "x"))
    output = predict(model=load_description(shipped_package.path), inputs=x).members[L.OUTPUT_ID].data.to_numpy()
    core_labels = to_labels(output[0], entry.output_kind, entry.postprocessing)
    assert labels.max() == core_labels.max()
    assert (output[0, 0] < 0.5).sum() < 50  # at most a speck at the hot pixel is not background
    assert labels.max() == 0

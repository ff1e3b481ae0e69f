"""DeepCell's 61×61 feature net: parameter count, patch classifier = dense network, the
ensemble, crop training with a class-balanced pixel mask, and installing an ensemble."""

from __future__ import annotations

import ast
import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml

import nucseg_zoo.zoo.registry as registry
from nucseg_zoo.cards import write_zoo_card
from nucseg_zoo.models import deepcell
from nucseg_zoo.models.deepcell import PATCH_SIZE, FeatureNet61, FeatureNet61Ensemble
from nucseg_zoo.training.data import balanced_pixel_mask
from nucseg_zoo.training.loop import centre_crop, train
from nucseg_zoo.training.recipe import Recipe, read_recipe
from nucseg_zoo.zoo.entry import entry_yaml_text, load_entry, read_entry
from nucseg_zoo.zoo.registry import zoo_entry_dir

MODEL_ID = "deepcell-bbbc039"


def _with_batchnorm_statistics(network: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial running statistics and affine parameters, as after training."""
    generator = torch.Generator().manual_seed(seed)
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=generator) * 0.2 - 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(n, generator=generator) * 0.2 - 0.1)
    return network.eval()


def test_parameter_count_is_the_original_461323_per_network():
    # Van Valen et al. 2016, bn_feature_net_61x61: 461,323 trainable parameters
    for network in (FeatureNet61(dense=False), FeatureNet61(dense=True)):
        assert sum(p.numel() for p in network.parameters() if p.requires_grad) == 461_323
    assert sum(p.numel() for p in FeatureNet61Ensemble(members=5).parameters()) == 5 * 461_323
    assert read_entry(MODEL_ID).raw["num_params"] == 5 * 461_323


def test_patch_classifier_maps_a_61x61_patch_to_one_prediction():
    out = FeatureNet61(dense=False).eval()(torch.rand(2, 1, PATCH_SIZE, PATCH_SIZE))
    assert out.shape == (2, 3, 1, 1)
    torch.testing.assert_close(out.sum(dim=1), torch.ones(2, 1, 1))


def test_dense_network_equals_the_patch_classifier_at_random_pixels():
    torch.manual_seed(0)
    dense = _with_batchnorm_statistics(FeatureNet61(dense=True, padding=0))
    patch = FeatureNet61(dense=False).eval()
    patch.load_state_dict(dense.state_dict())  # one state dict for both forms
    image = torch.rand(1, 1, 140, 170)
    with torch.no_grad():
        valid = dense(image)
        assert valid.shape == (1, 3, 140 - 60, 170 - 60)
        rng = np.random.default_rng(0)
        ys, xs = rng.integers(0, 80, 120), rng.integers(0, 110, 120)
        windows = torch.stack([image[0, :, y:y + PATCH_SIZE, x:x + PATCH_SIZE] for y, x in zip(ys, xs)])
        expected = patch(windows)[:, :, 0, 0]
    torch.testing.assert_close(valid[0, :, ys, xs].T, expected, atol=1e-5, rtol=0)


def test_padding_keeps_the_input_size_and_the_valid_interior():
    torch.manual_seed(1)
    padded = _with_batchnorm_statistics(FeatureNet61(padding=30))
    valid = FeatureNet61(padding=0).eval()
    valid.load_state_dict(padded.state_dict())
    image = torch.rand(1, 1, 97, 130)
    with torch.no_grad():
        same = padded(image)
        assert same.shape == (1, 3, 97, 130)
        # pixels whose 61x61 window lies inside the image never see the zero padding
        torch.testing.assert_close(same[:, :, 30:-30, 30:-30], valid(image), atol=1e-6, rtol=0)


def test_ensemble_averages_the_members_softmax():
    torch.manual_seed(2)
    ensemble = FeatureNet61Ensemble(members=3).eval()
    for k, member in enumerate(ensemble.members):
        _with_batchnorm_statistics(member, seed=k)
    image = torch.rand(1, 1, 70, 75)
    with torch.no_grad():
        expected = torch.stack([member(image) for member in ensemble.members]).mean(dim=0)
        torch.testing.assert_close(ensemble(image), expected, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="at least one member"):
        FeatureNet61Ensemble(members=0)


def test_architecture_file_imports_only_torch():
    # it is the architecture source of the bioimage.io package
    tree = ast.parse(Path(deepcell.__file__).read_text())
    roots = {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    roots |= {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
              for alias in node.names}
    assert roots <= {"__future__", "collections", "torch"}


def test_balanced_pixel_mask_takes_the_rarest_class_count_of_every_class():
    targets = np.zeros((2, 10, 10), np.int64)
    targets[0, :4] = 1        # 40 interior, 60 background,
    targets[0, 5, :7] = 2     # 7 boundary
    targets[1, :5] = 1        # 50 / 50, no boundary
    mask = balanced_pixel_mask(targets, np.random.default_rng(0))
    assert mask.dtype == np.float32
    assert [int(mask[0][targets[0] == c].sum()) for c in (0, 1, 2)] == [7, 7, 7]
    assert [int(mask[1][targets[1] == c].sum()) for c in (0, 1)] == [50, 50]



def test_a_batch_balanced_mask_is_1_1_1_over_the_batch_whatever_blank_crops_it_holds():
    targets = np.zeros((3, 10, 10), np.int64)
    targets[0, :4] = 1        # 40 interior, 7 boundary, 53 background
    targets[0, 5, :7] = 2
    targets[1, :2] = 1        # 20 interior, 5 boundary, 75 background
    targets[1, 3, :5] = 2     # crop 2: blank, 100 background
    mask = balanced_pixel_mask(targets, np.random.default_rng(0), per="batch")
    assert [int(mask[targets == c].sum()) for c in (0, 1, 2)] == [12, 12, 12]
    per_crop = balanced_pixel_mask(targets, np.random.default_rng(0))
    assert [int(per_crop[targets == c].sum()) for c in (0, 1, 2)] == [7 + 5 + 100, 12, 12]
    with pytest.raises(ValueError, match="per must be 'crop' or 'batch'"):
        balanced_pixel_mask(targets, np.random.default_rng(0), per="image")


def test_centre_crop_of_targets_to_a_smaller_output():
    array = np.arange(2 * 8 * 10).reshape(2, 8, 10)
    cropped = centre_crop(array, (4, 4))
    assert cropped.shape == (2, 4, 4)
    np.testing.assert_array_equal(cropped, array[:, 2:6, 3:7])


def test_recipe_members_differ_by_seed_and_are_checked():
    recipe = read_recipe(read_entry(MODEL_ID))
    assert recipe.members == 5 and recipe.pixel_sampling == "balanced_batch"
    assert [recipe.for_member(k).seed for k in range(5)] == [recipe.seed + k for k in range(5)]
    with pytest.raises(ValueError, match="member must be in 0..4"):
        recipe.for_member(5)


@pytest.mark.parametrize("change, message", [
    ({"pixel_sampling": "some"}, "pixel_sampling must be"),
    ({"members": 5}, "the zoo entry states members"),
    ({"normalization": {"min_percentile": 1.0}}, "the zoo entry states normalization"),
    ({"optimizer": {"name": "rmsprop", "lr": 1e-3}}, "optimizer name must be"),
])
def test_bad_recipe_fields_are_named(tmp_path, change, message):
    raw = yaml.safe_load((zoo_entry_dir(MODEL_ID) / "recipe.yaml").read_text())
    raw.update(change)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=message):
        read_recipe(read_entry(MODEL_ID), path)


def test_the_entry_architecture_needs_its_geometry(tmp_path):
    raw = yaml.safe_load((zoo_entry_dir(MODEL_ID) / "entry.yaml").read_text())
    del raw["architecture"]["halo"]
    (tmp_path / "entry.yaml").write_text(entry_yaml_text(raw))
    with pytest.raises(ValueError, match=r"missing \['halo'\]"):
        load_entry(tmp_path)


def _tiny(recipe: Recipe, **changes) -> Recipe:
    return replace(recipe, dataset="bbbc039-sample", train_split="test", validation_split="test", epochs=1,
                   steps_per_epoch=2, batch_size=2, crop_size=100, init_from=None, **changes)


def test_valid_training_form_trains_on_centre_cropped_targets(tmp_path, one_torch_thread):
    recipe = _tiny(read_recipe(read_entry(MODEL_ID)).for_member(1))
    best = train(recipe, tmp_path / "run", progress=False)
    state = torch.load(best, weights_only=True)
    FeatureNet61(padding=30).load_state_dict(state)  # the trained form's parameters are the shipped form's
    record = json.loads((tmp_path / "run" / "log.jsonl").read_text())
    assert record["epoch"] == 1 and 0.0 <= record["validation_average_f1"] <= 1.0


@dataclass(frozen=True)
class _Crop:
    """The fields of a sample that validation reads."""

    name: str
    image: np.ndarray
    labels: np.ndarray


@pytest.fixture
def two_member_zoo(tmp_path, monkeypatch):
    """A copy of the zoo with deepcell-bbbc039 shrunk to two members and the bundled sample as
    its validation split, and two finished member runs (random networks)."""
    import nucseg_zoo.postprocessing.registry as output_kinds
    from nucseg_zoo.postprocessing import THREE_CLASS, Tuning

    root = tmp_path / "zoo"
    entry_dir = root / MODEL_ID
    shutil.copytree(zoo_entry_dir(MODEL_ID), entry_dir)
    monkeypatch.setattr(registry, "bundled_dir", lambda kind: root)
    entry_raw = yaml.safe_load((entry_dir / "entry.yaml").read_text())
    entry_raw["architecture"]["kwargs"]["members"] = 2
    entry_raw["weights"] = [{"file": f"member-{k}.pt", "sha256": None} for k in range(2)]  # not trained yet
    for k in range(5):
        (entry_dir / f"member-{k}.pt").unlink(missing_ok=True)
    (entry_dir / "validation.json").unlink(missing_ok=True)
    (entry_dir / "metrics.json").unlink(missing_ok=True)
    (entry_dir / "entry.yaml").write_text(entry_yaml_text(entry_raw))
    (entry_dir / "postprocessing.json").unlink(missing_ok=True)
    raw = yaml.safe_load((entry_dir / "recipe.yaml").read_text())
    raw.update(dataset="bbbc039-sample", train_split="test", validation_split="test")
    raw.pop("init_from", None)  # trained from scratch
    (entry_dir / "recipe.yaml").write_text(yaml.safe_dump(raw))
    small_grids = Tuning(search={"interior_threshold": (0.4, 0.5)}, refine={"min_size": (12, 16)})
    monkeypatch.setitem(output_kinds._KINDS, "three_class", replace(THREE_CLASS, tuning=small_grids))
    import nucseg_zoo.training.ensemble as ensemble
    from nucseg_zoo import datasets

    def cropped_load(*args, **kwargs) -> list[_Crop]:  # crops keep the export's tuning cheap
        return [_Crop(s.name, s.image[:160, :192], s.labels[:160, :192]) for s in datasets.load(*args, **kwargs)]

    monkeypatch.setattr(ensemble, "datasets", SimpleNamespace(load=cropped_load))
    runs = tmp_path / "runs"
    for k in range(2):
        folder = runs / f"member-{k}"
        folder.mkdir(parents=True)
        torch.manual_seed(k)
        torch.save(_with_batchnorm_statistics(FeatureNet61(), seed=k).state_dict(), folder / "best.pt")
        (folder / "log.jsonl").write_text(json.dumps(
            {"epoch": 1, "step": 2, "train_loss": 0.5, "validation_average_f1": 0.1 * (k + 1), "lr": 1e-3,
             "train_seconds": 1.0, "seconds": 2.0, "device": "cpu", "precision": "bf16"}) + "\n")
    return entry_dir, runs


def test_export_installs_members_tunes_the_ensemble_and_compares_members(two_member_zoo, one_torch_thread):
    from nucseg_zoo import datasets, load_model
    from nucseg_zoo.training.ensemble import export_ensemble

    entry_dir, runs = two_member_zoo
    assert not read_entry(MODEL_ID).trained
    export_ensemble(runs, MODEL_ID)
    entry = read_entry(MODEL_ID)
    assert entry.trained and [w.path.name for w in entry.weights] == ["member-0.pt", "member-1.pt"]
    assert (entry_dir / "member-1.pt").read_bytes() == (runs / "member-1" / "best.pt").read_bytes()
    report = json.loads((entry_dir / "validation.json").read_text())
    assert [m["member"] for m in report["members"]] == [0, 1]
    assert set(report["ensemble"]) == {"average_f1", "error_rate_at_0.7"}
    assert report["ensemble_without_border"]["band_px"] == 30
    tuned = json.loads((entry_dir / "postprocessing.json").read_text())
    assert tuned["params"]["interior_threshold"] in (0.4, 0.5) and tuned["chosen_on"] == "bbbc039-sample/test"
    log = [json.loads(line) for line in (entry_dir / "training_log.jsonl").read_text().splitlines()]
    assert [r["member"] for r in log] == [0, 1]
    assert "Not yet evaluated" in write_zoo_card(MODEL_ID)
    # the installed model is the average of its members
    image = datasets.load("bbbc039-sample", "test")[0].image[:100, :120]
    model = load_model(MODEL_ID, precision="fp32")
    members = [FeatureNet61() for _ in range(2)]
    for k, member in enumerate(members):
        member.load_state_dict(torch.load(runs / f"member-{k}" / "best.pt", weights_only=True))
    from nucseg_zoo.inference import predict_tiled

    normalized = entry.normalization(image)
    expected = np.mean([predict_tiled(m.eval(), normalized, step=1, halo=32) for m in members], axis=0)
    np.testing.assert_allclose(model.predict(image), expected, atol=1e-5)


def test_a_warm_started_ensemble_export_keeps_the_earlier_stage_in_the_log(two_member_zoo, one_torch_thread):
    from nucseg_zoo.training.ensemble import export_ensemble

    entry_dir, runs = two_member_zoo
    export_ensemble(runs, MODEL_ID)
    first = read_entry(MODEL_ID)
    raw = yaml.safe_load((entry_dir / "recipe.yaml").read_text())
    raw.update(version=raw["version"] + 1, init_from={"recipe_version": raw["version"],
                                                      "sha256": [w.sha256 for w in first.weights]})
    (entry_dir / "recipe.yaml").write_text(yaml.safe_dump(raw))
    for k in range(2):  # the fine-tuned members
        folder = runs / f"member-{k}"
        torch.save(_with_batchnorm_statistics(FeatureNet61(), seed=10 + k).state_dict(), folder / "best.pt")
        (folder / "log.jsonl").write_text(json.dumps(
            {"epoch": 1, "step": 1, "train_loss": 0.4, "validation_average_f1": 0.3, "lr": 1e-4,
             "train_seconds": 1.0, "seconds": 2.0, "device": "cpu", "precision": "bf16"}) + "\n")
    with pytest.raises(FileExistsError, match="would change member-0.pt, member-1.pt: pass replace=True"):
        export_ensemble(runs, MODEL_ID)  # the first export's members are not replaced silently
    export_ensemble(runs, MODEL_ID, read_recipe(read_entry(MODEL_ID)), replace=True)
    log = [json.loads(line) for line in (entry_dir / "training_log.jsonl").read_text().splitlines()]
    version = raw["version"]
    assert [(r["recipe_version"], r["member"]) for r in log] == [(version - 1, 0), (version - 1, 1),
                                                                 (version, 0), (version, 1)]
    card = write_zoo_card(MODEL_ID)
    assert f"recipe version {version - 1}: 2 epochs over 2 networks" in card
    assert f"member 0 starts from `{first.weights[0].sha256[:12]}…`" in card
    assert "camera hot pixels (in 50% of crops up to 30 isolated pixels at 1–5 normalised units" in card
    assert "synthetic blank fields (10% of crops" in card and "per batch, as many pixels of each class" in card


def test_export_names_the_member_that_is_not_trained(two_member_zoo):
    from nucseg_zoo.training.ensemble import export_ensemble

    entry_dir, runs = two_member_zoo
    (runs / "member-1" / "best.pt").unlink()
    with pytest.raises(FileNotFoundError, match="train member 1 first"):
        export_ensemble(runs, MODEL_ID)
    assert not (entry_dir / "member-0.pt").exists()  # nothing installed


def test_ensemble_package_averages_its_members_and_passes_test_model(two_member_zoo, tmp_path, one_torch_thread):
    """One bioimage.io package holds every member; its network is the ensemble (any size: step 1)."""
    import zipfile

    from nucseg_zoo.packaging import build_package
    from nucseg_zoo.training.ensemble import export_ensemble

    entry_dir, runs = two_member_zoo
    export_ensemble(runs, MODEL_ID)
    result = build_package(read_entry(MODEL_ID), tmp_path / "dist", check=True)
    assert result.test.passed and result.receptive_field == 30
    assert (result.layout.step, result.layout.halo, result.layout.min_size) == (1, 32, 65)
    with zipfile.ZipFile(result.path) as archive:
        state = torch.load(archive.open("weights.pt"), weights_only=True)
        rdf = yaml.safe_load(archive.read("rdf.yaml"))
    assert {key.split(".")[1] for key in state if key.startswith("members.")} == {"0", "1"}
    assert rdf["weights"]["pytorch_state_dict"]["architecture"]["kwargs"]["members"] == 2
    for k in range(2):
        member = torch.load(runs / f"member-{k}" / "best.pt", weights_only=True)
        assert all(torch.equal(state[f"members.{k}.{name}"], value) for name, value in member.items())


def test_shipped_ensemble_segments_the_bundled_sample():
    """The trained zoo entry through load_model, on 256×320 crops of the three bundled BBBC039
    test images (0.85 average F1 there; whole fields are the leaderboard's job)."""
    from nucseg_zoo import datasets, load_model
    from skimage.segmentation import relabel_sequential

    from nucseg_zoo.metrics import score_image, summarize

    if not read_entry(MODEL_ID).trained:
        pytest.skip(f"{MODEL_ID} has no trained weights recorded yet")
    model = load_model(MODEL_ID)
    samples = datasets.load("bbbc039-sample", "test")
    window = np.s_[:256, :320]
    summary = summarize([score_image(relabel_sequential(s.labels[window])[0], model.segment(s.image[window]),
                                     name=s.name) for s in samples])
    assert summary.average_f1 > 0.8, summary.average_f1
    probabilities = model.predict(samples[0].image[:70, :90])  # any size: no pooling stride
    assert probabilities.shape == (3, 70, 90)
    np.testing.assert_allclose(probabilities.sum(axis=0), 1.0, atol=1e-2)  # 1e-2: also with precision="bf16"

"""The output-kind registry: built-in kinds as records, a new kind registered from outside the
library (postprocessing, tuning and training with no library edit), and undeclared package
outputs refused rather than guessed."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from typing import Any, Mapping

import numpy as np
import pytest
import tifffile
import torch
from external_model import build_external_package
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries, relabel_sequential, watershed

import nucseg_zoo.postprocessing.registry as registry
from nucseg_zoo.cli import main
from nucseg_zoo.metrics import score_image, summarize
from nucseg_zoo.postprocessing import (
    THREE_CLASS,
    Channels,
    InstanceLabelParams,
    OutputKind,
    PostprocessingParams,
    Training,
    Tuning,
    get_output_kind,
    list_output_kinds,
    register,
    to_labels,
)
from nucseg_zoo.zoo.bioimageio_rdf import UndeclaredOutputKindError

BUILT_IN = ["three_class", "foreground_boundary", "foreground", "instance_labels", "stardist"]


def test_the_built_in_kinds_are_registered_records_with_round_tripping_parameters():
    assert list_output_kinds()[:len(BUILT_IN)] == BUILT_IN
    for name in BUILT_IN:
        kind = get_output_kind(name)
        assert kind.name == name and get_output_kind(kind) is kind
        defaults = kind.params()
        assert kind.params.from_dict(defaults.to_dict()) == defaults == kind.parse_params(None)
    assert THREE_CLASS.channels.count == "3" and THREE_CLASS.channels.fits(3) and not THREE_CLASS.channels.fits(2)
    stardist = get_output_kind("stardist")
    assert stardist.channels.count == "1 + n_rays (>= 4)" and stardist.channels.fits(33)
    assert not stardist.channels.fits(3)
    assert THREE_CLASS.tuning is not None and THREE_CLASS.training is not None
    assert stardist.tuning is None and stardist.training is None  # thresholds come with the model


def test_unknown_and_duplicate_kinds_and_foreign_parameters_are_refused():
    with pytest.raises(ValueError, match="unknown output kind 'flows'; valid kinds: three_class, foreground_boundary"):
        get_output_kind("flows")
    with pytest.raises(ValueError, match="'three_class' is registered already"):
        register(dataclasses.replace(THREE_CLASS, description="another"))
    with pytest.raises(TypeError, match="output kind instance_labels takes InstanceLabelParams, got PostprocessingParams"):
        to_labels(np.zeros((1, 8, 8), np.int32), "instance_labels", PostprocessingParams())
    with pytest.raises(ValueError, match="must be lower case"):
        dataclasses.replace(THREE_CLASS, name="Three Class")
    assert to_labels(np.zeros((1, 8, 8), np.int32), "instance_labels", InstanceLabelParams(min_size=0)).max() == 0


# ---------------------------------------------------------------- a new kind, from outside the library


@dataclass(frozen=True)
class DistanceParams:
    """A toy distance-transform kind's parameters: seeds where the distance exceeds ``seed_distance``."""

    seed_distance: float = 2.0
    min_size: int = 16

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "DistanceParams":
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown postprocessing parameters {sorted(unknown)}")
        return cls(**values)


def distance_to_labels(output: np.ndarray, params: DistanceParams) -> np.ndarray:
    """``(1, H, W)`` distance (px) to the object's edge → seeded watershed on the distance."""
    distance = np.asarray(output, np.float32)[0]
    seeds, _ = ndi.label(distance > params.seed_distance)
    labels = watershed(-distance, markers=seeds, mask=distance > 0.5)
    sizes = np.bincount(labels.ravel())
    labels[(sizes < params.min_size)[labels] & (labels > 0)] = 0
    return relabel_sequential(labels)[0].astype(np.int32)


def distance_targets(labels: np.ndarray) -> np.ndarray:
    """Each pixel's distance (px) to its object's edge (0 on contours and background)."""
    inside = (labels > 0) & ~find_boundaries(labels, mode="inner")
    return ndi.distance_transform_edt(inside).astype(np.float32)


def _targets_of(recipe):
    return lambda labels: (distance_targets(labels), np.ones(labels.shape, np.float32))


def _mse(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return (((logits[:, 0].float() - targets) ** 2) * weights).sum() / weights.sum()


DISTANCE = OutputKind(
    name="toy-distance",
    description="distance to the object's edge; seeded watershed",
    channels=Channels(("distance",)),
    params=DistanceParams,
    adapter=distance_to_labels,
    tuning=Tuning(search={"seed_distance": (1.0, 2.0, 4.0)}),
    training=Training(targets=_targets_of, loss=_mse, output=lambda logits: logits),
)


@pytest.fixture
def distance_kind(monkeypatch):
    """The toy kind registered for one test (a private copy of the registry, so it does not leak)."""
    monkeypatch.setattr(registry, "_KINDS", dict(registry._KINDS))
    return register(DISTANCE)


def test_a_new_kind_runs_through_postprocessing_and_tuning(distance_kind, sample_split):
    from nucseg_zoo.training.tuning import tune_params

    assert "toy-distance" in list_output_kinds() and get_output_kind("toy-distance") is DISTANCE
    outputs = [distance_targets(s.labels)[None] for s in sample_split]
    truths = [s.labels for s in sample_split]
    scores = summarize([score_image(t, to_labels(o, "toy-distance"), name=str(i))
                        for i, (o, t) in enumerate(zip(outputs, truths))])
    assert scores.f1[0.5] > 0.9  # exact distances give the nuclei back
    params, score = tune_params(outputs, truths, "toy-distance", workers=2)
    assert isinstance(params, DistanceParams) and params.seed_distance in (1.0, 2.0, 4.0)
    assert score.average_f1 >= summarize([score_image(t, to_labels(o, "toy-distance", DistanceParams(4.0)),
                                                      name=str(i)) for i, (o, t) in enumerate(zip(outputs, truths))
                                          ]).average_f1
    with pytest.raises(ValueError, match="output kind stardist has no tuning grid"):
        tune_params(outputs, truths, "stardist")


def test_a_new_kind_trains_from_its_own_targets_and_loss(distance_kind, tiny_recipe, tmp_path, monkeypatch):
    """The training loop takes targets, loss and output activation from the kind's record."""
    from nucseg_zoo.training import loop

    monkeypatch.setattr(loop, "RECIPE_OUTPUT_KIND", "toy-distance")
    architecture = dataclasses.replace(tiny_recipe.architecture,
                                       kwargs={**tiny_recipe.architecture.kwargs, "n_classes": 1})
    recipe = dataclasses.replace(tiny_recipe, epochs=1, steps_per_epoch=2, architecture=architecture)
    best = loop.train(recipe, tmp_path, precision="fp32", progress=False)
    record = json.loads((tmp_path / "log.jsonl").read_text())
    assert best.is_file() and np.isfinite(record["train_loss"]) and 0.0 <= record["validation_average_f1"] <= 1.0
    with pytest.raises(ValueError, match="balances classes; output kind toy-distance has no class targets"):
        loop.train(dataclasses.replace(recipe, pixel_sampling="balanced"), tmp_path / "b", progress=False)


# ---------------------------------------------------------------- undeclared package outputs


@pytest.fixture(scope="module")
def three_channel_package(sample_split, tmp_path_factory):
    """An outside lab's package with 3 float channels and no declared output kind."""
    return build_external_package(tmp_path_factory.mktemp("three"), sample_split[0].image, variant="three_class")


def test_three_float_channels_without_a_declaration_are_refused_with_the_hint(three_channel_package, sample_split):
    from nucseg_zoo.evaluation import evaluate_source
    from nucseg_zoo.zoo.bioimageio_model import BioimageioModel

    with pytest.raises(UndeclaredOutputKindError,
                       match=r"'Threshold foreground-boundary test model' does not declare its output kind .*"
                             r"'probabilities' has 3 channels \(background, interior, boundary\), data type "
                             r"float32, axes \(batch, channel, y, x\): it fits three_class.*Cellpose-style flows.*"
                             r"--output-kind \(Python: output_kind=\), e.g. three_class; valid kinds: three_class, "):
        BioimageioModel.from_source(three_channel_package)
    chosen = BioimageioModel.from_source(three_channel_package, output_kind="three_class")
    assert chosen.output_kind == "three_class" and "--output-kind" in chosen.output_kind_reason
    assert chosen.postprocessing == PostprocessingParams()
    assert chosen.segment(sample_split[1].image).max() > 10
    result = evaluate_source(str(three_channel_package), dataset="bbbc039-sample", output_kind="three_class")
    assert result.provenance["output_kind"] == "three_class" and 0.5 < result.scores.average_f1 < 0.95


def test_evaluate_and_segment_refuse_it_and_take_output_kind(three_channel_package, sample_split, tmp_path, capsys,
                                                             monkeypatch):
    monkeypatch.setenv("NUCSEG_ZOO_DATA_DIR", str(tmp_path / "cache"))
    assert main(["evaluate", str(three_channel_package), "--dataset", "bbbc039-sample", "--limit", "1"]) == 2
    assert "pass the kind with --output-kind" in capsys.readouterr().err.lower()
    assert main(["evaluate", str(three_channel_package), "--dataset", "bbbc039-sample", "--limit", "1",
                 "--output-kind", "three_class", "--json", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["output_kind"] == "three_class"

    image = tmp_path / "in" / "field.tif"
    image.parent.mkdir()
    tifffile.imwrite(image, sample_split[1].image[:256, :256])
    out = tmp_path / "out"
    assert main(["segment", str(three_channel_package), str(image), "--out", str(out), "--no-progress"]) == 2
    assert "--output-kind" in capsys.readouterr().err and not out.exists()
    assert main(["segment", str(three_channel_package), str(image), "--out", str(out), "--no-progress",
                 "--output-kind", "three_class"]) == 0
    labels = tifffile.imread(out / "field.tif")
    assert labels.max() > 3
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["output_kind"] == "three_class"
    # the outputs belong to that choice: read another way, they are another model's
    assert main(["segment", str(three_channel_package), str(image), "--out", str(out), "--no-progress",
                 "--output-kind", "foreground"]) == 2
    assert "read as output kind three_class (now foreground)" in capsys.readouterr().err


def test_a_zoo_entry_holds_the_parameters_of_its_own_kind(tmp_path, monkeypatch):
    """An entry of another kind (here StarDist's) reads its postprocessing.json as that kind's parameters."""
    import shutil

    import nucseg_zoo.zoo.registry as zoo_registry
    from nucseg_zoo.postprocessing import StarDistParams
    from nucseg_zoo.zoo.entry import read_entry
    from nucseg_zoo.zoo.registry import zoo_entry_dir

    folder = tmp_path / "zoo" / "star-entry"
    folder.mkdir(parents=True)
    shutil.copy(zoo_entry_dir("unet-bbbc039") / "recipe.yaml", folder)
    text = (zoo_entry_dir("unet-bbbc039") / "entry.yaml").read_text()
    (folder / "entry.yaml").write_text(text.replace("id: unet-bbbc039", "id: star-entry")
                                       .replace("output_kind: three_class", "output_kind: stardist"))
    (folder / "postprocessing.json").write_text(json.dumps({"params": {"prob_thresh": 0.6, "nms_thresh": 0.3,
                                                                       "grid": [2, 2]}}))
    monkeypatch.setattr(zoo_registry, "bundled_dir", lambda kind: tmp_path / "zoo")
    entry = read_entry("star-entry")
    assert entry.output_kind == "stardist"
    assert entry.postprocessing == StarDistParams(prob_thresh=0.6, nms_thresh=0.3, grid=(2, 2))
    (folder / "postprocessing.json").write_text(json.dumps({"params": {"interior_threshold": 0.5}}))
    with pytest.raises(ValueError, match=r"unknown postprocessing parameters \['interior_threshold'\]"):
        read_entry("star-entry")

"""Fine-tuning a zoo model on an annotated folder into a local zoo entry (nucseg_zoo.training.fine_tune),
and that entry used as a shipped one: load_model, segment, evaluate, package."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml

import nucseg_zoo
from nucseg_zoo import datasets
from nucseg_zoo._hashing import sha256_of
from nucseg_zoo.cli import main as cli_main
from nucseg_zoo.datasets import from_folder
from nucseg_zoo.datasets.facts import equivalent_diameters
from nucseg_zoo.metrics import score_image, summarize
from nucseg_zoo.segmenters import resolve_source
from nucseg_zoo.training import fine_tune as F
from nucseg_zoo.training.samples import LoadedSample
from nucseg_zoo.zoo.entry import read_entry
from nucseg_zoo.zoo.registry import is_entry_folder, zoo_entry_dir

BASE = "unet-bbbc039-fast"
STEPS = 12


def _fails(args: list[str], capsys, message: str) -> None:
    """The command exits with status 2 and an error matching ``message``."""
    capsys.readouterr()
    assert cli_main(args) == 2
    assert re.search(message, capsys.readouterr().err), message


def _write_folder(samples, folder: Path) -> tuple[Path, Path]:
    images, labels = folder / "images", folder / "labels"
    images.mkdir(parents=True)
    labels.mkdir()
    for sample in samples:
        tifffile.imwrite(images / f"{sample.name}.tif", sample.image)
        tifffile.imwrite(labels / f"{sample.name}.tif", sample.labels.astype(np.uint16))
    return images, labels


@pytest.fixture(scope="module")
def annotated(sample_split, tmp_path_factory) -> tuple[Path, Path]:
    """The three bundled BBBC039 test fields, 200 x 240 px of each (cheaper to predict and tune
    on), as a lab's annotated folder (image and label TIFFs)."""
    crops = [LoadedSample(s.name, s.image[:200, :240], s.labels[:200, :240]) for s in sample_split]
    return _write_folder(crops, tmp_path_factory.mktemp("lab"))


@pytest.fixture(scope="module")
def tuned(annotated, tmp_path_factory) -> F.FineTuneResult:
    """unet-bbbc039-fast fine-tuned for a few steps of 2 crops on the folder."""
    images, labels = annotated
    out = tmp_path_factory.mktemp("entries") / "my-screen"
    return F.fine_tune(BASE, images, labels, out, steps=STEPS, epochs=2, batch_size=2, progress=False)


def test_holdout_split_is_seeded_disjoint_and_keeps_one_image_each_side():
    names = [f"im{k:02d}" for k in range(10)]
    train, held = F.holdout_split(names, 0.2, seed=3)
    assert len(held) == 2 and len(train) == 8
    assert sorted(train + held) == names and not set(train) & set(held)
    assert F.holdout_split(list(reversed(names)), 0.2, seed=3) == (train, held)  # input order does not matter
    assert F.holdout_split(names, 0.2, seed=4) != (train, held)
    assert F.holdout_split(["a", "b"], 0.9, seed=0)[0] != []  # at least one image to train on
    assert len(F.holdout_split(["a", "b", "c"], 0.01, seed=0)[1]) == 1  # at least one held out


@pytest.mark.parametrize("names, fraction, message", [
    (["a"], 0.2, "at least 2 annotated images"), ([], 0.2, "at least 2"),
    (["a", "b"], 0.0, "fraction in \\(0, 1\\)"), (["a", "b"], 1.0, "fraction"), (["a", "b"], float("nan"), "fraction")])
def test_holdout_split_refuses_too_few_images_and_bad_fractions(names, fraction, message):
    with pytest.raises(ValueError, match=message):
        F.holdout_split(names, fraction, seed=0)


def _loaded(shape: tuple[int, int], name: str = "a") -> LoadedSample:
    return LoadedSample(name, np.zeros(shape, np.uint16), np.zeros(shape, np.int32))


def test_crop_size_shrinks_to_the_smallest_image_in_size_steps_and_refuses_tiny_images():
    assert F.crop_size_for([_loaded((520, 696))], 8) == 128
    assert F.crop_size_for([_loaded((520, 696)), _loaded((100, 300), "b")], 8) == 96
    assert F.crop_size_for([_loaded((16, 16))], 8) == 16
    with pytest.raises(ValueError, match="image b is 15x300 px: fine-tuning needs images of at least 16 px"):
        F.crop_size_for([_loaded((520, 696)), _loaded((15, 300), "b")], 8)


def test_fine_tuning_recipe_starts_from_the_zoo_weights_without_distillation():
    base = read_entry(BASE)
    from nucseg_zoo.training.recipe import read_recipe

    base_recipe = read_recipe(base)
    recipe = F.fine_tuning_recipe(base_recipe, base_sha256=base.weights_sha256, base_id=BASE, crop_size=96,
                                  steps=300, epochs=3, learning_rate=3e-4, seed=1, train_images=["a", "b"])
    assert recipe.init_from["sha256"] == base.weights_sha256
    assert recipe.distillation is None and recipe.weight_averaging is None
    assert (recipe.epochs, recipe.steps_per_epoch, recipe.crop_size, recipe.total_steps) == (3, 100, 96, 300)
    assert recipe.augmentation == base_recipe.augmentation and recipe.class_weights == base_recipe.class_weights
    assert recipe.thin_boundary_max_area == base_recipe.thin_boundary_max_area
    with pytest.raises(ValueError, match="multiple of the epochs"):
        F.fine_tuning_recipe(base_recipe, base_sha256="x", base_id=BASE, crop_size=96, steps=100, epochs=3,
                             learning_rate=3e-4, seed=1, train_images=["a"])


def test_fine_tuned_entry_records_what_it_learned_and_its_held_out_scores_are_right(tuned, annotated):
    entry_dir = tuned.entry_dir
    entry = read_entry(entry_dir)
    plan = yaml.safe_load((entry_dir / F.RECIPE_FILE).read_text())
    record = json.loads((entry_dir / F.RESULT_FILE).read_text())
    assert record == tuned.record
    assert entry.id == "my-screen" and entry.dir == entry_dir.resolve() and entry.trained
    assert entry.weights_sha256 == sha256_of(entry_dir / "weights.pt")
    assert entry.raw["fine_tuned"]["from"] == BASE
    assert entry.raw["fine_tuned"]["from_weights_sha256"] == read_entry(BASE).weights_sha256
    assert "paper" not in entry.raw  # the starting method's published numbers are not this model's
    assert (plan["steps"], plan["epochs"], plan["batch_size"]) == (STEPS, 2, 2)
    assert (len(plan["training_images"]), len(plan["held_out_images"])) == (2, 1)
    assert len(entry.training_log()) == len(read_entry(BASE).training_log())  # how the starting weights came about
    assert len((entry_dir / F.RUN_DIR / "log.jsonl").read_text().splitlines()) == 2

    folder = {s.name: s for s in from_folder(*annotated)}
    train = [folder[name] for name in plan["training_images"]]
    held = [folder[name] for name in plan["held_out_images"]]
    diameters = np.concatenate([equivalent_diameters(s.labels) for s in train])
    assert entry.nucleus_diameter.median_px == round(float(np.median(diameters)), 2)
    assert entry.nucleus_diameter.n_nuclei == record["n_training_nuclei"] == diameters.size

    # the recorded held-out scores are what the two models give there, each with its own postprocessing
    model = nucseg_zoo.load_model(str(entry_dir))
    assert model.postprocessing == entry.postprocessing
    fine = summarize([score_image(s.labels, model.segment(s.image)) for s in held])
    start = summarize([score_image(s.labels, nucseg_zoo.load_model(BASE).segment(s.image)) for s in held])
    assert record["fine_tuned"]["average_f1"] == pytest.approx(fine.average_f1, abs=6e-5)
    assert record["fine_tuned"]["missed_at_0.7"] == pytest.approx(fine.error_rate, abs=6e-5)
    assert record["starting_model"]["average_f1"] == pytest.approx(start.average_f1, abs=6e-5)
    assert tuned.improved == (fine.average_f1 > start.average_f1)

    card = (entry_dir / "README.md").read_text()
    verdict = "scores above the starting model" if tuned.improved else "scores NOT above"
    assert "## Fine-tuning" in card and verdict in card
    assert "1 held-out image is too few to tell which model is better" in card
    assert f"## Training of the starting model ({BASE})" in card
    assert f"| fine-tuned | {record['fine_tuned']['average_f1']:.3f} |" in card
    assert "## Test-split metrics" not in card  # it was scored on the held-out images only


def test_a_local_entry_is_a_source_like_a_shipped_one(tuned, annotated, tmp_path, monkeypatch):
    entry_dir = tuned.entry_dir
    assert is_entry_folder(entry_dir) and not is_entry_folder(tmp_path)
    source = resolve_source(str(entry_dir))
    assert (source.kind, source.name) == ("zoo", str(entry_dir.resolve()))
    monkeypatch.chdir(entry_dir.parent)
    assert resolve_source("my-screen").sha256 == source.sha256  # a relative path names the same entry

    # a shipped id wins over a folder of that name
    (tmp_path / BASE).mkdir()
    (tmp_path / BASE / "entry.yaml").write_text("id: not-this\n")
    monkeypatch.chdir(tmp_path)
    assert zoo_entry_dir(BASE) != (tmp_path / BASE).resolve() and not is_entry_folder(BASE)
    with pytest.raises(ValueError, match="is a folder without entry.yaml"):
        zoo_entry_dir(str(tmp_path))

    image = tifffile.imread(next(annotated[0].iterdir()))
    model = nucseg_zoo.load_model(str(entry_dir))
    assert nucseg_zoo.get_segmenter(str(entry_dir)).segment(image).max() == model.segment(image).max() > 0
    assert model.segment(image, diameter=model.training_diameter).max() == model.segment(image).max()


def test_cli_fine_tunes_segments_evaluates_and_packages_the_entry(annotated, tmp_path, capsys):
    images, labels = annotated
    out = tmp_path / "entry"
    assert cli_main(["train", BASE, "--images", str(images), "--labels", str(labels), "--out", str(out),
                     "--steps", "4", "--epochs", "2", "--batch-size", "2", "--id", "lab-a"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out)
    assert "average F1 on the 1 held-out image: unet-bbbc039-fast (start)" in captured.err
    assert "1 image is too few to tell which model is better on your screen" in captured.err
    assert read_entry(out).id == "lab-a"

    assert cli_main(["segment", str(out), str(images), "--out", str(tmp_path / "seg")]) == 0
    assert len(list((tmp_path / "seg").rglob("*.tif*"))) == 3
    capsys.readouterr()
    assert cli_main(["evaluate", str(out), "--images", str(images), "--labels", str(labels), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_images"] == 3 and 0.0 <= report["average_f1"] <= 1.0

    assert cli_main(["package", str(out), "--out", str(tmp_path / "packages"), "--check"]) == 0
    package = tmp_path / "packages" / "lab-a.zip"
    assert package.is_file()
    assert nucseg_zoo.load_model(str(package)).segment(tifffile.imread(next(images.iterdir()))).max() > 0


def test_an_earlier_fine_tuning_is_never_overwritten_without_being_asked(annotated, tmp_path, capsys):
    images, labels = annotated
    out = tmp_path / "entry"
    args = ["train", BASE, "--images", str(images), "--labels", str(labels), "--out", str(out),
            "--steps", "2", "--epochs", "1", "--batch-size", "2"]
    assert cli_main(args) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    _fails(args, capsys, "pass --resume \\(resume=True\\) to continue it, or --overwrite")
    _fails([*args[:-6], "--steps", "4", "--epochs", "1", "--batch-size", "2", "--resume"], capsys,
           "the run being resumed had other steps 2 \\(now 4\\); resume with the same folder and options")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert cli_main([*args, "--resume"]) == 0  # finished: resuming changes nothing it learned
    assert (out / "weights.pt").read_bytes() == before["weights.pt"]
    assert cli_main([*args, "--overwrite"]) == 0

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    _fails([*args[:7], str(other), *args[8:]], capsys, "not a fine-tuning of a zoo model")
    assert (other / "notes.txt").read_text() == "mine"
    _fails([*args[:7], str(images), *args[8:]], capsys, "is the input folder")
    _fails([*args[:7], str(images / "model"), *args[8:]], capsys, "is inside the input folder")
    assert not (images / "model").exists()


@pytest.mark.parametrize("extra, message", [
    (["--member", "1"], "--member does not apply to fine-tuning"),
    (["--export"], "--export does not apply"),
    (["--id", "bad.id"], "entry id 'bad.id': use ASCII letters"),
    (["--id", "unet-bbbc039"], "entry id 'unet-bbbc039' is a shipped zoo model's"),
    (["--holdout", "1.5"], "fraction in \\(0, 1\\)"),
    (["--steps", "10", "--epochs", "3"], "multiple of the epochs"),
    (["--batch-size", "0"], "batch size must be at least 1"),
])
def test_cli_refuses_bad_fine_tuning_options_before_training(annotated, tmp_path, capsys, extra, message):
    images, labels = annotated
    _fails(["train", BASE, "--images", str(images), "--labels", str(labels), "--out", str(tmp_path / "e"), *extra],
           capsys, message)
    assert not (tmp_path / "e" / "entry.yaml").exists()


def test_fine_tuning_options_without_images_and_ensembles_are_refused(annotated, tmp_path, capsys):
    _fails(["train", BASE, "--steps", "10"], capsys, "--steps applies to fine-tuning on your own images: pass --images")
    with pytest.raises(ValueError, match="ensemble of 5 networks"):
        F.fine_tune("deepcell-bbbc039", *annotated, tmp_path / "e")
    _fails(["train", BASE, "--images", str(annotated[0])], capsys, "pass --out ENTRY_DIR")


def test_the_card_says_when_fine_tuning_did_not_help(tuned, tmp_path):
    import shutil

    from nucseg_zoo.cards import write_zoo_card

    copy = tmp_path / "worse"
    shutil.copytree(tuned.entry_dir, copy, ignore=shutil.ignore_patterns(F.RUN_DIR))
    record = json.loads((copy / F.RESULT_FILE).read_text())
    record["fine_tuned"]["average_f1"] = record["starting_model"]["average_f1"] - 0.01
    (copy / F.RESULT_FILE).write_text(json.dumps(record))
    card = write_zoo_card(copy)
    assert "scores NOT above: use the starting model, or annotate more images" in card
    assert f'nucseg_zoo.load_model("{copy.resolve()}")' in card  # a local entry is named by its folder
    assert not F.FineTuneResult(copy, record).improved


def test_committed_fine_tuning_experiment_is_the_seeded_draws_of_its_imaging_set(dsb2018_mirror):
    """validation/experiments/fine_tuning.json: every run fine-tuned on its seeded draw of n images
    of the imaging set, held out as the command does."""
    from validation.experiments import fine_tuning as experiment

    data = json.loads(experiment.OUT.read_text())

    shape = tuple(int(side) for side in data["image_shape"].split("x"))
    names = [s.name for s in datasets.load(data["dataset"], "training", mirror=dsb2018_mirror) if s.image.shape == shape]
    assert data["n_training_images_in_set"] == len(names)
    assert {(run["n_images"], run["repeat"]) for run in data["runs"]} == {
        (n, r) for n in experiment.SIZES for r in range(experiment.REPEATS)}
    for run in data["runs"]:
        assert run["images"] == experiment.draw(names, run["n_images"], run["repeat"])
        train, held = F.holdout_split(run["images"], data["holdout"], seed=run["repeat"])
        assert (run["n_training_images"], run["n_held_out_images"]) == (len(train), len(held))
        assert 0.0 <= run["validation"]["average_f1"] <= run["validation"]["f1_at_0.5"] <= 1.0
    assert experiment.FIGURE.is_file()  # its table on the fine-tuning page: test_docs's stale_docs


def test_binary_masks_are_refused_as_training_labels(annotated, tmp_path):
    """Critic's report: 0/1 masks trained a model of one "nucleus" per image (median diameter 209 px)."""
    images, labels = annotated
    binary = tmp_path / "binary"
    binary.mkdir()
    for path in labels.iterdir():
        tifffile.imwrite(binary / path.name, (tifffile.imread(path) > 0).astype(np.uint8))
    with pytest.raises(ValueError, match="fine-tuning needs instance labels \\(a different value for each nucleus\\)"):
        F.fine_tune(BASE, images, binary, tmp_path / "entry", steps=2, epochs=1)
    assert not (tmp_path / "entry").exists()

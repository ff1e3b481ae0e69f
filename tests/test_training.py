"""The training loop on the bundled sample: logs, checkpoints and exact resumption."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import yaml
import torch

from nucseg_zoo.losses import soft_cross_entropy, weighted_cross_entropy
from nucseg_zoo.targets import ThreeClassTargets
from nucseg_zoo.training.loop import learning_rate, train, training_memory_format
from nucseg_zoo.training.recipe import read_recipe
from nucseg_zoo.zoo.entry import read_entry
from nucseg_zoo.zoo.registry import zoo_entry_dir


def test_shipped_recipe_is_the_papers_setup_with_our_schedule():
    recipe = read_recipe(read_entry("unet-bbbc039"))
    assert recipe.class_weights == (1.0, 1.0, 10.0)
    assert recipe.crop_size == 256 and recipe.train_split == "training" and recipe.validation_split == "validation"
    assert recipe.architecture.kwargs["widths"] == [64, 128, 256]
    lrs = [learning_rate(recipe, s) for s in range(recipe.total_steps)]
    assert max(lrs) == pytest.approx(recipe.optimizer["lr"])
    assert lrs[-1] == pytest.approx(recipe.schedule["final_lr"], rel=0.05)


def test_training_logs_checkpoints_and_resumes_exactly(tiny_recipe, tmp_path):
    straight = train(tiny_recipe, tmp_path / "straight", precision="fp32", progress=False)
    assert straight == tmp_path / "straight" / "best.pt" and straight.is_file()
    log = [json.loads(line) for line in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]
    assert all(0.0 <= r["validation_average_f1"] <= 1.0 and np.isfinite(r["train_loss"]) for r in log)

    class Interrupted(Exception):
        pass

    def interrupt(record):
        raise Interrupted  # e.g. the machine went away after the first epoch's checkpoint

    interrupted = tmp_path / "interrupted"
    with pytest.raises(Interrupted):
        train(tiny_recipe, interrupted, precision="fp32", progress=False, on_epoch=interrupt)
    assert len((interrupted / "log.jsonl").read_text().splitlines()) == 1
    train(tiny_recipe, interrupted, precision="fp32", resume=True, progress=False)
    assert (interrupted / "log.jsonl").read_text().count("\n") == 2

    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)["model"]
    b = torch.load(interrupted / "last.pt", weights_only=False)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert (interrupted / "best.pt").exists()


def test_resume_refuses_a_checkpoint_of_another_recipe(tiny_recipe, tmp_path):
    train(replace(tiny_recipe, epochs=1), tmp_path, precision="fp32", progress=False)
    with pytest.raises(ValueError, match="another recipe"):
        train(tiny_recipe, tmp_path, precision="fp32", resume=True, progress=False)


def test_warm_start_needs_the_recipes_weights(tiny_recipe, tmp_path):
    from nucseg_zoo._hashing import sha256_of

    first = train(replace(tiny_recipe, epochs=1), tmp_path / "first", precision="fp32", progress=False)
    warm = replace(tiny_recipe, epochs=1, steps_per_epoch=1,
                   init_from={"sha256": sha256_of(first), "description": "first run"})
    with pytest.raises(ValueError, match="pass it as init_weights"):
        train(warm, tmp_path / "warm", precision="fp32", progress=False)
    other = tmp_path / "other.pt"
    torch.save({k: v + 1 for k, v in torch.load(first).items()}, other)
    with pytest.raises(ValueError, match="is not the recipe's init_from sha256"):
        train(warm, tmp_path / "warm", init_weights=other, precision="fp32", progress=False)

    # the warm start begins at the given weights: with a zero learning rate it stays there
    frozen = replace(warm, optimizer={**warm.optimizer, "lr": 0.0}, schedule={"warmup_steps": 0, "final_lr": 0.0})
    train(frozen, tmp_path / "warm", init_weights=first, precision="fp32", progress=False)
    start, end = torch.load(first), torch.load(tmp_path / "warm" / "last.pt", weights_only=False)["model"]
    for key in start:
        if "running" not in key and "num_batches" not in key:  # batch-norm statistics still update
            torch.testing.assert_close(start[key], end[key], rtol=0, atol=0)


def test_crop_sampler_cuts_crops_from_thin_boundary_targets_when_asked():
    from nucseg_zoo import datasets
    from nucseg_zoo.targets import INTERIOR, three_class_targets
    from nucseg_zoo.training.data import CropSampler
    from nucseg_zoo.training.recipe import Augmentation

    recipe = read_recipe(read_entry("unet-bbbc039"))
    samples = datasets.load("bbbc039-sample", "test")
    paper = CropSampler(samples, recipe.normalization, 64, Augmentation(), targets=ThreeClassTargets())
    thin = CropSampler(samples, recipe.normalization, 64, Augmentation(),
                       targets=ThreeClassTargets(thin_boundary_max_area=250))
    for sample, paper_target, thin_target in zip(samples, paper.targets, thin.targets):
        np.testing.assert_array_equal(paper_target, three_class_targets(sample.labels))
        np.testing.assert_array_equal(thin_target, three_class_targets(sample.labels, thin_boundary_max_area=250))
    # the sample's micronuclei gain interior pixels
    assert sum((t == INTERIOR).sum() for t in thin.targets) > sum((t == INTERIOR).sum() for t in paper.targets)


def test_crop_sampler_crops_pixel_weights_with_their_targets():
    from nucseg_zoo import datasets
    from nucseg_zoo.targets import INTERIOR, pixel_weights
    from nucseg_zoo.training.data import CropSampler
    from nucseg_zoo.training.recipe import Augmentation

    recipe = read_recipe(read_entry("unet-bbbc039"))
    samples = datasets.load("bbbc039-sample", "test")
    sampler = CropSampler(samples, recipe.normalization, 64, Augmentation(elastic={"alpha": 30.0, "sigma": 6.0}),
                          targets=ThreeClassTargets((1.0, 1.0, 10.0), thin_boundary_max_area=250,
                                                    small_interior_weight=5.0))
    for sample, target, weight in zip(samples, sampler.targets, sampler.weights):
        np.testing.assert_array_equal(weight, pixel_weights(sample.labels, target, (1.0, 1.0, 10.0),
                                                            small_max_area=250, small_interior_weight=5.0))
    images, targets, weights = sampler.batch(np.random.default_rng(0), 16)
    assert images.shape == (16, 1, 64, 64) and targets.shape == weights.shape == (16, 64, 64)
    # every augmented crop keeps each pixel's weight with its class: 5 only on interior pixels
    assert set(np.unique(weights[targets == INTERIOR])) <= {1.0, 5.0}
    assert set(np.unique(weights[targets != INTERIOR])) <= {1.0, 10.0}
    np.testing.assert_array_equal(weights[targets == 2], 10.0)



def test_hot_pixel_augmentation_sets_isolated_pixels_and_keeps_the_targets():
    from nucseg_zoo import datasets
    from nucseg_zoo.training.data import CropSampler, add_hot_pixels
    from nucseg_zoo.training.recipe import Augmentation

    image = np.zeros((64, 64), np.float32)
    hot = add_hot_pixels(image, np.random.default_rng(0), max_count=30, values=(1.0, 5.0))
    assert image.max() == 0.0  # the input is not modified
    assert 1 <= (hot != 0).sum() <= 30 and hot.min() == 0.0 and 1.0 <= hot[hot != 0].min() <= hot.max() <= 5.0

    recipe = read_recipe(read_entry("unet-bbbc039"))
    samples = datasets.load("bbbc039-sample", "test")
    plain = Augmentation(flips=False, rot90=False, gain=(1.0, 1.0), offset=(0.0, 0.0))
    with_hot = Augmentation(flips=False, rot90=False, gain=(1.0, 1.0), offset=(0.0, 0.0),
                            hot_pixels={"probability": 1.0, "max_count": 30, "values": [4.0, 5.0]})
    # one crop per generator: the hot pixels are drawn after the crop, so the crops match
    plain_sampler = CropSampler(samples, recipe.normalization, 64, plain, targets=ThreeClassTargets())
    hot_sampler = CropSampler(samples, recipe.normalization, 64, with_hot, targets=ThreeClassTargets())
    images, targets, _ = (np.concatenate(parts) for parts in zip(*(
        plain_sampler.batch(np.random.default_rng(seed), 1) for seed in range(8))))
    hot_images, hot_targets, _ = (np.concatenate(parts) for parts in zip(*(
        hot_sampler.batch(np.random.default_rng(seed), 1) for seed in range(8))))
    np.testing.assert_array_equal(hot_targets, targets)
    changed = hot_images != images
    assert changed.any(axis=(1, 2, 3)).all() and (changed.sum(axis=(1, 2, 3)) <= 30).all()
    assert (hot_images[changed] >= 4.0).all() and (hot_images[changed] <= 5.0).all()


def test_hot_spots_are_squares_of_one_value_up_to_max_size():
    """Critic's report: 2x2 clusters of hot pixels became nuclei in unet-bbbc039-fast, trained
    with isolated hot pixels only."""
    from scipy import ndimage as ndi

    from nucseg_zoo.training.data import add_hot_pixels

    hot = add_hot_pixels(np.zeros((256, 256), np.float32), np.random.default_rng(3), max_count=30,
                         values=(1.0, 5.0), max_size=3)
    spots, n = ndi.label(hot != 0)
    sizes = np.bincount(spots.ravel())[1:]
    assert 1 <= n <= 30 and sizes.max() <= 9 * 2 and (sizes > 1).any()  # squares of up to 3x3 (two may touch)
    for index in ndi.find_objects(spots):
        assert np.unique(hot[index][hot[index] != 0]).size <= 2  # one value per square


def test_framed_crops_lie_against_a_zero_frame_that_is_background():
    from nucseg_zoo import datasets
    from nucseg_zoo.targets import BACKGROUND
    from nucseg_zoo.training.data import CropSampler, frame_with_zeros
    from nucseg_zoo.training.recipe import Augmentation

    samples = datasets.load("bbbc039-sample", "test")
    raw, frame = frame_with_zeros(samples[0].image, np.random.default_rng(0), max_width=40)
    assert frame.sides.any() and (raw[frame.mask] == 0).all()
    np.testing.assert_array_equal(raw[~frame.mask], samples[0].image[~frame.mask])
    assert samples[0].image.max() > 0 and samples[0].image.dtype == np.uint16  # the input is not modified

    recipe = read_recipe(read_entry("unet-bbbc039-fast"))
    teacher = [np.full((3, *s.image.shape), 1 / 3, np.float32) for s in samples]
    plain = dict(flips=False, rot90=False, gain=(1.0, 1.0), offset=(0.0, 0.0))
    sampler = CropSampler(samples, recipe.normalization, 128,
                          Augmentation(**plain, padded_borders={"probability": 1.0, "max_width": 40}),
                          targets=ThreeClassTargets((2.0, 1.0, 10.0)), soft_targets=teacher)
    images, targets, weights, soft = sampler.batch(np.random.default_rng(1), 16)
    for image, target, weight, probabilities in zip(images[:, 0], targets, weights, soft):
        # the frame: the lowest value of the crop, along at least one whole side, all background
        frame = image == image.min()
        edges = [frame[0].all(), frame[-1].all(), frame[:, 0].all(), frame[:, -1].all()]
        assert any(edges) and image.min() <= 0.0
        assert (target[frame] == BACKGROUND).all() and (weight[frame] == 2.0).all()
        np.testing.assert_array_equal(probabilities[0][frame], 1.0)
        np.testing.assert_array_equal(probabilities[1:][:, frame], 0.0)
        np.testing.assert_array_equal(probabilities[:, ~frame], np.float32(1 / 3))  # inside: the teacher's, untouched
        # normalised with the frame: the field's own background lies above 0, as in a user's framed image
        assert np.median(image[~frame]) > image.min()


def test_blank_field_augmentation_gives_normalised_all_background_crops():
    from nucseg_zoo import datasets
    from nucseg_zoo.targets import BACKGROUND
    from nucseg_zoo.training.data import CropSampler, synthetic_blank_field
    from nucseg_zoo.training.recipe import Augmentation

    rng = np.random.default_rng(0)
    frames = [synthetic_blank_field(rng, (32, 48)) for _ in range(30)]
    assert all(frame.shape == (32, 48) and frame.dtype == np.float32 and np.isfinite(frame).all() for frame in frames)
    assert any(frame.std() == 0 for frame in frames) and any(frame.std() > 0 for frame in frames)

    recipe = read_recipe(read_entry("unet-bbbc039-fast"))
    samples = datasets.load("bbbc039-sample", "test")
    teacher = [np.full((3, *s.image.shape), 1 / 3, np.float32) for s in samples]
    sampler = CropSampler(samples, recipe.normalization, 64, Augmentation(blank_fields={"probability": 1.0}),
                          targets=ThreeClassTargets((2.0, 1.0, 10.0)), soft_targets=teacher)
    images, targets, weights, soft = sampler.batch(np.random.default_rng(2), 12)
    assert (targets == BACKGROUND).all() and (weights == 2.0).all()
    np.testing.assert_array_equal(soft[:, 0], 1.0)
    np.testing.assert_array_equal(soft[:, 1:], 0.0)
    # normalised per crop like a real image (then gain and offset): noise spans ~0..1, within the clip
    assert images.min() >= -1.0 * 1.4 - 0.1 and images.max() <= 5.0 * 1.4 + 0.1
    assert max(float(np.ptp(image)) for image in images) > 0.5


@pytest.mark.parametrize("augmentation, message", [
    ({"hot_pixels": {"probability": 0.5, "max_count": 30}}, "must have the keys"),
    ({"hot_pixels": {"probability": 0.5, "max_count": 3, "values": [1.0, 5.0], "max_size": 0}}, "max_size >= 1"),
    ({"padded_borders": {"probability": 0.5}}, "padded_borders must be"),
    ({"padded_borders": {"probability": 0.5, "max_width": 0}}, "padded_borders must be"),
    ({"hot_pixels": {"probability": 1.5, "max_count": 30, "values": [1.0, 5.0]}}, "0 <= probability <= 1"),
    ({"hot_pixels": {"probability": 0.5, "max_count": 0, "values": [1.0, 5.0]}}, "max_count >= 1"),
    ({"hot_pixels": {"probability": 0.5, "max_count": 3, "values": [5.0, 1.0]}}, "low <= high"),
    ({"blank_fields": {"probability": -0.1}}, "blank_fields must be"),
    ({"blank_fields": {"p": 0.1}}, "blank_fields must be"),
])
def test_bad_augmentation_settings_are_refused(augmentation, message):
    from nucseg_zoo.training.recipe import Augmentation

    with pytest.raises(ValueError, match=message):
        Augmentation(**augmentation)


def test_an_ensemble_recipe_warm_starts_each_member_from_its_own_state_dict(tmp_path):
    recipe = read_recipe(read_entry("deepcell-bbbc039"))
    shas = [f"{k:064x}" for k in range(recipe.members)]
    ensemble = replace(recipe, init_from={"recipe_version": 1, "sha256": shas})
    assert [ensemble.for_member(k).init_from["sha256"] for k in range(recipe.members)] == shas
    assert [ensemble.for_member(k).seed for k in range(recipe.members)] == [recipe.seed + k for k in range(5)]
    raw = yaml.safe_load((zoo_entry_dir("deepcell-bbbc039") / "recipe.yaml").read_text())
    raw["init_from"] = {"recipe_version": 1, "sha256": shas[:2]}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="one state dict per member: 5 expected, got 2"):
        read_recipe(read_entry("deepcell-bbbc039"), tmp_path / "recipe.yaml")

def test_weighted_cross_entropy_with_class_weights_is_torchs_weighted_cross_entropy():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, generator=generator)
    targets = torch.randint(0, 3, (2, 8, 8), generator=generator)
    class_weights = torch.tensor([1.0, 1.0, 10.0])
    torch.testing.assert_close(weighted_cross_entropy(logits, targets, class_weights[targets]),
                               torch.nn.functional.cross_entropy(logits, targets, weight=class_weights))
    # weight on one pixel only: the loss is that pixel's cross-entropy
    only = torch.zeros(2, 8, 8)
    only[1, 3, 4] = 0.5
    torch.testing.assert_close(weighted_cross_entropy(logits, targets, only),
                               torch.nn.functional.cross_entropy(logits[1:, :, 3, 4], targets[1:, 3, 4]))


def test_train_builds_its_crops_from_the_recipes_target_and_weight_options(tiny_recipe, tmp_path, monkeypatch):
    from nucseg_zoo.training import loop

    seen = {}

    class RecordingSampler(loop.CropSampler):
        def __init__(self, *args, **kwargs):
            seen.update(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(loop, "CropSampler", RecordingSampler)
    recipe = replace(tiny_recipe, epochs=1, steps_per_epoch=1, thin_boundary_max_area=123, small_interior_weight=4.0)
    train(recipe, tmp_path, precision="fp32", progress=False)
    assert seen == {"targets": ThreeClassTargets(recipe.class_weights, thin_boundary_max_area=123,
                                                 small_interior_weight=4.0), "soft_targets": None}


def test_small_interior_weight_needs_a_small_nucleus_size(tmp_path):
    import yaml

    raw = yaml.safe_load((zoo_entry_dir("unet-bbbc039") / "recipe.yaml").read_text())
    raw.update(thin_boundary_max_area=0, small_interior_weight=10.0)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="small_interior_weight needs thin_boundary_max_area"):
        read_recipe(read_entry("unet-bbbc039"), path)


def test_postprocessing_search_is_the_same_in_one_or_several_processes_and_stage_two_lowers_the_error(sample_split):
    from scipy import ndimage as ndi

    from nucseg_zoo.postprocessing import PostprocessingParams
    from nucseg_zoo.targets import three_class_targets
    from nucseg_zoo.training import tuning
    from nucseg_zoo.training.loop import average_f1, validation_summary

    search = {"interior_threshold": (0.3, 0.5), "method": ("grow", "watershed"), "grow_distance": (1, 2),
              "background_threshold": (0.5,), "min_seed_size": (4, 8)}
    rng = np.random.default_rng(0)
    truths = [sample.labels for sample in sample_split]
    probabilities = []
    for truth in truths:  # blurred, noisy one-hot targets: imperfect maps the grid points score differently
        onehot = np.eye(3, dtype=np.float32)[three_class_targets(truth)].transpose(2, 0, 1)
        noisy = ndi.gaussian_filter(onehot, (0, 1.5, 1.5)) + rng.normal(0, 0.15, onehot.shape).astype(np.float32)
        probabilities.append(np.clip(noisy, 0, None) / np.clip(noisy, 0, None).sum(0, keepdims=True).clip(1e-6))

    sequential = tuning.tune_params(probabilities, truths, "three_class", search=search, workers=1)
    parallel = tuning.tune_params(probabilities, truths, "three_class", search=search, workers=2)
    assert parallel == sequential
    params, score = sequential
    assert score.average_f1 == average_f1(probabilities, truths, params, kind="three_class")
    assert score.average_f1 >= average_f1(probabilities, truths, PostprocessingParams(
        interior_threshold=0.3, method="grow", grow_distance=1, background_threshold=0.5), kind="three_class")

    # stage two: the lowest error rate among the rescue grid's points within the F1 tolerance
    rescue_grid = {"rescue_background_threshold": (0.0, 0.05, 0.3), "rescue_max_eccentricity": (0.8, 1.0)}
    rescued, rescued_score = tuning.tune_params(probabilities, truths, "three_class", search=search, workers=2,
                                                refine=rescue_grid, f1_tolerance=0.01)
    points = [replace(params, rescue_background_threshold=t, rescue_max_eccentricity=e)
              for t in (0.0, 0.05, 0.3) for e in (0.8, 1.0)]
    summaries = [validation_summary(probabilities, truths, point, kind="three_class") for point in points]
    eligible = [s.error_rate for s in summaries if s.average_f1 >= score.average_f1 - 0.01]
    assert rescued in points and rescued_score.error_rate == min(eligible) <= score.error_rate
    assert rescued_score.average_f1 >= score.average_f1 - 0.01


def test_training_layout_is_nchw_for_fp32_on_cpu_and_channels_last_otherwise():
    cpu = torch.device("cpu")
    assert training_memory_format(cpu, "fp32") == torch.contiguous_format
    assert training_memory_format(cpu, "bf16") == torch.channels_last
    assert training_memory_format(torch.device("cuda"), "fp32") == torch.channels_last


# ---------------------------------------------------------------- distillation


def test_crop_sampler_moves_soft_targets_with_their_image_and_labels():
    """Teacher maps go through the same crop, flip and rotation as the image: with one-hot maps of
    the targets as 'teacher', every augmented soft crop's argmax is its target crop."""
    from nucseg_zoo import datasets
    from nucseg_zoo.targets import three_class_targets
    from nucseg_zoo.training.data import CropSampler
    from nucseg_zoo.training.recipe import Augmentation

    recipe = read_recipe(read_entry("unet-bbbc039"))
    samples = datasets.load("bbbc039-sample", "test")
    one_hot = [np.eye(3, dtype=np.float32)[three_class_targets(s.labels)].transpose(2, 0, 1) for s in samples]
    sampler = CropSampler(samples, recipe.normalization, 64, Augmentation(), targets=ThreeClassTargets(),
                          soft_targets=one_hot)
    images, targets, weights, soft = sampler.batch(np.random.default_rng(1), 32)
    assert soft.shape == (32, 3, 64, 64) and soft.dtype == np.float32
    np.testing.assert_array_equal(soft.argmax(axis=1), targets)
    with pytest.raises(ValueError, match="one .* map per sample"):
        CropSampler(samples, recipe.normalization, 64, Augmentation(), targets=ThreeClassTargets(),
                    soft_targets=one_hot[:2])
    with pytest.raises(ValueError, match="elastic"):
        CropSampler(samples, recipe.normalization, 64, Augmentation(elastic={"alpha": 1.0, "sigma": 1.0}),
                    targets=ThreeClassTargets(), soft_targets=one_hot)


def test_soft_cross_entropy_of_one_hot_targets_is_the_weighted_cross_entropy():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, generator=generator)
    targets = torch.randint(0, 3, (2, 8, 8), generator=generator)
    weights = torch.rand(2, 8, 8, generator=generator)
    one_hot = torch.nn.functional.one_hot(targets, 3).permute(0, 3, 1, 2).float()
    torch.testing.assert_close(soft_cross_entropy(logits, one_hot, weights),
                               weighted_cross_entropy(logits, targets, weights))


def _fast_teacher() -> dict:
    import yaml

    entry = yaml.safe_load((zoo_entry_dir("unet-bbbc039-fast") / "entry.yaml").read_text())
    return {"teacher": "unet-bbbc039-fast", "sha256": entry["weights"]["sha256"], "weight": 0.5}


def test_distillation_trains_on_the_teachers_probabilities(tiny_recipe, tmp_path, monkeypatch):
    from nucseg_zoo.training import teacher

    calls = []
    real = teacher.teacher_probabilities

    def recording(distillation, samples, **kwargs):
        maps = real(distillation, samples, **kwargs)
        calls.append((distillation["teacher"], len(maps), maps[0].shape, float(maps[0].sum(axis=0).mean())))
        return maps

    monkeypatch.setattr(teacher, "teacher_probabilities", recording)
    losses = {}
    for weight in (0.5, 1.0):
        recipe = replace(tiny_recipe, epochs=1, steps_per_epoch=1, distillation={**_fast_teacher(), "weight": weight})
        train(recipe, tmp_path / str(weight), precision="fp32", progress=False,
              on_epoch=lambda record, weight=weight: losses.setdefault(weight, record["train_loss"]))
    assert [c[:3] for c in calls] == [("unet-bbbc039-fast", 3, (3, 520, 696))] * 2
    assert calls[0][3] == pytest.approx(1.0, abs=1e-4)  # probabilities
    plain = {}
    train(replace(tiny_recipe, epochs=1, steps_per_epoch=1), tmp_path / "plain", precision="fp32", progress=False,
          on_epoch=lambda record: plain.setdefault("loss", record["train_loss"]))
    # same seed, same crops, same first step: the loss mixes the two terms
    assert len({round(v, 6) for v in (plain["loss"], losses[0.5], losses[1.0])}) == 3
    assert losses[0.5] == pytest.approx((plain["loss"] + losses[1.0]) / 2, rel=1e-4)


def test_distillation_refuses_another_teacher_weights_and_bad_recipes(tiny_recipe, tmp_path):
    import yaml

    recipe = replace(tiny_recipe, epochs=1, steps_per_epoch=1, distillation={**_fast_teacher(), "sha256": "0" * 64})
    with pytest.raises(ValueError, match="the recipe distils from 0000"):
        train(recipe, tmp_path / "run", precision="fp32", progress=False)
    raw = yaml.safe_load((zoo_entry_dir("unet-bbbc039") / "recipe.yaml").read_text())
    for distillation, problem in (({"teacher": "unet-bbbc039", "weight": 0.5}, "missing \\['sha256'\\]"),
                                  ({**_fast_teacher(), "weight": 0.0}, "weight must lie in")):
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump({**raw, "distillation": distillation}))
        with pytest.raises(ValueError, match=problem):
            read_recipe(read_entry("unet-bbbc039"), path)


def test_weight_averaging_ships_the_averaged_network_and_resumes_exactly(tiny_recipe, tmp_path):
    recipe = replace(tiny_recipe, weight_averaging={"decay": 0.5})
    averages = []  # the averaged network after each epoch, read from the resume point

    def keep_average(record):
        averages.append(torch.load(tmp_path / "straight" / "last.pt", weights_only=False)["averaged"])

    best = train(recipe, tmp_path / "straight", precision="fp32", progress=False, on_epoch=keep_average)
    last = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)
    live, averaged = last["model"], last["averaged"]
    assert any(live[key].is_floating_point() and not torch.equal(live[key], averaged[f"module.{key}"])
               for key in live)  # the average is not the live network
    assert int(averaged["n_averaged"]) == recipe.total_steps
    log = [json.loads(line) for line in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    scores = [record["validation_average_f1"] for record in log]
    best_epoch = scores.index(max(scores))
    shipped = torch.load(best, weights_only=True)
    for key in shipped:  # best.pt is the averaged network of the best validation epoch
        torch.testing.assert_close(shipped[key], averages[best_epoch][f"module.{key}"], rtol=0, atol=0)

    class Interrupted(Exception):
        pass

    def interrupt(record):
        raise Interrupted

    with pytest.raises(Interrupted):
        train(recipe, tmp_path / "resumed", precision="fp32", progress=False, on_epoch=interrupt)
    train(recipe, tmp_path / "resumed", precision="fp32", resume=True, progress=False)
    resumed = torch.load(tmp_path / "resumed" / "last.pt", weights_only=False)["averaged"]
    for key in averaged:
        torch.testing.assert_close(resumed[key], averaged[key], rtol=0, atol=0)


@pytest.mark.parametrize("averaging", [{"decay": 1.0}, {"decay": 0}, {"decay": 0.9, "start": 3}, {}])
def test_weight_averaging_refuses_bad_recipes(averaging, tmp_path):
    path = zoo_entry_dir("unet-bbbc039") / "recipe.yaml"
    bad = tmp_path / "recipe.yaml"
    bad.write_text(path.read_text() + f"weight_averaging: {json.dumps(averaging)}\n")
    with pytest.raises(ValueError, match="weight_averaging"):
        read_recipe(read_entry("unet-bbbc039"), bad)

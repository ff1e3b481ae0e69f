"""The zoo U-Net and its training loop on a CUDA GPU (skipped where torch sees none)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nucseg_zoo import load_model
from nucseg_zoo.metrics import score_image
from nucseg_zoo.training.loop import build_model, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_zoo_unet_on_cuda_predicts_and_segments_like_on_cpu(sample_split):
    image = sample_split[0].image
    on_cpu = load_model("unet-bbbc039", precision="fp32")
    expected = on_cpu.predict(image)
    for precision, mean_tolerance in (("fp32", 2e-3), ("bf16", 2e-2)):
        on_gpu = load_model("unet-bbbc039", device="cuda", precision=precision)
        probabilities = on_gpu.predict(image)
        assert probabilities.shape == expected.shape
        assert np.abs(probabilities - expected).mean() < mean_tolerance, precision
        agreement = score_image(on_cpu.segment(image), on_gpu.segment(image))
        assert agreement.f1[0.7] > 0.97, precision


def test_training_runs_on_cuda_with_bf16_autocast(tiny_recipe, tmp_path):
    best = train(tiny_recipe, tmp_path, device="cuda", progress=False)
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [(r["device"], r["precision"]) for r in records] == [("cuda", "bf16")] * tiny_recipe.epochs
    assert all(np.isfinite(r["train_loss"]) for r in records)
    build_model(tiny_recipe).load_state_dict(torch.load(best, map_location="cpu", weights_only=True))  # loads on a CPU

"""DeepCell ensemble on this machine: whole-image inference per member and for the ensemble
(fp32 vs bf16), and training throughput of crop vs patch training, in one run.

    python benchmarks/bench_deepcell.py [--repeats 3] [--steps 5] [--device cpu|cuda]

*Inference*: one 520×696 BBBC039 test image (the bundled sample), normalised, through the
zoo's border convention (``predict_tiled``: 32-px mirrored halo) — one dense member
(``FeatureNet61``) and the five-member ensemble the zoo ships (``deepcell-bbbc039``; random
weights if it is not trained yet: the time does not depend on them). GFLOP from
``torch.utils.flop_counter`` (a multiply-add is 2 FLOPs). The paper: 4.4 s per network on a
Titan X.

*Training*: forward + backward + optimizer step of one network in the default precision,
(a) on a batch of 8 crops of 188² px in the dense form (valid output 128² px; the recipe's
loss is on a class-balanced pixel mask, so "labelled px" counts the pixels of that mask on
real BBBC039 crops, and "output px" all 128² × 8 pixels), and (b) patch-wise as in the 2016
recipe, a batch of 256 patches of 61² px, one labelled pixel each. Throughput = labelled
pixels per second of training.
"""

from __future__ import annotations

import argparse
import platform

import numpy as np
import torch

from bench_zoo import median_seconds  # the benchmarks folder is on sys.path when run as a script

from nucseg_zoo import datasets
from nucseg_zoo.inference import autocast_context, default_precision, predict_tiled
from nucseg_zoo.models.deepcell import PATCH_SIZE, FeatureNet61
from nucseg_zoo.targets import three_class_targets
from nucseg_zoo.training.data import balanced_pixel_mask
from nucseg_zoo.zoo.entry import read_entry

MODEL_ID = "deepcell-bbbc039"
CROP, BATCH_CROPS, BATCH_PATCHES = 188, 8, 256


def _gflop(network: torch.nn.Module, shape: tuple[int, int], device: torch.device) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        network(torch.zeros(1, 1, *shape, device=device))
    return counter.get_total_flops() / 1e9


def _ensemble(device: torch.device) -> tuple[torch.nn.Module, str]:
    entry = read_entry(MODEL_ID)
    if entry.trained:
        return entry.build_network().to(device), "shipped weights"
    return entry.build_network(load_weights=False).to(device), "random weights (not trained yet)"


def _labelled_pixels_per_crop_batch(image: np.ndarray, labels: np.ndarray) -> float:
    """Mean size of the balanced mask over 8 random 128² output windows of a real image."""
    targets = three_class_targets(labels, thin_boundary_max_area=250)
    rng = np.random.default_rng(0)
    out = CROP - 60
    windows = []
    for _ in range(BATCH_CROPS):
        y, x = rng.integers(0, targets.shape[0] - out), rng.integers(0, targets.shape[1] - out)
        windows.append(targets[y:y + out, x:x + out])
    return float(balanced_pixel_mask(np.stack(windows), rng).sum())


def _train_step(network: torch.nn.Module, batch: torch.Tensor, device: torch.device, precision: str):
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)

    def step():
        with autocast_context(device, precision):
            logits = network(batch)
        loss = logits.float().logsumexp(dim=1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5, help="training steps timed per variant")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    sample = datasets.load("bbbc039-sample", "test")[1]
    entry = read_entry(MODEL_ID)
    normalized = entry.normalization(sample.image)
    padded_shape = tuple(s + 2 * entry.architecture.halo for s in sample.image.shape)

    member = FeatureNet61(padding=30).eval().to(device).to(memory_format=torch.channels_last)
    ensemble, weights = _ensemble(device)
    ensemble = ensemble.to(memory_format=torch.channels_last)
    inference = []
    geometry = entry.architecture
    for name, network in ((f"{MODEL_ID} one member", member), (f"{MODEL_ID} ensemble", ensemble)):
        gflop = _gflop(network, padded_shape, device)
        for precision in ("fp32", "bf16"):
            seconds = median_seconds(lambda: predict_tiled(network, normalized, device=device, precision=precision,
                                                            step=geometry.size_step, halo=geometry.halo),
                                      args.repeats, synchronize)
            inference.append((name, precision, gflop, seconds))

    precision = default_precision(device)
    labelled_crop = _labelled_pixels_per_crop_batch(sample.image, sample.labels)
    crops = torch.randn(BATCH_CROPS, 1, CROP, CROP, device=device).contiguous(memory_format=torch.channels_last)
    patches = torch.randn(BATCH_PATCHES, 1, PATCH_SIZE, PATCH_SIZE, device=device).contiguous(
        memory_format=torch.channels_last)
    dense = FeatureNet61(dense=True, padding=0, softmax=False).train().to(device).to(memory_format=torch.channels_last)
    patch = FeatureNet61(dense=False, softmax=False).train().to(device).to(memory_format=torch.channels_last)
    training = []
    for name, network, batch, labelled, output in (
            (f"crops {BATCH_CROPS} x {CROP}² (dense)", dense, crops, labelled_crop, BATCH_CROPS * (CROP - 60) ** 2),
            (f"patches {BATCH_PATCHES} x {PATCH_SIZE}²", patch, patches, BATCH_PATCHES, BATCH_PATCHES)):
        seconds = median_seconds(_train_step(network, batch, device, precision), args.steps, synchronize)
        training.append((name, seconds, labelled, output))

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    print(f"machine: {where}, torch {torch.__version__}, default precision {precision}")
    print(f"inference: 520x696 BBBC039 test image ({padded_shape[0]}x{padded_shape[1]} with the halo), "
          f"median of {args.repeats} runs; ensemble: {weights}")
    print(f"{'network':<34} {'precision':<9} {'GFLOP':>7} {'seconds':>8} {'GFLOP/s':>8}")
    for name, prec, gflop, seconds in inference:
        print(f"{name:<34} {prec:<9} {gflop:>7.0f} {seconds:>8.2f} {gflop / seconds:>8.0f}")
    print(f"training ({precision}, one network, median of {args.steps} steps):")
    print(f"{'batch':<28} {'s/step':>7} {'labelled px':>12} {'labelled px/s':>14} {'output px/s':>12}")
    for name, seconds, labelled, output in training:
        print(f"{name:<28} {seconds:>7.2f} {labelled:>12.0f} {labelled / seconds:>14.0f} {output / seconds:>12.0f}")
    crop_rate = training[0][2] / training[0][1]
    patch_rate = training[1][2] / training[1][1]
    print(f"crop training: {crop_rate / patch_rate:.0f}x the labelled pixels/s of patch training "
          f"({training[0][3] / training[0][1] / patch_rate:.0f}x counting every output pixel)")


if __name__ == "__main__":
    main()

"""Every zoo model side by side on this machine: GFLOP, network and whole-image ``segment`` time.

    python benchmarks/bench_zoo.py [--models unet-bbbc039 unet-bbbc039-fast] [--precisions fp32 bf16]
                                   [--repeats 5] [--device cpu|cuda] [--random-weights]

One 520×696 BBBC039 test image (the bundled sample). *network*: the network on the
normalised image with the zoo's border convention (``predict_tiled``: halo padding, so
the network sees 632×808 px). *segment*: ``ZooModel.segment`` — normalisation, network,
shared postprocessing — as a user calls it. GFLOP are counted by
``torch.utils.flop_counter`` on the padded input (multiply-adds count as 2 FLOPs). All
models and precisions are measured in one run, so the speed ratios against the first
model are meaningful even on a noisy machine. On a CPU without native bf16 (AVX2 only)
bf16 is emulated and slow (the zoo runs fp32 unless asked otherwise). ``--random-weights`` times
each entry's architecture untrained, for a machine the weights were not copied to: the
network time does not depend on the weight values, the postprocessing's does (objects found),
so *segment* is then not measured.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from nucseg_zoo import datasets
from nucseg_zoo.hardware import describe_device
from nucseg_zoo.inference import default_precision, predict_tiled
from nucseg_zoo.segmenters import load_model
from nucseg_zoo.tiling import AxisPlan
from nucseg_zoo.zoo import list_models
from nucseg_zoo.zoo.entry import read_entry


def median_seconds(fn, repeats: int, synchronize) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls after one warm-up call."""
    fn()  # warm-up (oneDNN primitive creation, cuDNN autotuning)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def gflop_per_image(network: torch.nn.Module, entry, shape: tuple[int, int], tile: int,
                    device: torch.device) -> float:
    """GFLOP of one forward pass of ``network`` (zoo entry ``entry``'s architecture) over an
    image of ``shape`` padded as the zoo pads it."""
    from torch.utils.flop_counter import FlopCounterMode

    plan = AxisPlan.for_network(step=entry.architecture.size_step, halo=entry.architecture.halo)
    block = [plan.block(size, tile) for size in shape]
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        network(torch.zeros(1, 1, *block, device=device))
    return counter.get_total_flops() / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list_models())
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--random-weights", action="store_true",
                        help="time untrained networks of the entries' architectures (network time only)")
    args = parser.parse_args()
    device = torch.device(args.device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    image = datasets.load("bbbc039-sample", "test")[1].image

    rows = []
    for model_id in args.models:
        gflop = None  # the same for every precision: counted once per model
        for precision in args.precisions:
            if args.random_weights:
                model, entry, tile = None, read_entry(model_id), 1024  # ZooModel's default tile
                net = entry.build_network(load_weights=False).to(device).to(memory_format=torch.channels_last)
            else:
                model = load_model(model_id, device=args.device, precision=precision)
                entry, tile, net = model.entry, model.tile, model.network
            if gflop is None:
                gflop = gflop_per_image(net, entry, image.shape, tile, device)
            normalized = entry.normalization(image)
            network = median_seconds(
                lambda: predict_tiled(net, normalized, device=device, precision=precision,
                                      step=entry.architecture.size_step, tile=tile, halo=entry.architecture.halo),
                args.repeats, synchronize)
            segment = None if model is None else median_seconds(lambda: model.segment(image), args.repeats,
                                                                synchronize)
            rows.append((model_id, precision, gflop, network, segment))

    print(f"machine: {describe_device(args.device)}, torch {torch.__version__}, "
          f"native precision {default_precision(device)}")
    print(f"image: 520x696 BBBC039 test image, median of {args.repeats} runs"
          + (", untrained networks (segment not measured)" if args.random_weights else ""))
    first = {precision: (network, segment) for model_id, precision, _, network, segment in rows
             if model_id == args.models[0]}
    header = (f"{'model':<20} {'precision':<9} {'GFLOP':>7} {'network s':>10} {'segment s':>10} "
              f"{'network speed-up':>17} {'segment speed-up':>17}")
    print(header)
    for model_id, precision, gflop, network, segment in rows:
        base_network, base_segment = first[precision]
        segment_cells = (f"{'-':>10}", f"{'-':>17}") if segment is None else (
            f"{segment:>10.3f}", f"{base_segment / segment:>16.2f}x")
        print(f"{model_id:<20} {precision:<9} {gflop:>7.1f} {network:>10.3f} {segment_cells[0]} "
              f"{base_network / network:>16.2f}x {segment_cells[1]}")
    print(f"(speed-ups against {args.models[0]} in the same precision)")
    if "bf16" in args.precisions and default_precision(device) != "bf16":
        print("bf16 is emulated on this CPU (no native bf16 instructions) and slow")


if __name__ == "__main__":
    main()

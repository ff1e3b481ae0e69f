"""U-Net speed on this machine: whole-image inference and training throughput, fp32 vs bf16.

    python benchmarks/bench_unet.py [--repeats 5] [--train-steps 3] [--precisions fp32 bf16]
                                    [--layouts auto nchw channels_last] [--device cpu|cuda]
                                    [--random-weights]

Inference: one 520×696 BBBC039 image (the bundled sample), the network on the normalised
image (``predict_tiled``, host-device copies included). Training: crops/s for
batches of 256² crops (forward, backward, Adam step). Both precisions are measured in
the same run, so their ratio is meaningful even on a noisy machine. Target: whole-image
inference ≤ 0.5 s (the paper: 10.1 s on 8 CPU cores). On a CPU without native bf16
(e.g. AVX2 only) bf16 is emulated and slow (the zoo runs fp32 unless asked otherwise).
Layout "auto" is the zoo's choice: channels_last for inference, and for training
:func:`nucseg_zoo.training.loop.training_memory_format` (NCHW for fp32 on CPU); name
``nchw`` and ``channels_last`` to compare them in one run. ``--device cuda`` times the
same on a GPU (synchronised); ``--random-weights`` uses an untrained network where the
zoo's weights are not at hand (speed does not depend on the weight values).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from nucseg_zoo import datasets
from nucseg_zoo.inference import default_precision, predict_tiled
from nucseg_zoo.models.unet import UNet
from nucseg_zoo.normalization import PercentileNormalization
from nucseg_zoo.training.loop import training_memory_format


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up (oneDNN primitive creation)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _network(trained: bool) -> torch.nn.Module:
    if trained:
        from nucseg_zoo.zoo.entry import read_entry

        return read_entry("unet-bbbc039").build_network()
    return UNet().eval()


_LAYOUTS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


def _layout(name: str, precision: str, device: torch.device, *, training: bool) -> torch.memory_format:
    if name != "auto":
        return _LAYOUTS[name]
    return training_memory_format(device, precision) if training else torch.channels_last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"])
    parser.add_argument("--layouts", nargs="+", choices=("auto", *_LAYOUTS), default=["auto"])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--random-weights", action="store_true",
                        help="time an untrained network (where the zoo's weights are not at hand)")
    args = parser.parse_args()
    device = torch.device(args.device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    runs = [(precision, layout) for precision in args.precisions for layout in args.layouts]

    image = PercentileNormalization()(datasets.load("bbbc039-sample", "test")[1].image)
    network = _network(trained=not args.random_weights).to(device)
    rows = []
    for precision, layout in runs:
        network.to(memory_format=_layout(layout, precision, device, training=False))  # converts in place
        seconds = _median_seconds(lambda: predict_tiled(network, image, device=device, precision=precision),
                                  args.repeats)
        rows.append((f"inference 520x696, {precision}, {layout}", seconds, f"{seconds:.3f} s/image"))

    for precision, layout in runs:
        memory_format = _layout(layout, precision, device, training=True)
        model = UNet(softmax=False).to(device).to(memory_format=memory_format).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        x = torch.rand(args.batch, 1, 256, 256, device=device).contiguous(memory_format=memory_format)
        y = torch.randint(0, 3, (args.batch, 256, 256), device=device)
        weight = torch.tensor([1.0, 1.0, 10.0], device=device)

        def step():
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits.float(), y, weight=weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            synchronize()

        seconds = _median_seconds(step, args.train_steps)
        rows.append((f"training batch {args.batch}x256², {precision}, {layout}", seconds,
                     f"{args.batch / seconds:.2f} crops/s"))

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    print(f"machine: {where}, torch {torch.__version__}, native precision {default_precision(device)}")
    print(f"{'measurement':<48} {'median s':>9}  rate")
    for name, seconds, rate in rows:
        print(f"{name:<48} {seconds:>9.3f}  {rate}")
    if len(runs) == 2:
        inference, training = rows[:2], rows[2:]
        first, second = (", ".join(run) for run in runs)
        print(f"{second} speed-up over {first}: inference "
              f"{inference[0][1] / inference[1][1]:.2f}x, training {training[0][1] / training[1][1]:.2f}x")


if __name__ == "__main__":
    main()

"""Train the leaderboard's Cellpose peer from scratch with the cellpose library's ``train_seg``.

    # --no-deps keeps torch and numpy as they are (cellpose 3.1.1.3 declares numpy<2.1; 2.4/2.5 work)
    pip install --no-deps cellpose==3.1.1.3 natsort==8.4.0 fastremap==1.21.0 fill-voids==2.1.2 \
        roifile==2026.2.10 opencv-python-headless==5.0.0.93
    # here: through nucseg_zoo's loader
    NUCSEG_ZOO_BBBC039_MIRROR=... python validation/peers/cellpose/train.py --out runs/cellpose [--epochs E]
    # on a machine without nucseg_zoo's loader deps: pack the training split here once, train there
    NUCSEG_ZOO_BBBC039_MIRROR=... python validation/peers/cellpose/train.py --pack bbbc039-training.npz.xz
    python validation/peers/cellpose/train.py --data bbbc039-training.npz.xz --out OUT --device cuda \\
        [--epochs E --deadline SECONDS]
    NUCSEG_ZOO_CELLPOSE_WEIGHTS=OUT/cellpose-bbbc039.pt \\
        nucseg-zoo evaluate validation.peers.cellpose.segmenter:segment --dataset bbbc039 --split test

What it does (recipe: ``recipe.yaml`` beside this file): reads the official BBBC039 *training*
split (nucseg_zoo's loader, or ``--data``: an archive of that split written by ``--pack``),
builds a randomly initialised Cellpose 3 network (``models.CellposeModel(pretrained_model=False)``:
CPnet, 2 input channels, ``diam_mean`` 17 as the library's nuclei model) and trains it with
``cellpose.train.train_seg`` and the settings of cellpose's own command line
(``python -m cellpose --train``): SGD lr 0.2, momentum 0.9, weight decay 1e-5, batch 8,
224x224 patches, the library's warm-up / step-down schedule, its augmentation (random
rotation, flips, rescaling of each image by its median nucleus diameter to ``diam_mean``
x U(0.5, 1.5)), its 1 / 99 percentile normalisation, grayscale channels ``[0, 0]``.
No validation split is used (the test split only for the leaderboard).

Budget: ``--epochs`` (default: the recipe's; the library warms the rate up from 0 over 10 epochs,
so a run of 1 epoch leaves the random weights as they were). ``--limit-images N`` trains on the
first N training images (rehearsals). ``--deadline`` (seconds since start, default none)
stops training early when the wall clock passes it (a SIGALRM inside the library's loop) and
still saves what the network has learnt; ``result.json`` records ``stopped_early`` and the
epochs completed, so a truncated run cannot pass for a full one.

Outputs in ``--out`` (two files): ``cellpose-bbbc039.pt``, the network's state dict with its
convolution weights stored as float16 (13 MB instead of 26; BatchNorm statistics and the rest
float32): the library's own ``CPnet.load_model`` / ``CellposeModel(pretrained_model=...)``
reads it, copying into the float32 network, and ``result.json``
(the weights' sha256, the recipe, the median nucleus diameter of the training labels that
``segmenter.py`` passes to ``eval``, epochs, seconds, the losses the library logged, versions).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import lzma
import math
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

RECIPE = Path(__file__).with_name("recipe.yaml")
WARMUP_EPOCHS = 10
"""Epochs of ``train_seg``'s linear learning-rate warm-up from 0 (cellpose 3.1's ``train.py``)."""
WEIGHTS = "cellpose-bbbc039.pt"
RESULT = "result.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _from_loader(recipe: dict, mirror: str | None) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    from nucseg_zoo import datasets

    samples = datasets.load(recipe["dataset"], recipe["train_split"], mirror=mirror)
    return [s.image for s in samples], [s.labels for s in samples], [s.name for s in samples]


def _from_archive(path: Path) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    raw = path.read_bytes()
    if path.suffix == ".xz":
        raw = lzma.decompress(raw)
    with np.load(io.BytesIO(raw)) as archive:
        images, labels, names = archive["images"], archive["labels"], archive["names"]
    return list(images), [lab.astype(np.int32) for lab in labels], [str(n) for n in names]


def pack(recipe: dict, target: Path, mirror: str | None) -> None:
    """Write the training split as ``images`` (N x H x W uint16), ``labels`` (uint16 instance
    ids, as nucseg_zoo's loader decodes the masks) and ``names``: an npz, xz-compressed when
    ``target`` ends in ``.xz`` (29 MB for BBBC039's 100 training images; plain npz 40 MB)."""
    images, labels, names = _from_loader(recipe, mirror)
    if max(int(lab.max()) for lab in labels) > np.iinfo(np.uint16).max:
        raise ValueError("more than 65535 objects in an image")
    buffer = io.BytesIO()
    np.savez(buffer, images=np.stack(images), labels=np.stack(labels).astype(np.uint16), names=np.array(names))
    data = lzma.compress(buffer.getvalue(), preset=6) if target.suffix == ".xz" else buffer.getvalue()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    print(json.dumps({"archive": str(target), "bytes": len(data), "sha256": _sha256(target),
                      "images": len(images), "objects": int(sum(len(np.unique(lab)) - 1 for lab in labels))}))


def median_diameter(labels: list[np.ndarray]) -> tuple[float, list[float]]:
    """Median equivalent-circle diameter of all nuclei (pooled), as ``cellpose.utils.diameters``
    measures one image (median sqrt(area) / (sqrt(pi) / 2)), and each image's own median."""
    from cellpose import utils

    roots, per_image = [], []
    for lab in labels:
        median, sqrt_areas = utils.diameters(lab)
        roots.append(np.asarray(sqrt_areas, dtype=np.float64))
        per_image.append(float(median))
    pooled = np.concatenate(roots)
    return float(np.median(pooled) / (math.sqrt(math.pi) / 2)), per_image


class _OutOfTime(Exception):
    pass


class _LossLog(logging.Handler):
    """Keeps the library's per-epoch log lines (``{epoch}, train_loss=..., LR=..., time ...``)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "train_loss=" in message:
            self.lines.append(message)


def main(argv: list[str] | None = None) -> int:
    started = time.time()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for the weights and result.json")
    parser.add_argument("--data", type=Path, help="the training split as written by --pack (.npz or .npz.xz), "
                                                  "instead of nucseg_zoo's loader")
    parser.add_argument("--pack", type=Path, metavar="FILE", help="write the training split to FILE and exit")
    parser.add_argument("--mirror", help="dataset mirror for nucseg_zoo's loader (URL or folder)")
    parser.add_argument("--recipe", type=Path, default=RECIPE)
    parser.add_argument("--epochs", type=int, help="default: the recipe's budget")
    parser.add_argument("--deadline", type=float, help="stop training when this many seconds have passed since "
                                                       "the start, and save (default: no limit)")
    parser.add_argument("--device", help="cuda, cpu, ... (default: cuda when available)")
    parser.add_argument("--limit-images", type=int, help="train on the first N images only (rehearsals)")
    args = parser.parse_args(argv)

    recipe = yaml.safe_load(args.recipe.read_text())
    if args.pack:
        pack(recipe, args.pack, args.mirror)
        return 0
    if args.out is None:
        parser.error("--out is required (or --pack)")
    if (args.out / WEIGHTS).exists():
        parser.error(f"{args.out / WEIGHTS} exists: choose another --out")

    import torch

    import cellpose
    from cellpose import models, train
    from cellpose.version import version as cellpose_version

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    losses = _LossLog()
    logging.getLogger("cellpose").addHandler(losses)
    print(f"cellpose {cellpose_version} from {cellpose.__file__}; torch {torch.__version__}", file=sys.stderr)

    epochs = args.epochs or recipe["budget"]["epochs"]
    if epochs <= WARMUP_EPOCHS:
        print(f"warning: {epochs} epoch(s) lie within the library's learning-rate warm-up ({WARMUP_EPOCHS} epochs from "
              "a rate of 0): the first epoch does not change the weights, and so few epochs learn little — "
              "a rehearsal of the commands, not a model", file=sys.stderr)
    settings = dict(recipe["train_seg"])
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    seed = recipe["seed"]
    np.random.seed(seed)
    torch.manual_seed(seed)

    if args.data:
        images, labels, names = _from_archive(args.data)
        source = {"archive": args.data.name, "sha256": _sha256(args.data)}
    else:
        images, labels, names = _from_loader(recipe, args.mirror)
        source = {"loader": f"nucseg_zoo.datasets.load({recipe['dataset']!r}, {recipe['train_split']!r})"}
    if args.limit_images:
        images, labels, names = images[:args.limit_images], labels[:args.limit_images], names[:args.limit_images]
    loaded = time.time()
    diameter, per_image = median_diameter(labels)
    n_objects = [int(len(np.unique(lab)) - 1) for lab in labels]
    print(f"{len(images)} training images, {sum(n_objects)} nuclei, median diameter {diameter:.2f} px "
          f"(loaded in {loaded - started:.1f} s)", file=sys.stderr)

    model_settings = recipe["model"]
    cp = models.CellposeModel(device=device, pretrained_model=False, diam_mean=float(model_settings["diam_mean"]),
                              nchan=int(model_settings["nchan"]), backbone=model_settings.get("backbone", "default"))
    net = cp.net
    n_parameters = int(sum(p.numel() for p in net.parameters()))

    batches = {"n": 0}
    original_get_batch = train._get_batch

    def counting_get_batch(*a, **k):  # progress only: the library's loop calls it once per batch
        batches["n"] += 1
        return original_get_batch(*a, **k)

    def out_of_time(signum, frame):
        raise _OutOfTime()

    train._get_batch = counting_get_batch
    if args.deadline:
        signal.signal(signal.SIGALRM, out_of_time)
        signal.setitimer(signal.ITIMER_REAL, max(1.0, args.deadline - (time.time() - started)))
    work = Path(tempfile.mkdtemp(prefix="cellpose-train-"))  # the library's own fp32 saves (26 MB)
    stopped_early = False
    train_started = time.time()
    try:
        _, train_losses, _ = train.train_seg(
            net, train_data=images, train_labels=labels, n_epochs=epochs, save_path=str(work),
            model_name="cellpose_bbbc039", channels=settings["channels"], normalize=settings["normalize"],
            SGD=settings["SGD"], learning_rate=settings["learning_rate"], weight_decay=settings["weight_decay"],
            momentum=settings["momentum"], batch_size=settings["batch_size"], bsize=settings["bsize"],
            rescale=settings["rescale"], min_train_masks=settings["min_train_masks"],
            save_every=settings["save_every"])
        train_losses = [round(float(v), 5) for v in train_losses]
    except _OutOfTime:
        stopped_early, train_losses = True, None
        print("deadline reached: stopping training and saving the network as it is", file=sys.stderr)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        train._get_batch = original_get_batch
        shutil.rmtree(work, ignore_errors=True)
    trained = time.time()

    n_used = sum(n >= settings["min_train_masks"] for n in n_objects)
    per_epoch = math.ceil(n_used / settings["batch_size"])
    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / WEIGHTS
    # float16 for the convolution weights (13 MB for the file to come back from a GPU machine whose files
    # are limited to 16 MB; fp32 is 26 MB), float32 for the rest (BatchNorm statistics, diameters: small
    # variances would lose precision in float16)
    state = {k: (v.detach().to("cpu", torch.float16) if v.is_floating_point() and v.ndim >= 2 else v.detach().cpu())
             for k, v in net.state_dict().items()}
    torch.save(state, weights)
    result = {
        "weights": WEIGHTS, "sha256": _sha256(weights),
        "weights_dtype": "float16 (tensors of 2+ dimensions), float32 (others)",
        "architecture": {"net": type(net).__name__, "nbase": list(cp.nbase), "parameters": n_parameters,
                         "diam_mean": float(net.diam_mean.item()), "diam_labels": float(net.diam_labels.item())},
        "diameter": round(diameter, 3),
        "diameter_note": "median equivalent-circle diameter (px) of all training nuclei; segmenter.py evaluates "
                         "with it (images rescaled by diam_mean / diameter)",
        "recipe": recipe, "data": {**source, "images": len(images), "images_used": int(n_used),
                                   "nuclei": int(sum(n_objects)), "names_first": names[:3],
                                   "per_image_median_diameter": {"min": round(min(per_image), 2),
                                                                 "max": round(max(per_image), 2)}},
        "epochs": epochs, "epochs_completed": batches["n"] // per_epoch, "batches": batches["n"],
        "stopped_early": stopped_early, "deadline_s": args.deadline,
        "seconds": {"loading": round(loaded - started, 1), "training": round(trained - train_started, 1),
                    "total": round(time.time() - started, 1)},
        "train_losses": train_losses, "log": losses.lines,
        "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "versions": {"cellpose": cellpose_version, "torch": torch.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
    }
    (args.out / RESULT).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("sha256", "epochs", "epochs_completed", "stopped_early", "diameter",
                                             "seconds")}), file=sys.stderr)
    print(weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The paper's transfer experiment (Caicedo et al. 2019, Fig. 6), with DSB2018-fluo in place of Van Valen's set.

    python validation/experiments/transfer.py [--steps-per-epoch 1000] [--epochs 8] [--crop-size 128] [--device cpu|cuda]
        [--run-dir runs/transfer-unet-dsb2018-fluo-fast] [--resume] [--mirror-bbbc039 F] [--mirror-dsb2018 F]

The matrix: each model trained on one set (BBBC039: one screen, homogeneous; DSB2018-fluo: many
labs, cell lines and magnifications) and scored on both test splits (average F1 and missed at
IoU 0.7). The BBBC039-trained networks are the zoo's (``unet-bbbc039``, ``unet-bbbc039-fast``);
the CellProfiler-advanced baseline is tuned on each set's training split (``cp-advanced``,
``cp-advanced@dsb2018-fluo``); their test scores are the leaderboards' (``validation/results``,
``validation/tracks/dsb2018-fluo-test/results``). This script trains the fast U-Net architecture
from scratch on DSB2018-fluo's training split (the fast entry's targets, class weights and
augmentation; no distillation, whose teacher learned BBBC039; no warm start), chooses its epoch
and tunes its postprocessing on DSB2018-fluo validation, and scores it on both test splits
through the harness. DSB2018-fluo's splits hold no BBBC039 field (its card), so neither
network saw a field of the other's test split. The full U-Net trained on DSB2018-fluo is not
run here (8x the fast architecture's FLOPs: hours on a 2-core CPU).

Writes ``validation/experiments/transfer.json`` and ``transfer.png``; ``nucseg-zoo leaderboard``
puts the matrix on the results page. The trained run stays in ``--run-dir`` (``--resume``
continues it).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import yaml

from nucseg_zoo._atomic import write_text_atomically
from nucseg_zoo._hashing import sha256_of
from nucseg_zoo._io import read_jsonl
from nucseg_zoo.evaluation import evaluate_source
from nucseg_zoo.hardware import describe_cpu
from nucseg_zoo.training.diameters import training_nucleus_diameter
from nucseg_zoo.training.loop import train
from nucseg_zoo.training.recipe import ENTRY_FACTS, read_recipe
from nucseg_zoo.training.tuning import tune_run
from nucseg_zoo.zoo.entry import ENTRY_FILE, entry_yaml_text, read_entry

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "validation" / "experiments" / "transfer.json"
ARCHITECTURE_OF = "unet-bbbc039-fast"
TRAINED_ID = "unet-dsb2018-fluo-fast"
TRACKS = {"bbbc039": ROOT / "validation" / "results", "dsb2018-fluo": ROOT / "validation" / "tracks" /
          "dsb2018-fluo-test" / "results"}
"""Test split's dataset -> the leaderboard results that hold the shipped models' scores there."""
SHIPPED = (("U-Net", "unet-bbbc039", "bbbc039"), ("fast U-Net", "unet-bbbc039-fast", "bbbc039"),
           ("CellProfiler advanced", "cp-advanced", "each"))
"""(method, leaderboard entry id, trained on) of the rows read from the leaderboards."""
log = logging.getLogger("transfer")


def dsb_recipe(steps_per_epoch: int, epochs: int, crop_size: int):
    """The fast entry's recipe retargeted at DSB2018-fluo, from scratch: Adam 2e-3 with 100
    warm-up steps and cosine decay to 1e-5 (its version 1-2 schedule), batches of 8 crops of
    ``crop_size`` px (the training-set-size runs' 128 px by default: 8,000 steps of them are
    64,000 crops, 40 % of the pixels of the fast entry's own 4,000 steps of 10 crops of 256 px;
    measured: 2,000 steps reached 0.827 / 0.751 average F1 on the BBBC039 / DSB2018-fluo test splits)."""
    base = read_recipe(read_entry(ARCHITECTURE_OF))
    return replace(base, version=1, dataset="dsb2018-fluo", train_split="training", validation_split="validation",
                   crop_size=crop_size, batch_size=8, epochs=epochs, steps_per_epoch=steps_per_epoch,
                   optimizer={"name": "adam", "lr": 2e-3, "weight_decay": 0.0},
                   schedule={"warmup_steps": 100, "final_lr": 1e-5}, init_from=None, distillation=None,
                   weight_averaging=None)


def write_entry(run_dir: Path, recipe, mirror: str | None) -> Path:
    """A local zoo entry of the trained run (``run_dir/entry``): the fast entry's inference facts,
    the run's weights, tuned postprocessing, recipe, log and training nucleus sizes."""
    base = read_entry(ARCHITECTURE_OF)
    entry_dir = run_dir / "entry"
    entry_dir.mkdir(exist_ok=True)
    shutil.copyfile(run_dir / "best.pt", entry_dir / "weights.pt")
    shutil.copyfile(run_dir / "postprocessing.json", entry_dir / "postprocessing.json")
    shutil.copyfile(run_dir / "log.jsonl", entry_dir / "training_log.jsonl")
    fields = {k: v for k, v in asdict(recipe).items() if k not in ENTRY_FACTS}
    (entry_dir / "recipe.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(fields)), sort_keys=False))
    raw = yaml.safe_load((base.dir / ENTRY_FILE).read_text())
    raw.update(id=TRAINED_ID, name=f"Fast U-Net trained on DSB2018-fluo ({TRAINED_ID})",
               description="The fast U-Net architecture trained from scratch on the DSB2018-fluo training split "
                           "(validation/experiments/transfer.py).",
               weights={"file": "weights.pt", "sha256": sha256_of(entry_dir / "weights.pt")},
               nucleus_diameter=training_nucleus_diameter(recipe, mirror=mirror), trained_on=describe_cpu())
    raw.pop("paper", None)
    write_text_atomically(entry_dir / ENTRY_FILE, entry_yaml_text(raw))
    return entry_dir


def summary(evaluation) -> dict:
    """Average F1 and missed at IoU 0.7 of a harness evaluation."""
    scores = evaluation.scores
    return {"average_f1": round(scores.average_f1, 4), "missed_at_0.7": round(scores.error_rate, 4),
            "n_images": scores.n_images}


def leaderboard_row(entry_id: str, dataset: str) -> dict:
    """The leaderboard's record of ``entry_id`` on ``dataset``'s test split."""
    record = json.loads((TRACKS[dataset] / f"{entry_id}.json").read_text())
    metrics = record["evaluation"]
    return {"average_f1": round(metrics["average_f1"], 4), "missed_at_0.7": round(metrics["error_rate_at_0.7"], 4),
            "n_images": metrics["n_images"], "source": record["entry"]["source"]}


def plot(data: dict, path: Path) -> None:
    """Average F1 on each test split, one bar per model and training set (the paper's Fig. 6a, b)."""
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [row for row in data["rows"] if row["scores"]]
    tests = list(data["test_sets"])
    fig, axes = plt.subplots(1, len(tests), figsize=(10, 4), dpi=110, sharey=True)
    for ax, test in zip(axes, tests):
        values = [row["scores"][test]["average_f1"] for row in rows]
        colours = ["tab:blue" if row["trained_on"] == test else "tab:orange" if row["trained_on"] != "each"
                   else "tab:gray" for row in rows]
        y = np.arange(len(rows))
        ax.barh(y, values, color=colours)
        for k, value in zip(y, values):
            ax.text(value + 0.005, k, f"{value:.3f}", va="center", fontsize=8)
        ax.set_yticks(y, [f"{row['method']} ({row['trained_on_name']})" for row in rows], fontsize=8)
        ax.set_xlim(0.5, 1.0)
        ax.set_title(f"{data['test_sets'][test]} test", fontsize=10)
        ax.set_xlabel("average F1 (IoU 0.50-0.90)")
    axes[0].invert_yaxis()  # the first row on top (the axes share y: once for both)
    fig.suptitle("Trained on the same set (blue), on the other (orange), tuned on each (grey)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps-per-epoch", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--crop-size", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "transfer-unet-dsb2018-fluo-fast")
    parser.add_argument("--resume", action="store_true", help="continue the training run in --run-dir")
    parser.add_argument("--mirror-bbbc039", help="BBBC039 mirror (default: NUCSEG_ZOO_BBBC039_MIRROR)")
    parser.add_argument("--mirror-dsb2018", help="DSB2018 mirror (default: NUCSEG_ZOO_DSB2018_FLUO_MIRROR)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    recipe = dsb_recipe(args.steps_per_epoch, args.epochs, args.crop_size)
    best = train(recipe, args.run_dir, device=args.device, resume=args.resume, mirror=args.mirror_dsb2018,
                 progress=False, on_epoch=lambda record: log.info("%s", record))
    if not (args.run_dir / "postprocessing.json").is_file() or args.resume:
        tune_run(recipe, best, args.run_dir, device=args.device, mirror=args.mirror_dsb2018)
    entry_dir = write_entry(args.run_dir, recipe, args.mirror_dsb2018)
    mirrors = {"bbbc039": args.mirror_bbbc039, "dsb2018-fluo": args.mirror_dsb2018}
    trained = {test: summary(evaluate_source(str(entry_dir), dataset=test, split="test", device=args.device,
                                             mirror=mirrors[test]))
               for test in TRACKS}
    training_log = read_jsonl(args.run_dir / "log.jsonl")
    rows = []
    for method, entry_id, trained_on in SHIPPED:
        rows.append({"method": method, "entry": entry_id, "trained_on": trained_on,
                     "trained_on_name": {"bbbc039": "BBBC039", "each": "tuned on each"}[trained_on],
                     "scores": {test: leaderboard_row(entry_id, test) for test in TRACKS}})
    rows.insert(1, {"method": "U-Net", "entry": None, "trained_on": "dsb2018-fluo", "trained_on_name": "DSB2018-fluo",
                    "scores": None, "why_not": "not trained here (8x the fast architecture's FLOPs: hours on a 2-core CPU)"})
    rows.insert(3, {"method": "fast U-Net", "entry": TRAINED_ID, "trained_on": "dsb2018-fluo",
                    "trained_on_name": "DSB2018-fluo", "scores": trained})
    data = {"test_sets": {"bbbc039": "BBBC039", "dsb2018-fluo": "DSB2018-fluo"}, "rows": rows,
            "trained": {"recipe": json.loads(json.dumps(asdict(recipe), default=str)),
                        "weights_sha256": sha256_of(entry_dir / "weights.pt"),
                        "postprocessing": json.loads((entry_dir / "postprocessing.json").read_text()),
                        "best_epoch": max(training_log, key=lambda r: r["validation_average_f1"])["epoch"],
                        "training_seconds": round(sum(r["seconds"] for r in training_log), 1),
                        "precision": training_log[-1]["precision"], "device": args.device, "cpu": describe_cpu()}}
    write_text_atomically(OUT, json.dumps(data, indent=2) + "\n")
    plot(data, OUT.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

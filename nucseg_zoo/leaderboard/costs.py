"""What each leaderboard row costs to train and to run (Caicedo et al. 2019, Fig. 7, adapted).

The paper compared the hands-on time, training time and per-image running time of its
methods: a U-Net trained in about 1 h on one NVIDIA Titan X and segmented an image in 10.1 s
on 8 CPU cores (0.6 s on the GPU); the CellProfiler pipelines needed no training and ran in
2.2 s (basic) and 4.3 s (advanced) on one core. Here, for every row of a leaderboard:

* **training** (:func:`training_cost`) — read, never typed: a zoo entry's
  ``training_log.jsonl`` (the wall time of every epoch of every run its weights descend
  from, fine-tunes included) and the hardware its entry names; a baseline's parameter
  record (its ``training`` block where the baseline learns, e.g. the random forest; a
  baseline that only had parameters chosen states so). Peers and submissions were trained
  elsewhere: their rows say where their recipe is.
* **inference** (:func:`measure_inference`) — measured on this machine, in one run for all
  rows so that they compare: ``segment`` on the first images of the track's split in a
  process pinned to 1 and to 2 cores (:mod:`~nucseg_zoo.leaderboard.cost_probe`), the median
  seconds per image after one warm-up call, the process's peak resident memory, and the
  GFLOP of the network(s) per image. Rows whose source is not on this machine (a peer's
  weights) are not measured and say why; their evaluation's time is kept beside.
* **size** — a zoo entry's parameter count (its ``entry.yaml``, checked against the network by
  the tests).

``nucseg-zoo leaderboard --costs`` writes ``experiments/costs.json`` and
``experiments/costs.png`` in the leaderboard folder; the documentation's results page shows
the table beside the paper's published times (``references.yaml``'s ``training_hours``,
``seconds_per_image`` and ``hardware``). A run with ``--device cuda`` adds the GPU time to the
rows and keeps the CPU measurements.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from nucseg_zoo._atomic import atomic_path
from nucseg_zoo.hardware import usable_cpus
from nucseg_zoo.leaderboard.records import Entry, ResultRecord, read_results, read_track
from nucseg_zoo.leaderboard.cost_probe import THREAD_VARIABLES

COSTS_FILE = "experiments/costs.json"
"""The costs of a leaderboard folder, relative to it."""

COSTS_FIGURE = "experiments/costs.png"
"""Their figure, relative to the leaderboard folder."""

CPU_THREADS: tuple[int, ...] = (1, 2)
"""Cores the inference is measured on (the paper's CellProfiler times are for 1 core)."""

N_IMAGES = 3
"""Images of the track's split timed per row and core count (after one untimed warm-up call)."""


DEVICE_WORDS = {"cuda": "GPU", "cpu": "CPU", "mps": "Apple GPU"}
"""torch device types in words."""


class CostProbeError(RuntimeError):
    """The process measuring a source failed; the message holds the end of its error output."""


@dataclass(frozen=True)
class TrainingCost:
    """What training a row took, and where that was read.

    Attributes:
        seconds: wall time of the training, s (0: the row learns nothing, its parameters were
            only chosen; None: not recorded here).
        hardware: what it ran on, in words (None: not recorded).
        source: where ``seconds`` was read, or why there is none.
    """

    seconds: float | None
    hardware: str | None
    source: str
    devices: str | None = None
    """The kinds of device the training ran on (``"GPU"``, ``"CPU"``, joined; from the log's ``device``)."""


def training_cost(entry: Entry) -> TrainingCost:
    """The training cost of a leaderboard row, from the files the row was built from.

    A zoo entry: the sum of the ``seconds`` of every record of its training log (one per
    epoch, and member of an ensemble), the hardware from its ``trained_on``. A baseline: the
    ``training`` block of its parameter record (``seconds``, ``hardware``), or, where the
    record has none, 0 s: its parameters were only chosen (``chosen_on``; the search's time
    is the paper's "hands-on" calibration, not training). Other rows: not recorded here.

    Raises:
        ValueError: a zoo or baseline row whose source is not in this installation.
    """
    if entry.kind == "zoo":
        from nucseg_zoo.zoo.entry import read_entry

        zoo_entry = read_entry(entry.source)
        log = zoo_entry.training_log()
        return TrainingCost(seconds=round(sum(record["seconds"] for record in log), 1),
                            hardware=zoo_entry.raw.get("trained_on"),
                            devices=" + ".join(sorted({DEVICE_WORDS.get(record["device"].split(":")[0], record["device"])
                                                       for record in log})),
                            source=f"zoo/{entry.source}/{zoo_entry.raw['training_log']} ({len(log)} epoch records)")
    if entry.kind == "baseline":
        from nucseg_zoo.baselines.registry import baseline_record, record_path

        record = baseline_record(entry.source)
        where = f"nucseg_zoo/baselines/data/{record_path(entry.source).name}"
        training = record.get("training")
        if training is None:
            return TrainingCost(seconds=0.0, hardware=None,
                                source=f"no training: parameters chosen on {record['chosen_on']} ({where})")
        if "seconds" not in training:
            return TrainingCost(seconds=None, hardware=None, source=f"training time not recorded in {where}")
        return TrainingCost(seconds=training["seconds"], hardware=training.get("hardware"), source=where, devices="CPU")
    return TrainingCost(seconds=None, hardware=None,
                        source="trained elsewhere: see the row's recipe" if entry.recipe else "not stated")


def probe_environment(threads: int) -> dict[str, str]:
    """This process's environment with every thread pool sized to ``threads``."""
    return {**os.environ, **{name: str(threads) for name in THREAD_VARIABLES}}


def measure_inference(source: str, images_file: str | Path, *, threads: int, device: str = "cpu",
                      count_flops: bool = False, timeout: float = 3600) -> dict[str, Any]:
    """Run :mod:`~nucseg_zoo.leaderboard.cost_probe` on ``source`` in a new process; return its measurement.

    Args:
        source: a source spec.
        images_file: ``.npz`` of the ``(H, W)`` images to segment.
        threads: cores (and threads of every pool) the process may use.
        device: "cpu" or a GPU.
        count_flops: also count the network's GFLOP per image.
        timeout: seconds before the process is stopped.

    Raises:
        CostProbeError: the process failed (its last error lines are in the message).
        subprocess.TimeoutExpired: it ran longer than ``timeout``.
    """
    command = [sys.executable, "-m", "nucseg_zoo.leaderboard.cost_probe", source, "--images", str(images_file),
               "--threads", str(threads), "--device", device, *(["--count-flops"] if count_flops else [])]
    done = subprocess.run(command, capture_output=True, text=True, env=probe_environment(threads), timeout=timeout)
    if done.returncode != 0:
        tail = " | ".join(line for line in done.stderr.strip().splitlines()[-3:])
        raise CostProbeError(f"{source}: measuring process exited {done.returncode}: {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _runnable_here(entry: Entry) -> str | None:
    """None if ``entry``'s source resolves here to the content that was evaluated; else why not."""
    from nucseg_zoo.segmenters import resolve_source

    try:
        here = resolve_source(entry.source)
    except Exception as err:  # noqa: BLE001 - any reason a source cannot be opened is reported, not raised
        first_line = textwrap.shorten(str(err).splitlines()[0], width=240, placeholder=" …")
        return f"its source is not on this machine ({type(err).__name__}: {first_line})"
    if here.sha256 != entry.source_sha256:
        return "its source here differs from the one evaluated (another sha256)"
    return None


def _track_images(folder: Path, n_images: int, mirror: str | None) -> tuple[list[str], list[np.ndarray]]:
    from nucseg_zoo import datasets

    track = read_track(folder)
    split = datasets.load(track.dataset, split=track.split, mirror=mirror)
    samples = [split[i] for i in range(min(n_images, len(split)))]
    return [s.name for s in samples], [s.image for s in samples]


def _machine() -> dict[str, Any]:
    from nucseg_zoo.hardware import cpu_extensions, cpu_name, usable_cpus

    return {"cpu": cpu_name(), "extensions": list(cpu_extensions()), "cpus": usable_cpus()}


def _row(record: ResultRecord) -> dict[str, Any]:
    """The costs of ``record`` that are read, not measured."""
    entry, evaluation = record.entry, record.evaluation
    parameters = None
    if entry.kind == "zoo":
        from nucseg_zoo.zoo.entry import read_entry

        parameters = read_entry(entry.source).raw.get("num_params")
    return {"name": entry.name, "kind": entry.kind, "source_sha256": entry.source_sha256,
            "average_f1": evaluation.scores.average_f1, "training": asdict(training_cost(entry)),
            "parameters": parameters,
            "evaluation": {"seconds_per_image": evaluation.seconds_per_image,
                           "device": evaluation.provenance.get("environment", {}).get("device"),
                           "n_images": evaluation.scores.n_images},
            "inference": [], "not_measured": None}


def compute_costs(folder: str | Path, *, device: str = "cpu", n_images: int = N_IMAGES,
                  threads: Sequence[int] = CPU_THREADS, mirror: str | None = None,
                  progress=print) -> dict[str, Any]:
    """The costs of every row of the leaderboard in ``folder`` (see the module docstring).

    With ``device`` a GPU, each row is timed once on it (all of this machine's cores for the
    host's part), and the CPU measurements of an existing :data:`COSTS_FILE` are kept for the
    rows whose source did not change.

    Raises:
        CostProbeError: a runnable row's measuring process failed.
    """
    folder = Path(folder)
    records = sorted(read_results(folder / "results"), key=lambda r: -r.evaluation.scores.average_f1)
    names, images = _track_images(folder, n_images, mirror)
    gpu = device != "cpu"
    previous = read_costs(folder) if gpu else None
    rows = {}
    with tempfile.TemporaryDirectory(prefix="nucseg-zoo-costs-") as tmp:
        images_file = Path(tmp) / "images.npz"
        np.savez(images_file, *images)
        for record in records:
            row = _row(record)
            kept = (previous or {}).get("entries", {}).get(record.entry.id)
            if kept is not None and kept["source_sha256"] == record.entry.source_sha256:
                row["inference"] = [m for m in kept["inference"] if m["device"].startswith("cpu")]
                row["not_measured"] = kept["not_measured"]
            reason = _runnable_here(record.entry)
            if reason is not None:
                row["not_measured"] = reason
                progress(f"{record.entry.id}: not measured: {reason}")
            else:
                for n in [usable_cpus()] if gpu else threads:
                    measured = measure_inference(record.entry.source, images_file, threads=n, device=device,
                                                 count_flops=n == max(threads) or gpu)
                    row["inference"].append(measured)
                    progress(f"{record.entry.id}: {measured['seconds_per_image']:.3f} s/image on {measured['device']}, "
                             f"peak {measured['peak_memory_mib']:.0f} MiB")
            rows[record.entry.id] = row
    track = read_track(folder)
    return {"track": {"dataset": track.dataset, "split": track.split}, "images": names,
            "machine": _machine() if previous is None else previous["machine"],
            "measured_at": datetime.now(timezone.utc).date().isoformat(), "entries": rows}


def read_costs(folder: str | Path) -> dict[str, Any] | None:
    """The committed costs of the leaderboard in ``folder`` (None: not computed)."""
    path = Path(folder) / COSTS_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def stale_costs(folder: str | Path) -> list[str]:
    """Why the committed costs of ``folder`` are out of date (empty: current, or none computed):
    rows added, gone or changed (another source sha256), or a training cost that reads
    otherwise now. The inference times are measurements of a machine and are not re-checked."""
    data = read_costs(folder)
    if data is None:
        return []
    records = {r.entry.id: r for r in read_results(Path(folder) / "results")}
    problems = [f"{entry_id}: not in the costs" for entry_id in sorted(set(records) - set(data["entries"]))]
    problems += [f"{entry_id}: no longer on the leaderboard" for entry_id in sorted(set(data["entries"]) - set(records))]
    for entry_id in sorted(set(records) & set(data["entries"])):
        row, record = data["entries"][entry_id], records[entry_id]
        if row["source_sha256"] != record.entry.source_sha256:
            problems.append(f"{entry_id}: its source changed")
        elif row["training"] != asdict(training_cost(record.entry)):
            problems.append(f"{entry_id}: its training record changed")
    return problems


def cpu_seconds(row: dict[str, Any], threads: int) -> float | None:
    """A row's measured seconds per image on ``threads`` CPU cores (None: not measured)."""
    for measured in row["inference"]:
        if measured["device"].startswith("cpu") and measured["threads"] == threads:
            return measured["seconds_per_image"]
    return None


def gpu_measurement(row: dict[str, Any]) -> dict[str, Any] | None:
    """A row's measurement on a GPU (None: not measured on one)."""
    return next((m for m in row["inference"] if not m["device"].startswith("cpu")), None)


def largest_measurement(row: dict[str, Any]) -> dict[str, Any] | None:
    """A row's CPU measurement on the most cores (its GFLOP and peak memory are reported)."""
    cpu = [m for m in row["inference"] if m["device"].startswith("cpu")]
    return max(cpu, key=lambda m: m["threads"]) if cpu else None


def plot_costs(data: dict[str, Any], references: Sequence[dict[str, Any]], path: Path) -> None:
    """Training hours and seconds per image of every row, beside the paper's (``references``
    rows with ``training_hours`` / ``seconds_per_image``), written to ``path`` (PNG) atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = data["entries"]
    names = list(entries)
    paper = [r for r in references if r.get("training_hours") is not None or r.get("seconds_per_image") is not None]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 0.45 * (len(names) + len(paper)) + 1.8))
    labels = [*names, *(f"paper: {r['name']}" for r in paper)]
    positions = np.arange(len(labels))[::-1]

    hours = [None if entries[n]["training"]["seconds"] is None else entries[n]["training"]["seconds"] / 3600
             for n in names] + [r.get("training_hours") for r in paper]
    where = [entries[n]["training"].get("devices") for n in names] + [r.get("training_hardware") for r in paper]
    colours = ["tab:blue"] * len(names) + ["tab:gray"] * len(paper)
    for y, value, colour, device in zip(positions, hours, colours, where):
        if value is None:
            left.text(0.01, y, "not recorded here", va="center", fontsize=8, color="0.4",
                      transform=left.get_yaxis_transform())
        elif value == 0:
            left.text(0.01, y, "no training", va="center", fontsize=8, color="0.4", transform=left.get_yaxis_transform())
        else:
            left.barh(y, value, color=colour)
            if device:
                left.text(value, y, f" {device}", va="center", fontsize=7, color="0.2")
    left.set_xscale("log")
    longest = max((h for h in hours if h), default=1.0)
    left.set_xlim(right=longest * 12)  # room for the device labels
    left.set_yticks(positions, labels, fontsize=8)
    for axis in (left, right):
        axis.set_ylim(-0.7, len(labels) - 0.3)
    left.set_xlabel("training time (hours, log scale)")
    left.set_title("(a) training", fontsize=10)

    width = 0.38
    for offset, threads, colour in ((width / 2, 1, "tab:orange"), (-width / 2, 2, "tab:blue")):
        values = [cpu_seconds(entries[n], threads) for n in names]
        ys = [y + offset for y, v in zip(positions[:len(names)], values) if v is not None]
        right.barh(ys, [v for v in values if v is not None], height=width, color=colour,
                   label=f"{threads} CPU core{'s' if threads > 1 else ''} (this machine)")
    for y, name in zip(positions[:len(names)], names):
        if not entries[name]["inference"]:
            right.text(0.01, y, "not measured here", va="center", fontsize=8, color="0.4",
                       transform=right.get_yaxis_transform())
    paper_ys = [y for y, r in zip(positions[len(names):], paper) if r.get("seconds_per_image") is not None]
    paper_timed = [r for r in paper if r.get("seconds_per_image") is not None]
    right.barh(paper_ys, [r["seconds_per_image"] for r in paper_timed], color="tab:gray", label="paper (its hardware)")
    for y, reference in zip(paper_ys, paper_timed):
        right.text(reference["seconds_per_image"], y, f" {reference.get('hardware') or ''}", va="center", fontsize=7,
                   color="0.2")
    right.set_xscale("log")
    slowest = max([r["seconds_per_image"] for r in paper_timed]
                  + [m["seconds_per_image"] for n in names for m in entries[n]["inference"]], default=1.0)
    right.set_xlim(right=slowest * 12)
    right.set_yticks(positions, [""] * len(labels))
    right.set_xlabel("seconds per image (log scale)")
    right.set_title("(b) segmenting one image", fontsize=10)
    right.legend(fontsize=8, loc="lower right")
    machine = data["machine"]
    figure.suptitle(f"Cost of each method, {data['track']['dataset']} {data['track']['split']} "
                    f"(measured on {machine['cpu']}, {', '.join(machine['extensions']) or 'no AVX2'})", fontsize=10)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)


def write_costs(folder: str | Path, *, device: str = "cpu", mirror: str | None = None,
                progress=print) -> list[Path]:
    """Compute the costs of ``folder`` and write :data:`COSTS_FILE` and :data:`COSTS_FIGURE`
    (each atomically, after every measurement succeeded); return their paths."""
    from nucseg_zoo.leaderboard.render import read_references

    folder = Path(folder)
    data = compute_costs(folder, device=device, mirror=mirror, progress=progress)
    paths = [folder / COSTS_FILE, folder / COSTS_FIGURE]
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(paths[0]) as tmp:
        tmp.write_text(json.dumps(data, indent=1) + "\n")
    plot_costs(data, read_references(folder)["rows"], paths[1])
    return paths

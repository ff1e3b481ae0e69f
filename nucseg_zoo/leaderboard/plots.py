"""The leaderboard's figures (matplotlib, rendered to deterministic inline SVG).

* :func:`f1_vs_iou` — average F1 over images at each IoU threshold (the paper's Fig. 2a);
* :func:`missed_by_size` — fraction of nuclei missed at IoU 0.7 per size bin (Fig. 3a);
* :func:`splits_and_merges` — split and merged nuclei at IoU 0.1 (Fig. 4a);
* :func:`seconds_per_image` — wall time per 520x696 image with its hardware.
"""

from __future__ import annotations

import io
from typing import Callable, Sequence

from nucseg_zoo.leaderboard.records import ResultRecord
from nucseg_zoo.metrics import SIZE_BINS, THRESHOLDS

# same output for the same data and matplotlib version: fixed ids, no date
_RC = {"svg.hashsalt": "nucseg-zoo", "svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
       "axes.spines.right": False}


def _svg(draw: Callable, records: Sequence[ResultRecord], size: tuple[float, float]) -> str:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(_RC):
        fig, ax = plt.subplots(figsize=size, layout="constrained")
        try:
            draw(ax, records)
            buffer = io.StringIO()
            fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
        finally:
            plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # inline: drop the XML prologue and doctype


def _grouped_bars(ax, records: Sequence[ResultRecord], groups: Sequence[str], values: Callable) -> None:
    import numpy as np

    width = 0.8 / max(1, len(records))
    x = np.arange(len(groups))
    for index, record in enumerate(records):
        ax.bar(x + (index - (len(records) - 1) / 2) * width, values(record), width, label=record.entry.name)
    ax.set_xticks(x, groups)
    ax.legend(frameon=False, fontsize=8)


def _draw_f1(ax, records: Sequence[ResultRecord]) -> None:
    lowest = min((min(r.evaluation.scores.f1.values()) for r in records), default=0.5)
    for record in records:
        f1 = record.evaluation.scores.f1
        ax.plot(THRESHOLDS, [f1[t] for t in THRESHOLDS], marker="o", markersize=3,
                label=f"{record.entry.name} ({record.evaluation.scores.average_f1:.3f})")
    ax.set_xlabel("IoU threshold")
    ax.set_ylabel("F1 (mean over images)")
    ax.set_title("F1 vs IoU threshold (legend: average F1)")
    ax.set_ylim(min(0.5, lowest - 0.05), 1)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8, loc="lower left")


def _draw_missed(ax, records: Sequence[ResultRecord]) -> None:
    bins = list(SIZE_BINS)
    labels = [f"{b}\n{'>' + str(low) if high == float('inf') else '≤' + str(high)} px"
              for b, (low, high) in SIZE_BINS.items()]
    _grouped_bars(ax, records, labels, lambda r: [r.evaluation.scores.missed_by_size[b] for b in bins])
    ax.set_ylabel("fraction missed at IoU 0.7")
    ax.set_title("Missed nuclei by size")


def _draw_splits_merges(ax, records: Sequence[ResultRecord]) -> None:
    _grouped_bars(ax, records, ["splits", "merges"],
                  lambda r: [r.evaluation.scores.splits, r.evaluation.scores.merges])
    ax.set_ylabel("objects (IoU > 0.1)")
    ax.set_title("Splits and merges")


def _draw_seconds(ax, records: Sequence[ResultRecord]) -> None:
    timed = [r for r in records if r.evaluation.seconds_per_image]
    labels = [f"{r.entry.name}\n{r.evaluation.provenance.get('environment', {}).get('device', '')}" for r in timed]
    ax.barh(range(len(timed)), [r.evaluation.seconds_per_image for r in timed], color="tab:gray")
    ax.set_yticks(range(len(timed)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("seconds per image (log scale; segment only, as measured on the device named)")
    ax.set_title("Time per 520×696 image")


def f1_vs_iou(records: Sequence[ResultRecord]) -> str:
    """SVG: F1 vs IoU threshold for every entry."""
    return _svg(_draw_f1, records, (6.4, 4.0))


def missed_by_size(records: Sequence[ResultRecord]) -> str:
    """SVG: fraction missed per size bin for every entry."""
    return _svg(_draw_missed, records, (6.4, 3.6))


def splits_and_merges(records: Sequence[ResultRecord]) -> str:
    """SVG: split and merge counts for every entry."""
    return _svg(_draw_splits_merges, records, (6.4, 3.4))


def seconds_per_image(records: Sequence[ResultRecord]) -> str:
    """SVG: seconds per image of every entry (log scale)."""
    return _svg(_draw_seconds, records, (6.4, 0.9 + 0.45 * len(records)))


FIGURES: dict[str, Callable[[Sequence[ResultRecord]], str]] = {
    "Average F1 vs IoU threshold (Fig. 2a of the paper)": f1_vs_iou,
    "Missed nuclei by size at IoU 0.7 (Fig. 3a)": missed_by_size,
    "Splits and merges at IoU 0.1 (Fig. 4a)": splits_and_merges,
    "Seconds per image": seconds_per_image,
}

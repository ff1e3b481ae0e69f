"""Shared output of the scoring commands: JSON on stdout, or a short table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from nucseg_zoo._atomic import write_text_atomically
from nucseg_zoo.evaluation import Evaluation


def print_evaluation(evaluation: Evaluation, *, as_json: bool) -> None:
    """Print ``evaluation`` as one JSON object, or as a human-readable summary."""
    if as_json:
        print(json.dumps(evaluation.to_dict(), indent=2))
        return
    scores = evaluation.scores
    print(f"{evaluation.source} on {evaluation.dataset}/{evaluation.split}: {scores.n_images} images, "
          f"{scores.n_true} true / {scores.n_pred} predicted objects")
    print(f"  average F1 (IoU 0.50-0.90): {scores.average_f1:.4f}")
    print("  F1 by IoU: " + "  ".join(f"{t:.2f}:{f:.3f}" for t, f in scores.f1.items()))
    print(f"  error rate at IoU 0.7: {scores.error_rate:.2%}   Jaccard: {scores.jaccard:.4f}")
    print("  missed by size at 0.7: " + "  ".join(f"{b}:{v:.1%}" for b, v in scores.missed_by_size.items()))
    print(f"  extra objects: {scores.extra_objects}   splits: {scores.splits}   merges: {scores.merges}")
    if evaluation.seconds_per_image is not None:
        print(f"  seconds per image: {evaluation.seconds_per_image:.3f}")
    if evaluation.missing_predictions:
        print(f"  missing predictions (scored as empty): {', '.join(evaluation.missing_predictions)}",
              file=sys.stderr)


def write_json_atomically(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, json.dumps(data, indent=2) + "\n")

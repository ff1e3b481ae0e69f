"""Shared output of the scoring commands: JSON on stdout, or a short table."""

from __future__ import annotations

import json
from pathlib import Path

from nucseg_zoo._atomic import write_text_atomically
from nucseg_zoo._text import count
from nucseg_zoo.evaluation import Evaluation


def print_evaluation(evaluation: Evaluation, *, as_json: bool) -> None:
    """Print ``evaluation`` as one JSON object, or as a human-readable summary."""
    if as_json:
        print(json.dumps(evaluation.to_dict(), indent=2))
        return
    scores = evaluation.scores
    print_image_table(evaluation)
    from nucseg_zoo.datasets.samples import split_label

    print(f"{evaluation.source} on {split_label(evaluation.dataset, evaluation.split)}: {count(scores.n_images, 'image')}, "
          f"{scores.n_true} true / {count(scores.n_pred, 'predicted object')}")
    print(f"  average F1 (IoU 0.50-0.90): {scores.average_f1:.4f}")
    print("  F1 by IoU: " + "  ".join(f"{t:.2f}:{f:.3f}" for t, f in scores.f1.items()))
    print(f"  error rate at IoU 0.7: {scores.error_rate:.2%}   Jaccard: {scores.jaccard:.4f}")
    print("  missed by size at 0.7: " + "  ".join(f"{b}:{'–' if v != v else f'{v:.1%}'}"
                                                  for b, v in scores.missed_by_size.items()))
    print(f"  extra objects: {scores.extra_objects}   splits: {scores.splits}   merges: {scores.merges}")
    if evaluation.seconds_per_image is not None:
        print(f"  seconds per image: {evaluation.seconds_per_image:.3f}")
    provenance = evaluation.provenance
    if provenance:
        print(f"  output kind: {provenance['output_kind']} ({provenance['output_kind_reason']})")
        if provenance.get("postprocessing"):
            print("  postprocessing: " + ", ".join(f"{k}={v}" for k, v in provenance["postprocessing"].items()))
        if provenance.get("diameter") is not None:
            print(f"  rescaled: nuclei of {provenance['diameter']:g} px to the model's {provenance['training_diameter']:g} px")
        if isinstance(provenance.get("selection"), dict):
            print("  images read at: " + ", ".join(f"{k} {v}" for k, v in provenance["selection"].items()))
        print(f"  source sha256: {provenance['source_sha256']}   device: {provenance['environment']['device']}")
        print(f"  {'cached result from' if evaluation.cached else 'evaluated'} {provenance['evaluated_at']}"
              f"{' (--force recomputes)' if evaluation.cached else ''}")


def print_image_table(evaluation: Evaluation) -> None:
    """One row per image: objects, F1 at 0.5 / 0.7 / 0.9, average F1, misses, time."""
    seconds = evaluation.image_seconds or (None,) * evaluation.scores.n_images
    print(f"{'image':<24} {'true':>5} {'pred':>5} {'F1@.5':>6} {'F1@.7':>6} {'F1@.9':>6} {'avgF1':>6} "
          f"{'missed':>6} {'split':>5} {'merge':>5} {'s':>6}")
    for image, time in zip(evaluation.scores.images, seconds):
        f1 = image.f1
        print(f"{image.name[:24]:<24} {image.n_true:>5} {image.n_pred:>5} {f1[0.5]:>6.3f} {f1[0.7]:>6.3f} "
              f"{f1[0.9]:>6.3f} {image.average_f1:>6.3f} {image.missed:>6} {image.splits:>5} "
              f"{image.merges:>5} {'' if time is None else f'{time:.2f}':>6}")
    print()


def write_json_atomically(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, json.dumps(data, indent=2) + "\n")

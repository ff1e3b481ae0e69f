"""The evaluation harness: any model, baseline or prediction folder, scored the paper's way.

Start with :func:`evaluate_source`::

    from nucseg_zoo.evaluation import evaluate_source
    result = evaluate_source("unet-bbbc039", dataset="bbbc039", split="test")
    result = evaluate_source("path/or/url/to/model.zip", output_kind="foreground_boundary")
    result.scores.average_f1, result.to_dict()      # per image + aggregate + provenance

Lower level: :func:`get_segmenter` / :func:`evaluate` for any object with ``segment``,
:func:`score_folder` for label images written by another tool.
"""

from nucseg_zoo.evaluation.harness import (
    Evaluation,
    Segmenter,
    evaluate,
    get_segmenter,
    list_segmenters,
    score_folder,
    score_segmenter,
)
from nucseg_zoo.evaluation.runner import evaluate_source
from nucseg_zoo.evaluation.sources import ModelSource, resolve_source

__all__ = [
    "Evaluation", "ModelSource", "Segmenter", "evaluate", "evaluate_source", "get_segmenter",
    "list_segmenters", "resolve_source", "score_folder", "score_segmenter",
]

"""The evaluation harness: any model, baseline or prediction folder, scored the paper's way.

Start with :func:`evaluate_source`::

    from nucseg_zoo.evaluation import evaluate_source
    result = evaluate_source("unet-bbbc039", dataset="bbbc039", split="test")
    result = evaluate_source("path/or/url/to/model.zip", output_kind="foreground_boundary")
    result.scores.average_f1, result.to_dict()      # per image + aggregate + provenance

Lower level: :func:`evaluate` / :func:`score_segmenter` for any object with ``segment``
(opened with :func:`nucseg_zoo.segmenters.get_segmenter`), :func:`score_folder` for label
images written by another tool. Zoo models are evaluated in fp32, the default precision
(:data:`nucseg_zoo.precision.DEFAULT_PRECISION`) in which every leaderboard number was made.
"""

from nucseg_zoo.evaluation.harness import Evaluation, evaluate, score_folder, score_segmenter
from nucseg_zoo.evaluation.runner import evaluate_source

__all__ = ["Evaluation", "evaluate", "evaluate_source", "score_folder", "score_segmenter"]

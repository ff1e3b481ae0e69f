"""Inference precisions of zoo networks, and the one default every entry point uses.

:func:`nucseg_zoo.load_model`, :func:`nucseg_zoo.segmenters.get_segmenter`,
:func:`nucseg_zoo.evaluation.evaluate_source`, :func:`nucseg_zoo.screens.segment_images` and
``nucseg-zoo segment`` run a zoo model in :data:`DEFAULT_PRECISION` unless told otherwise, so
one model id gives the same labels through every one of them, on every machine.
"""

from __future__ import annotations

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
"""Inference precisions: fp32, or bf16/fp16 autocast (:func:`nucseg_zoo.inference.autocast_context`)."""

DEFAULT_PRECISION = "fp32"
"""fp32: the precision of the zoo's bioimage.io packages in bioimageio.core and of every
leaderboard result (``validation/results/*.json``: ``inference_precision``), and the same on
every CPU and GPU. bf16 (``precision="bf16"``) is faster on CPUs with native bf16 (AVX-512
BF16, AMX) and on GPUs, and changes a few boundary pixels."""


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`.

    Raises:
        ValueError: any other value (the message names the valid ones).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    return precision

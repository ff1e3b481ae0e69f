"""``evaluate_source``: the harness behind ``nucseg-zoo evaluate SOURCE``.

Resolves the source (zoo id, baseline, bioimage.io package path or URL, ``module:callable``), runs it on the
official split through the shared postprocessing, scores it, and records provenance.
Results are cached under ``<cache>/results/<key>.json``, the predicted label images beside
them in ``<key>.labels.npz`` (:mod:`nucseg_zoo.evaluation.predictions`); the key hashes the source
sha256, the evaluated data's manifest hashes, the requested output kind / weight format,
the device and the installed package versions, so re-running is instant and any change
of model, data or software recomputes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from nucseg_zoo import datasets
from nucseg_zoo._atomic import write_text_atomically
from nucseg_zoo._io import cache_dir
from nucseg_zoo.devices import check_device
from nucseg_zoo.evaluation.harness import Evaluation, resolve_samples, score_segmenter
from nucseg_zoo.evaluation.predictions import LabelStoreWriter
from nucseg_zoo.evaluation.provenance import environment, package_versions, samples_fingerprint
from nucseg_zoo.segmenters import ModelSource, open_segmenter, resolve_source
from nucseg_zoo.segmenters.statistics import fitted_statistics
from nucseg_zoo.segmenters.rescaled import check_rescalable

log = logging.getLogger(__name__)

# Bump when the harness gives other results for the same model, data and packages, so that
# results cached by an earlier version are recomputed. 2: the halo border convention
# (nucseg_zoo.tiling), zoo models in fp32, dataset statistics fitted over the split.
# 3: the predicted label images are stored with the result.
HARNESS_VERSION = 3


def results_cache_dir() -> Path:
    """Folder of cached evaluation results (``$NUCSEG_ZOO_DATA_DIR/results`` or the OS cache)."""
    return cache_dir() / "results"


def cache_key(source: ModelSource, *, dataset_sha256: str, dataset: str, split: str, limit: int | None,
              output_kind: str | None, weight_format: str | None, device: str,
              postprocessing: dict | None = None, diameter: float | None = None) -> str:
    """sha256 identifying one evaluation (see the module docstring)."""
    key = {"source_sha256": source.sha256, "dataset": dataset, "split": split, "limit": limit,
           "dataset_sha256": dataset_sha256, "output_kind": output_kind, "weight_format": weight_format,
           "device": device, "packages": package_versions(), "harness": HARNESS_VERSION}
    if postprocessing:  # absent otherwise, so that earlier keys stay valid
        key["postprocessing"] = postprocessing
    if diameter is not None:  # likewise
        key["diameter"] = diameter
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def evaluate_source(
    source: str,
    *,
    dataset: str | datasets.DatasetSplit,
    split: str | None = None,
    limit: int | None = None,
    device: str = "cpu",
    output_kind: str | None = None,
    weight_format: str | None = None,
    sha256: str | None = None,
    postprocessing: dict | None = None,
    diameter: float | None = None,
    force: bool = False,
    mirror: str | None = None,
    progress: bool = False,
) -> Evaluation:
    """Evaluate a zoo model, baseline or bioimage.io package on an official split or a lab's own folder.

    Args:
        source: zoo id, baseline name, bioimage.io ``.zip`` / ``rdf.yaml`` path or URL, or a
            Python segmenter ``module:callable`` (:mod:`nucseg_zoo.segmenters.python_source`);
            zoo models run in fp32 (:data:`nucseg_zoo.precision.DEFAULT_PRECISION`).
        dataset, split: what to evaluate on: a dataset id and one of its splits (never
            re-made), or a :class:`~nucseg_zoo.datasets.DatasetSplit` such as
            :func:`nucseg_zoo.datasets.from_folder` returns (``split=None``), whose files are
            hashed for the cache key.
        limit: only the first ``limit`` images of the split (a quick look).
        device: "cpu", "cuda", "cuda:N" or "mps" (checked by :func:`nucseg_zoo.devices.check_device`).
        output_kind: output kind of a bioimage.io model's output (default: the one its rdf
            declares or its output tells apart, see
            :func:`nucseg_zoo.zoo.bioimageio_rdf.read_output_kind`); the choice and its reason
            are recorded.
        weight_format: weight format of a bioimage.io package (default: bioimageio.core's choice).
        sha256: expected sha256 of a package file or download.
        postprocessing: postprocessing parameters of a bioimage.io package to replace, e.g.
            ``{"prob_thresh": 0.6, "nms_thresh": 0.3}`` for a StarDist package (part of the
            cache key; the parameters used are recorded as ``postprocessing``).
        diameter: median nucleus diameter (px) of the split's images: each is rescaled to the
            nucleus size the model learned and its labels scored on the image's own grid
            (zoo models and baselines; :func:`nucseg_zoo.segmenters.open_segmenter`); part of
            the cache key, recorded as ``diameter``.
        force: recompute even if a cached result exists.
        mirror: dataset mirror (see :func:`nucseg_zoo.datasets.load`).
        progress: show a progress bar on stderr.

    Returns:
        An :class:`Evaluation` whose ``provenance`` holds ``source_kind``, ``source_name``,
        ``source_sha256``, ``source_details`` (Python segmenters), ``dataset_sha256``, ``limit``, ``output_kind``,
        ``output_kind_reason``, ``weight_format``, ``device``, ``inference_precision`` (zoo models:
        fp32, the package's precision), ``selection`` (only when a plane of multi-dimensional
        images was chosen, e.g. ``{"channel": 1}``), ``dataset_statistics`` (packages that normalise with
        dataset statistics: those of their fixed reference, the package's test input), ``environment``,
        ``evaluated_at`` and ``cache_key``; ``cached`` tells whether it came from the cache;
        ``labels_path`` is the stored predicted label images.

    Raises:
        ValueError: unknown source, invalid package (with the validator's reasons), a model
            that cannot take a single-channel 2-D image, an unknown dataset/split, a ``device``
            that is not a device name, or a ``diameter`` that cannot apply (see
            :func:`nucseg_zoo.segmenters.rescaled.check_rescalable`).
        nucseg_zoo.devices.DeviceUnavailableError: this machine cannot run on ``device``.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of images, got {limit}")
    device = check_device(device)
    model_source = resolve_source(source, sha256=sha256)
    if diameter is not None:
        diameter = check_rescalable(model_source, diameter)
    split_samples = resolve_samples(dataset, split, mirror=mirror)
    dataset, split = split_samples.dataset, split_samples.split
    dataset_sha256 = samples_fingerprint(split_samples, limit)
    key = cache_key(model_source, dataset_sha256=dataset_sha256, dataset=dataset, split=split, limit=limit,
                    output_kind=output_kind, weight_format=weight_format, device=device,
                    postprocessing=postprocessing, diameter=diameter)
    cached_path = results_cache_dir() / f"{key}.json"
    labels_path = results_cache_dir() / f"{key}.labels.npz"
    if cached_path.is_file() and labels_path.is_file() and not force:
        try:
            evaluation = Evaluation.from_dict(json.loads(cached_path.read_text()), cached=True)
        except (ValueError, KeyError, json.JSONDecodeError) as err:
            log.warning("ignoring unreadable cached result %s: %s", cached_path, err)
        else:
            if _current(evaluation):
                log.info("%s: cached result %s", source, cached_path)
                # the same content may have been evaluated under another name (a file, then its URL)
                return dataclasses.replace(evaluation, source=source, labels_path=labels_path, provenance={
                    **evaluation.provenance, "source_kind": model_source.kind, "source_name": model_source.name})
            log.info("%s: recomputing cached result %s (made with the split's own dataset statistics)", source,
                     cached_path)

    segmenter, kind = open_segmenter(model_source, device=device, output_kind=output_kind,
                                     weight_format=weight_format, postprocessing=postprocessing,
                                     diameter=diameter)
    samples = split_samples[:limit] if limit else split_samples
    labels_path.parent.mkdir(parents=True, exist_ok=True)
    with LabelStoreWriter(labels_path) as store:
        scores, seconds = score_segmenter(segmenter, samples, on_labels=store.write, size_bins=split_samples.size_bins,
                                          progress=f"{model_source.name} on {split_samples.label}" if progress else None)
    provenance = {
        "source_kind": model_source.kind,
        "source_name": model_source.name,
        "source_sha256": model_source.sha256,
        **({"source_details": model_source.details} if model_source.details else {}),
        "dataset_sha256": dataset_sha256,
        **_selection(samples),
        "limit": limit,
        "output_kind": kind.kind,
        "output_kind_reason": kind.reason,
        **({"postprocessing": segmenter.postprocessing.to_dict()} if model_source.kind == "bioimageio" else {}),
        "weight_format": weight_format,
        **({"diameter": diameter, "training_diameter": segmenter.model_diameter} if diameter is not None else {}),
        "device": device,
        "inference_precision": getattr(segmenter, "precision", None),
        "dataset_statistics": fitted_statistics(segmenter),
        "environment": environment(device),
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cache_key": key,
    }
    evaluation = Evaluation(source=source, dataset=dataset, split=split, scores=scores,
                            seconds_per_image=float(np.mean(seconds)), image_seconds=seconds,
                            provenance=provenance, labels_path=labels_path)
    write_text_atomically(cached_path, json.dumps(evaluation.to_dict(), indent=1) + "\n")
    return evaluation


def _current(evaluation: Evaluation) -> bool:
    """Whether a cached evaluation was made as this harness makes it: dataset statistics, where
    there are, from a fixed reference (earlier results fitted them over the split: no ``reference``)."""
    statistics = evaluation.provenance.get("dataset_statistics")
    return not statistics or "reference" in statistics


def _selection(samples) -> dict[str, Any]:
    """``{"selection": {...}}`` when the samples' images are read at a chosen plane (a list when
    they differ), else ``{}``."""
    chosen = {tuple(sorted(sample.selection.record().items())) for sample in samples}
    chosen.discard(())
    if not chosen:
        return {}
    return {"selection": dict(chosen.pop()) if len(chosen) == 1 else [dict(c) for c in sorted(chosen)]}

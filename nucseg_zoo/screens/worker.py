"""What every process of a batch run does with one image: read and hash it, skip it when an
earlier run did it, segment it with the process's own copy of the model, measure it and write
its files (the measurements last: they mark it done). A bad image is reported, never raised."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from nucseg_zoo._atomic import atomic_path
from nucseg_zoo.image_files import read_image
from nucseg_zoo.screens.inputs import ImageInput
from nucseg_zoo.screens.plan import image_outputs
from nucseg_zoo.screens.records import ImageResult, RunOptions
from nucseg_zoo.screens.resume import (
    LABEL_WRITER,
    earlier_record,
    image_record,
    measured,
    model_record,
    same_image,
    same_model,
)
from nucseg_zoo.screens.stops import OutputWriteError, writing
from nucseg_zoo.screens.tables import nuclei_schema, write_table

BAD_IMAGE_ERRORS = (ValueError, OSError, RuntimeError)
"""What a bad image or file raises; it is reported and the batch goes on. (An output that
cannot be written raises :class:`~nucseg_zoo.screens.stops.OutputWriteError`, none of these:
it stops the run.)"""

_SEGMENTERS: dict[tuple, Any] = {}
_MODEL_LOADS = [0]


def _open(options: RunOptions) -> Any:
    """A new segmenter for ``options``' model, device, precision and output kind."""
    from nucseg_zoo.segmenters import get_segmenter

    return get_segmenter(options.source, device=options.device, precision=options.precision,
                         output_kind=options.output_kind, diameter=options.diameter)


def segmenter(options: RunOptions) -> Any:
    """The run's segmenter, loaded once per process (each Dask worker loads its own copy) and,
    when its preprocessing needs them, with dataset statistics fitted over ``statistics_inputs``."""
    key = (options.source, options.model_sha256, options.device, options.precision, options.output_kind,
           options.diameter, options.statistics_inputs)
    if key not in _SEGMENTERS:
        from nucseg_zoo.segmenters.statistics import LazyImages, fit_dataset_statistics

        opened = _open(options)
        if options.statistics_inputs:
            images = LazyImages(options.statistics_inputs, lambda item: read_image(
                Path(item[0]), series=item[1], selection=options.selection))
            fit_dataset_statistics(opened, images, reference=options.statistics_reference)
        _SEGMENTERS.clear()
        _SEGMENTERS[key] = opened
        _MODEL_LOADS[0] += 1
    return _SEGMENTERS[key]


def model_loads() -> int:
    """How many times this process has loaded a model (:attr:`ImageResult.model_loads`)."""
    return _MODEL_LOADS[0]


def prepare(item: ImageInput, out: Path, options: RunOptions) -> tuple[ImageResult, np.ndarray | None]:
    """Read and hash one image and decide whether it needs work: ``(result, image)``, the image
    None when the result is final (skipped as done earlier). Raises for a bad image."""
    result = ImageResult(image=item.key, input=str(item.path), status="failed", series=item.series,
                         process=os.getpid())
    data = item.path.read_bytes()
    result.input_sha256 = hashlib.sha256(data).hexdigest()
    paths = image_outputs(out, item.key)
    record = None if options.overwrite else earlier_record(paths["labels"])
    if record is not None:
        if record.get("input_sha256") != result.input_sha256 or not same_model(record, options) \
                or not same_image(record, item, options):
            raise ValueError(f"{paths['labels']} holds the labels of other bytes (of {record.get('input')} by "
                             f"{record.get('model')}): the input changed since the earlier run, or they are "
                             "another image's; pass --overwrite to replace them")
        earlier = measured(paths["nuclei"], result.input_sha256, options)
        if earlier is not None:  # done in an earlier run (labels without measurements: interrupted, redone)
            import tifffile

            labels = tifffile.imread(paths["labels"])
            # the quality flags again, with this run's options (e.g. a new --saturation-value)
            image = read_image(item.path, data, series=item.series, selection=options.selection)
            result.status, result.n_nuclei, result.quality = "skipped", earlier["n_nuclei"], _quality(labels, image, options)
            if options.rois and not paths["rois"].is_file():  # ROIs asked for now, not in the earlier run
                from nucseg_zoo.screens.rois import write_imagej_rois

                with writing(paths["rois"]):
                    write_imagej_rois(labels, paths["rois"])
            return result, None
    return result, read_image(item.path, data, series=item.series, selection=options.selection)


def _quality(labels: np.ndarray, image: np.ndarray, options: RunOptions) -> dict[str, Any]:
    """The quality flags of one image (:func:`~nucseg_zoo.screens.measure.image_quality`) and its
    nuclei's size against the model's training data (:func:`~nucseg_zoo.screens.sizes.size_quality`)."""
    from nucseg_zoo.screens.measure import image_quality
    from nucseg_zoo.screens.sizes import size_quality

    values = {**image_quality(labels, image, saturation_value=options.saturation_value),
              **size_quality(labels, options.expected_diameter)}
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in values.items()}


def _write_outputs(item: ImageInput, result: ImageResult, image: np.ndarray, labels: np.ndarray, out: Path,
                   options: RunOptions) -> None:
    """Measure one segmented image and write its label file, ROIs and measurements (the last
    marks it done); fills ``result``.

    Raises:
        OutputWriteError: a file could not be written (named); this image's files written by
            this call are removed again, so that nothing of it looks done.
    """
    import tifffile

    from nucseg_zoo.screens.measure import measure

    labels = np.asarray(labels)
    labels = labels.astype(np.uint16 if labels.max(initial=0) <= np.iinfo(np.uint16).max else np.int32)
    nuclei = measure(labels, image, image_name=item.key)
    result.n_nuclei = len(nuclei)
    result.quality = _quality(labels, image, options)
    paths = image_outputs(out, item.key)
    record = {"written_by": LABEL_WRITER, "input": str(item.path.absolute()), "input_sha256": result.input_sha256,
              **model_record(options), **image_record(item, options)}
    written = []
    try:
        with writing(paths["labels"].parent):
            paths["labels"].parent.mkdir(parents=True, exist_ok=True)
        with writing(paths["labels"]), atomic_path(paths["labels"]) as tmp:
            tifffile.imwrite(tmp, labels, compression="zlib", description=json.dumps(record), metadata=None)
        written.append(paths["labels"])
        if options.rois or paths["rois"].is_file():  # an earlier run's ROIs are replaced with these labels' ROIs
            from nucseg_zoo.screens.rois import write_imagej_rois

            with writing(paths["rois"]):
                write_imagej_rois(labels, paths["rois"], overwrite=True)
            written.append(paths["rois"])
        write_table(nuclei, paths["nuclei"], {"input_sha256": result.input_sha256, **model_record(options),
                                              "n_nuclei": result.n_nuclei, "quality": result.quality},
                    schema=nuclei_schema())
    except OutputWriteError:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    result.status = "segmented"


def failed(item: ImageInput, err: BaseException, failed_while: str) -> ImageResult:
    """The result of an image that failed while ``"reading"`` or ``"segmenting"`` (see :class:`ImageResult`)."""
    from nucseg_zoo.segmenters import SegmenterError

    # a segmenter's error names its own type ("mylab:segment raised ValueError: ..."), as `evaluate` prints it
    reason = str(err) if isinstance(err, SegmenterError) else f"{type(err).__name__}: {err}"
    return ImageResult(image=item.key, input=str(item.path), status="failed", series=item.series, reason=reason,
                       failed_while=failed_while, process=os.getpid())


def process_image(item: ImageInput, out: Path, options: RunOptions) -> ImageResult:
    """Segment, measure and write the outputs of one image; never raises for a bad image.

    Returns:
        Its :class:`ImageResult`: "segmented", "skipped" (the outputs of an earlier run of the
        same input bytes and model exist) or "failed" with the reason.

    Raises:
        OutputWriteError: an output could not be written (nothing of this image is left).
    """
    started = time.perf_counter()
    try:
        result, image = prepare(item, out, options)
    except BAD_IMAGE_ERRORS as err:  # a bad file: report, skip, go on
        result, image = failed(item, err, "reading"), None
    if image is not None:
        try:
            labels = segmenter(options).segment(image)
            result.model_loads = model_loads()
            _write_outputs(item, result, image, labels, out, options)
        except BAD_IMAGE_ERRORS as err:  # the model or measuring failed on it: report, go on
            result = failed(item, err, "segmenting")
    result.seconds = time.perf_counter() - started
    return result


def finish_image(item: ImageInput, result: ImageResult, image: np.ndarray, probabilities: np.ndarray,
                 to_labels: Callable[[np.ndarray], np.ndarray], out: Path, options: RunOptions) -> ImageResult:
    """The CPU half of a batched run: labels from the network's output (``to_labels``, the
    model's own postprocessing), measurements and files; never raises for a bad image
    (:class:`~nucseg_zoo.screens.stops.OutputWriteError` for a failed write)."""
    started = time.perf_counter()
    try:
        _write_outputs(item, result, image, to_labels(probabilities), out, options)
    except BAD_IMAGE_ERRORS as err:
        result = failed(item, err, "segmenting")
    result.seconds = (result.seconds or 0.0) + time.perf_counter() - started
    result.process = os.getpid()
    return result

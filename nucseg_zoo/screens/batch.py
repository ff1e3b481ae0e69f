"""Batch runs over whole screens: segment, measure and summarise many images, in one process
or on a Dask cluster.

Layout of ``out`` (``key`` = the image's path below the inputs' common folder, without suffix;
see :mod:`nucseg_zoo.screens.inputs`)::

    <key>.tif              instance labels (uint16/int32, zlib), the TIFF description records
                           the input path, its sha256 and the model (:mod:`~nucseg_zoo.screens.resume`)
    <key>.nuclei.parquet   that image's per-nucleus measurements (the resume unit)
    <key>.rois.zip         ImageJ ROIs, one polygon per nucleus (``rois=True``)
    nuclei.parquet         every image's nuclei, in input order (``nuclei.csv`` with ``csv=True``)
    images.parquet         one row per image: status ("ok" or "failed" with the reason), nucleus
                           count, quality flags, median nucleus diameter and whether it is far
                           from the model's training size (size_off_training, see
                           :mod:`~nucseg_zoo.screens.sizes`), DNA content (the same after a
                           resumed run)
    dna_content.png        DNA-content histograms (integrated intensity, G1 peak = 2N)
    manifest.json          model, its sha256 and details, versions, parameters, per-image status,
                           "complete" (false for a run that was interrupted or ran out of disk)

Every file is written atomically. An image whose label file and measurements come from
the same input bytes and model is skipped (resume), wherever the input file lies now; an
unreadable, corrupt or wrong-shaped image is reported, skipped and listed, and never stops the
batch. Only when the model fails on each of the first :data:`ABORT_AFTER` images it runs on
(images that could not be read, and images skipped as done earlier, do not count), which is
a broken model or environment, not bad images, does the run stop (:class:`RunAborted`)
instead of failing the whole screen image by image; it then writes no tables
(``abort_after=None`` / ``--keep-going`` to go on). An output that cannot be written (a full
disk, a quota) stops the run at once, naming the file, and so does an interrupt (Ctrl-C); both
write the finished images' tables and a manifest with ``"complete": false``
(:class:`~nucseg_zoo.screens.stops.RunStopped`), and leave no file of an unfinished image
(writes are atomic, and the label file of an image whose measurements could not be written is
removed): the same command resumes. A run that stops or cannot start removes
the ``out`` folder (and its parents) it created while they are still empty. Images are
streamed: memory does not grow with their number (the per-image tables hold one row per
image and the DNA-content readout one number per nucleus).

This module runs the parts in order; each is its own module: :mod:`~nucseg_zoo.screens.inputs`
(which images, their keys), :mod:`~nucseg_zoo.screens.plan` (where each output goes, the checks
before any work), :mod:`~nucseg_zoo.screens.resume` (which outputs are this input's and model's),
:mod:`~nucseg_zoo.screens.worker` (one image, the per-process model),
:mod:`~nucseg_zoo.screens.executors` (this process, a Dask cluster, batches on a GPU) and
:mod:`~nucseg_zoo.screens.tables` (the tables and the manifest).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from nucseg_zoo._text import count
from nucseg_zoo.image_files import Selection, SelectionError, check_plane
from nucseg_zoo.precision import DEFAULT_PRECISION
from nucseg_zoo.screens import worker
from nucseg_zoo.screens.executors import dask_client, run_images
from nucseg_zoo.screens.inputs import ImageInput, find_inputs
from nucseg_zoo.screens.plan import PlanError, check_plan, removed_if_left_empty
from nucseg_zoo.screens.records import STATISTICS_NOT_YET, ImageResult, RunOptions
from nucseg_zoo.screens.stops import OutputWriteError, RunStopped
from nucseg_zoo.screens.tables import write_manifest, write_run_tables
from nucseg_zoo.segmenters.protocols import BatchedModel
from nucseg_zoo.segmenters.rescaled import check_rescalable, training_diameter
from nucseg_zoo.segmenters.statistics import needs_dataset_statistics, statistics_digest

if TYPE_CHECKING:
    from nucseg_zoo.segmenters import ModelSource

DEFAULT_GPU_BATCH = 8
"""Images per network batch on CUDA (batched pipeline, see :func:`segment_images`)."""

ABORT_AFTER = 5
"""A run stops when the model failed on each of the first this many images (in input order) it
ran on; see :class:`RunAborted`."""


class RunAborted(RuntimeError):
    """The model failed on each of the first :data:`ABORT_AFTER` images it ran on, and more
    images were left: the run stopped without writing its tables. The message names the
    first failed image and its reason, and ``abort_after=None`` as the way to try every image
    (:meth:`explain` words it for another interface, e.g. ``--keep-going``). Images done by
    then keep their outputs (a rerun skips them).

    Attributes:
        first: the first image the model failed on.
        n_failed: how many images the model failed on (the ``abort_after`` of the run).
        n_left: images not yet tried when the run stopped.
    """

    def __init__(self, first: ImageResult, n_failed: int, n_left: int) -> None:
        self.first, self.n_failed, self.n_left = first, n_failed, n_left
        super().__init__(self.explain("abort_after=None"))

    def explain(self, go_on: str) -> str:
        """The message, naming ``go_on`` (e.g. ``"--keep-going"``) as the way to try every image."""
        which = "the first image" if self.n_failed == 1 else f"each of the first {self.n_failed} images"
        return (f"the model failed on {which} it ran on (a broken model or environment?), so the run stopped "
                f"before the other {count(self.n_left, 'image')} without writing tables; the first: "
                f"{self.first.input}: {self.first.reason}; fix it and rerun, or pass {go_on} to try every image")



@dataclass
class RunSummary:
    """The outcome of :func:`segment_images`."""

    out: Path
    results: list[ImageResult]
    files: list[Path]

    @property
    def failed(self) -> list[ImageResult]:
        """Images that could not be processed (with the reason)."""
        return [r for r in self.results if r.status == "failed"]

    def counts(self) -> dict[str, int]:
        """Number of images by status."""
        return {status: sum(r.status == status for r in self.results) for status in ("segmented", "skipped", "failed")}


def segment_images(
    inputs: Sequence[str | os.PathLike],
    *,
    model: str,
    out: str | os.PathLike,
    device: str = "cpu",
    precision: str = DEFAULT_PRECISION,
    output_kind: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    rois: bool = False,
    csv: bool = False,
    overwrite: bool = False,
    saturation_value: float | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    on_image: Callable[[ImageResult], None] | None = None,
    abort_after: int | None = ABORT_AFTER,
    channel: int | None = None,
    plane: int | None = None,
    time: int | None = None,
    statistics_from: Sequence[str | os.PathLike] | str | os.PathLike | None = None,
    diameter: float | None = None,
) -> RunSummary:
    """Segment and measure every image of ``inputs`` into ``out`` (layout: module docstring).

    Args:
        inputs: image files, folders (searched recursively) and glob patterns (TIFF, also
            OME-TIFF / ImageJ hyperstacks, PNG). Each field of a TIFF of several is an image of
            its own, keyed ``<stem>_s<series>``; previews are skipped
            (:mod:`~nucseg_zoo.image_files`).
        model: zoo id, baseline, bioimage.io package path or URL, or a Python segmenter
            ``module:callable``.
        out: output folder (created).
        device: "cpu" or "cuda".
        precision: of a zoo model's network: "fp32" (default,
            :data:`nucseg_zoo.precision.DEFAULT_PRECISION`: the leaderboard's and the packages'
            precision), "bf16" (faster on CPUs with AVX-512 bf16 or AMX, and on CUDA) or "fp16".
        output_kind: of a bioimage.io package: the output kind to read its output as
            (:func:`nucseg_zoo.postprocessing.list_output_kinds`; default: the one its rdf
            declares or its output tells apart, else the package is refused).
        workers: run on a new Dask ``LocalCluster`` with this many single-threaded worker
            processes; each loads the model once.
        scheduler: address of a running ``dask.distributed`` scheduler to use instead.
        rois: also write an ImageJ ROI zip per image.
        csv: also write the tables as CSV.
        overwrite: redo images whose outputs exist from an earlier run (default: skip them).
        saturation_value: pixel value of saturation for the quality flag (default: the
            dtype's maximum; 4095 for 12-bit data in uint16 files such as BBBC039).
        batch_size: run the network on this many images at a time in this process (zoo
            models), while the workers (``workers`` / ``scheduler``, or this process) do the
            postprocessing, measurements and writing. Default: :data:`DEFAULT_GPU_BATCH` on
            CUDA, else image by image in the workers.
        progress: show a progress bar.
        on_image: called with each image's result, in input order.
        abort_after: stop (:class:`RunAborted`) when the model failed on each of the first
            this many images it ran on and more images are left (images that could not be
            read, or were skipped as done earlier, do not count); None: try every image.
        channel, plane, time: which channel (axis C, or S of RGB), z-plane (Z, or the pages of
            an unlabelled stack) and time point (T) of each image to segment, 0-based; an
            image with such an axis of several entries and no choice for it fails, naming its
            axes. Recorded in the manifest and with every output.
        statistics_from: for a bioimage.io package whose preprocessing uses dataset statistics
            (e.g. ``scale_range`` over the batch axis): the reference images (files, folders,
            patterns, read with the same channel / plane / time) whose statistics every image
            is preprocessed with. Default: the package's own test input. Never the images being
            segmented, so an image's labels do not depend on which others run with it; the
            statistics are recorded in the manifest, and outputs made with other statistics
            are not this run's (resume). Refused for a model that uses no dataset statistics.
        diameter: median nucleus diameter (px) of the images: each is rescaled to the nucleus
            size the model learned, segmented, and its labels written on its own grid (zoo
            models and baselines; :mod:`nucseg_zoo.rescaling`); the size flag then expects
            nuclei of this size. Recorded with every output: outputs made at another scale are
            not this run's. None (default): the images' own scale.

    Returns:
        A :class:`RunSummary`; ``failed`` lists the images that could not be processed.

    Raises:
        PlanError: the run cannot start (see :class:`~nucseg_zoo.screens.plan.PlanError`); nothing has been written.
        RunAborted: the model failed on its first ``abort_after`` images; no tables were written.
        RunStopped: interrupted (Ctrl-C: ``KeyboardInterrupt``), or an output could not be
            written (a full disk; named, see :class:`~nucseg_zoo.screens.stops.OutputWriteError`):
            the finished images' tables and manifest (``"complete": false``) are written where
            the disk allows, nothing of an unfinished image is left, and the same call resumes.
        FileNotFoundError, ValueError: an input spec (or a ``statistics_from`` spec) names no
            image; ``statistics_from`` for a model without dataset statistics; a ``diameter``
            outside 4-400 px or for a source whose training nucleus size is unknown.

    Whatever it raises, an ``out`` folder (and parents) that this call created is removed
    again while it is empty.
    """
    from nucseg_zoo.segmenters import resolve_source

    if workers is not None and scheduler is not None:
        raise ValueError("pass either workers (a new LocalCluster) or scheduler (a running cluster), not both")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if abort_after is not None and abort_after < 1:
        raise ValueError(f"abort_after must be at least 1 (or None: never), got {abort_after}")
    if saturation_value is not None and not saturation_value > 0:
        raise ValueError(f"saturation_value must be a positive pixel value (e.g. 4095 for 12-bit data), "
                         f"got {saturation_value}")
    out = Path(out)
    items = find_inputs(inputs, exclude=out)
    source = resolve_source(model)  # an unknown model is an error before anything is written
    if diameter is not None:
        diameter = check_rescalable(source, diameter)
    options = RunOptions(source=model, model_sha256=source.sha256, device=device, precision=precision,
                         output_kind=output_kind, rois=rois,
                         overwrite=overwrite, saturation_value=saturation_value,
                         selection=Selection(channel=channel, plane=plane, time=time), diameter=diameter,
                         training_diameter=training_diameter(source))
    references = None
    if statistics_from is not None:
        reference_specs = [statistics_from] if isinstance(statistics_from, (str, os.PathLike)) else list(statistics_from)
        try:
            references = (reference_specs, find_inputs(reference_specs))
        except (FileNotFoundError, ValueError) as err:
            raise type(err)(f"statistics_from (--statistics-from): {err}") from None
    with removed_if_left_empty(out):
        return _run(items, out, options, source, references, workers=workers, scheduler=scheduler, csv=csv,
                    batch_size=batch_size, progress=progress, on_image=on_image, abort_after=abort_after)



def _run(items: list[ImageInput], out: Path, options: RunOptions, source: ModelSource,
         references: tuple[list, list[ImageInput]] | None, *, workers: int | None, scheduler: str | None, csv: bool,
         batch_size: int | None, progress: bool, on_image: Callable[[ImageResult], None] | None,
         abort_after: int | None) -> RunSummary:
    """:func:`segment_images` once its arguments are checked: statistics, plan, run, tables, manifest."""
    # the plan first (before the model loads), the dataset statistics' identity once they are known
    check_plan(items, out, replace(options, statistics_sha256=STATISTICS_NOT_YET))
    _check_selection(items, options)
    segmenter = worker.segmenter(options)
    statistics = None
    if needs_dataset_statistics(segmenter):
        # a fixed reference's (the package's test input, or the images given), never the inputs',
        # so that no image's labels depend on the others; part of the outputs' identity
        if references is not None:
            reference_specs, reference_images = references
            options = replace(options, statistics_inputs=tuple((str(i.path), i.series) for i in reference_images),
                              statistics_reference=", ".join(str(spec) for spec in reference_specs))
        statistics = worker.segmenter(options).dataset_statistics
        options = replace(options, statistics_sha256=statistics_digest(statistics))
        check_plan(items, out, options)
    elif references is not None:
        raise ValueError(f"statistics_from (--statistics-from) sets the dataset statistics of a bioimage.io "
                         f"package whose preprocessing uses them; {options.source} uses none")
    started = datetime.now(timezone.utc)
    if batch_size is None and str(options.device).startswith("cuda"):
        batch_size = DEFAULT_GPU_BATCH
    batched = batch_size is not None and isinstance(segmenter, BatchedModel)
    results: list[ImageResult] = []
    stop: KeyboardInterrupt | OutputWriteError | None = None
    try:
        with dask_client(workers=workers, scheduler=scheduler) as client:
            stream = run_images(items, out, options, client=client, batch_size=batch_size if batched else None,
                                progress=progress)
            _collect(stream, results, on_image, abort_after=abort_after, total=len(items))
    except (KeyboardInterrupt, OutputWriteError) as err:  # the finished part's tables are still written
        stop = err
    if stop is not None and not results:
        raise RunStopped(out, 0, len(items), write_error=_write_error(stop), tables_written=False) from stop
    csv = csv or (out / "nuclei.csv").is_file()  # an earlier run's CSVs are kept current, never left stale
    parameters = {"device": options.device, "precision": getattr(segmenter, "precision", None),
                  "output_kind": options.output_kind,
                  "workers": workers, "scheduler": scheduler, "rois": options.rois, "csv": csv,
                  "overwrite": options.overwrite, "saturation_value": options.saturation_value,
                  "batch_size": batch_size if batched else None,
                  "selection": options.selection.record(), "diameter": options.diameter,
                  "training_diameter": options.training_diameter, "expected_diameter": options.expected_diameter,
                  "dataset_statistics": statistics}
    stopped = None if stop is None else "interrupted" if isinstance(stop, KeyboardInterrupt) else str(stop)
    try:
        files = write_run_tables(results, out, csv=csv)
        files.append(write_manifest(out, options=options, source=source, parameters=parameters, started=started,
                                    results=results, n_inputs=len(items), stopped=stopped))
    except OutputWriteError as err:  # the stop's own reason first (an interrupt, the image's failed write)
        write_error = err if stop is None else _write_error(stop)
        raise RunStopped(out, len(results), len(items), write_error=write_error, tables_written=False) from err
    if stop is not None:
        raise RunStopped(out, len(results), len(items), write_error=_write_error(stop)) from stop
    return RunSummary(out=out, results=results, files=files)


def _check_selection(items: list[ImageInput], options: RunOptions) -> None:
    """Refuse a run whose channel / plane / time choice fits none of its first
    :data:`ABORT_AFTER` images (a typo would otherwise fail every image of a screen, one by
    one), from the files' headers; the first image's message says why.

    Raises:
        PlanError: the choice fits none of them.
    """
    if not options.selection.record():
        return
    first = None
    for item in items[:ABORT_AFTER]:
        try:
            check_plane(item.path, options.selection)
            return
        except SelectionError as err:
            first = first or err
        except (ValueError, OSError):  # unreadable: reported with the image, as without a choice
            return
    shown = min(len(items), ABORT_AFTER)
    where = "the first image" if shown == 1 else f"any of the first {shown} images"
    raise PlanError(f"the choice {', '.join(f'--{r} {i}' for r, i in options.selection.record().items())} does "
                    f"not fit {where}: {first}")


def _write_error(stop: BaseException) -> OutputWriteError | None:
    return stop if isinstance(stop, OutputWriteError) else None


def _collect(stream: Iterator[ImageResult], results: list[ImageResult],
             on_image: Callable[[ImageResult], None] | None, *, abort_after: int | None, total: int) -> None:
    """Append the results to ``results`` in input order (so that they are there when the run is
    interrupted); RunAborted when the model failed on each of the first ``abort_after`` images
    it ran on (failures while reading and skipped images do not count) and images are left."""
    first_failure, n_failed, model_worked = None, 0, False
    for result in stream:
        results.append(result)
        if on_image is not None:
            on_image(result)
        model_worked = model_worked or result.status == "segmented"
        if result.failed_while == "segmenting":
            first_failure, n_failed = first_failure or result, n_failed + 1
            if abort_after is not None and not model_worked and n_failed == abort_after and len(results) < total:
                raise RunAborted(first_failure, n_failed=n_failed, n_left=total - len(results))

"""Batch runs over whole screens: segment, measure and summarise many images, in one process
or on a Dask cluster.

Layout of ``out`` (``key`` = the image's path below the inputs' common folder, without suffix;
see :mod:`nucseg_zoo.screens.inputs`)::

    <key>.tif              instance labels (uint16/int32, zlib), the TIFF description records
                           the input path, its sha256 and the model (see ``LABEL_WRITER``)
    <key>.nuclei.parquet   that image's per-nucleus measurements (the resume unit)
    <key>.rois.zip         ImageJ ROIs, one polygon per nucleus (``rois=True``)
    nuclei.parquet         every image's nuclei, in input order (``nuclei.csv`` with ``csv=True``)
    images.parquet         one row per image: status ("ok" or "failed" with the reason), nucleus
                           count, quality flags, DNA content (the same after a resumed run)
    dna_content.png        DNA-content histograms (integrated intensity, G1 peak = 2N)
    manifest.json          model, its sha256 and details, versions, parameters, per-image status

Every file is written atomically. An image whose label file and measurements come from
the same input bytes and model is skipped (resume), wherever the input file lies now; an
unreadable, corrupt or wrong-shaped image is reported, skipped and listed, and never stops the
batch. Only when the model fails on each of the first :data:`ABORT_AFTER` images it runs on
(images that could not be read, and images skipped as done earlier, do not count), which is
a broken model or environment, not bad images, does the run stop (:class:`RunAborted`)
instead of failing the whole screen image by image; it then writes no tables
(``abort_after=None`` / ``--keep-going`` to go on). A run that stops or cannot start removes
the ``out`` folder (and its parents) it created while they are still empty. Images are
streamed: memory does not grow with their number (the per-image tables hold one row per
image and the DNA-content readout one number per nucleus).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from nucseg_zoo._atomic import atomic_path, write_text_atomically
from nucseg_zoo._text import count
from nucseg_zoo.precision import DEFAULT_PRECISION
from nucseg_zoo.screens._logging import quiet
from nucseg_zoo.screens.inputs import ImageInput, find_inputs, read_image
from nucseg_zoo.segmenters.protocols import BatchedModel
from nucseg_zoo.segmenters.statistics import needs_dataset_statistics

if TYPE_CHECKING:
    from nucseg_zoo.segmenters import ModelSource

LABEL_WRITER = "nucseg-zoo segment"
"""``written_by`` of the label files' description: only files with it are ever replaced."""

DEFAULT_GPU_BATCH = 8
"""Images per network batch on CUDA (batched pipeline, see :func:`segment_images`)."""

ABORT_AFTER = 5
"""A run stops when the model failed on each of the first this many images (in input order) it
ran on; see :class:`RunAborted`."""

TABLES = ("nuclei.parquet", "images.parquet", "nuclei.csv", "images.csv", "manifest.json", "dna_content.png")
"""Run-level files in ``out``."""


@dataclass(frozen=True)
class RunOptions:
    """What a batch run does besides segmenting (also recorded in the manifest)."""

    source: str
    model_sha256: str | None = None
    """Identity of what ``source`` resolved to (:attr:`ModelSource.sha256`: a zoo model's weights,
    a package's file, a Python segmenter's code and configuration); an earlier run's outputs
    are its own when this matches, however the model was spelled."""
    device: str = "cpu"
    precision: str = DEFAULT_PRECISION
    """Of a zoo model's network (:data:`nucseg_zoo.precision.DEFAULT_PRECISION`)."""
    rois: bool = False
    overwrite: bool = False
    saturation_value: float | None = None
    """Pixel value of saturation for the quality flag (default: the image dtype's maximum;
    e.g. 4095 for 12-bit data stored as uint16)."""
    statistics_inputs: tuple[str, ...] = ()
    """For models whose preprocessing uses dataset statistics: the images they are fitted over
    (every readable input), by each process that loads the model, before its first image."""


@dataclass
class ImageResult:
    """What happened to one image (a row of ``images.parquet`` and of the manifest)."""

    image: str
    input: str
    status: str  # "segmented", "skipped" (earlier run) or "failed"
    reason: str | None = None
    failed_while: str | None = None
    """Of a failed image: "reading" (its file could not be read or failed the image checks, or
    an earlier output was in the way) or "segmenting" (the model, measuring its labels or
    writing them failed). Only "segmenting" failures count towards :data:`ABORT_AFTER`."""
    input_sha256: str | None = None
    n_nuclei: int | None = None
    quality: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    process: int | None = None
    """Process id that handled the image."""
    model_loads: int | None = None
    """How many times that process had loaded the model by then (1: once per process)."""


class PlanError(ValueError):
    """The run cannot start (an output would replace an input or a file this tool did not
    write, two inputs would share outputs, the output folder is not writable)."""


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


# ---------------------------------------------------------------- one image


def _earlier_record(target: Path) -> dict | None:
    """What a label file written by this tool records, or None when it is not one of ours."""
    import tifffile

    try:
        with tifffile.TiffFile(target) as tif:
            record = json.loads(tif.pages[0].description)
    except Exception:  # not a TIFF, no or foreign description: not ours
        return None
    return record if isinstance(record, dict) and record.get("written_by") == LABEL_WRITER else None


def _outputs(out: Path, key: str) -> dict[str, Path]:
    """The per-image files of image ``key`` (the ROI zip exists only when asked for)."""
    return {"labels": out / f"{key}.tif", "nuclei": out / f"{key}.nuclei.parquet", "rois": out / f"{key}.rois.zip"}


def _measured(nuclei: Path, input_sha256: str, options: RunOptions) -> dict | None:
    """The per-image row stored with the measurements of an earlier run of this input and model,
    or None when they are missing, unreadable or of something else."""
    import pyarrow.parquet as pq

    if not nuclei.is_file():
        return None
    try:
        metadata = pq.read_schema(nuclei).metadata or {}
        row = json.loads(metadata[b"nucseg_zoo"])
    except Exception:  # unreadable or foreign measurements: redo them
        return None
    return row if row.get("input_sha256") == input_sha256 and _same_model(row, options) else None


def _same_model(record: dict, options: RunOptions) -> bool:
    """Whether outputs recorded with ``record`` come from this run's model: the same identity
    (sha256) where both have one, else (outputs of versions that recorded none) the same spelling."""
    if record.get("model_sha256") and options.model_sha256:
        return record["model_sha256"] == options.model_sha256
    return record.get("model") == options.source


def _other_model(record: dict, options: RunOptions) -> str:
    """How the model of an earlier output differs from this run's, for messages."""
    if record.get("model") == options.source:
        return (f"by {options.source} as it was then (model sha256 {str(record.get('model_sha256'))[:12]}…, now "
                f"{str(options.model_sha256)[:12]}…: other weights or settings)")
    return f"by {record.get('model')}"


_SEGMENTERS: dict[tuple, Any] = {}
_MODEL_LOADS = [0]


def _segmenter(options: RunOptions):
    """The run's segmenter, loaded once per process (each Dask worker loads its own copy) and,
    when its preprocessing needs them, with dataset statistics fitted over ``statistics_inputs``."""
    key = (options.source, options.model_sha256, options.device, options.precision, options.statistics_inputs)
    if key not in _SEGMENTERS:
        from nucseg_zoo.segmenters import get_segmenter
        from nucseg_zoo.segmenters.statistics import LazyImages, fit_dataset_statistics

        segmenter = get_segmenter(options.source, device=options.device, precision=options.precision)
        if options.statistics_inputs:
            fit_dataset_statistics(segmenter, LazyImages([Path(p) for p in options.statistics_inputs], read_image))
        _SEGMENTERS.clear()
        _SEGMENTERS[key] = segmenter
        _MODEL_LOADS[0] += 1
    return _SEGMENTERS[key]


def nuclei_schema():
    """The Parquet schema of the per-nucleus tables (:data:`~nucseg_zoo.screens.measure.MEASURE_COLUMNS`;
    ``image`` is a string even in a table without rows, so that every part has one schema)."""
    import pyarrow as pa

    from nucseg_zoo.screens.measure import MEASURE_COLUMNS

    arrow = {"object": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}
    return pa.schema([(name, arrow[dtype]) for name, dtype in MEASURE_COLUMNS.items()])


def _write_table(frame, path: Path, metadata: dict[str, Any], schema=None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"nucseg_zoo": json.dumps(metadata, sort_keys=True).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def _prepare(item: ImageInput, out: Path, options: RunOptions) -> tuple[ImageResult, np.ndarray | None]:
    """Read and hash one image and decide whether it needs work: ``(result, image)``, the image
    None when the result is final (skipped as done earlier). Raises for a bad image."""
    result = ImageResult(image=item.key, input=str(item.path), status="failed", process=os.getpid())
    data = item.path.read_bytes()
    result.input_sha256 = hashlib.sha256(data).hexdigest()
    paths = _outputs(out, item.key)
    record = None if options.overwrite else _earlier_record(paths["labels"])
    if record is not None:
        if record.get("input_sha256") != result.input_sha256 or not _same_model(record, options):
            raise ValueError(f"{paths['labels']} holds the labels of other bytes (of {record.get('input')} by "
                             f"{record.get('model')}): the input changed since the earlier run, or they are "
                             "another image's; pass --overwrite to replace them")
        earlier = _measured(paths["nuclei"], result.input_sha256, options)
        if earlier is not None:  # done in an earlier run (labels without measurements: interrupted, redone)
            import tifffile

            from nucseg_zoo.screens.measure import image_quality

            labels = tifffile.imread(paths["labels"])
            # the quality flags again, with this run's options (e.g. a new --saturation-value)
            quality = image_quality(labels, read_image(item.path, data), saturation_value=options.saturation_value)
            result.status, result.n_nuclei, result.quality = "skipped", earlier["n_nuclei"], _plain(quality)
            if options.rois and not paths["rois"].is_file():  # ROIs asked for now, not in the earlier run
                from nucseg_zoo.screens.rois import write_imagej_rois

                write_imagej_rois(labels, paths["rois"])
            return result, None
    return result, read_image(item.path, data)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in values.items()}


def _write_outputs(item: ImageInput, result: ImageResult, image: np.ndarray, labels: np.ndarray, out: Path,
                   options: RunOptions) -> None:
    """Measure one segmented image and write its label file, ROIs and measurements (the last
    marks it done); fills ``result``."""
    import tifffile

    from nucseg_zoo.screens.measure import image_quality, measure

    labels = np.asarray(labels)
    labels = labels.astype(np.uint16 if labels.max(initial=0) <= np.iinfo(np.uint16).max else np.int32)
    nuclei = measure(labels, image, image_name=item.key)
    result.n_nuclei = len(nuclei)
    result.quality = _plain(image_quality(labels, image, saturation_value=options.saturation_value))
    paths = _outputs(out, item.key)
    paths["labels"].parent.mkdir(parents=True, exist_ok=True)
    record = {"written_by": LABEL_WRITER, "input": str(item.path.absolute()), "input_sha256": result.input_sha256,
              "model": options.source, "model_sha256": options.model_sha256}
    with atomic_path(paths["labels"]) as tmp:
        tifffile.imwrite(tmp, labels, compression="zlib", description=json.dumps(record), metadata=None)
    if options.rois or paths["rois"].is_file():  # an earlier run's ROIs are replaced with these labels' ROIs
        from nucseg_zoo.screens.rois import write_imagej_rois

        write_imagej_rois(labels, paths["rois"], overwrite=True)
    _write_table(nuclei, paths["nuclei"], {"input_sha256": result.input_sha256, "model": options.source,
                                           "model_sha256": options.model_sha256,
                                           "n_nuclei": result.n_nuclei, "quality": result.quality},
                 schema=nuclei_schema())
    result.status = "segmented"


_BAD_IMAGE_ERRORS = (ValueError, OSError, RuntimeError)
"""What a bad image or file raises; it is reported and the batch goes on."""


def _failed(item: ImageInput, err: BaseException, failed_while: str) -> ImageResult:
    """The result of an image that failed while ``"reading"`` or ``"segmenting"`` (see :class:`ImageResult`)."""
    from nucseg_zoo.segmenters import SegmenterError

    # a segmenter's error names its own type ("mylab:segment raised ValueError: ..."), as `evaluate` prints it
    reason = str(err) if isinstance(err, SegmenterError) else f"{type(err).__name__}: {err}"
    return ImageResult(image=item.key, input=str(item.path), status="failed", reason=reason,
                       failed_while=failed_while, process=os.getpid())


def process_image(item: ImageInput, out: Path, options: RunOptions) -> ImageResult:
    """Segment, measure and write the outputs of one image; never raises for a bad image.

    Returns:
        Its :class:`ImageResult`: "segmented", "skipped" (the outputs of an earlier run of the
        same input bytes and model exist) or "failed" with the reason.
    """
    started = time.perf_counter()
    try:
        result, image = _prepare(item, out, options)
    except _BAD_IMAGE_ERRORS as err:  # a bad file: report, skip, go on
        result, image = _failed(item, err, "reading"), None
    if image is not None:
        try:
            labels = _segmenter(options).segment(image)
            result.model_loads = _MODEL_LOADS[0]
            _write_outputs(item, result, image, labels, out, options)
        except _BAD_IMAGE_ERRORS as err:  # the model failed on it (or writing did): report, go on
            result = _failed(item, err, "segmenting")
    result.seconds = time.perf_counter() - started
    return result


def finish_image(item: ImageInput, result: ImageResult, image: np.ndarray, probabilities: np.ndarray,
                 to_labels: Callable[[np.ndarray], np.ndarray], out: Path, options: RunOptions) -> ImageResult:
    """The CPU half of a batched run: labels from the network's output (``to_labels``, the
    model's own postprocessing), measurements and files; never raises for a bad image."""
    started = time.perf_counter()
    try:
        _write_outputs(item, result, image, to_labels(probabilities), out, options)
    except _BAD_IMAGE_ERRORS as err:
        result = _failed(item, err, "segmenting")
    result.seconds = (result.seconds or 0.0) + time.perf_counter() - started
    result.process = os.getpid()
    return result


# ---------------------------------------------------------------- planning


def _check_plan(inputs: list[ImageInput], out: Path, options: RunOptions) -> None:
    """Refuse, before any work, outputs that would replace inputs or files this tool did not
    write, earlier labels of another model or (without ``overwrite``) of other input bytes,
    and an output folder that cannot be written (created here)."""
    real_inputs = {item.path.resolve() for item in inputs}
    input_files = {(stat.st_dev, stat.st_ino) for stat in (item.path.stat() for item in inputs)}  # hard links too
    for item in inputs:
        paths = _outputs(out, item.key)
        for path in paths.values():
            if path.resolve() in real_inputs or (path.exists() and (path.stat().st_dev, path.stat().st_ino) in input_files):
                raise PlanError(f"the outputs of {item.path} would be written to {path}, which is an input "
                                "image; choose another --out folder (inputs are never overwritten)")
        labels = paths["labels"]
        if labels.exists():
            record = _earlier_record(labels)
            if record is None:
                raise PlanError(f"{labels} exists and was not written by `nucseg-zoo segment` (a raw image?); it "
                                "is never replaced, even with --overwrite: choose another --out folder")
            if not options.overwrite and not _same_model(record, options):
                raise PlanError(f"{labels} holds the labels of {record.get('input')} {_other_model(record, options)} "
                                f"from an earlier run, not by {options.source}; pass --overwrite to replace it, "
                                "or choose another --out")
            if not options.overwrite and _of_other_bytes(record, item.path):
                raise PlanError(f"{labels} holds the labels of {record.get('input')} from an earlier run, whose "
                                f"bytes differ from {item.path}'s (another image); pass --overwrite to replace it, "
                                "or choose another --out")
    for name in TABLES:
        path = out / name
        if path.exists() and not _written_by_us(out / "manifest.json"):
            raise PlanError(f"{path} exists and was not written by `nucseg-zoo segment` (no manifest of ours "
                            "beside it); it is never replaced: choose another --out folder")
    try:
        _check_writable(out)
    except OSError as err:
        raise PlanError(f"cannot write into --out folder {out}: {err}") from err


def _of_other_bytes(record: dict, path: Path) -> bool:
    """Whether label ``record`` was made from other bytes than ``path`` holds, as far as the plan
    can tell cheaply: the input is hashed only when ``record`` names another file (a moved or
    copied input with the same bytes is the same image). An unchanged path, or a file that
    cannot be read now, is left to each image's own check (:func:`_prepare`)."""
    if Path(str(record.get("input"))).resolve() == path.resolve():
        return False
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() != record.get("input_sha256")
    except OSError:
        return False


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for path in (folder.absolute(), *folder.absolute().parents):
        if path.exists():
            break
        missing.append(path)
    return missing


@contextlib.contextmanager
def _removed_if_left_empty(folder: Path) -> Iterator[None]:
    """If the block raises, remove ``folder`` and the parents the block created, while they
    are empty (with the empty folders the block left below a ``folder`` it created); a folder
    that existed before is never removed."""
    created = _missing_folders(folder)
    try:
        yield
    except BaseException:
        if created:
            below = sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
            for path in [*below, *created]:
                with contextlib.suppress(OSError):  # not empty (or gone): kept
                    path.rmdir()
        raise


def _check_writable(folder: Path) -> None:
    """Create ``folder`` and prove that a file can be written there."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / ".nucseg-zoo-write-test"
    with atomic_path(probe) as tmp:
        tmp.write_bytes(b"")
    probe.unlink()


def _written_by_us(manifest: Path) -> bool:
    try:
        return json.loads(manifest.read_text()).get("written_by") == LABEL_WRITER
    except (OSError, ValueError, AttributeError):
        return False


# ---------------------------------------------------------------- running


def _run_local(inputs: list[ImageInput], out: Path, options: RunOptions, progress: bool) -> Iterator[ImageResult]:
    from tqdm import tqdm

    for item in tqdm(inputs, desc="segment", unit="image", disable=not progress, file=sys.stderr):
        yield process_image(item, out, options)


class _InputOrder:
    """Results that arrive in any order, handed on in input order (advancing a progress bar)."""

    def __init__(self, bar) -> None:
        self._waiting: dict[int, ImageResult] = {}
        self._next = 0
        self._bar = bar

    def add(self, index: int, result: ImageResult) -> list[ImageResult]:
        """Take the result of input ``index``; return those now ready, in input order."""
        self._waiting[index] = result
        ready = []
        while self._next in self._waiting:
            ready.append(self._waiting.pop(self._next))
            self._next += 1
        self._bar.update(len(ready))
        return ready


def _run_dask(inputs: list[ImageInput], out: Path, options: RunOptions, client, progress: bool
              ) -> Iterator[ImageResult]:
    """Stream the images through a Dask client, a bounded number in flight; results in input order."""
    from distributed import as_completed
    from tqdm import tqdm

    in_flight = max(2, 2 * sum(client.nthreads().values()))
    options = client.scatter(options, broadcast=True)  # sent once, not with every image
    pending = iter(enumerate(inputs))
    futures = as_completed()
    for _ in range(in_flight):
        step = next(pending, None)
        if step is None:
            break
        futures.add(client.submit(_indexed, step[0], step[1], out, options, pure=False))
    with tqdm(total=len(inputs), desc="segment", unit="image", disable=not progress, file=sys.stderr) as bar:
        order = _InputOrder(bar)
        for future in futures:
            index, result = future.result()
            future.release()
            step = next(pending, None)
            if step is not None:
                futures.add(client.submit(_indexed, step[0], step[1], out, options, pure=False))
            yield from order.add(index, result)


def _run_batched(inputs: list[ImageInput], out: Path, options: RunOptions, batch_size: int, client,
                 progress: bool) -> Iterator[ImageResult]:
    """The network in batches in this process (e.g. on a GPU), the postprocessing, measurements
    and writing of each image on the Dask ``client``'s workers (or here without one), a
    bounded number of images in flight; results in input order."""
    from tqdm import tqdm

    segmenter = _segmenter(options)
    to_labels = segmenter.postprocessor()
    limit = batch_size + (2 * sum(client.nthreads().values()) if client is not None else 0)
    futures: dict[int, Any] = {}
    with tqdm(total=len(inputs), desc="segment", unit="image", disable=not progress, file=sys.stderr) as bar:
        order = _InputOrder(bar)
        for start in range(0, len(inputs), batch_size):
            ready = []
            for index in range(start, min(start + batch_size, len(inputs))):
                item, started = inputs[index], time.perf_counter()
                try:
                    result, image = _prepare(item, out, options)
                except _BAD_IMAGE_ERRORS as err:
                    result, image = _failed(item, err, "reading"), None
                result.seconds = time.perf_counter() - started
                if image is None:
                    yield from order.add(index, result)
                else:
                    ready.append((index, item, result, image))
            for (index, item, result, image), probabilities in zip(ready, _predict_each(segmenter, ready, batch_size)):
                if isinstance(probabilities, BaseException):
                    yield from order.add(index, _failed(item, probabilities, "segmenting"))
                    continue
                result.model_loads = _MODEL_LOADS[0]
                if client is None:
                    yield from order.add(index, finish_image(item, result, image, probabilities, to_labels, out,
                                                             options))
                else:
                    futures[index] = client.submit(finish_image, item, result, image, probabilities, to_labels,
                                                   out, options, pure=False)
            for index in [index for index, future in futures.items() if future.done()]:
                yield from order.add(index, futures.pop(index).result())
            while len(futures) > limit:  # the workers fall behind: wait for the oldest image
                oldest = min(futures)
                yield from order.add(oldest, futures.pop(oldest).result())
        for index in sorted(futures):
            yield from order.add(index, futures.pop(index).result())


def _predict_each(segmenter, ready: list, batch_size: int) -> list:
    """The network's outputs for the ``ready`` images in batches; if a batch fails, image by
    image, so that one bad image fails alone (its entry is the exception)."""
    images = [entry[3] for entry in ready]
    try:
        return segmenter.predict_batch(images, batch_size=batch_size)
    except _BAD_IMAGE_ERRORS:
        outputs = []
        for image in images:
            try:
                outputs.append(segmenter.predict(image))
            except _BAD_IMAGE_ERRORS as err:
                outputs.append(err)
        return outputs


def _indexed(index: int, item: ImageInput, out: Path, options: RunOptions) -> tuple[int, ImageResult]:
    return index, process_image(item, out, options)


# ---------------------------------------------------------------- run-level outputs


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


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("nucseg-zoo", "numpy", "scikit-image", "torch", "bioimageio.core", "pandas", "pyarrow", "distributed"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def _combine(results: list[ImageResult], out: Path, *, csv: bool) -> tuple[list[Path], dict[str, np.ndarray]]:
    """Stream the per-image measurements into ``nuclei.parquet`` (and ``nuclei.csv``), one
    image at a time; return the written paths and each image's integrated intensities (for
    the DNA-content readout)."""
    import contextlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    targets = [out / "nuclei.parquet"] + ([out / "nuclei.csv"] if csv else [])
    intensities: dict[str, np.ndarray] = {}
    schema = nuclei_schema()
    with contextlib.ExitStack() as stack:
        tmps = [stack.enter_context(atomic_path(target)) for target in targets]
        writer = stack.enter_context(pq.ParquetWriter(tmps[0], schema, compression="zstd"))
        if csv:  # the header
            pa.Table.from_pylist([], schema=schema).to_pandas().to_csv(tmps[1], index=False)
        for result in results:
            if result.status == "failed":
                continue
            table = pq.read_table(out / f"{result.image}.nuclei.parquet").replace_schema_metadata(None).cast(schema)
            writer.write_table(table)
            # a nucleus cut by the image border has part of its DNA outside: left out of the
            # readout (CellProfiler's "discard objects touching the border"), kept in the table
            inside = ~table.column("touches_border").to_numpy(zero_copy_only=False)
            intensities[result.image] = table.column("integrated_intensity").to_numpy()[inside]
            if csv:
                table.to_pandas().to_csv(tmps[1], mode="a", header=False, index=False)
    return targets, intensities


IMAGES_COLUMNS: dict[str, str] = {
    "image": "object", "input": "object", "status": "object", "reason": "object",
    "n_nuclei": "Int64", "blank_field": "boolean", "saturated_fraction": "float64", "area_fraction": "float64",
    "g1_peak": "float64", "fraction_2n": "float64", "fraction_4n": "float64",
}
"""Columns of ``images.parquet``, in order, with their pandas dtypes: the same whichever images
failed (a failed image has NA / NaN numbers), so that the tables of runs concatenate."""


def images_schema():
    """The Parquet schema of ``images.parquet`` (:data:`IMAGES_COLUMNS`; strings stay strings
    even when every value is missing)."""
    import pyarrow as pa

    arrow = {"object": pa.string(), "Int64": pa.int64(), "boolean": pa.bool_(), "float64": pa.float64()}
    return pa.schema([(name, arrow[dtype]) for name, dtype in IMAGES_COLUMNS.items()])


def _write_images_table(results: list[ImageResult], readouts: dict, out: Path, *, csv: bool) -> list[Path]:
    """Write ``images.parquet`` (and ``images.csv``): one row per result, columns :data:`IMAGES_COLUMNS`."""
    import pandas as pd

    rows = []
    for r in results:
        readout = readouts.get(r.image)
        rows.append({"image": r.image, "input": r.input, "status": "failed" if r.status == "failed" else "ok",
                     "reason": r.reason,
                     "n_nuclei": r.n_nuclei, **{k: r.quality.get(k) for k in _QUALITY_COLUMNS},
                     "g1_peak": None if readout is None else readout.g1_peak,
                     "fraction_2n": None if readout is None else readout.fraction_2n,
                     "fraction_4n": None if readout is None else readout.fraction_4n})
    frame = pd.DataFrame(rows, columns=list(IMAGES_COLUMNS)).astype(IMAGES_COLUMNS)  # NA / NaN for failed images
    paths = [out / "images.parquet"]
    _write_table(frame, paths[0], {}, schema=images_schema())
    if csv:
        paths.append(out / "images.csv")
        with atomic_path(paths[1]) as tmp:
            frame.to_csv(tmp, index=False)
    return paths


_QUALITY_COLUMNS = ("blank_field", "saturated_fraction", "area_fraction")


def segment_images(
    inputs: Sequence[str | os.PathLike],
    *,
    model: str,
    out: str | os.PathLike,
    device: str = "cpu",
    precision: str = DEFAULT_PRECISION,
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
) -> RunSummary:
    """Segment and measure every image of ``inputs`` into ``out`` (layout: module docstring).

    Args:
        inputs: image files, folders (searched recursively) and glob patterns (2-D TIFF,
            single-plane OME-TIFF / ImageJ hyperstacks, PNG).
        model: zoo id, baseline, bioimage.io package path or URL, or a Python segmenter
            ``module:callable``.
        out: output folder (created).
        device: "cpu" or "cuda".
        precision: of a zoo model's network: "fp32" (default,
            :data:`nucseg_zoo.precision.DEFAULT_PRECISION`: the leaderboard's and the packages'
            precision), "bf16" (faster on CPUs with AVX-512 bf16 or AMX, and on CUDA) or "fp16".
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

    Returns:
        A :class:`RunSummary`; ``failed`` lists the images that could not be processed.

    Raises:
        PlanError: the run cannot start (see :class:`PlanError`); nothing has been written.
        RunAborted: the model failed on its first ``abort_after`` images; no tables were written.
        FileNotFoundError, ValueError: an input spec names no image.

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
    options = RunOptions(source=model, model_sha256=source.sha256, device=device, precision=precision, rois=rois,
                         overwrite=overwrite, saturation_value=saturation_value)
    with _removed_if_left_empty(out):
        return _run(items, out, options, source, workers=workers, scheduler=scheduler, csv=csv,
                    batch_size=batch_size, progress=progress, on_image=on_image, abort_after=abort_after)


def _run(items: list[ImageInput], out: Path, options: RunOptions, source: ModelSource, *, workers: int | None,
         scheduler: str | None, csv: bool, batch_size: int | None, progress: bool,
         on_image: Callable[[ImageResult], None] | None, abort_after: int | None) -> RunSummary:
    """:func:`segment_images` once its arguments are checked: plan, run, tables, manifest."""
    _check_plan(items, out, options)
    segmenter = _segmenter(options)
    statistics = None
    if needs_dataset_statistics(segmenter):
        # over every readable input image (also those skipped now), before any prediction, so
        # that no image's labels depend on the others and a resumed run uses the same statistics
        options = replace(options, statistics_inputs=tuple(str(i.path) for i in items if _readable(i.path)))
        statistics = _segmenter(options).dataset_statistics
    started = datetime.now(timezone.utc)
    if batch_size is None and str(options.device).startswith("cuda"):
        batch_size = DEFAULT_GPU_BATCH
    batched = batch_size is not None and isinstance(segmenter, BatchedModel)

    def run(client) -> list[ImageResult]:
        if batched:
            stream = _run_batched(items, out, options, batch_size, client, progress)
        elif client is None:
            stream = _run_local(items, out, options, progress)
        else:
            stream = _run_dask(items, out, options, client, progress)
        return _collect(stream, on_image, abort_after=abort_after, total=len(items))

    if workers is None and scheduler is None:
        results = run(None)
    else:
        from distributed import Client, LocalCluster

        if scheduler is not None:
            with Client(scheduler) as client:
                results = run(client)
        else:
            import tempfile

            # dask.distributed's start-up and shut-down chatter (INFO) stays out of the terminal
            with quiet("distributed"), tempfile.TemporaryDirectory(prefix="nucseg-zoo-dask-") as scratch, \
                    LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                                 local_directory=scratch) as cluster, Client(cluster) as client:
                results = run(client)
    csv = csv or (out / "nuclei.csv").is_file()  # an earlier run's CSVs are kept current, never left stale
    files, intensities = _combine(results, out, csv=csv)
    readouts = _dna_content_readouts(intensities)
    files += _write_images_table(results, readouts, out, csv=csv)
    files.append(_plot(readouts, out))
    manifest = {
        "written_by": LABEL_WRITER,
        "model": options.source, "model_sha256": source.sha256, "model_kind": source.kind,
        "model_details": source.details,  # e.g. a Python segmenter's module file, version, source hash
        "parameters": {"device": options.device, "precision": getattr(segmenter, "precision", None),
                       "workers": workers, "scheduler": scheduler, "rois": options.rois, "csv": csv,
                       "overwrite": options.overwrite, "saturation_value": options.saturation_value,
                       "batch_size": batch_size if batched else None,
                       "dataset_statistics": statistics},
        "versions": _versions(),
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "counts": {s: sum(r.status == s for r in results) for s in ("segmented", "skipped", "failed")},
        "images": [asdict(r) for r in results],
    }
    write_text_atomically(out / "manifest.json", json.dumps(manifest, indent=1, default=str) + "\n")
    files.append(out / "manifest.json")
    return RunSummary(out=out, results=results, files=files)


def _readable(path: Path) -> bool:
    try:
        read_image(path)
        return True
    except (ValueError, OSError):
        return False


def _collect(stream: Iterator[ImageResult], on_image: Callable[[ImageResult], None] | None, *,
             abort_after: int | None, total: int) -> list[ImageResult]:
    """The results in input order; RunAborted when the model failed on each of the first
    ``abort_after`` images it ran on (failures while reading and skipped images do not count)
    and images are left."""
    results = []
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
    return results


def _dna_content_readouts(intensities: dict[str, np.ndarray]) -> dict:
    from nucseg_zoo.screens.dna_content import dna_content

    return {image: dna_content(values) for image, values in intensities.items()}


def _plot(readouts: dict, out: Path) -> Path:
    from nucseg_zoo.screens.dna_content import plot_dna_content

    return plot_dna_content(readouts, out / "dna_content.png", overwrite=True)

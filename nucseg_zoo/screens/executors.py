"""Where a batch run's images are processed: one by one in this process, on the worker
processes of a Dask cluster (a new ``LocalCluster`` or a running scheduler), or with the
network in batches in this process (e.g. on a GPU) and the rest of each image's work on the
workers. Each way streams :class:`~nucseg_zoo.screens.records.ImageResult` in input order,
with a bounded number of images in flight, so that memory does not grow with their number."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from nucseg_zoo.screens import worker
from nucseg_zoo._logging import quiet
from nucseg_zoo.screens.inputs import ImageInput
from nucseg_zoo.screens.records import ImageResult, RunOptions

if TYPE_CHECKING:
    from distributed import Client


@contextlib.contextmanager
def dask_client(*, workers: int | None, scheduler: str | None) -> Iterator[Client | None]:
    """A Dask client of the running ``scheduler``, or of a new ``LocalCluster`` of ``workers``
    single-threaded processes (closed with the block); None (this process) with neither."""
    if workers is None and scheduler is None:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    import tempfile

    # dask.distributed's start-up and shut-down chatter (INFO) stays out of the terminal
    with quiet("distributed"), tempfile.TemporaryDirectory(prefix="nucseg-zoo-dask-") as scratch, \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                         local_directory=scratch) as cluster, Client(cluster) as client:
        yield client


def run_images(items: list[ImageInput], out: Path, options: RunOptions, *, client: Client | None,
               batch_size: int | None, progress: bool) -> Iterator[ImageResult]:
    """Process every image of ``items`` into ``out``; their results in input order.

    Args:
        client: a Dask client whose workers process the images (or their CPU half), or None
            for this process.
        batch_size: run the network on this many images at a time in this process (a
            segmenter with ``predict_batch`` and ``postprocessor``); None: image by image.
        progress: show a progress bar (stderr).
    """
    if batch_size is not None:
        return _run_batched(items, out, options, batch_size, client, progress)
    if client is None:
        return _run_local(items, out, options, progress)
    return _run_dask(items, out, options, client, progress)


def _run_local(inputs: list[ImageInput], out: Path, options: RunOptions, progress: bool) -> Iterator[ImageResult]:
    from tqdm import tqdm

    for item in tqdm(inputs, desc="segment", unit="image", disable=not progress, file=sys.stderr):
        yield worker.process_image(item, out, options)


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


def _run_dask(inputs: list[ImageInput], out: Path, options: RunOptions, client: Client, progress: bool
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


def _run_batched(inputs: list[ImageInput], out: Path, options: RunOptions, batch_size: int, client: Client | None,
                 progress: bool) -> Iterator[ImageResult]:
    """The network in batches in this process (e.g. on a GPU), the postprocessing, measurements
    and writing of each image on the Dask ``client``'s workers (or here without one), a
    bounded number of images in flight; results in input order."""
    from tqdm import tqdm

    segmenter = worker.segmenter(options)
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
                    result, image = worker.prepare(item, out, options)
                except worker.BAD_IMAGE_ERRORS as err:
                    result, image = worker.failed(item, err, "reading"), None
                result.seconds = time.perf_counter() - started
                if image is None:
                    yield from order.add(index, result)
                else:
                    ready.append((index, item, result, image))
            for (index, item, result, image), probabilities in zip(ready, _predict_each(segmenter, ready, batch_size)):
                if isinstance(probabilities, BaseException):
                    yield from order.add(index, worker.failed(item, probabilities, "segmenting"))
                    continue
                result.model_loads = worker.model_loads()
                if client is None:
                    yield from order.add(index, worker.finish_image(item, result, image, probabilities, to_labels,
                                                                    out, options))
                else:
                    futures[index] = client.submit(worker.finish_image, item, result, image, probabilities,
                                                   to_labels, out, options, pure=False)
            for index in [index for index, future in futures.items() if future.done()]:
                yield from order.add(index, futures.pop(index).result())
            while len(futures) > limit:  # the workers fall behind: wait for the oldest image
                oldest = min(futures)
                yield from order.add(oldest, futures.pop(oldest).result())
        for index in sorted(futures):
            yield from order.add(index, futures.pop(index).result())


def _predict_each(segmenter: Any, ready: list, batch_size: int) -> list:
    """The network's outputs for the ``ready`` images in batches; if a batch fails, image by
    image, so that one bad image fails alone (its entry is the exception)."""
    images = [entry[3] for entry in ready]
    try:
        return segmenter.predict_batch(images, batch_size=batch_size)
    except worker.BAD_IMAGE_ERRORS:
        outputs = []
        for image in images:
            try:
                outputs.append(segmenter.predict(image))
            except worker.BAD_IMAGE_ERRORS as err:
                outputs.append(err)
        return outputs


def _indexed(index: int, item: ImageInput, out: Path, options: RunOptions) -> tuple[int, ImageResult]:
    return index, worker.process_image(item, out, options)

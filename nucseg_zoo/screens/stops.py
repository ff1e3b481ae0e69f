"""Why a batch run stops before its last image, other than a broken model
(:class:`~nucseg_zoo.screens.batch.RunAborted`): an output that cannot be written (a full
disk, a quota, a file-size limit: the next image cannot be written either) and an interrupt
(Ctrl-C). Either way the finished images' tables and manifest are written, marked incomplete,
and a rerun of the same command resumes after them."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from nucseg_zoo._text import count


class OutputWriteError(Exception):
    """An output file could not be written; the run stops (retrying other images cannot help).

    Not an ``OSError``, so that it is never taken for a bad input image or a failing model
    (:data:`~nucseg_zoo.screens.worker.BAD_IMAGE_ERRORS`). Picklable (it crosses from Dask workers).

    Attributes:
        path: the file that could not be written (its final name, not the temporary one).
        reason: the operating system's error, e.g. ``"OSError: [Errno 28] No space left on device"``.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path, self.reason = path, reason

    def __str__(self) -> str:
        return (f"cannot write {self.path} ({self.reason}): the disk is full, or a quota or file-size limit "
                "was reached; this is no fault of the model or the images")


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Re-raise an ``OSError`` of the block as :class:`OutputWriteError` naming ``path``."""
    try:
        yield
    except OSError as err:
        raise OutputWriteError(str(path), f"{type(err).__name__}: {err}") from err


class RunStopped(RuntimeError):
    """The run stopped before its last image: interrupted (``KeyboardInterrupt``) or an output
    that could not be written (:attr:`write_error`). The finished images keep their outputs; the
    run's tables and ``manifest.json`` (``"complete": false``) describe them where they could be
    written (:attr:`tables_written`). Running the same command again resumes.

    Attributes:
        out: the output folder.
        n_done: images finished (segmented, skipped as done earlier or failed) before the stop.
        n_total: images of the run.
        write_error: the failed write, or None for an interrupt.
        tables_written: whether the finished part's tables and manifest were written.
    """

    def __init__(self, out: Path, n_done: int, n_total: int, *, write_error: OutputWriteError | None = None,
                 tables_written: bool = True) -> None:
        self.out, self.n_done, self.n_total = out, n_done, n_total
        self.write_error, self.tables_written = write_error, tables_written
        super().__init__(self.explain())

    @property
    def interrupted(self) -> bool:
        """Whether the run was interrupted (Ctrl-C), not stopped by a failed write."""
        return self.write_error is None

    def explain(self) -> str:
        """One line: why it stopped, after how many images, where the finished part is, how to resume."""
        done = f"after {self.n_done} of {count(self.n_total, 'image')}"
        if self.tables_written:
            tables = f"the finished part's tables and manifest (marked incomplete) are in {self.out}"
        else:
            tables = "no image was finished" if not self.n_done else "its tables could not be written either"
        if self.interrupted:
            return f"interrupted {done}; {tables}; run the same command again to resume"
        return f"{self.write_error}; the run stopped {done}; {tables}; free space and run the same command again to resume"

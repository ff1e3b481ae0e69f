"""Resume identity: which outputs in ``out`` this tool wrote, and from which input bytes and model.

A label file records (in its TIFF description) the input path, the input's sha256 and the
model; an image's measurements record the same in their Parquet metadata, with the image's
row. An image is done when both match this run's input bytes and model, wherever the input
file lies now; the model matches by its identity (sha256) where both sides have one, else
(outputs of versions that recorded none) by its spelling.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from nucseg_zoo.screens.inputs import ImageInput
from nucseg_zoo.screens.records import STATISTICS_NOT_YET, RunOptions

LABEL_WRITER = "nucseg-zoo segment"
"""``written_by`` of the label files' description and of the manifest: only files with it are
ever replaced."""


def earlier_record(target: Path) -> dict | None:
    """What a label file written by this tool records, or None when it is not one of ours."""
    import tifffile

    try:
        with tifffile.TiffFile(target) as tif:
            record = json.loads(tif.pages[0].description)
    except Exception:  # not a TIFF, no or foreign description: not ours
        return None
    return record if isinstance(record, dict) and record.get("written_by") == LABEL_WRITER else None


def measured(nuclei: Path, input_sha256: str, options: RunOptions) -> dict | None:
    """The per-image row stored with the measurements of an earlier run of this input and model,
    or None when they are missing, unreadable, of something else, or lack columns this version
    measures."""
    import pyarrow.parquet as pq

    if not nuclei.is_file():
        return None
    from nucseg_zoo.screens.measure import MEASURE_COLUMNS

    try:
        schema = pq.read_schema(nuclei)
        row = json.loads((schema.metadata or {})[b"nucseg_zoo"])
    except Exception:  # unreadable or foreign measurements: redo them
        return None
    if not set(MEASURE_COLUMNS) <= set(schema.names):  # measured by a version with other columns: redo
        return None
    return row if row.get("input_sha256") == input_sha256 and same_model(row, options) else None


def model_record(options: RunOptions) -> dict:
    """What an output records of the model that made it: its spelling and identity, the output
    kind chosen and the digest of the dataset statistics it ran with, where there are."""
    return {"model": options.source, "model_sha256": options.model_sha256,
            **({"output_kind": options.output_kind} if options.output_kind else {}),
            **({"diameter": options.diameter} if options.diameter is not None else {}),
            **({"dataset_statistics_sha256": options.statistics_sha256} if options.statistics_sha256 else {})}


def same_model(record: dict, options: RunOptions) -> bool:
    """Whether outputs recorded with ``record`` come from this run's model: the same output kind
    chosen (or none), the same ``diameter`` (or none), the same dataset statistics (or none),
    and the same identity (sha256) where both have one, else (outputs of versions that
    recorded none) the same spelling."""
    if record.get("output_kind") != options.output_kind or record.get("diameter") != options.diameter:
        return False
    if not _same_statistics(record, options):
        return False
    if record.get("model_sha256") and options.model_sha256:
        return record["model_sha256"] == options.model_sha256
    return record.get("model") == options.source


def _same_statistics(record: dict, options: RunOptions) -> bool:
    """Whether ``record`` was made with this run's dataset statistics (always, while they are
    :data:`~nucseg_zoo.screens.records.STATISTICS_NOT_YET` known)."""
    return options.statistics_sha256 == STATISTICS_NOT_YET or \
        record.get("dataset_statistics_sha256") == options.statistics_sha256


def image_record(item: ImageInput, options: RunOptions) -> dict:
    """What a label file records of which image of its input it holds: the TIFF series (files of
    several fields) and the channel / plane / time point chosen, where there is one."""
    return {**({"series": item.series} if item.series else {}),
            **({"selection": options.selection.record()} if options.selection.record() else {})}


def same_image(record: dict, item: ImageInput, options: RunOptions) -> bool:
    """Whether label ``record`` holds the same image of its input as ``item`` with this run's
    selection (outputs of versions that recorded neither hold series 0 with no selection)."""
    return record.get("series", 0) == (item.series or 0) and \
        record.get("selection", {}) == options.selection.record()


def other_image(record: dict) -> str:
    """Which image of its input label ``record`` holds, for messages."""
    chosen = ", ".join(f"{role} {index}" for role, index in record.get("selection", {}).items())
    return f"series {record.get('series', 0)}" + (f", {chosen}" if chosen else ", no channel/plane/time chosen")


def other_model(record: dict, options: RunOptions) -> str:
    """How the model of an earlier output differs from this run's, for messages."""
    if record.get("output_kind") != options.output_kind:
        return (f"by {record.get('model')} read as output kind {record.get('output_kind') or 'its own'} (now "
                f"{options.output_kind or 'its own'})")
    if record.get("diameter") != options.diameter:
        def scale(value) -> str:
            return "at the images' own scale" if value is None else f"with diameter {value:g} px"
        return f"by {record.get('model')} {scale(record.get('diameter'))} (now {scale(options.diameter)})"
    if not _same_statistics(record, options):
        return (f"by {record.get('model')} with other dataset statistics (sha256 "
                f"{str(record.get('dataset_statistics_sha256'))[:12]}…, now {str(options.statistics_sha256)[:12]}…: "
                "another reference set)")
    if record.get("model") == options.source:
        return (f"by {options.source} as it was then (model sha256 {str(record.get('model_sha256'))[:12]}…, now "
                f"{str(options.model_sha256)[:12]}…: other weights or settings)")
    return f"by {record.get('model')}"


def of_other_bytes(record: dict, path: Path) -> bool:
    """Whether label ``record`` was made from other bytes than ``path`` holds, as far as the plan
    can tell cheaply: the input is hashed only when ``record`` names another file (a moved or
    copied input with the same bytes is the same image). An unchanged path, or a file that
    cannot be read now, is left to each image's own check
    (:func:`nucseg_zoo.screens.worker.prepare`)."""
    if Path(str(record.get("input"))).resolve() == path.resolve():
        return False
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() != record.get("input_sha256")
    except OSError:
        return False

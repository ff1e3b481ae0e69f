"""The tables of a batch run: each image's measurements, the run's ``nuclei.parquet`` and
``images.parquet`` (and CSVs), the DNA-content figure and ``manifest.json``, each written
atomically (layout: :mod:`nucseg_zoo.screens.batch`). A write that fails raises
:class:`~nucseg_zoo.screens.stops.OutputWriteError` naming the file."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nucseg_zoo._atomic import atomic_path, write_text_atomically
from nucseg_zoo.screens.records import ImageResult, RunOptions
from nucseg_zoo.screens.resume import LABEL_WRITER
from nucseg_zoo.screens.stops import writing

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from nucseg_zoo.segmenters import ModelSource

IMAGES_COLUMNS: dict[str, str] = {
    "image": "object", "input": "object", "series": "Int64", "status": "object", "reason": "object",
    "n_nuclei": "Int64", "blank_field": "boolean", "saturated_fraction": "float64", "saturated_artefact_px": "Int64",
    "area_fraction": "float64", "median_diameter": "float64", "size_off_training": "boolean",
    "g1_peak": "float64", "fraction_2n": "float64", "fraction_4n": "float64",
}
"""Columns of ``images.parquet``, in order, with their pandas dtypes: the same whichever images
failed (a failed image has NA / NaN numbers), so that the tables of runs concatenate."""

_QUALITY_COLUMNS = ("blank_field", "saturated_fraction", "saturated_artefact_px", "area_fraction", "median_diameter",
                    "size_off_training")


def nuclei_schema() -> pa.Schema:
    """The Parquet schema of the per-nucleus tables (:data:`~nucseg_zoo.screens.measure.MEASURE_COLUMNS`;
    ``image`` is a string even in a table without rows, so that every part has one schema)."""
    import pyarrow as pa

    from nucseg_zoo.screens.measure import MEASURE_COLUMNS

    arrow = {"object": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}
    return pa.schema([(name, arrow[dtype]) for name, dtype in MEASURE_COLUMNS.items()])


def images_schema() -> pa.Schema:
    """The Parquet schema of ``images.parquet`` (:data:`IMAGES_COLUMNS`; strings stay strings
    even when every value is missing)."""
    import pyarrow as pa

    arrow = {"object": pa.string(), "Int64": pa.int64(), "boolean": pa.bool_(), "float64": pa.float64()}
    return pa.schema([(name, arrow[dtype]) for name, dtype in IMAGES_COLUMNS.items()])


def write_table(frame: pd.DataFrame, path: Path, metadata: dict[str, Any], schema: pa.Schema | None = None) -> None:
    """Write ``frame`` as zstd Parquet at ``path``, atomically, with ``metadata`` (JSON) under
    the schema metadata key ``nucseg_zoo`` (an image's measurements keep their resume record there)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"nucseg_zoo": json.dumps(metadata, sort_keys=True).encode()})
    with writing(path), atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_run_tables(results: list[ImageResult], out: Path, *, csv: bool) -> list[Path]:
    """Write ``nuclei.parquet``, ``images.parquet`` (with ``csv``, their CSVs too) and
    ``dna_content.png`` from the images' measurements in ``out``; return the written paths."""
    from nucseg_zoo.screens.dna_content import dna_content, plot_dna_content

    files, intensities = _combine(results, out, csv=csv)
    readouts = {image: dna_content(values) for image, values in intensities.items()}
    files += _write_images_table(results, readouts, out, csv=csv)
    with writing(out / "dna_content.png"):
        files.append(plot_dna_content(readouts, out / "dna_content.png", overwrite=True))
    return files


def _combine(results: list[ImageResult], out: Path, *, csv: bool) -> tuple[list[Path], dict[str, np.ndarray]]:
    """Stream the per-image measurements into ``nuclei.parquet`` (and ``nuclei.csv``), one
    image at a time; return the written paths and each image's integrated intensities (for
    the DNA-content readout)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nucseg_zoo.screens.dna_content import readout_intensities

    targets = [out / "nuclei.parquet"] + ([out / "nuclei.csv"] if csv else [])
    intensities: dict[str, np.ndarray] = {}
    schema = nuclei_schema()
    with writing(" and ".join(map(str, targets))), contextlib.ExitStack() as stack:
        tmps = [stack.enter_context(atomic_path(target)) for target in targets]
        writer = stack.enter_context(pq.ParquetWriter(tmps[0], schema, compression="zstd"))
        if csv:  # the header
            pa.Table.from_pylist([], schema=schema).to_pandas().to_csv(tmps[1], index=False)
        for result in results:
            if result.status == "failed":
                continue
            table = pq.read_table(out / f"{result.image}.nuclei.parquet").replace_schema_metadata(None).cast(schema)
            writer.write_table(table)
            # nuclei cut by the border and objects on a saturated artefact stay in the table but
            # are left out of the readout
            intensities[result.image] = readout_intensities(table.to_pandas())
            if csv:
                table.to_pandas().to_csv(tmps[1], mode="a", header=False, index=False)
    return targets, intensities


def _write_images_table(results: list[ImageResult], readouts: dict, out: Path, *, csv: bool) -> list[Path]:
    """Write ``images.parquet`` (and ``images.csv``): one row per result, columns :data:`IMAGES_COLUMNS`."""
    import pandas as pd

    rows = []
    for r in results:
        readout = readouts.get(r.image)
        rows.append({"image": r.image, "input": r.input, "series": r.series,
                     "status": "failed" if r.status == "failed" else "ok",
                     "reason": r.reason,
                     "n_nuclei": r.n_nuclei, **{k: r.quality.get(k) for k in _QUALITY_COLUMNS},
                     "g1_peak": None if readout is None else readout.g1_peak,
                     "fraction_2n": None if readout is None else readout.fraction_2n,
                     "fraction_4n": None if readout is None else readout.fraction_4n})
    frame = pd.DataFrame(rows, columns=list(IMAGES_COLUMNS)).astype(IMAGES_COLUMNS)  # NA / NaN for failed images
    paths = [out / "images.parquet"]
    write_table(frame, paths[0], {}, schema=images_schema())
    if csv:
        paths.append(out / "images.csv")
        with writing(paths[1]), atomic_path(paths[1]) as tmp:
            frame.to_csv(tmp, index=False)
    return paths


def write_manifest(out: Path, *, options: RunOptions, source: ModelSource, parameters: dict[str, Any],
                   started: datetime, results: list[ImageResult], n_inputs: int, stopped: str | None = None) -> Path:
    """Write ``manifest.json``: the model (spelling, sha256, kind, details), the run's
    ``parameters``, the library versions, start and finish times (UTC), whether the run is
    ``complete`` (every one of its ``n_inputs`` images done) or why it ``stopped`` (e.g.
    ``"interrupted"``), the counts by status (``not_reached``: images of a stopped run not
    yet processed) and every finished image's :class:`ImageResult`; return its path."""
    manifest = {
        "written_by": LABEL_WRITER,
        "model": options.source, "model_sha256": source.sha256, "model_kind": source.kind,
        "model_details": source.details,  # e.g. a Python segmenter's module file, version, source hash
        "parameters": parameters,
        "versions": _versions(),
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "complete": stopped is None, "stopped": stopped, "n_inputs": n_inputs,
        "counts": {**{s: sum(r.status == s for r in results) for s in ("segmented", "skipped", "failed")},
                   "not_reached": n_inputs - len(results)},
        "images": [asdict(r) for r in results],
    }
    path = out / "manifest.json"
    with writing(path):
        write_text_atomically(path, json.dumps(manifest, indent=1, default=str) + "\n")
    return path


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("nucseg-zoo", "numpy", "scikit-image", "torch", "bioimageio.core", "pandas", "pyarrow", "distributed"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found

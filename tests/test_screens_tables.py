"""The tables of a batch run: fields without nuclei join them, and their dtypes do not depend
on which images failed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import tifffile

from screen_plate import write_plate

from nucseg_zoo.screens import segment_images
from nucseg_zoo.screens.tables import IMAGES_COLUMNS, images_schema


@pytest.fixture
def plate(tmp_path, sample_split) -> Path:
    """A small screen: plate/A/<3 fields>, plate/B/<the first again> (:func:`screen_plate.write_plate`)."""
    return write_plate(tmp_path / "plate", sample_split)


def test_an_image_without_nuclei_joins_the_tables(plate, tmp_path):
    """An empty field (BBBC039's validation split has one) gives a table part without rows; the
    run's tables still combine (it failed with a schema mismatch)."""
    tifffile.imwrite(plate / "A" / "empty.tif", np.zeros((520, 696), np.uint16))
    out = tmp_path / "out"
    summary = segment_images([plate], model="cp-basic", out=out, csv=True, progress=False)
    assert summary.counts()["failed"] == 0
    images = pd.read_parquet(out / "images.parquet").set_index("image")
    assert images.loc["plate/A/empty", "n_nuclei"] == 0 and images.loc["plate/A/empty", "blank_field"]
    assert pd.read_parquet(out / "plate" / "A" / "empty.nuclei.parquet").empty
    nuclei = pd.read_parquet(out / "nuclei.parquet")
    assert "plate/A/empty" not in set(nuclei["image"]) and len(nuclei) == images["n_nuclei"].sum()
    assert len(pd.read_csv(out / "nuclei.csv")) == len(nuclei)


def test_the_images_table_keeps_its_dtypes_whatever_images_failed(plate, tmp_path):
    """Critic's report: in an all-failed run's images.parquet, `saturated_fraction` and
    `g1_peak` were None (object dtype), so the tables of several runs concatenated badly."""
    bad = tmp_path / "bad"
    bad.mkdir()
    for k in range(6):
        (bad / f"A0{k}.tif").write_text("not an image")
    segment_images([bad], model="cp-basic", out=tmp_path / "failed", progress=False)
    segment_images([plate], model="cp-basic", out=tmp_path / "ok", progress=False)
    tables = []
    for run in ("failed", "ok"):
        assert pq.read_schema(tmp_path / run / "images.parquet").remove_metadata().equals(images_schema())
        table = pd.read_parquet(tmp_path / run / "images.parquet")
        assert list(table.columns) == list(IMAGES_COLUMNS)
        assert {name: str(dtype) for name, dtype in table.dtypes.items() if IMAGES_COLUMNS[name] != "object"} == {
            name: dtype for name, dtype in IMAGES_COLUMNS.items() if dtype != "object"}
        assert all(pd.api.types.is_string_dtype(table[name]) for name in ("image", "input", "status", "reason"))
        tables.append(table)
    failed = tables[0]
    assert failed[["saturated_fraction", "area_fraction", "g1_peak", "fraction_2n", "fraction_4n"]].isna().all().all()
    assert failed["n_nuclei"].isna().all() and failed["blank_field"].isna().all()
    both = pd.concat(tables, ignore_index=True)
    assert both.dtypes.to_dict() == tables[1].dtypes.to_dict() and len(both) == 10
    assert both["g1_peak"].notna().sum() == 4 and both["reason"].isna().sum() == 4

"""Where a batch run's images are processed: a Dask cluster and the batched network give the
results of one process, in input order."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from screen_plate import run_files, write_plate

from nucseg_zoo.screens import segment_images


@pytest.fixture
def plate(tmp_path, sample_split) -> Path:
    """A small screen: plate/A/<3 fields>, plate/B/<the first again> (:func:`screen_plate.write_plate`)."""
    return write_plate(tmp_path / "plate", sample_split)


@pytest.mark.parametrize("model", ["cp-basic", "unet-bbbc039-fast"])
def test_a_local_cluster_gives_byte_identical_results_and_loads_the_model_once_per_worker(plate, tmp_path, model):
    (plate / "B" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    single, cluster = tmp_path / "single", tmp_path / "cluster"
    one = segment_images([plate], model=model, out=single, progress=False)
    two = segment_images([plate], model=model, out=cluster, workers=2, progress=False)
    assert [r.status for r in two.results] == [r.status for r in one.results] == ["segmented"] * 3 + ["failed", "segmented"]
    assert run_files(cluster) == run_files(single)
    workers = {r.process for r in two.results}
    assert len(workers) == 2 and all(r.model_loads == 1 for r in two.results if r.status == "segmented")
    # resumed on the cluster: everything done is skipped, the result is unchanged
    (cluster / "plate" / "A" / "f3.nuclei.parquet").unlink()
    resumed = segment_images([plate], model=model, out=cluster, workers=2, progress=False)
    assert [r.status for r in resumed.results] == ["skipped", "skipped", "segmented", "failed", "skipped"]
    assert run_files(cluster) == run_files(single)


@pytest.mark.parametrize("workers", [None, 2])
def test_batched_network_with_postprocessing_in_workers_gives_the_per_image_labels(plate, tmp_path, workers):
    """The GPU pipeline (network in batches here, postprocessing in the workers), run on the CPU."""
    (plate / "B" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    single = tmp_path / "single"
    segment_images([plate], model="unet-bbbc039-fast", out=single, progress=False)
    batched = tmp_path / "batched"
    summary = segment_images([plate], model="unet-bbbc039-fast", out=batched, batch_size=2, workers=workers,
                             progress=False)
    assert [r.status for r in summary.results] == ["segmented"] * 3 + ["failed", "segmented"]
    for key in ("plate/A/f1", "plate/A/f2", "plate/A/f3", "plate/B/f1"):
        a, b = tifffile.imread(single / f"{key}.tif"), tifffile.imread(batched / f"{key}.tif")
        assert np.mean(a == b) > 0.999, key  # batching may change bf16 rounding, not the nuclei
    manifest = json.loads((batched / "manifest.json").read_text())
    assert manifest["parameters"]["batch_size"] == 2
    assert manifest["parameters"]["precision"] == "fp32"  # the one default precision
    if workers:
        assert len({r.process for r in summary.results if r.status == "segmented"}) >= 2  # postprocessed there

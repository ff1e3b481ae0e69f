"""A small screen on disk for the batch-run tests, and a snapshot of a run's files."""

from __future__ import annotations

from pathlib import Path

import tifffile


def write_plate(root: Path, samples) -> Path:
    """``root``/A/<3 fields>.tif (one as a single-plane ImageJ hyperstack, one as an OME-TIFF
    with singleton axes) and ``root``/B/<the first field again>.png, from three samples."""
    import imageio.v3 as iio

    (root / "A").mkdir(parents=True)
    (root / "B").mkdir()
    first, second, third = (sample.image for sample in samples)
    tifffile.imwrite(root / "A" / "f1.tif", first)
    tifffile.imwrite(root / "A" / "f2.tif", second[None, None, None], imagej=True)  # TZCYX, one plane
    tifffile.imwrite(root / "A" / "f3.ome.tif", third[None, None], ome=True, metadata={"axes": "CZYX"})
    iio.imwrite(root / "B" / "f1.png", first)
    return root


def run_files(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` but the manifest (which holds times), by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}

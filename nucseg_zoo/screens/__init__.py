"""Whole screens: batch segmentation and measurement, per-nucleus tables, image quality,
DNA content, ImageJ ROIs.

A batch run (also ``nucseg-zoo segment``), in one process or on a Dask cluster::

    from nucseg_zoo.screens import segment_images
    summary = segment_images(["plate1/", "plate2/**/*.tif"], model="unet-bbbc039", out="results", workers=4)
    summary.counts(), summary.failed

The parts, usable on their own: :func:`measure` (one row per nucleus) and
:func:`image_quality` (one row per image)::

    from nucseg_zoo.screens import dna_content, image_quality, measure, readout_intensities, write_imagej_rois
    table = measure(labels, image, image_name="A01_s1")    # pandas DataFrame
    quality = image_quality(labels, image)                 # {"n_nuclei": ..., "blank_field": ...}
    dna = dna_content(readout_intensities(table))          # G1 peak, 2N/4N
    write_imagej_rois(labels, "A01_s1_rois.zip")           # for Fiji's ROI Manager

:func:`plot_dna_content` draws DNA-content histograms. Intensities are raw image units, with
the image's background level measured beside them (the DNA-content readout subtracts it);
geometry is in pixels, as :mod:`skimage.measure`.
"""

from nucseg_zoo.screens.batch import RunAborted, RunSummary, segment_images
from nucseg_zoo.screens.dna_content import (
    BAND_2N,
    BAND_4N,
    MIN_NUCLEI,
    DnaContent,
    dna_content,
    readout_intensities,
    g1_peak,
    plot_dna_content,
)
from nucseg_zoo.screens.measure import (
    MEASURE_COLUMNS,
    image_quality,
    measure,
    noise_sigma,
)
from nucseg_zoo.screens.plan import PlanError
from nucseg_zoo.screens.rois import write_imagej_rois
from nucseg_zoo.screens.stops import OutputWriteError, RunStopped

__all__ = [
    "BAND_2N", "BAND_4N", "MEASURE_COLUMNS", "MIN_NUCLEI",
    "DnaContent", "OutputWriteError", "PlanError", "RunAborted", "RunStopped", "RunSummary", "segment_images", "dna_content", "readout_intensities", "g1_peak", "image_quality", "measure", "noise_sigma", "plot_dna_content",
    "write_imagej_rois",
]

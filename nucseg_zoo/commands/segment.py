"""``nucseg-zoo segment MODEL INPUT... --out DIR``: segment and measure images, a folder or a screen.

Inputs are files, folders (searched recursively) and glob patterns; outputs mirror the input
folders under ``DIR`` (layout: :mod:`nucseg_zoo.screens.batch`). Before any work the plan is
checked: an output that would land on an input, two inputs that would share outputs, a file
in the way that this command did not write, or an unwritable ``DIR`` stop the run (exit 2,
nothing written, and an output folder it created is removed again). Each label file records
the input's path and sha256 and the model; an image whose outputs come from an earlier run
of the same input bytes and model is skipped unless ``--overwrite``, wherever the input lies
now. An unreadable, corrupt or wrong-shaped image is reported and skipped, and listed at the
end. When the model fails on each of the first images it runs on
(``screens.batch.ABORT_AFTER``; a broken model or environment; unreadable images do not
count), the run stops there without writing tables (exit 2) unless ``--keep-going``.

An output that cannot be written (a full disk, a quota or file-size limit) stops the run at
once with an error naming the file (retrying other images cannot help); Ctrl-C stops it with
one line. Either way the finished images' tables and manifest are written, the manifest with
``"complete": false``, no file of an unfinished image is left, and the same command resumes.

Exit status: 0 every image segmented (or skipped as done earlier); 1 some images failed
(listed with the reason, the others are done); 2 the run could not start, or stopped
because the model failed on its first images or an output could not be written; 130
interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nucseg_zoo.postprocessing import list_output_kinds
from nucseg_zoo.precision import DEFAULT_PRECISION, PRECISIONS

INTERRUPTED = 130
"""Exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segment", help="segment and measure images, folders or a whole screen (any model, baseline or package)",
        description="Segment every image with MODEL and measure every nucleus: label TIFFs mirroring the input "
                    "folders, nuclei.parquet (per nucleus), images.parquet (per image: count, quality flags, "
                    "DNA content), dna_content.png and manifest.json under --out. Exit status: 0 all done, "
                    "1 some images failed (listed), 2 the run could not start, the model failed on its "
                    "first images (stopped, see --keep-going) or an output could not be written (a full disk), "
                    "130 interrupted (Ctrl-C; the finished part's tables are written, rerun to resume).")
    parser.add_argument("source", help="zoo id, baseline name, bioimage.io package (.zip / rdf.yaml, path or URL), "
                        "or a Python segmenter module:callable (image -> instance labels)")
    parser.add_argument("images", nargs="+",
                        help="TIFF (also OME-TIFF / ImageJ; each field of a multi-position file is segmented, "
                             "outputs <stem>_s<series>) or PNG files, folders (recursive) or quoted glob patterns "
                             "such as 'plate1/**/*.tif'")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo images whose outputs exist from an earlier run (default: skip them)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                        help="zoo models: network precision (default: %(default)s, as the leaderboard and the "
                             "bioimage.io packages; bf16 is faster on CPUs with native bf16 and on GPUs)")
    parser.add_argument("--output-kind", choices=list_output_kinds(),
                        help="how to turn a bioimage.io package's output into instances (default: the kind its rdf "
                             "declares or its output tells apart; a package that does neither is refused)")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--workers", type=int, help="run on a new Dask LocalCluster with N worker processes")
    scale.add_argument("--scheduler", help="address of a running dask.distributed scheduler, e.g. tcp://host:8786")
    parser.add_argument("--batch-size", type=int,
                        help="zoo models: run the network on N images at a time in this process while the workers "
                             "postprocess and measure (default: 8 on cuda, else image by image in the workers)")
    add_diameter_argument(parser)
    parser.add_argument("--rois", action="store_true", help="also write an ImageJ ROI zip per image (Fiji, QuPath)")
    parser.add_argument("--csv", action="store_true", help="also write the tables as CSV")
    parser.add_argument("--saturation-value", type=float,
                        help="pixel value of saturation for the quality flag (default: the dtype's maximum, "
                             "65535 for uint16; give 4095 for 12-bit images stored as 16-bit, e.g. BBBC039)")
    parser.add_argument("--keep-going", action="store_true",
                        help="try every image even when the model fails on the first ones (default: stop after "
                             "the first few, nucseg_zoo.screens.batch.ABORT_AFTER, as a broken model fails them "
                             "all; unreadable images do not count)")
    add_selection_arguments(parser)
    parser.add_argument("--statistics-from", nargs="+", metavar="PATH",
                        help="for a bioimage.io package that normalises with dataset statistics (e.g. scale_range "
                             "over the batch axis): reference images (files, folders, patterns) whose statistics "
                             "every image is preprocessed with (default: the package's own test input; never the "
                             "images being segmented, so no image's labels depend on the others)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def _warn_about_sizes(results: list, model: str, diameter: float | None) -> None:
    """A warning listing the images whose nuclei are far from the model's training size (or
    from the ``--diameter`` given)."""
    from nucseg_zoo.screens.sizes import SIZE_FACTOR

    off = [r for r in results if r.quality.get("size_off_training")]
    if not off:
        return
    shown = ", ".join(f"{r.image} ({r.quality['median_diameter']:.0f} px)" for r in off[:5])
    expected = (f"the --diameter {diameter:g} px given" if diameter is not None
                else f"the size {model} was trained on")
    advice = ("check the diameter: pass the images' median nucleus diameter in px" if diameter is not None else
              "expect poor results at another magnification: pass --diameter PX (the images' median nucleus "
              "diameter) to rescale them to the training size")
    print(f"nucseg-zoo segment: warning: in {len(off)} of {len(results)} images the nuclei's median diameter is more "
          f"than {SIZE_FACTOR}x off {expected} (size_off_training in images.parquet): "
          f"{shown}{', ...' if len(off) > 5 else ''}; {advice}", file=sys.stderr)


def _warn_about_artefacts(results: list) -> None:
    """A warning listing the images with a saturated artefact (clipped before segmenting)."""
    hit = [r for r in results if r.quality.get("saturated_artefact_px")]
    if not hit:
        return
    shown = ", ".join(f"{r.image} ({r.quality['saturated_artefact_px']:,} px)" for r in hit[:5])
    print(f"nucseg-zoo segment: warning: {len(hit)} of {len(results)} images hold a saturated artefact (a plateau "
          "at the image's maximum far above the nuclei: dust, debris, a reflection; saturated_artefact_px in "
          f"images.parquet): {shown}{', ...' if len(hit) > 5 else ''}; it was clipped before segmenting, so the "
          "nuclei around it are found, but nuclei under it are lost; an object segmented on it is flagged "
          "(in_saturated_artefact in nuclei.parquet) and left out of the DNA-content readout",
          file=sys.stderr)


def add_diameter_argument(parser: argparse.ArgumentParser) -> None:
    """``--diameter PX``: the images' median nucleus diameter, checked as it is parsed."""
    parser.add_argument("--diameter", type=_diameter, metavar="PX",
                        help="median nucleus diameter of the images in px (4-400): each image is rescaled so that "
                             "its nuclei have the size the model learned (zoo models, baselines) and the labels "
                             "are returned on the image's grid (default: the images' own scale)")


def _diameter(text: str) -> float:
    from nucseg_zoo.rescaling import check_diameter

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a nucleus diameter in px, e.g. 28 (there is no automatic "
                                         f"estimate); got {text!r}") from None
    try:
        return check_diameter(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_selection_arguments(parser: argparse.ArgumentParser, command: str = "segment") -> None:
    """``--channel``, ``--plane``, ``--time``: which plane of a multi-dimensional image ``command`` reads."""
    parser.add_argument("--channel", type=int, metavar="N",
                        help=f"{command} channel N (0-based) of multichannel images (axis C, or S of RGB): the "
                             "nuclear stain, e.g. 1 when DNA is the second channel")
    parser.add_argument("--plane", type=int, metavar="N",
                        help=f"{command} z-plane N (0-based) of z-stacks (axis Z, or the pages of a plain "
                             "multi-page TIFF)")
    parser.add_argument("--time", type=int, metavar="N", help=f"{command} time point N (0-based) of time series "
                        "(axis T)")


def run(args: argparse.Namespace) -> int:
    """Segment the images; the exit status as the module docstring says."""
    from nucseg_zoo._text import count
    from nucseg_zoo.screens.batch import ABORT_AFTER, RunAborted, segment_images
    from nucseg_zoo.screens.stops import RunStopped

    def report(result) -> None:
        if result.status == "segmented":
            print(args.out / f"{result.image}.tif")
        elif result.status == "failed":
            print(f"{result.input}: FAILED, skipped ({result.reason})", file=sys.stderr)

    try:
        summary = segment_images(args.images, model=args.source, out=args.out, device=args.device,
                                 precision=args.precision, output_kind=args.output_kind, workers=args.workers,
                                 scheduler=args.scheduler, rois=args.rois, csv=args.csv, overwrite=args.overwrite,
                                 saturation_value=args.saturation_value, batch_size=args.batch_size,
                                 progress=not args.no_progress,
                                 on_image=report, abort_after=None if args.keep_going else ABORT_AFTER,
                                 channel=args.channel, plane=args.plane, time=args.time,
                                 statistics_from=args.statistics_from, diameter=args.diameter)
    except RunAborted as err:  # worded for this interface: --keep-going, not abort_after=None
        raise RuntimeError(err.explain("--keep-going")) from err
    except RunStopped as err:  # a failed write: an error (exit 2); Ctrl-C: one line, exit 130
        if not err.interrupted:
            raise
        print(f"nucseg-zoo segment: {err}", file=sys.stderr)
        return INTERRUPTED
    except KeyboardInterrupt:  # before the first image (loading the model, checking the plan)
        print("nucseg-zoo segment: interrupted before any image was finished", file=sys.stderr)
        return INTERRUPTED
    counts = summary.counts()
    print(f"{count(counts['segmented'], 'image')} segmented, {counts['skipped']} skipped (done in an earlier run), "
          f"{counts['failed']} failed; tables and manifest in {args.out}", file=sys.stderr)
    for result in summary.failed:
        print(f"  failed: {result.input}: {result.reason}", file=sys.stderr)
    _warn_about_sizes(summary.results, args.source, args.diameter)
    _warn_about_artefacts(summary.results)
    return 1 if summary.failed else 0

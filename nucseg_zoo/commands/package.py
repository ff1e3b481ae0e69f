"""``nucseg-zoo package MODEL_ID --out DIR [--check]``: a bioimage.io model package.

Writes ``DIR/MODEL_ID.zip`` (bioimage.io model spec 0.5, weights in pytorch_state_dict,
torchscript and onnx) and prints its path on stdout; the validation summary goes to
stderr. ``--check`` also runs ``bioimageio.core.test_model`` (every weight format) and
fails, writing nothing, when a format does not pass.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("package", help="export a zoo model as a bioimage.io model package (.zip)")
    parser.add_argument("model_id", help="zoo model id, e.g. unet-bbbc039")
    parser.add_argument("--out", type=Path, required=True, help="folder for MODEL_ID.zip (created if missing)")
    parser.add_argument("--check", action="store_true",
                        help="also run bioimageio.core.test_model on the package (all weight formats)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT/MODEL_ID.zip if it exists")
    parser.add_argument("--halo", type=int,
                        help="output halo in px (default: the entry's, raised to the receptive field)")
    parser.set_defaults(run=run)


def _read_entry(model_id: str):
    from nucseg_zoo.zoo.entry import read_entry

    try:
        return read_entry(model_id)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"zoo model {model_id!r} is incomplete ({err.filename} is missing); "
                                f"train and tune it first (`nucseg-zoo train {model_id}`)") from err


def run(args: argparse.Namespace) -> int:
    from nucseg_zoo.packaging import build_package, format_summary

    entry = _read_entry(args.model_id)
    result = build_package(entry, args.out, check=args.check, halo=args.halo, overwrite=args.overwrite)
    print(format_summary(result.summary, source=str(result.path)), file=sys.stderr)
    sizes = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sorted(result.file_sizes.items())
                      if name.startswith("weights"))
    print(f"halo {result.layout.halo} px (receptive field {result.receptive_field} px), "
          f"min input {result.layout.min_size} px, step {result.layout.step} px; {sizes}", file=sys.stderr)
    if result.test is not None:
        formats = ", ".join(f"{fmt}: {status}" for fmt, status in result.test.formats.items())
        print(f"bioimageio.core test_model: {'passed' if result.test.passed else 'FAILED'} ({formats})",
              file=sys.stderr)
    print(result.path)
    return 0

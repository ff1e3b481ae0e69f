"""``nucseg-zoo train MODEL_ID [--member K] [--recipe FILE] [--device cpu|cuda] [--resume] [--export [--replace]]``,
and ``nucseg-zoo train MODEL --images DIR [--labels DIR] --out ENTRY_DIR [--holdout F] [--steps N] [--resume]``:
fine-tune a zoo model on an annotated folder into a local zoo entry (:mod:`nucseg_zoo.training.fine_tune`)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a zoo model from its recipe, or fine-tune one on your own "
                                                 "annotated images (--images)")
    parser.add_argument("model_id", help="zoo model id, e.g. unet-bbbc039 (with --images: a zoo id or local entry "
                                         "folder to start from)")
    parser.add_argument("--recipe", type=Path, help="recipe YAML (default: the zoo entry's recipe.yaml)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default: cpu)")
    parser.add_argument("--precision", choices=("bf16", "fp16", "fp32"),
                        help="training precision (default: bf16 where supported, i.e. CPU with bf16 or CUDA, "
                             "else fp32); with --export of an ensemble, that of the validation predictions the "
                             "postprocessing is tuned on (default: fp32, the harness's)")
    parser.add_argument("--member", type=int,
                        help="ensemble recipes (members > 1): train member K (seed + K) into runs/MODEL_ID/member-K")
    parser.add_argument("--out", type=Path, help="run folder (default: runs/MODEL_ID, or runs/MODEL_ID/member-K); "
                                                 "with --images: the new local zoo entry's folder (required)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--overwrite", action="store_true", help="start afresh in an OUT that holds an earlier run")
    parser.add_argument("--init-from", type=Path,
                        help="state dict to warm-start from (recipes with init_from; checked by sha256)")
    parser.add_argument("--mirror", help="dataset mirror (URL or folder)")
    parser.add_argument("--export", action="store_true",
                        help="install the best weights, log and tuned postprocessing into zoo/MODEL_ID "
                             "(an ensemble: once all members are trained; tunes on the ensemble) and re-render "
                             "its model card")
    parser.add_argument("--replace", action="store_true",
                        help="with --export: replace the entry's trained weights and results (git history keeps "
                             "the earlier ones); without it an export that would change them is refused")
    own = parser.add_argument_group(
        "fine-tuning on your own annotated images (docs/tutorials/fine-tune.md)",
        "--images DIR [--labels DIR] --out ENTRY_DIR fine-tunes MODEL_ID on the folder and writes a local zoo entry "
        "that load_model, segment, evaluate and package accept")
    own.add_argument("--images", type=Path, help="folder of annotated images (TIFF/PNG)")
    own.add_argument("--labels", type=Path,
                     help="their labels, as evaluate --labels reads them (default: the images folder)")
    own.add_argument("--holdout", type=float, default=None,
                     help="share of the images held out to choose the epoch and tune the postprocessing "
                          "(default 0.2, at least one image)")
    own.add_argument("--steps", type=int, default=None, help="optimizer steps in all (default 300)")
    own.add_argument("--epochs", type=int, default=None, help="epochs the steps are split into (default 3)")
    own.add_argument("--lr", type=float, default=None, help="Adam's peak learning rate (default 3e-4)")
    own.add_argument("--batch-size", type=int, default=None, help="crops per step (default 8)")
    own.add_argument("--seed", type=int, default=None, help="draws the held-out images and the crops (default 0)")
    own.add_argument("--id", dest="entry_id", help="the new entry's id (default: the --out folder's name)")
    own.add_argument("--channel", type=int, help="channel of multi-channel images (0-based)")
    own.add_argument("--plane", type=int, help="z-plane of z-stacks (0-based)")
    own.add_argument("--time", type=int, help="time point of time series (0-based)")
    parser.set_defaults(run=run)


FINE_TUNING_ONLY = ("labels", "holdout", "steps", "epochs", "lr", "batch_size", "seed", "entry_id", "channel", "plane",
                    "time")
"""Options that apply with --images only."""
TRAINING_ONLY = ("recipe", "member", "init_from", "mirror", "export", "replace")
"""Options of training a zoo model from its recipe, refused with --images."""


def run(args: argparse.Namespace) -> int:
    if args.images is not None:
        return _fine_tune(args)
    given = [f"--{name.replace('_', '-')}" for name in FINE_TUNING_ONLY if getattr(args, name) is not None]
    if given:
        raise ValueError(f"{', '.join(given)} appl{'y' if len(given) > 1 else 'ies'} to fine-tuning on your own "
                         "images: pass --images DIR (and --out ENTRY_DIR)")
    return _train_recipe(args)


def _fine_tune(args: argparse.Namespace) -> int:
    """``--images``: fine-tune MODEL_ID on the folder into the entry folder ``--out``."""
    from nucseg_zoo.cards.sections import FEW_HELD_OUT
    from nucseg_zoo.training import fine_tune as F

    given = [f"--{name.replace('_', '-')}" for name in TRAINING_ONLY if getattr(args, name) not in (None, False)]
    if given:
        raise ValueError(f"{', '.join(given)} do{'' if len(given) > 1 else 'es'} not apply to fine-tuning on your "
                         "own images (--images)")
    if args.out is None:
        raise ValueError("fine-tuning writes a local zoo entry: pass --out ENTRY_DIR (a new or empty folder)")
    options = {"holdout": args.holdout, "steps": args.steps, "epochs": args.epochs, "learning_rate": args.lr,
               "batch_size": args.batch_size, "seed": args.seed, "entry_id": args.entry_id}
    result = F.fine_tune(args.model_id, args.images, args.labels or args.images, args.out, device=args.device,
                         precision=args.precision, channel=args.channel, plane=args.plane, time_point=args.time,
                         resume=args.resume, overwrite=args.overwrite, on_epoch=_print_epoch,
                         **{key: value for key, value in options.items() if value is not None})
    record = result.record
    start, tuned = record["starting_model"], record["fine_tuned"]
    held = record["n_held_out_images"]
    print(f"average F1 on the {held} held-out image{'s' if held > 1 else ''}: {start['id']} (start) "
          f"{start['average_f1']:.3f}, fine-tuned {tuned['average_f1']:.3f}"
          + ("" if result.improved else " - fine-tuning did not help here")
          + (f"; {held} image{'s are' if held > 1 else ' is'} too few to tell which model is better on your screen: "
             "score both on more annotated images (nucseg-zoo evaluate MODEL --images DIR --labels DIR)"
             if held < FEW_HELD_OUT else "")
          + f"\n{record['seconds']:.0f} s in all; local zoo entry written (model card: "
          f"{result.entry_dir / 'README.md'}); segment with it: nucseg-zoo segment "
          f"{shlex.quote(str(result.entry_dir))} IMAGES... --out DIR", file=sys.stderr)
    print(result.entry_dir)
    return 0


def _print_epoch(record: dict) -> None:
    """One line per fine-tuning epoch on stderr."""
    print(f"epoch {record['epoch']}: training loss {record['train_loss']:.4f}, held-out average F1 "
          f"{record['validation_average_f1']:.3f} (default postprocessing), {record['seconds']:.0f} s", file=sys.stderr)


def _train_recipe(args: argparse.Namespace) -> int:
    from nucseg_zoo.devices import check_device
    from nucseg_zoo.training.loop import train
    from nucseg_zoo.training.recipe import read_recipe
    from nucseg_zoo.training.tuning import tune_run
    from nucseg_zoo.zoo.entry import read_entry

    args.device = check_device(args.device)  # before any work: training, tuning, the teacher and export use it
    entry = read_entry(args.model_id)
    recipe = read_recipe(entry, args.recipe)
    if recipe.members > 1:
        return _run_ensemble_member(args, recipe)
    if args.member not in (None, 0):
        raise ValueError(f"zoo model {args.model_id} is one network; --member applies to ensembles")
    run_dir = args.out or Path("runs") / args.model_id
    best = train(recipe, run_dir, device=args.device, precision=args.precision, resume=args.resume,
                 overwrite=args.overwrite, init_weights=args.init_from,
                 mirror=args.mirror, on_epoch=lambda record: print(record, file=sys.stderr))
    params_path = tune_run(recipe, best, run_dir, device=args.device, mirror=args.mirror)
    print(f"best weights: {best}\npostprocessing parameters (tuned on {recipe.validation_split}): {params_path}",
          file=sys.stderr)
    if args.export:
        from nucseg_zoo.training.export import export_run

        _rerender(export_run(run_dir, args.model_id, recipe, replace=args.replace), args.model_id)
    print(run_dir)
    return 0


def _run_ensemble_member(args: argparse.Namespace, recipe) -> int:
    """Train one member of an ensemble recipe; with ``--export`` and every member trained,
    tune the ensemble and install it."""
    from nucseg_zoo.training.ensemble import member_run_dir
    from nucseg_zoo.training.loop import train

    root = args.out or Path("runs") / args.model_id
    if args.member is None and not args.export:
        raise ValueError(f"the recipe trains an ensemble of {recipe.members} networks: pass --member K "
                         f"(0..{recipe.members - 1}) to train one, or --export once all are trained")
    if args.member is not None:
        best = train(recipe.for_member(args.member), member_run_dir(root, args.member), device=args.device,
                     precision=args.precision, resume=args.resume, overwrite=args.overwrite,
                     init_weights=args.init_from, mirror=args.mirror,
                     on_epoch=lambda record: print(record, file=sys.stderr))
        print(f"member {args.member}: best weights {best}", file=sys.stderr)
    if args.export:
        from nucseg_zoo.training.ensemble import export_ensemble

        _rerender(export_ensemble(root, args.model_id, recipe, device=args.device, precision=args.precision or "fp32",
                                  mirror=args.mirror, replace=args.replace), args.model_id)
    print(root)
    return 0


def _rerender(entry_dir: Path, model_id: str) -> None:
    """After an export: the entry's model card from its new files."""
    from nucseg_zoo.cards import write_zoo_card

    write_zoo_card(model_id)
    print(f"exported to {entry_dir} (model card re-rendered)", file=sys.stderr)

"""``nucseg-zoo train MODEL_ID [--member K] [--recipe FILE] [--device cpu|cuda] [--resume] [--export [--replace]]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a zoo model from its recipe")
    parser.add_argument("model_id", help="zoo model id, e.g. unet-bbbc039")
    parser.add_argument("--recipe", type=Path, help="recipe YAML (default: the zoo entry's recipe.yaml)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default: cpu)")
    parser.add_argument("--precision", choices=("bf16", "fp16", "fp32"),
                        help="training precision (default: bf16 where supported, i.e. CPU with bf16 or CUDA, "
                             "else fp32); with --export of an ensemble, that of the validation predictions the "
                             "postprocessing is tuned on (default: fp32, the harness's)")
    parser.add_argument("--member", type=int,
                        help="ensemble recipes (members > 1): train member K (seed + K) into runs/MODEL_ID/member-K")
    parser.add_argument("--out", type=Path, help="run folder (default: runs/MODEL_ID, or runs/MODEL_ID/member-K)")
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
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
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

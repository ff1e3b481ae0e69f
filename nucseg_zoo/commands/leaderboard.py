"""``nucseg-zoo leaderboard [--dir validation] [--update] [--check] [--no-atlases] [--verify [ID ...]] [--readouts] [--costs]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "leaderboard", help="regenerate the leaderboard pages from its result files",
        description="Regenerate leaderboard.json, LEADERBOARD.md and leaderboard.html in DIR from "
                    "DIR/results/*.json and DIR/references.yaml, and each entry's error atlas DIR/atlas/ID.html "
                    "from its stored predictions DIR/predictions/ID.npz and the test images (no evaluation "
                    "unless --update / --verify).")
    parser.add_argument("--dir", type=Path, default=Path("validation"), help="leaderboard folder (default: validation)")
    mode = parser.add_mutually_exclusive_group()  # one job per call: none of them is silently skipped
    mode.add_argument("--update", action="store_true",
                      help="first evaluate every zoo model and baseline whose content changed")
    parser.add_argument("--force", action="store_true", help="with --update: re-evaluate all of them")
    mode.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 if a page differs from a fresh rendering")
    parser.add_argument("--no-atlases", action="store_true",
                        help="regenerate (with --check: compare) the leaderboard pages only, not the error "
                             "atlases, which take minutes and need the test images")
    mode.add_argument("--verify", nargs="*", metavar="ID",
                      help="re-run entries (all, or the IDs) from their sources and compare with the records")
    mode.add_argument("--readouts", action="store_true",
                      help="compute the screen readouts (nucleus count, 2N/4N DNA-content fractions) from the ground "
                           "truth and from every entry's stored predictions, and each entry's readout error: "
                           "DIR/experiments/readouts.json and .png (the paper's Fig. 8, adapted)")
    mode.add_argument("--costs", action="store_true",
                      help="measure what every entry costs: training time and hardware (from its training log), "
                           "seconds per image on 1 and 2 CPU cores of this machine (or on --device cuda), peak "
                           "memory, parameters and GFLOP: DIR/experiments/costs.json and .png (the paper's Fig. 7, "
                           "adapted; minutes)")
    parser.add_argument("--tolerance", type=float, help="--verify: allowed metric difference (default 0.002)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mirror", help="dataset mirror (URL or folder)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from nucseg_zoo.leaderboard import UnknownEntry, render, stale_pages, update_builtin, verify, write_pages
    from nucseg_zoo.leaderboard.costs import COSTS_FILE, read_costs, stale_costs, write_costs
    from nucseg_zoo.leaderboard.readouts import READOUTS_FILE, read_readouts, stale_readouts, write_readouts
    from nucseg_zoo.leaderboard.render import GENERATED, docs_root, render_folder_atlases, stale_docs, write_docs

    if args.no_atlases and (args.update or args.verify is not None):
        print("nucseg-zoo leaderboard: error: --no-atlases applies to regenerating or checking the pages, not to "
              "--update or --verify (a re-evaluated entry's atlas is always redrawn)", file=sys.stderr)
        return 2
    if args.force and not args.update:
        print("nucseg-zoo leaderboard: error: --force applies to --update only", file=sys.stderr)
        return 2
    if args.tolerance is not None and args.verify is None:
        print("nucseg-zoo leaderboard: error: --tolerance applies to --verify only", file=sys.stderr)
        return 2
    if args.no_atlases and (args.readouts or args.costs):
        print("nucseg-zoo leaderboard: error: --no-atlases applies to regenerating or checking the pages, not to "
              f"--{'readouts' if args.readouts else 'costs'}", file=sys.stderr)
        return 2
    if args.check:
        stale = [args.dir / name for name in stale_pages(args.dir, atlases=not args.no_atlases, mirror=args.mirror)]
        root = docs_root(args.dir)
        stale += [root / page for page in stale_docs(root)] if root is not None else []
        for path in stale:
            print(f"{path} is out of date: run `nucseg-zoo leaderboard`", file=sys.stderr)
        readouts = stale_readouts(args.dir)
        for problem in readouts:
            print(f"{args.dir / READOUTS_FILE} is out of date ({problem}): run `nucseg-zoo leaderboard --readouts "
                  f"--dir {args.dir}`", file=sys.stderr)
        costs = stale_costs(args.dir)
        for problem in costs:
            print(f"{args.dir / COSTS_FILE} is out of date ({problem}): run `nucseg-zoo leaderboard --costs "
                  f"--dir {args.dir}`", file=sys.stderr)
        return 1 if stale or readouts or costs else 0
    if args.readouts:
        paths = write_readouts(args.dir, mirror=args.mirror)
        print_readouts(read_readouts(args.dir))
        return _print_written(paths, args.dir)
    if args.costs:
        paths = write_costs(args.dir, device=args.device, mirror=args.mirror,
                            progress=lambda line: print(line, file=sys.stderr))
        print_costs(read_costs(args.dir))
        return _print_written(paths, args.dir)
    if args.verify is not None:
        try:
            results = verify(args.dir, args.verify or None, device=args.device, mirror=args.mirror,
                             **({} if args.tolerance is None else {"tolerance": args.tolerance}))
        except UnknownEntry as err:
            print(f"nucseg-zoo leaderboard: error: {err}", file=sys.stderr)
            return 2
        for result in results:
            print(f"{'ok  ' if result.passed else 'FAIL'} {result.id}: {result.message}")
        return 0 if all(result.passed for result in results) else 1
    if args.update:  # writes the changed result files and the pages
        for record in update_builtin(args.dir, force=args.force, device=args.device, mirror=args.mirror):
            print(f"evaluated {record.entry.id}: average F1 {record.evaluation.scores.average_f1:.4f}", file=sys.stderr)
    else:
        atlases = {} if args.no_atlases else render_folder_atlases(args.dir, mirror=args.mirror)  # before any write
        write_pages(args.dir, {**atlases, **render(args.dir)})
    for name in GENERATED:
        print(args.dir / name)
    if not args.no_atlases:
        print(args.dir / "atlas")
    root = docs_root(args.dir)
    for path in write_docs(root) if root is not None else ():
        print(path)
    return 0


def _print_written(paths, folder: Path) -> int:
    """Print the experiment files written, regenerate the docs' tables that quote them and print
    the pages that changed; exit status 0."""
    from nucseg_zoo.leaderboard.render import docs_root, write_docs

    for path in paths:
        print(path)
    root = docs_root(folder)
    for path in write_docs(root) if root is not None else ():
        print(path)
    return 0


def print_readouts(data: dict) -> None:
    """The readout errors, one line per entry (best average F1 first)."""
    print(f"{data['track']}: readout errors against the ground truth ({len(data['truth'])} images)")
    print(f"{'entry':<20} {'avg F1':>7} {'count MAE':>10} {'count bias':>11} {'4N MAE pp':>10} {'4N bias pp':>11}")
    for entry_id, entry in data["entries"].items():
        errors = entry["errors"]
        print(f"{entry_id:<20} {entry['average_f1']:>7.3f} {errors['count_mae']:>10.1f} {errors['count_bias']:>+11.1f} "
              f"{100 * errors['fraction_4n_mae']:>10.2f} {100 * errors['fraction_4n_bias']:>+11.2f}")


def print_costs(data: dict) -> None:
    """Each entry's training time and measured inference, one line per entry (best average F1 first)."""
    from nucseg_zoo.leaderboard.costs import cpu_seconds, gpu_measurement, largest_measurement

    def cell(value, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    machine = data["machine"]
    print(f"{data['track']['dataset']} {data['track']['split']}: costs measured on {machine['cpu']} "
          f"({machine['cpus']} CPUs; {', '.join(machine['extensions']) or 'no AVX2'}), {len(data['images'])} images")
    print(f"{'entry':<20} {'training h':>10} {'s/img 1 core':>12} {'s/img 2 cores':>13} {'s/img GPU':>9} "
          f"{'peak MiB':>8} {'GFLOP':>7}")
    for entry_id, row in data["entries"].items():
        seconds = row["training"]["seconds"]
        largest, gpu = largest_measurement(row), gpu_measurement(row)
        print(f"{entry_id:<20} {cell(None if seconds is None else seconds / 3600, '.2f'):>10} "
              f"{cell(cpu_seconds(row, 1), '.2f'):>12} {cell(cpu_seconds(row, 2), '.2f'):>13} "
              f"{cell(gpu and gpu['seconds_per_image'], '.3f'):>9} "
              f"{cell(largest and largest['peak_memory_mib'], '.0f'):>8} "
              f"{cell(largest and largest['gflop_per_image'], '.1f'):>7}")

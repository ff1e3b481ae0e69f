"""Adding rows to the leaderboard: submissions, the zoo and baselines, and re-verification.

* :func:`submit` — an outside bioimage.io package: validated with bioimageio.spec, tested
  with ``bioimageio.core.test_model``, evaluated on the test split, recorded.
* :func:`update_builtin` — every zoo model and classical baseline (re-evaluated only when
  its content hash changed, or with ``force``).
* :func:`verify` — re-run entries from their sources and compare with the recorded numbers.

Nothing is written until every check has passed and every page has been rendered; each
file is then replaced atomically, so a rejected package leaves the folder byte-for-byte
as it was.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from nucseg_zoo._atomic import write_text_atomically
from nucseg_zoo._io import is_url
from nucseg_zoo.evaluation import Evaluation, evaluate_source
from nucseg_zoo.leaderboard.records import Entry, ResultRecord, Track, read_results, read_track, slugify
from nucseg_zoo.leaderboard.atlas import PREDICTIONS_DIR
from nucseg_zoo.leaderboard.render import atlas_ids, read_references, render_atlases, render_records, write_pages
from nucseg_zoo.segmenters import resolve_source
from nucseg_zoo.segmenters.python_source import is_python_spec
from nucseg_zoo.training.recipe import builtin_training_data

log = logging.getLogger(__name__)
BUILTIN_AUTHORS = ("nucseg-zoo developers",)


class DuplicateSubmission(ValueError):
    """The package (same sha256) is already on the leaderboard."""


class UnknownEntry(LookupError):
    """An id that is not an entry of the leaderboard."""


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def _save(folder: Path, records: Sequence[ResultRecord], changed: Sequence[ResultRecord], *,
          mirror: str | None = None) -> list[Path]:
    """Render the pages and the changed entries' error atlases, then write the ``changed``
    result files, their predicted labels, the atlases and the pages."""
    with_labels = {record.entry.id: record.evaluation.labels_path for record in changed
                   if record.evaluation.labels_path is not None}
    atlas_files = render_atlases(changed, with_labels, track=read_track(folder), mirror=mirror)  # all fail first
    pages = render_records(records, read_references(folder), atlas_ids(folder) | frozenset(with_labels))
    (folder / "results").mkdir(parents=True, exist_ok=True)
    paths = []
    for record in changed:
        path = folder / "results" / f"{record.entry.id}.json"
        write_text_atomically(path, record.to_json())
        paths.append(path)
    predictions = {f"{PREDICTIONS_DIR}/{entry_id}.npz": Path(labels).read_bytes()
                   for entry_id, labels in with_labels.items()}
    return paths + write_pages(folder, {**predictions, **atlas_files, **pages})


def _evaluate(source: str, track: Track, **kwargs) -> Evaluation:
    return evaluate_source(source, dataset=track.dataset, split=track.split, progress=True, **kwargs)


def submit(
    package: str,
    *,
    name: str,
    authors: Sequence[str],
    folder: str | Path = "validation",
    entry_id: str | None = None,
    sha256: str | None = None,
    device: str = "cpu",
    output_kind: str | None = None,
    weight_format: str | None = None,
    mirror: str | None = None,
    kind: str = "submission",
    note: str | None = None,
    recipe: str | None = None,
    training_data: Sequence[str] = (),
) -> ResultRecord:
    """Validate, test, evaluate and record a bioimage.io package on the leaderboard in ``folder``
    (on that folder's track).

    Args:
        package: ``.zip`` / ``rdf.yaml`` path or URL; for a peer also a Python segmenter
            ``module:callable`` (no package checks then).
        name: display name of the entry.
        authors: who made the model.
        folder: the leaderboard folder (``validation/``).
        entry_id: file name stem of the result (default: from ``name``).
        sha256: expected sha256 of the package file or download.
        device, output_kind, weight_format, mirror: as for :func:`~nucseg_zoo.evaluation.evaluate_source`.
        kind: "submission" (an outside lab's package) or "peer" (a published tool run or
            trained here; needs ``note``).
        note: shown with the kind, e.g. "trained here with the StarDist library".
        recipe: how to rebuild the source, recorded with the entry.
        training_data: the ``dataset/split`` pairs the model learned from (shown in the
            row's "trained on"; empty: "not stated").

    Returns:
        The new record (its result file and the pages have been written).

    Raises:
        DuplicateSubmission: a package with the same sha256 is already listed.
        nucseg_zoo.packaging.PackageValidationError: the validator or ``test_model`` rejects
            the package (with their reasons).
        ValueError: the id is taken, the model cannot take a single-channel 2-D image, ...
        FileNotFoundError: ``folder`` is not a leaderboard folder (no ``references.yaml``).
    """
    from nucseg_zoo.packaging.validate import PackageValidationError, load_valid_description, test_package

    from nucseg_zoo.zoo.bioimageio_rdf import check_single_channel_2d

    folder = Path(folder)
    read_references(folder)  # a leaderboard folder, before any work
    track = read_track(folder)
    if kind not in ("submission", "peer"):
        raise ValueError(f"submit adds a 'submission' or a 'peer', not {kind!r} (zoo models and baselines are "
                         "listed by `nucseg-zoo leaderboard --update`)")
    source = resolve_source(package, sha256=sha256)
    accepted = ("bioimageio", "python") if kind == "peer" else ("bioimageio",)
    if source.kind not in accepted:
        raise ValueError(f"{package!r} is a {source.kind}; a {kind} is a bioimage.io package"
                         f"{' or a Python segmenter module:callable' if kind == 'peer' else ''} "
                         "(zoo models and baselines are listed by `nucseg-zoo leaderboard --update`)")
    records = read_results(folder / "results")
    for record in records:
        if record.entry.source_sha256 == source.sha256:
            raise DuplicateSubmission(f"{package} (sha256 {source.sha256}) is already on the leaderboard as "
                                      f"{record.entry.id!r} ({record.entry.name}); not added again")
    entry_id = entry_id or slugify(name)
    if any(record.entry.id == entry_id for record in records):
        raise ValueError(f"entry id {entry_id!r} is taken by another model; choose another --id")
    entry = Entry(id=entry_id, name=name, kind=kind, authors=tuple(authors), source="-",
                  source_sha256=source.sha256, date=_today(), note=note, recipe=recipe,
                  training_data=tuple(training_data))  # checked before any work
    if source.kind == "bioimageio":
        check_single_channel_2d(load_valid_description(source.location))
        report = test_package(source.location, devices=[device])
        if not report.passed:
            raise PackageValidationError(f"bioimage.io package {package} fails bioimageio.core.test_model",
                                         report.reasons)
    evaluation = _evaluate(package, track, sha256=source.sha256 if source.kind == "bioimageio" else None, device=device,
                           output_kind=output_kind, weight_format=weight_format, mirror=mirror)
    shown_source = package if is_url(package) or source.kind == "python" else Path(package).name
    record = ResultRecord(
        entry=dataclasses.replace(entry, source=shown_source),
        evaluation=dataclasses.replace(evaluation, source=shown_source, cached=False))
    _save(folder, [*records, record], [record], mirror=mirror)
    return record


def builtin_sources(track: Track | None = None) -> list[tuple[str, str, str]]:
    """``(kind, entry id, source)`` of every zoo model and classical baseline: a baseline with
    parameters tuned on the track's dataset is run with them (``cp-basic@dsb2018-fluo``)."""
    from nucseg_zoo.baselines import baseline_source, list_baselines
    from nucseg_zoo.zoo import list_models

    return [("zoo", name, name) for name in list_models()] + \
        [("baseline", name, baseline_source(name, track.dataset if track else None)) for name in list_baselines()]


def update_builtin(folder: str | Path = "validation", *, force: bool = False, device: str = "cpu",
                   mirror: str | None = None) -> list[ResultRecord]:
    """(Re-)evaluate every zoo model and baseline whose content changed on the folder's track;
    rewrite the pages. An entry whose stated training data changed is re-recorded without
    re-evaluation.

    Returns:
        The records that were (re-)evaluated or re-recorded.
    """
    folder = Path(folder)
    track = read_track(folder)
    records = {record.entry.id: record for record in read_results(folder / "results")}
    changed = []
    for kind, name, source in builtin_sources(track):
        current = records.get(name)
        training_data = builtin_training_data(kind, source)
        if current is not None and current.entry.source_sha256 == resolve_source(source).sha256 and not force:
            if current.entry.training_data == training_data:
                continue
            record = dataclasses.replace(current, entry=dataclasses.replace(current.entry, training_data=training_data))
        else:
            evaluation = _evaluate(source, track, device=device, force=force, mirror=mirror)
            record = ResultRecord(entry=Entry(id=name, name=name, kind=kind, authors=BUILTIN_AUTHORS, source=source,
                                              source_sha256=evaluation.provenance["source_sha256"], date=_today(),
                                              training_data=training_data),
                                  evaluation=evaluation)
        records[name] = record
        changed.append(record)
    _save(folder, list(records.values()), changed, mirror=mirror)
    return changed


@dataclasses.dataclass(frozen=True)
class Verification:
    """Recorded vs re-computed numbers of one entry."""

    id: str
    recorded_average_f1: float
    average_f1: float | None
    passed: bool
    message: str


def verify(folder: str | Path = "validation", ids: Sequence[str] | None = None, *, tolerance: float = 0.002,
           device: str = "cpu", mirror: str | None = None) -> list[Verification]:
    """Re-evaluate entries (all, or ``ids``) from their sources and compare with their records.

    An entry passes when its source still has the recorded sha256 and the re-computed
    average F1 and error rate at 0.7 are within ``tolerance`` of the recorded ones (bf16
    inference may differ by a few pixels between machines). A submission can only be
    re-run when its source is a URL (or a file that exists here).

    Raises:
        UnknownEntry: an id in ``ids`` is not an entry of the leaderboard (nothing is re-run).
    """
    track = read_track(folder)
    records = read_results(Path(folder) / "results", track)
    unknown = sorted(set(ids or ()) - {record.entry.id for record in records})
    if unknown:
        raise UnknownEntry(f"no leaderboard entry {', '.join(map(repr, unknown))} in {folder}; entries: "
                       f"{', '.join(sorted(record.entry.id for record in records))}")
    results = []
    for record in records:
        entry = record.entry
        if ids and entry.id not in ids:
            continue
        recorded = record.evaluation.scores
        try:
            outside = entry.kind in ("submission", "peer")
            pinned = entry.source_sha256 if outside and not is_python_spec(entry.source) else None
            source = resolve_source(entry.source, sha256=pinned)
            if source.sha256 != entry.source_sha256:
                raise ValueError(f"{entry.source} now has sha256 {source.sha256}, recorded {entry.source_sha256}")
            fresh = _evaluate(entry.source, track, device=device, mirror=mirror, force=True,
                              output_kind=record.evaluation.provenance.get("output_kind")
                              if outside else None).scores
        except (ValueError, FileNotFoundError) as err:
            results.append(Verification(entry.id, recorded.average_f1, None, False, f"cannot re-run: {err}"))
            continue
        gaps = {"average F1": abs(fresh.average_f1 - recorded.average_f1),
                "error rate": abs(fresh.error_rate - recorded.error_rate)}
        worst = max(gaps, key=gaps.get)
        passed = gaps[worst] <= tolerance
        message = (f"average F1 {fresh.average_f1:.4f} (recorded {recorded.average_f1:.4f}), error rate "
                   f"{fresh.error_rate:.4f} (recorded {recorded.error_rate:.4f}); largest gap {gaps[worst]:.4f} "
                   f"({worst}) {'<=' if passed else '>'} {tolerance}")
        results.append(Verification(entry.id, recorded.average_f1, fresh.average_f1, passed, message))
    return results

"""Leaderboard result files: ``<track folder>/results/<id>.json``, one per entry.

A leaderboard is kept per track, a (dataset, split) pair named in its folder's
``references.yaml`` (``track: {dataset: bbbc039, split: test}``): ``validation/`` is the
paper's BBBC039 test track, ``validation/tracks/<dataset>-<split>/`` the others.

A result file holds the entry (who, what, which file, what data it learned from) and the
full evaluation as written by :meth:`nucseg_zoo.evaluation.Evaluation.to_dict` (per-image
counts, aggregates, provenance). :func:`check_record` recomputes every aggregate from the
per-image counts, so a hand-edited number is caught; the pages are generated from these
files only.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nucseg_zoo._text import count
from nucseg_zoo.datasets import split_names
from nucseg_zoo.evaluation import Evaluation
from nucseg_zoo.evaluation.provenance import dataset_fingerprint

ENTRY_KINDS = ("zoo", "baseline", "submission", "peer")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_DATA = re.compile(r"^[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class Track:
    """What a leaderboard scores on: one split of one dataset."""

    dataset: str
    split: str

    def __str__(self) -> str:
        return f"{self.dataset}/{self.split}"


def read_track(folder: str | Path) -> Track:
    """The track of the leaderboard in ``folder`` (``references.yaml``'s ``track``).

    Raises:
        FileNotFoundError: ``folder`` has no ``references.yaml`` (not a leaderboard folder).
        ValueError: it names no track, or a dataset/split that does not exist.
    """
    import yaml

    from nucseg_zoo import datasets

    path = Path(folder) / "references.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a leaderboard folder: it has no references.yaml")
    track = (yaml.safe_load(path.read_text()) or {}).get("track")
    if not isinstance(track, dict) or set(track) != {"dataset", "split"}:
        raise ValueError(f"{path}: expected 'track: {{dataset: ..., split: ...}}', got {track!r}")
    datasets.card(track["dataset"]).split(track["split"])  # both exist
    return Track(track["dataset"], track["split"])


@dataclass(frozen=True)
class Entry:
    """Who and what a leaderboard row is.

    Attributes:
        id: file name stem, lowercase ``[a-z0-9._-]``.
        name: display name.
        kind: "zoo", "baseline", "submission" (an outside package) or "peer" (a published
            tool run or trained here, e.g. StarDist, Cellpose).
        authors: who made the model.
        source: what was evaluated (zoo id, baseline name, package file name or URL,
            ``module:callable``).
        source_sha256: sha256 of that source (as in the evaluation's provenance).
        date: ISO date the entry was recorded.
        note: shown with the kind, e.g. "trained here with the StarDist library" (required
            for peers).
        recipe: how to rebuild the source (command, script, budget), for entries whose
            source is not kept in the repository.
        training_data: the ``dataset/split`` pairs the model learned from or was tuned on
            (empty: not stated, e.g. an outside submission that did not say).
    """

    id: str
    name: str
    kind: str
    authors: tuple[str, ...]
    source: str
    source_sha256: str
    date: str
    note: str | None = None
    recipe: str | None = None
    training_data: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise ValueError(f"entry id {self.id!r} must be lowercase letters, digits, '.', '_' or '-'")
        if self.kind not in ENTRY_KINDS:
            raise ValueError(f"entry kind {self.kind!r} is not one of {', '.join(ENTRY_KINDS)}")
        if not self.authors or not all(a.strip() for a in self.authors):
            raise ValueError(f"entry {self.id!r} needs at least one non-empty author")
        if self.kind == "peer" and not (self.note or "").strip():
            raise ValueError(f"peer entry {self.id!r} needs a note saying how it was made, e.g. "
                             "'trained here with the StarDist library'")
        object.__setattr__(self, "authors", tuple(self.authors))
        object.__setattr__(self, "training_data", tuple(self.training_data))
        bad = [item for item in self.training_data if not _DATA.match(item)]
        if bad:
            raise ValueError(f"entry {self.id!r}: training data must be 'dataset/split' pairs, got {bad}")

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``note``, ``recipe`` and ``training_data`` only when set)."""
        data = {**asdict(self), "authors": list(self.authors), "training_data": list(self.training_data)}
        return {key: value for key, value in data.items()
                if key not in ("note", "recipe", "training_data") or value}


def slugify(name: str) -> str:
    """An entry id from a display name: lowercase, runs of other characters become '-'."""
    slug = re.sub(r"[^a-z0-9._]+", "-", name.lower()).strip("-.")
    if not slug:
        raise ValueError(f"cannot make an entry id from name {name!r}; pass an id")
    return slug


@dataclass(frozen=True)
class ResultRecord:
    """One result file: the entry and its evaluation."""

    entry: Entry
    evaluation: Evaluation

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``{"entry": ..., "evaluation": ...}``)."""
        return {"entry": self.entry.to_dict(), "evaluation": self.evaluation.to_dict()}

    def to_json(self) -> str:
        """The file's text."""
        return json.dumps(self.to_dict(), indent=1) + "\n"


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def check_record(data: dict[str, Any], *, track: Track, where: str = "result") -> ResultRecord:
    """Parse a result file's JSON and check it; return the :class:`ResultRecord`.

    Checks: the entry's fields; the evaluation is on the ``track``'s dataset/split, all of
    its images in official order, with the data hash of the dataset card's manifest; the
    entry's sha256 equals the evaluation's; every aggregate (and ``seconds_per_image``)
    equals its recomputation from the per-image values.

    Raises:
        ValueError: naming ``where`` and every problem found.
    """
    try:
        entry = Entry(**{**data["entry"], "authors": tuple(data["entry"]["authors"]),
                         "training_data": tuple(data["entry"].get("training_data", ()))})
        stored = data["evaluation"]
        evaluation = Evaluation.from_dict(stored)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{where}: not a leaderboard result file ({type(err).__name__}: {err})") from err
    problems = []
    if (evaluation.dataset, evaluation.split) != (track.dataset, track.split):
        problems.append(f"evaluated on {evaluation.dataset}/{evaluation.split}, the leaderboard is {track}")
    if stored.get("limit"):
        problems.append(f"evaluated on the first {count(stored['limit'], 'image')} only")
    if tuple(image.name for image in evaluation.scores.images) != split_names(track.dataset, track.split):
        problems.append(f"its images are not the official {track} images in official order")
    if stored.get("dataset_sha256") != dataset_fingerprint(track.dataset, track.split):
        problems.append("its dataset_sha256 is not the hash of the official images and masks")
    if stored.get("source_sha256") != entry.source_sha256:
        problems.append(f"entry sha256 {entry.source_sha256} differs from the evaluation's {stored.get('source_sha256')}")
    seconds = evaluation.image_seconds
    if len(seconds) != evaluation.scores.n_images or evaluation.seconds_per_image is None \
            or not math.isclose(sum(seconds) / len(seconds), evaluation.seconds_per_image, rel_tol=1e-9):
        problems.append("seconds_per_image is not the mean of the per-image seconds")
    recomputed = evaluation.to_dict()
    for key, value in recomputed.items():
        if key != "images" and not _close(stored.get(key), value):
            problems.append(f"{key} is {stored.get(key)!r} but the per-image counts give {value!r}")
    if problems:
        raise ValueError(f"{where}: " + "; ".join(problems))
    return ResultRecord(entry=entry, evaluation=evaluation)


def read_results(folder: str | Path, track: Track | None = None) -> list[ResultRecord]:
    """Every ``*.json`` in ``folder`` (checked against ``track``, by default the track of the
    leaderboard folder holding ``folder``), in file-name order.

    Raises:
        ValueError: a file fails :func:`check_record`, is not valid JSON, or its name is
            not its entry id; or two entries share a source sha256.
    """
    track = track or read_track(Path(folder).parent)
    records, seen = [], {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: invalid JSON ({err})") from err
        record = check_record(data, track=track, where=str(path))
        if record.entry.id != path.stem:
            raise ValueError(f"{path}: entry id {record.entry.id!r} does not match the file name")
        if record.entry.source_sha256 in seen:
            raise ValueError(f"{path}: same source sha256 as {seen[record.entry.source_sha256]}")
        seen[record.entry.source_sha256] = path.name
        records.append(record)
    return records

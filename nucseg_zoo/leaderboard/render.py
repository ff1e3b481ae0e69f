"""Generate the leaderboard pages from the result files and the paper's reference rows.

A leaderboard folder per track (``validation/`` for BBBC039 test, ``validation/tracks/<id>/``
for the others), laid out as::

    results/<id>.json     one checked result per entry (the only source of numbers)
    references.yaml       the track (dataset, split), its introduction, and published
                          numbers on exactly that split (quoted, not re-computed; none
                          where no paper reported that split)
    leaderboard.json      generated: summary rows, best first, plus the references
    LEADERBOARD.md        generated: the tables
    leaderboard.html      generated: the tables and four figures, self-contained
    predictions/<id>.npz  each entry's predicted label images (written with its result)
    atlas/                generated: each entry's error atlas (:mod:`nucseg_zoo.leaderboard.atlas`)

:func:`render` returns the generated pages' contents and :func:`render_atlases` the atlas
files; :func:`write_pages` writes them (each atomically) only after all of them have been
rendered.

The README and the documentation pages (``docs/*.md``) quote the leaderboards, the dataset
cards and the zoo entries in generated blocks: :func:`render_docs` fills them,
:func:`stale_docs` lists the pages whose blocks are out of date and :func:`write_docs`
rewrites those (``nucseg-zoo leaderboard`` and ``nucseg-zoo submit`` call it in a checkout,
:func:`docs_root`).
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from pathlib import Path
from typing import Any, Callable, Collection, Sequence

import numpy as np
import yaml

from nucseg_zoo._atomic import atomic_path
from nucseg_zoo.leaderboard.atlas import ATLAS_DIR, ATLAS_IMAGES, PREDICTIONS_DIR, predictions_path, render_atlas
from nucseg_zoo.leaderboard.records import ResultRecord, Track, read_results, read_track
from nucseg_zoo.metrics import SIZE_BINS

GENERATED = ("leaderboard.json", "LEADERBOARD.md", "leaderboard.html")
_MATPLOTLIB_MARK = "<!-- figures: matplotlib "


def read_references(folder: str | Path) -> dict[str, Any]:
    """``references.yaml`` of ``folder`` (``{"track": ..., "intro": ..., "citation": ..., "rows": [...]}``).

    Raises:
        FileNotFoundError: not a leaderboard folder. ValueError: a reference row lacks a number.
    """
    read_track(folder)
    path = Path(folder) / "references.yaml"
    data = yaml.safe_load(path.read_text())
    data.setdefault("rows", [])
    for row in data["rows"]:
        missing = {"name", "average_f1", "error_rate"} - set(row)
        if missing:
            raise ValueError(f"{path}: reference row {row} lacks {sorted(missing)}")
    return data


def _no_nan(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    return None if isinstance(value, float) and math.isnan(value) else value


def summary_row(record: ResultRecord, *, has_atlas: bool = False) -> dict[str, Any]:
    """The leaderboard.json row of one entry: who, what, what it learned from and whether that
    holds fields of the test split (:func:`~nucseg_zoo.datasets.shared_fields.holds_test_fields`;
    None: unknown), the headline metrics (NaN → None) and its error atlas page (None without
    stored predictions)."""
    from nucseg_zoo.datasets.shared_fields import holds_test_fields

    scores, evaluation = record.evaluation.scores, record.evaluation
    return _no_nan({
        **record.entry.to_dict(),
        "trained_on": trained_on(record.entry.training_data),
        "training_holds_test_fields": holds_test_fields(record.entry.training_data, evaluation.dataset,
                                                        evaluation.split),
        "average_f1": scores.average_f1,
        "f1": {f"{t:.2f}": v for t, v in scores.f1.items()},
        "error_rate_at_0.7": scores.error_rate,
        "missed_by_size": dict(scores.missed_by_size),
        "splits": scores.splits,
        "merges": scores.merges,
        "extra_objects": scores.extra_objects,
        "jaccard": scores.jaccard,
        "n_true": scores.n_true,
        "n_pred": scores.n_pred,
        "seconds_per_image": evaluation.seconds_per_image,
        "output_kind": evaluation.provenance.get("output_kind"),
        "device": evaluation.provenance.get("environment", {}).get("device"),
        "result_file": f"results/{record.entry.id}.json",
        "atlas": f"{ATLAS_DIR}/{record.entry.id}.html" if has_atlas else None,
    })


def trained_on(training_data: Sequence[str]) -> str:
    """What a row learned from, as the tables show it, e.g. ``"bbbc039/training"``; ``"not stated"``."""
    return ", ".join(training_data) if training_data else "not stated"


def ranked(records: Sequence[ResultRecord]) -> list[ResultRecord]:
    """Best average F1 first (ties: by id)."""
    return sorted(records, key=lambda r: (-r.evaluation.scores.average_f1, r.entry.id))


def leaderboard_data(records: Sequence[ResultRecord], references: dict[str, Any],
                     atlas_ids: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The content of leaderboard.json (``atlas_ids``: entries with an error atlas)."""
    track = references["track"]
    return {
        "dataset": track["dataset"],
        "split": track["split"],
        "note": "generated by `nucseg-zoo leaderboard` from results/*.json and references.yaml; do not edit",
        "entries": [summary_row(r, has_atlas=r.entry.id in atlas_ids) for r in ranked(records)],
        "references": references,
    }


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _seconds(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


_HEAD = ["#", "entry", "kind", "trained on", "test fields in training", "average F1", "F1@0.5", "F1@0.7", "F1@0.9", "missed@0.7",
         *[f"missed {b}" for b in SIZE_BINS], "splits", "merges", "extra", "s/image", "device", "authors", "date",
         "errors"]
_REF_HEAD = ["method (published)", "average F1", "missed@0.7", "s/image", "hardware"]


def _cells(rank: int, row: dict[str, Any]) -> list[str]:
    kind = f"{row['kind']}: {row['note']}" if row.get("note") else row["kind"]
    holds = {True: "yes", False: "no", None: "unknown"}[row["training_holds_test_fields"]]
    return [str(rank), row["name"], kind, row["trained_on"], holds, f"{row['average_f1']:.3f}", f"{row['f1']['0.50']:.3f}",
            f"{row['f1']['0.70']:.3f}", f"{row['f1']['0.90']:.3f}", _pct(row["error_rate_at_0.7"]),
            *[_pct(row["missed_by_size"][b]) for b in SIZE_BINS], str(row["splits"]), str(row["merges"]),
            str(row["extra_objects"]), _seconds(row["seconds_per_image"]), row["device"] or "–",
            ", ".join(row["authors"]), row["date"]]


def _md_row(rank: int, row: dict[str, Any]) -> list[str]:
    return [*_cells(rank, row), f"[atlas]({row['atlas']})" if row["atlas"] else "–"]


def _html_row(rank: int, row: dict[str, Any]) -> list[str]:
    atlas = f'<a href="{html.escape(row["atlas"])}">atlas</a>' if row["atlas"] else "–"
    return [*map(html.escape, _cells(rank, row)), atlas]


def _ref_cells(row: dict[str, Any]) -> list[str]:
    return [row["name"], f"{row['average_f1']:.3f}", _pct(row["error_rate"]), _seconds(row.get("seconds_per_image")),
            row.get("hardware") or "–"]


def _md_table(head: list[str], rows: list[list[str]], *, link_column: bool = False) -> list[str]:
    """A markdown table; ``link_column``: the last column holds markdown links (not escaped)."""
    escape = lambda cell: cell.replace("|", "\\|")  # noqa: E731
    cells = lambda row: [*map(escape, row[:-1]), row[-1] if link_column else escape(row[-1])]  # noqa: E731
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + \
        ["| " + " | ".join(cells(row)) + " |" for row in rows]


_METRICS = ("scored with the metrics of Caicedo et al. 2019: average F1 over IoU thresholds 0.50–0.90 (mean over "
            "images), nuclei missed at IoU 0.7 (pooled, overall and by size), splits and merges at IoU 0.1, extra "
            "objects at 0.7. Every row was evaluated with `nucseg-zoo evaluate` through the shared postprocessing; "
            "parameters were chosen on training/validation splits only. \"Trained on\" names the data each row "
            "learned from or was tuned on, and \"test fields in training\" whether that data holds a field of "
            "this test split (another dataset's copy of it included; the dataset cards record such shared fields, "
            "found with `nucseg-zoo datasets overlap`). Seconds per image are the wall time of `segment` on the device named "
            "(machines differ; compare within one device).")


def _intro(data: dict[str, Any]) -> str:
    from nucseg_zoo import datasets

    track = Track(data["dataset"], data["split"])
    split = datasets.card(track.dataset).split(track.split)
    return (f"{datasets.card(track.dataset).title}: **{track.split} split** ({len(split.stems):,} images, "
            f"{split.n_nuclei:,} nuclei), {_METRICS} {data['references'].get('intro', '').strip()}").strip()


def _references_md(references: dict[str, Any]) -> list[str]:
    if not references["rows"]:
        return ["## Published reference numbers", "", references.get("no_rows", "No published numbers on this "
                "split: results of other papers on other splits are not comparable and are not listed."), ""]
    return ["## Published reference numbers (not re-computed)", "", f"Quoted from {references['citation']}", "",
            *_md_table(_REF_HEAD, [_ref_cells(row) for row in references["rows"]]), ""]


def _references_html(references: dict[str, Any]) -> list[str]:
    if not references["rows"]:
        return ["<h2>Published reference numbers</h2>", f"<p>{html.escape(_references_md(references)[2])}</p>"]
    return ["<h2>Published reference numbers (not re-computed)</h2>",
            f"<p>Quoted from {html.escape(references['citation'])}</p>",
            _html_table(_REF_HEAD, [_ref_cells(row) for row in references["rows"]])]


def _title(data: dict[str, Any]) -> str:
    from nucseg_zoo import datasets

    return f"nucseg-zoo leaderboard: {datasets.card(data['dataset']).name} {data['split']} split"


def markdown(data: dict[str, Any]) -> str:
    """LEADERBOARD.md."""
    lines = [f"# {_title(data)}", "", _intro(data), "",
             *_md_table(_HEAD, [_md_row(i, row) for i, row in enumerate(data["entries"], 1)], link_column=True), "",
             *_references_md(data["references"]),
             "Figures (F1 vs IoU, misses by size, splits/merges, time): `leaderboard.html`. Each entry's "
             "error atlas (`atlas/<id>.html`) shows every test image with its missed, extra, split and merged "
             "nuclei marked, worst image first. "
             "Per-image results and provenance (source sha256, dataset hashes, package versions, device): "
             "`results/<id>.json`. Regenerate with `nucseg-zoo leaderboard`; submit with `nucseg-zoo submit` "
             "(see the README).", ""]
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f3f3f3}td:nth-child(2),td:nth-child(3){text-align:left}.fig{display:inline-block;margin:0.5em}
.fig svg{max-width:100%;height:auto}"""


def _html_table(head: list[str], rows: list[list[str]], *, escaped: bool = False) -> str:
    """A table; ``escaped``: the body cells are HTML already."""
    cells = lambda tag, row, esc: "".join(f"<{tag}>{esc(c)}</{tag}>" for c in row)  # noqa: E731
    body_escape = (lambda c: c) if escaped else html.escape
    return ("<table><thead><tr>" + cells("th", head, html.escape) + "</tr></thead><tbody>"
            + "".join("<tr>" + cells("td", row, body_escape) + "</tr>" for row in rows) + "</tbody></table>")


def html_page(data: dict[str, Any], records: Sequence[ResultRecord]) -> str:
    """leaderboard.html: self-contained (inline CSS and SVG figures)."""
    import matplotlib

    from nucseg_zoo.leaderboard.plots import FIGURES

    ordered = ranked(records)
    figures = "\n".join(f'<div class="fig"><h3>{html.escape(title)}</h3>\n{draw(ordered)}</div>'
                        for title, draw in FIGURES.items())
    return "\n".join([
        "<!DOCTYPE html>", f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(_title(data))}</title>',
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(_title(data))}</h1>",
        f"<p>{html.escape(_intro(data).replace('`', '').replace('**', ''))}</p>",
        _html_table(_HEAD, [_html_row(i, row) for i, row in enumerate(data["entries"], 1)], escaped=True),
        *_references_html(data["references"]),
        "<h2>Figures</h2>", f"{_MATPLOTLIB_MARK}{matplotlib.__version__} -->", figures,
        "<p>Generated by <code>nucseg-zoo leaderboard</code> from <code>results/*.json</code>; do not edit.</p>",
        "</body></html>", ""])


def render_records(records: Sequence[ResultRecord], references: dict[str, Any],
                   atlas_ids: frozenset[str] = frozenset()) -> dict[str, str]:
    """File name -> content of every generated page for ``records`` and ``references``
    (``atlas_ids``: the entries whose rows link to an error atlas)."""
    data = leaderboard_data(records, references, atlas_ids)
    return {"leaderboard.json": json.dumps(data, indent=1) + "\n", "LEADERBOARD.md": markdown(data),
            "leaderboard.html": html_page(data, records)}


def render(folder: str | Path) -> dict[str, str]:
    """File name -> content of every generated page of the leaderboard in ``folder``.

    Raises:
        ValueError: a result file fails its checks (see :func:`read_results`).
    """
    folder = Path(folder)
    return render_records(read_results(folder / "results"), read_references(folder), atlas_ids(folder))


def atlas_ids(folder: str | Path) -> frozenset[str]:
    """Entries of the leaderboard in ``folder`` with stored predictions (hence an atlas)."""
    return frozenset(path.stem for path in (Path(folder) / PREDICTIONS_DIR).glob("*.npz"))


def render_atlases(records: Sequence[ResultRecord], labels: dict[str, Path], *, track: Track,
                   mirror: str | None = None) -> dict[str, bytes]:
    """The error atlas files of ``records`` whose id is in ``labels`` (id -> stored predictions).

    Reads the ``track``'s split of the dataset (``mirror`` or the configured source).

    Raises:
        ValueError: stored predictions that lack an image or do not reproduce the recorded counts.
    """
    from nucseg_zoo import datasets

    chosen = [record for record in records if record.entry.id in labels]
    if not chosen:
        return {}
    samples = datasets.load(track.dataset, track.split, mirror=mirror)
    files: dict[str, bytes] = {}
    for record in chosen:
        render_atlas(record, labels[record.entry.id], samples, files)
    return files


def render_folder_atlases(folder: str | Path, *, mirror: str | None = None,
                          entries: Collection[str] | None = None) -> dict[str, bytes]:
    """The error atlas files of every entry of the leaderboard in ``folder`` with stored
    predictions (``entries``: of those ids only)."""
    folder = Path(folder)
    ids = [entry_id for entry_id in atlas_ids(folder) if entries is None or entry_id in entries]
    return render_atlases(read_results(folder / "results"),
                          {entry_id: predictions_path(folder, entry_id) for entry_id in ids},
                          track=read_track(folder), mirror=mirror)


def write_pages(folder: str | Path, pages: dict[str, str | bytes]) -> list[Path]:
    """Write rendered ``pages`` (relative path -> text or bytes) into ``folder``, each file
    atomically (folders made as needed); return the paths. A picture that already exists and
    shows the same (:func:`_same_file`) is left as it is, so another image encoder's bytes
    never churn the repository."""
    paths = []
    for name, content in pages.items():
        path = Path(folder) / name
        if isinstance(content, bytes) and name.endswith((".png", ".webp")) and path.is_file() \
                and _same_file(name, path.read_bytes(), content):
            paths.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            if isinstance(content, bytes):
                tmp.write_bytes(content)
            else:
                tmp.write_text(content)
        paths.append(path)
    return paths


def _without_figures(page: str) -> str:
    """An html page with its SVG figures and the matplotlib version mark removed."""
    page = re.sub(r"<svg.*?</svg>", "<svg/>", page, flags=re.S)
    return re.sub(re.escape(_MATPLOTLIB_MARK) + r"\S+ -->", "", page)


def _same_file(name: str, current: bytes, fresh: bytes) -> bool:
    """Atlas pictures: PNG overlays must decode to the same pixels (encoders may differ);
    lossy WebP display images only need to decode to an image of the same size."""
    if current == fresh:
        return True
    from PIL import Image

    try:
        old, new = (np.asarray(Image.open(io.BytesIO(data))) for data in (current, fresh))
    except OSError:
        return False
    if name.endswith(".webp"):
        return old.shape == new.shape
    return old.shape == new.shape and bool((old == new).all())


def stale_pages(folder: str | Path, *, atlases: bool = False, mirror: str | None = None,
                atlas_entries: Collection[str] | None = None) -> list[str]:
    """Generated files in ``folder`` that differ from a fresh rendering (empty: up to date).

    The SVG figures are compared only when the committed page was drawn by the installed
    matplotlib version (other versions lay out the same data differently); tables and
    numbers are always compared. With ``atlases`` the error atlases are re-rendered from
    the stored predictions and the dataset (``mirror``) and compared too: pages by text,
    pictures as :func:`_same_file` says; an atlas file nobody generates any more is stale.
    ``atlas_entries`` limits that to the atlases of those entry ids (and the test images they
    share), for a quicker check of one or two (``nucseg-zoo leaderboard --check`` checks all).
    """
    import matplotlib

    stale = []
    if atlases:
        fresh_files = render_folder_atlases(folder, mirror=mirror, entries=atlas_entries)
        for name, fresh in fresh_files.items():
            path = Path(folder) / name
            if not path.is_file() or not _same_file(name, path.read_bytes(), fresh):
                stale.append(name)
        atlas_root = Path(folder) / ATLAS_DIR
        for path in sorted(atlas_root.rglob("*")) if atlas_root.is_dir() else ():
            if atlas_entries is not None and path.relative_to(atlas_root).parts[0].removesuffix(".html") \
                    not in {*atlas_entries, ATLAS_IMAGES}:
                continue  # another entry's atlas, not checked here
            if path.is_file() and path.relative_to(folder).as_posix() not in fresh_files:
                stale.append(path.relative_to(folder).as_posix())
    for name, fresh in render(folder).items():
        path = Path(folder) / name
        current = path.read_text() if path.is_file() else None
        if name == "leaderboard.html" and current is not None \
                and f"{_MATPLOTLIB_MARK}{matplotlib.__version__} -->" not in current:
            current, fresh = _without_figures(current), _without_figures(fresh)
        if current != fresh:
            stale.append(name)
    return stale


# ---------------------------------------------------------------------------------------------
# The generated tables of the README and of the documentation pages (docs/*.md).
#
# A page holds a generated block between two markers,
#
#     <!-- generated by `nucseg-zoo leaderboard`: NAME; do not edit -->
#     ...
#     <!-- end of generated NAME -->
#
# and :func:`render_docs` fills each from the committed data: the leaderboard tracks
# (``validation/`` and ``validation/tracks/*/``), the dataset cards and the zoo entries.

DOCS_MARKER = "mkdocs.yml"
_BEGIN = re.compile(r"<!-- generated by `nucseg-zoo leaderboard`: (?P<name>[a-z-]+); do not edit -->\n")


def _end(name: str) -> str:
    return f"<!-- end of generated {name} -->"


def docs_root(folder: str | Path) -> Path | None:
    """The checkout whose README and docs quote the leaderboard in ``folder``: the nearest of
    ``folder`` and its parents that holds ``mkdocs.yml``, ``README.md`` and ``validation/``
    (None: ``folder`` is not in such a checkout, e.g. a copy of a leaderboard elsewhere)."""
    for candidate in (Path(folder).resolve(), *Path(folder).resolve().parents):
        if all((candidate / name).exists() for name in (DOCS_MARKER, "README.md", "validation")):
            return candidate
    return None


def docs_tracks(root: str | Path) -> list[Path]:
    """The leaderboard folders of the checkout at ``root``: ``validation/`` (the paper's
    track) first, then ``validation/tracks/*/`` by name."""
    base = Path(root) / "validation"
    others = sorted(p for p in (base / "tracks").glob("*") if (p / "references.yaml").is_file())
    return [base, *others]


class _DocsData:
    """What the generated blocks quote, read once per rendering."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tracks = []  # (folder relative to root, leaderboard.json content)
        for folder in docs_tracks(root):
            data = leaderboard_data(read_results(folder / "results"), read_references(folder), atlas_ids(folder))
            self.tracks.append((folder.relative_to(root).as_posix(), data))

    def track_name(self, data: dict[str, Any]) -> str:
        from nucseg_zoo import datasets

        return f"{datasets.card(data['dataset']).name} {data['split']}"

    def rows(self, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {row["id"]: row for row in data["entries"]}


def _link(target: str, page: str) -> str:
    """``target`` (relative to the checkout) as a link from ``page`` (relative to the checkout)."""
    import posixpath

    return posixpath.relpath(target, posixpath.dirname(page) or ".")


def _asset(target: str, page: str) -> str:
    """A link from ``page`` to a leaderboard file ``target`` (relative to the checkout): the
    documentation site serves the files of ``validation/`` at the same path below its root
    (``docs/hooks.py``), so a page in ``docs/`` links to ``docs/<target>``."""
    return _link(f"docs/{target}" if page.startswith("docs/") else target, page)


def _row_name(row: dict[str, Any]) -> str:
    return f"`{row['id']}`" if row["name"] == row["id"] else f"{row['name']} (`{row['id']}`)"


def _f1_and_missed(row: dict[str, Any] | None) -> str:
    return "–" if row is None else f"{row['average_f1']:.3f} / {_pct(row['error_rate_at_0.7'])}"


def _block_results_summary(docs: _DocsData, page: str) -> list[str]:
    """Each entry of the paper's track with its average F1 and misses on every track."""
    (_, first), *others = docs.tracks
    head = ["model", "kind", *[f"{docs.track_name(data)}: average F1 / missed at IoU 0.7"
                              for _, data in docs.tracks]]
    rows = [[f"`{row['id']}`", row["kind"], _f1_and_missed(row),
             *[_f1_and_missed(docs.rows(data).get(row["id"])) for _, data in others]]
            for row in first["entries"]]
    return _md_table_dashes(head, rows)


def _md_table_dashes(head: list[str], rows: list[list[str]]) -> list[str]:
    escape = lambda cell: cell.replace("|", "\\|")  # noqa: E731
    return ["| " + " | ".join(map(escape, head)) + " |", "| " + " | ".join("---" for _ in head) + " |"] + \
        ["| " + " | ".join(row) + " |" for row in rows]


def _block_results_tracks(docs: _DocsData, page: str) -> list[str]:
    """Every track: what it scores on, two tables (accuracy; errors, data and time), the
    published numbers, the figures and links to the track's own pages."""
    from nucseg_zoo import datasets
    from nucseg_zoo.leaderboard.plots import FIGURES

    lines: list[str] = []
    for folder, data in docs.tracks:
        card = datasets.card(data["dataset"])
        split = card.split(data["split"])
        accuracy, errors = [], []
        for rank, row in enumerate(data["entries"], 1):
            holds = {True: "yes", False: "no", None: "unknown"}[row["training_holds_test_fields"]]
            atlas = "[atlas](" + _asset(f"{folder}/{row['atlas']}", page) + ")" if row["atlas"] else "–"
            accuracy.append([str(rank), f"`{row['id']}`", row["kind"], f"{row['average_f1']:.3f}",
                             f"{row['f1']['0.50']:.3f}", f"{row['f1']['0.70']:.3f}", f"{row['f1']['0.90']:.3f}",
                             _pct(row["error_rate_at_0.7"]), *[_pct(row["missed_by_size"][b]) for b in SIZE_BINS],
                             atlas])
            errors.append([f"`{row['id']}`", str(row["splits"]), str(row["merges"]), str(row["extra_objects"]),
                           row["trained_on"], holds, _seconds(row["seconds_per_image"]), row["device"] or "–"])
        intro = " ".join(data["references"].get("intro", "").split())
        lines += [f"## {docs.track_name(data)} split", "",
                  f"{card.title}: **{data['split']} split**, {len(split.stems):,} images, {split.n_nuclei:,} nuclei."
                  + (f" {intro}" if intro else ""), "",
                  *_md_table_dashes(["#", "entry", "kind", "average F1", "F1@0.5", "F1@0.7", "F1@0.9", "missed@0.7",
                                     *[f"missed {b}" for b in SIZE_BINS], "errors"], accuracy), "",
                  *_md_table_dashes(["entry", "splits", "merges", "extra", "trained on", "test fields in training",
                                     "s/image", "device"], errors), ""]
        references = data["references"]
        if references["rows"]:
            lines += [f"Published numbers on this split (quoted from {references['citation']}, not re-computed):",
                      "", *_md_table_dashes(_REF_HEAD, [_ref_cells(row) for row in references["rows"]]), ""]
        else:
            lines += [" ".join(references.get("no_rows", "No published numbers on this split.").split()), ""]
        for k, title in enumerate(FIGURES, 1):
            lines += [f"![{title}](" + _asset(f"{folder}/figures/figure-{k}.svg", page) + ")", ""]
        lines += ["The same tables with the figures: [leaderboard.html](" + _asset(f"{folder}/leaderboard.html", page)
                  + f"); per-image results and provenance: `{folder}/results/<id>.json`.", ""]
    return lines[:-1]


def _block_results_notes(docs: _DocsData, page: str) -> list[str]:
    """How each peer and submitted row was made, as its result file records it."""
    lines = []
    for folder, data in docs.tracks:
        for row in data["entries"]:
            if row["kind"] in ("peer", "submission") and (row.get("note") or row.get("recipe")):
                recipe = f" Recipe: {row['recipe']}." if row.get("recipe") else ""
                lines.append(f"* {_row_name(row)}, {docs.track_name(data)} ({row['kind']}, "
                             f"{', '.join(row['authors'])}): {row.get('note') or '–'}.{recipe}")
    return lines or ["No peer or submitted rows yet."]


def _block_results_readouts(docs: _DocsData, page: str) -> list[str]:
    """Each track's readout errors (:mod:`nucseg_zoo.leaderboard.readouts`), where computed."""
    from nucseg_zoo.leaderboard.readouts import READOUTS_FIGURE, read_readouts

    lines = []
    for folder, data in docs.tracks:
        readouts = read_readouts(docs.root / folder)
        if readouts is None:
            continue
        fractions = [r["fraction_4n"] for r in readouts["truth"] if r["fraction_4n"] is not None]
        counts = [r["n_nuclei"] for r in readouts["truth"]]
        lines += [f"**{docs.track_name(data)}** ({len(counts)} images; the ground truth has "
                  f"{np.mean(counts):.1f} nuclei and a 4N fraction of {100 * np.mean(fractions):.1f} % per image "
                  f"on average, over the {len(fractions)} images with at least 20 inner nuclei):", ""]
        rows = []
        for entry_id, entry in readouts["entries"].items():
            errors = entry["errors"]
            rows.append([f"`{entry_id}`", entry["kind"], f"{entry['average_f1']:.3f}", f"{errors['count_mae']:.1f}",
                         f"{errors['count_bias']:+.1f}", f"{100 * errors['fraction_4n_mae']:.2f}",
                         f"{100 * errors['fraction_4n_bias']:+.2f}", f"{100 * errors['fraction_2n_mae']:.2f}"])
        lines += _md_table_dashes(["entry", "kind", "average F1", "count MAE", "count bias", "4N MAE (pp)",
                                   "4N bias (pp)", "2N MAE (pp)"], rows)
        lines += ["", _readouts_summary(readouts["entries"])]
        lines += ["", f"![Readout errors, {docs.track_name(data)}](" + _asset(f"{folder}/{READOUTS_FIGURE}", page)
                  + ")", ""]
    return lines or ["No readouts computed yet (`nucseg-zoo leaderboard --readouts`)."]


def _readouts_summary(entries: dict[str, Any]) -> str:
    """One sentence on the readout errors: the smallest and largest, their bias, and whether
    the 4N-error ranking follows the average-F1 ranking."""
    by_error = sorted(entries, key=lambda e: entries[e]["errors"]["fraction_4n_mae"])
    by_f1 = sorted(entries, key=lambda e: -entries[e]["average_f1"])
    over = [e for e in entries if entries[e]["errors"]["fraction_4n_bias"] > 0]
    fewer = [e for e in entries if entries[e]["errors"]["count_bias"] < 0]
    follows = "follows" if by_error == by_f1 else "does not follow"
    return (f"The smallest 4N-fraction error is `{by_error[0]}`'s, the largest `{by_error[-1]}`'s; "
            f"{len(over)} of {len(entries)} entries report more 4N nuclei than the ground truth and {len(fewer)} "
            f"of {len(entries)} fewer nuclei (merged and missed nuclei); the ranking by 4N error {follows} the "
            f"ranking by average F1 (best by F1: `{by_f1[0]}`).")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds == 0:
        return "none"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _cell(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _block_results_costs(docs: _DocsData, page: str) -> list[str]:
    """Each track's costs (:mod:`nucseg_zoo.leaderboard.costs`), where measured, beside the paper's."""
    from nucseg_zoo.leaderboard.costs import (COSTS_FIGURE, cpu_seconds, gpu_measurement, largest_measurement,
                                              read_costs)

    lines = []
    for folder, data in docs.tracks:
        costs = read_costs(docs.root / folder)
        if costs is None:
            continue
        machine = costs["machine"]
        lines += [f"**{docs.track_name(data)}**: inference measured on {machine['cpu']} ({machine['cpus']} CPUs; "
                  f"{', '.join(machine['extensions']) or 'no AVX2'}), median over {len(costs['images'])} images "
                  f"of the split after one warm-up call, {costs['measured_at']}:", ""]
        rows, absent = [], []
        for entry_id, row in costs["entries"].items():
            training, largest, gpu = row["training"], largest_measurement(row), gpu_measurement(row)
            trained = (_duration(training["seconds"]) if training["seconds"] is not None
                       else "see its recipe" if training["source"].startswith("trained elsewhere") else "–")
            if training["seconds"] == 0:
                trained = "none (parameters chosen)"
            rows.append([f"`{entry_id}`", row["kind"], f"{row['average_f1']:.3f}", trained,
                         training["hardware"] or "–", _cell(row["parameters"], ","),
                         _cell(largest and largest["gflop_per_image"], ".1f"),
                         _cell(cpu_seconds(row, 1), ".2f"), _cell(cpu_seconds(row, 2), ".2f"),
                         _cell(gpu and gpu["seconds_per_image"], ".3f"),
                         _cell(largest and largest["peak_memory_mib"], ",.0f")])
            if row["not_measured"]:
                evaluation = row["evaluation"]
                absent.append(f"* `{entry_id}` was not measured here: {row['not_measured']}. Its evaluation took "
                              f"{_seconds(evaluation['seconds_per_image'])} s per image on {evaluation['device']}.")
        lines += _md_table_dashes(["entry", "kind", "average F1", "training", "trained on", "parameters",
                                   "GFLOP / image", "s / image, 1 core", "s / image, 2 cores", "s / image, GPU",
                                   "peak memory (MiB)"], rows)
        if absent:
            lines += ["", *absent]
        one_core = {entry_id: cpu_seconds(row, 1) for entry_id, row in costs["entries"].items()
                    if cpu_seconds(row, 1) is not None}
        if len(one_core) > 1:
            slowest, fastest = max(one_core, key=one_core.get), min(one_core, key=one_core.get)
            lines += ["", f"On one core the slowest row measured here, `{slowest}` ({one_core[slowest]:.2f} s per image), "
                      f"takes {one_core[slowest] / one_core[fastest]:.0f}× as long as the fastest, `{fastest}` "
                      f"({one_core[fastest]:.2f} s); two cores speed up the networks by "
                      + ", ".join(f"{one_core[e] / cpu_seconds(costs['entries'][e], 2):.1f}× (`{e}`)"
                                  for e in one_core if largest_measurement(costs["entries"][e])["gflop_per_image"]
                                  and cpu_seconds(costs["entries"][e], 2))
                      + "."]
        references = read_references(docs.root / folder)
        paper = [r for r in references["rows"] if "training_hours" in r or r.get("seconds_per_image") is not None]
        if paper:
            lines += ["", f"Published: {references.get('citation', 'the reference rows')} (quoted in "
                      f"`{folder}/references.yaml`, not measured here):", ""]
            lines += _md_table_dashes(["method (published)", "training", "s / image", "hardware"], [
                [r["name"], "–" if r.get("training_hours") is None else
                 "none" if r["training_hours"] == 0 else f"{r['training_hours']:g} h on {r['training_hardware']}",
                 _seconds(r.get("seconds_per_image")), r.get("hardware") or "–"] for r in paper])
        lines += ["", f"![Costs, {docs.track_name(data)}](" + _asset(f"{folder}/{COSTS_FIGURE}", page) + ")", ""]
    return lines or ["No costs measured yet (`nucseg-zoo leaderboard --costs`)."]


def _block_results_training_set_size(docs: _DocsData, page: str) -> list[str]:
    """The learning curve (:mod:`nucseg_zoo.leaderboard.learning_curve`), where it was run."""
    from nucseg_zoo.leaderboard.learning_curve import (LEARNING_CURVE_FIGURE, LEARNING_CURVE_FILE,
                                                       compare_with_paper)

    lines = []
    for folder, _ in docs.tracks:
        path = docs.root / folder / LEARNING_CURVE_FILE
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        baseline = data["baseline"]
        done = {(r["augmentation"], r["n"]) for r in data["runs"]}
        planned = len(data["sizes"]) * len(data["augmentations"]) * data["repeats"]
        lines += [f"{len(data['runs'])} of the {planned} planned runs ({data['repeats']} repeats × "
                  f"{len(data['sizes'])} sizes × {len(data['augmentations'])} augmentation sets) of `{data['model']}`'s "
                  f"architecture, {data['steps']} steps of {data['batch_size']} crops of {data['crop_size']}² px each "
                  f"({data['precision']}), trained on "
                  f"`{data['trained_on']}` and scored on "
                  f"`{data['scored_on']}` ({data['n_true']:,} nuclei) with {data['postprocessing']}; "
                  f"`{baseline['name']}` there: average F1 {baseline['average_f1']:.3f}, {baseline['missed']} missed, "
                  f"{baseline['merges']} merges, {baseline['splits']} splits.", ""]
        rows = []
        for augmentation, points in data["summary"].items():
            for point in points:
                f1 = point["average_f1"]
                rows.append([augmentation, str(point["n"]), str(point["repeats"]),
                             f"{f1['mean']:.3f}" + (f" ({f1['min']:.3f}–{f1['max']:.3f})" if point["repeats"] > 1 else ""),
                             f"{point['missed']['mean']:.0f}", f"{point['merges']['mean']:.0f}",
                             f"{point['splits']['mean']:.0f}"])
        lines += _md_table_dashes(["augmentation", "training images", "repeats", "average F1 (range)", "missed",
                                   "merges", "splits"], rows)
        lines += ["", "The paper's statements (its Fig. 5) against these runs:", ""]
        lines += _md_table_dashes(["paper", *[f"here, {a}" for a in data["summary"]], "verdict"],
                                  compare_with_paper(data["findings"], baseline["name"]))
        if len(done) < len(data["sizes"]) * len(data["augmentations"]):
            lines += ["", "Not every size has a run yet: the statements above use the sizes that have one."]
        lines += ["", "![Accuracy against the number of training images](" +
                  _asset(f"{folder}/{LEARNING_CURVE_FIGURE}", page) + ")", ""]
    return lines or ["Not run yet (`python validation/experiments/training_set_size.py`)."]


def _block_datasets(docs: _DocsData, page: str) -> list[str]:
    """Every dataset card: images and nuclei per split; formats, sizes, diameters, license."""
    from nucseg_zoo import datasets

    splits, facts = [], []
    for dataset in datasets.list_datasets():
        card = datasets.card(dataset)
        splits += [[f"`{dataset}`", f"`{split.name}`", f"{len(split.stems):,}", f"{split.n_nuclei:,}"]
                   for split in card.splits.values()]
        shapes = card.facts.get("image_shapes", {})
        sizes = [s.replace("x", "×") for s in sorted(shapes, key=lambda s: tuple(int(n) for n in s.split("x")))]
        size = "–" if not sizes else sizes[0] if len(sizes) == 1 else f"{sizes[0]} to {sizes[-1]}"
        low, high = card.facts.get("per_image_median_diameter_px", (None, None))
        diameter = card.facts.get("median_diameter_px")
        facts.append([f"`{dataset}`", f"`{card.image_format}`", size, f"`{card.mask_format}`",
                      "–" if diameter is None else f"{diameter:.2f} px",
                      "–" if low is None else f"{low:.2f}–{high:.2f} px", card.license])
    return [*_md_table_dashes(["dataset", "split", "images", "nuclei"], splits), "",
            *_md_table_dashes(["dataset", "images", "image sizes (px)", "masks", "median nucleus diameter",
                               "per-image median diameters", "license"], facts)]


def _bin_text(low: float, high: float) -> str:
    return f"> {low:g}" if math.isinf(high) else f"{low:g}–{high:g}"


def _block_size_bins(docs: _DocsData, page: str) -> list[str]:
    """The metric constants and every dataset's "missed by size" bins (GT area, px)."""
    from nucseg_zoo import datasets
    from nucseg_zoo.metrics import MISS_THRESHOLD, SPLIT_MERGE_THRESHOLD, THRESHOLDS

    lines = [f"* IoU thresholds of the F1 curve: {', '.join(f'{t:.2f}' for t in THRESHOLDS)} "
             f"({len(THRESHOLDS)} values; `nucseg_zoo.metrics.THRESHOLDS`).",
             f"* Missed nuclei, extra objects and the error rate: IoU {MISS_THRESHOLD:g} "
             "(`nucseg_zoo.metrics.MISS_THRESHOLD`).",
             f"* Splits and merges: IoU {SPLIT_MERGE_THRESHOLD:g} (`nucseg_zoo.metrics.SPLIT_MERGE_THRESHOLD`).", "",
             "Size bins of the misses, ground-truth area in px, each bin (low, high]:", ""]
    rows = []
    for dataset in datasets.list_datasets():
        bins = datasets.card(dataset).size_bins or SIZE_BINS
        rows.append([f"`{dataset}`", *[_bin_text(*bins[name]) for name in SIZE_BINS]])
    rows.append(["`nucseg_zoo.metrics.SIZE_BINS` (default)", *[_bin_text(*SIZE_BINS[name]) for name in SIZE_BINS]])
    return lines + _md_table_dashes(["bins of", *SIZE_BINS], rows)


def _block_zoo_models(docs: _DocsData, page: str) -> list[str]:
    """Every zoo entry (``zoo/<id>/entry.yaml``) with its network, size and card."""
    from nucseg_zoo.zoo import list_models

    rows = []
    for model_id in list_models():
        entry = yaml.safe_load((docs.root / "zoo" / model_id / "entry.yaml").read_text())
        architecture = entry["architecture"]
        rows.append([f"[`{model_id}`](" + _link(f"docs/zoo/{model_id}.md", page) + ")", entry["name"],
                     f"`{architecture['module']}`", f"{entry['num_params']:,}", f"{architecture['halo']} px",
                     f"`{entry['output_kind']}`", entry["license"]])
    return _md_table_dashes(["id", "name", "architecture", "parameters", "halo", "output kind", "license"], rows)


def _experiment(docs: _DocsData, name: str) -> dict[str, Any] | None:
    """The committed results ``validation/<name>`` of an experiment script, or None before it ran."""
    path = docs.root / "validation" / name
    return json.loads(path.read_text()) if path.is_file() else None


def _not_measured(script: str) -> list[str]:
    """A block's text before its experiment ``validation/experiments/<script>.py`` has run."""
    return [f"Not measured yet (`python validation/experiments/{script}.py`)."]


DIAMETER_GAIN_FILE = "experiments/diameter_gain.json"
"""``validation/experiments/diameter_gain.py``'s results, relative to the leaderboard folder."""


def _block_results_diameter_gain(docs: _DocsData, page: str) -> list[str]:
    """What giving each BBBC039 model the images' nucleus size gains (``diameter_gain.py``)."""
    data = _experiment(docs, DIAMETER_GAIN_FILE)
    if data is None:
        return _not_measured("diameter_gain")
    low, middle, high = data["image_diameters_px"]

    def scores(part: dict | None) -> str:
        return "–" if part is None else (f"{part['average_f1']:.3f} / {part['f1_at_0.5']:.3f} / "
                                         f"{100 * part['missed_at_0.7']:.1f} %")

    def change(part: dict, group: str) -> str:
        own, rescaled = part["own_scale"][group], part["diameter"][group]
        return "–" if own is None else (f"{part['n_images_by_size'][group]}: {own['average_f1']:.3f} → "
                                        f"{rescaled['average_f1']:.3f}")

    rows, estimates = [], []
    for name, result in data["models"].items():
        own, rescaled, estimated = result["own_scale"], result["diameter"], result["estimated_diameter"]
        rows.append([f"`{name}`", f"{result['training_diameter']:g} px", scores(own["all"]), scores(rescaled["all"]),
                     f"{rescaled['all']['average_f1'] - own['all']['average_f1']:+.3f}", scores(estimated["all"]),
                     change(result, "smaller"), change(result, "larger")])
        estimate = result["estimate"]
        estimates.append(f"`{name}`'s within 1.25× on {100 * estimate['within_1.25x']:.0f} % of "
                         f"{estimate['n_images']} images (median ratio {estimate['median_ratio']:.2f})")
    factor = f"{data['size_factor']:g}×"
    return [f"On `{data['dataset']}` `{data['split']}` ({data['n_images']} images; per-image median nucleus "
            f"diameters {low:g}–{high:g} px, median {middle:g} px), each model at the images' own scale, "
            f"with `diameter` = {data['diameter']}, and with `diameter` estimated from the image (the median "
            "diameter of the nuclei it segments at the image's own scale) — average F1 / F1 at IoU 0.5 / missed "
            f"at IoU 0.7; measured on {data['cpu']}:", "",
            *_md_table_dashes(["model", "trained on nuclei of", "own scale", "with diameter", "gain",
                               "with estimated diameter",
                               f"nuclei over {factor} smaller (images: average F1 own → with diameter)",
                               f"over {factor} larger"], rows),
            "", "The estimate, against each image's ground-truth diameter: " + "; ".join(estimates) + "."]


TRANSFER_FILE = "experiments/transfer.json"
"""``validation/experiments/transfer.py``'s results, relative to the leaderboard folder."""


def _block_results_transfer(docs: _DocsData, page: str) -> list[str]:
    """The paper's Fig. 6 with DSB2018-fluo (``transfer.py``): the matrix, and its two findings beside ours."""
    data = _experiment(docs, TRANSFER_FILE)
    if data is None:
        return _not_measured("transfer")
    tests = data["test_sets"]

    def cell(row: dict, test: str) -> str:
        if not row["scores"]:
            return "–"
        score = row["scores"][test]
        return f"{score['average_f1']:.3f} / {100 * score['missed_at_0.7']:.1f} %"

    rows = [[row["method"] + (f" (`{row['entry']}`)" if row["entry"] else ""), row["trained_on_name"],
             *(cell(row, test) for test in tests)] for row in data["rows"]]
    by = {(row["method"], row["trained_on"]): row["scores"] for row in data["rows"] if row["scores"]}
    cp = by[("CellProfiler advanced", "each")]
    fast_other = by[("fast U-Net", "dsb2018-fluo")]["bbbc039"]["average_f1"]
    fast_same = by[("fast U-Net", "bbbc039")]["bbbc039"]["average_f1"]
    fast_dsb = by[("fast U-Net", "dsb2018-fluo")]["dsb2018-fluo"]["average_f1"]

    def versus(value: float, reference: float, name: str) -> str:
        return f"{abs(value - reference):.3f} {'above' if value > reference else 'below'} {name}"

    bbbc_on_dsb = [(method, by[(method, "bbbc039")]["dsb2018-fluo"]["average_f1"]) for method in ("U-Net", "fast U-Net")]
    trained = data["trained"]
    recipe = trained["recipe"]
    why_not = "; ".join(f"{row['method']} trained on {row['trained_on_name']}: {row['why_not']}"
                        for row in data["rows"] if not row["scores"])
    return [
        "Average F1 / missed at IoU 0.7 on each test split (the BBBC039-trained models and the baselines: the "
        "leaderboards' evaluations; CellProfiler advanced with parameters tuned on each set's own training split). "
        f"The DSB2018-fluo-trained fast U-Net learned from scratch: {recipe['epochs'] * recipe['steps_per_epoch']:,} "
        f"steps of {recipe['batch_size']} crops of {recipe['crop_size']} px, epoch {trained['best_epoch']} chosen "
        f"and the postprocessing tuned on DSB2018-fluo validation, in {trained['precision']} on {trained['cpu']}. "
        f"{why_not}.", "",
        *_md_table_dashes(["model", "trained on", *(f"{name} test" for name in tests.values())], rows), "",
        "| the paper (Van Valen's set as the diverse one) | here (DSB2018-fluo as the diverse one) |",
        "| --- | --- |",
        "| a U-Net trained on the diverse set transfers to BBBC039: better than CellProfiler there, comparable to "
        "the U-Net trained on BBBC039 | the DSB2018-fluo-trained fast U-Net scores "
        f"{fast_other:.3f} on BBBC039 test: {versus(fast_other, cp['bbbc039']['average_f1'], 'CellProfiler advanced')}"
        f", {versus(fast_other, fast_same, 'the BBBC039-trained fast U-Net')} |",
        "| a U-Net trained on BBBC039 fails to improve on the diverse set over CellProfiler adapted to it | on "
        "DSB2018-fluo test, " + "; ".join(
            f"the BBBC039-trained {method} scores {value:.3f}: "
            f"{versus(value, cp['dsb2018-fluo']['average_f1'], 'CellProfiler advanced tuned on DSB2018-fluo')}, "
            f"{versus(value, fast_dsb, 'the DSB2018-fluo-trained fast U-Net')}" for method, value in bbbc_on_dsb) + " |",
    ]


FINE_TUNING_FILE = "experiments/fine_tuning.json"
"""``validation/experiments/fine_tuning.py``'s results, relative to the leaderboard folder."""


def _block_fine_tuning(docs: _DocsData, page: str) -> list[str]:
    """How many annotated images fine-tuning a zoo model takes to beat it (``fine_tuning.py``)."""
    data = _experiment(docs, FINE_TUNING_FILE)
    if data is None:
        return _not_measured("fine_tuning")
    start = data["starting_model"]["validation"]
    given = data["starting_model"]["validation_with_diameter"]
    rows = []
    for n in sorted({run["n_images"] for run in data["runs"]}):
        runs = [run for run in data["runs"] if run["n_images"] == n]
        f1 = [run["validation"]["average_f1"] for run in runs]
        rows.append([str(n), f"{runs[0]['n_training_images']} / {runs[0]['n_held_out_images']}",
                     f"{np.mean(f1):.3f} ({min(f1):.3f}–{max(f1):.3f})",
                     f"{np.mean([run['validation']['f1_at_0.5'] for run in runs]):.3f}",
                     f"{100 * np.mean([run['validation']['missed_at_0.7'] for run in runs]):.1f} %",
                     f"{sum(value > start['average_f1'] for value in f1)} of {len(runs)}",
                     f"{np.mean([run['seconds'] for run in runs]):.0f} s"])
    return [f"`{data['model']}` fine-tuned ({data['steps']} steps, the command's defaults otherwise) on n annotated "
            f"images drawn from the {data['n_training_images_in_set']} training images of one imaging set of "
            f"`{data['dataset']}` ({data['image_shape']} px images; a set no zoo model was trained on), scored on "
            f"the set's {data['n_validation_images']} validation images; repeats with other draws; measured on "
            f"{data['cpu']}. The starting model scores {start['average_f1']:.3f} (F1 at IoU 0.5 "
            f"{start['f1_at_0.5']:.3f}) at the images' own scale and {given['average_f1']:.3f} "
            f"({given['f1_at_0.5']:.3f}) when told each image's nucleus diameter.", "",
            *_md_table_dashes(["annotated images", "trained on / held out", "average F1: mean (min–max)",
                               "F1 at IoU 0.5", "missed at IoU 0.7", "runs above the starting model",
                               "time (whole command)"], rows)]


DOCS_BLOCKS = {
    "results-summary": _block_results_summary,
    "results-tracks": _block_results_tracks,
    "results-notes": _block_results_notes,
    "results-readouts": _block_results_readouts,
    "results-costs": _block_results_costs,
    "results-training-set-size": _block_results_training_set_size,
    "results-diameter-gain": _block_results_diameter_gain,
    "results-transfer": _block_results_transfer,
    "fine-tuning": _block_fine_tuning,
    "datasets": _block_datasets,
    "size-bins": _block_size_bins,
    "zoo-models": _block_zoo_models,
}
"""Name -> function ``(data, page) -> markdown lines`` of each block a page may hold."""


def docs_pages(root: str | Path) -> list[str]:
    """The pages that may hold generated blocks: ``README.md`` and ``docs/**/*.md`` (relative to ``root``)."""
    root = Path(root)
    return ["README.md", *sorted(p.relative_to(root).as_posix() for p in (root / "docs").rglob("*.md"))]


def fill_blocks(text: str, page: str, blocks: Callable[[str, str], list[str]]) -> str:
    """``text`` (of ``page``) with each generated block replaced by ``blocks(name, page)``.

    Raises:
        ValueError: a block without its end marker, or of an unknown name.
    """
    out, position = [], 0
    for begin in _BEGIN.finditer(text):
        if begin.start() < position:
            raise ValueError(f"{page}: a generated block starts inside another one")
        name = begin["name"]
        if name not in DOCS_BLOCKS:
            raise ValueError(f"{page}: unknown generated block {name!r} (known: {', '.join(DOCS_BLOCKS)})")
        end = text.find(_end(name), begin.end())
        if end < 0:
            raise ValueError(f"{page}: generated block {name!r} has no end marker {_end(name)!r}")
        out += [text[position:begin.end()], "\n".join(blocks(name, page)), "\n"]
        position = end
    return "".join(out) + text[position:]


def render_docs(root: str | Path) -> dict[str, str]:
    """Page (relative to ``root``) -> content with its generated blocks filled, for every page
    of the checkout at ``root`` that holds one.

    Raises:
        ValueError: a malformed block, or a result file that fails its checks.
    """
    root = Path(root)
    pages = {page: (root / page).read_text() for page in docs_pages(root) if (root / page).is_file()}
    pages = {page: text for page, text in pages.items() if _BEGIN.search(text)}
    if not pages:
        return {}
    data = _DocsData(root)
    return {page: fill_blocks(text, page, lambda name, where: DOCS_BLOCKS[name](data, where))
            for page, text in pages.items()}


def stale_docs(root: str | Path) -> list[str]:
    """Pages of the checkout at ``root`` whose generated blocks differ from a fresh rendering."""
    return [page for page, text in render_docs(root).items() if (Path(root) / page).read_text() != text]


def write_docs(root: str | Path) -> list[Path]:
    """Regenerate the blocks of the checkout at ``root``; return the pages that changed."""
    fresh = render_docs(root)
    return write_pages(root, {page: text for page, text in fresh.items() if (Path(root) / page).read_text() != text})

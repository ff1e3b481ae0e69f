"""MkDocs hook: the leaderboard's generated files in the documentation site.

The leaderboard folders (``validation/`` and ``validation/tracks/*/``) hold generated pages
that the documentation links to: ``leaderboard.html``, the error atlases (``atlas/``),
comparison pictures (``*.png``) and the experiments' figures (``experiments/*.png``). They are served at the same paths below the site root
(``validation/atlas/unet-bbbc039.html``), and each ``leaderboard.html``'s figures also as
``figures/figure-<k>.svg`` (in page order) for the results page to show. Nothing is copied
into ``docs/``.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_FIGURE = re.compile(r'<div class="fig"><h3>.*?</h3>\s*(<svg.*?</svg>)\s*</div>', re.S)


def leaderboard_files(root: Path = ROOT) -> dict[str, Path | str]:
    """Site path -> source file (a Path) or generated content (a str)."""
    base = root / "validation"
    tracks = [base, *sorted(p for p in (base / "tracks").glob("*") if (p / "references.yaml").is_file())]
    files: dict[str, Path | str] = {}
    for track in tracks:
        rel = track.relative_to(root).as_posix()
        page = track / "leaderboard.html"
        if page.is_file():
            files[f"{rel}/leaderboard.html"] = page
            for k, svg in enumerate(_FIGURE.findall(page.read_text()), 1):
                files[f"{rel}/figures/figure-{k}.svg"] = '<?xml version="1.0" encoding="utf-8"?>\n' + svg + "\n"
        for path in sorted((track / "atlas").rglob("*")):
            if path.is_file():
                files[path.relative_to(root).as_posix()] = path
        for path in sorted([*track.glob("*.png"), *track.glob("experiments/*.png")]):
            files[path.relative_to(root).as_posix()] = path
    return files


def on_files(files, config):
    from mkdocs.structure.files import File

    for uri, source in leaderboard_files().items():
        if isinstance(source, Path):
            files.append(File.generated(config, uri, abs_src_path=str(source)))
        else:
            files.append(File.generated(config, uri, content=source))
    return files

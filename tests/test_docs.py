"""The README and the documentation pages, checked without MkDocs (CI also builds the site
with `mkdocs build --strict`, which fails on a broken link, anchor or API reference)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

from nucseg_zoo.leaderboard.render import stale_docs
from nucseg_zoo.zoo import list_models

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
README_MAX_LINES = 150
FIRST_SCREEN = 40  # lines

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_SNIPPET = re.compile(r'^--8<-- "([^"]+)"$', re.M)


def _pages() -> list[Path]:
    """The documentation pages (``docs/extensions/`` holds the build's code, not pages)."""
    return sorted(p for p in DOCS.rglob("*.md") if "extensions" not in p.relative_to(DOCS).parts)


def _prose(path: Path) -> str:
    """A Markdown file without its code blocks and code spans."""
    return _CODE.sub("", _FENCE.sub("", path.read_text()))


def _local_links(path: Path) -> list[str]:
    targets = (m.group(1) for m in _LINK.finditer(_prose(path)))
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


def _served_files() -> set[str]:
    """Site paths that docs/extensions/hooks.py adds (the leaderboards' generated files)."""
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "extensions" / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    return set(hooks.leaderboard_files(ROOT))


def _nav_pages(nav) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return [page for item in nav for page in _nav_pages(item)]


def test_the_readme_is_short_and_its_first_screen_says_how_to_start():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES
    first_screen = "\n".join(lines[:FIRST_SCREEN])
    for needed in ("pip install torch==2.13.0 -e . && .venv/bin/nucseg-zoo demo",  # the main job on the default
                   '-e ".[test]" && .venv/bin/python -m pytest',                    # the tests
                   "## Segment my folder", "nucseg-zoo segment ", "nucseg_zoo.segment_images(",
                   "## Submit my model", "nucseg-zoo submit "):
        assert needed in first_screen, needed


def test_relative_links_point_to_existing_files():
    served = _served_files()
    broken = []
    for page in [README, *_pages()]:
        for target in _local_links(page):
            path = (page.parent / target).resolve()
            if path.exists():
                continue
            in_site = page.is_relative_to(DOCS) and path.is_relative_to(DOCS) \
                and path.relative_to(DOCS).as_posix() in served
            if not in_site:
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_included_files_exist():
    missing = [f"{page.relative_to(ROOT)}: {name}" for page in _pages()
               for name in _SNIPPET.findall(page.read_text()) if not (ROOT / name).is_file()]
    assert missing == []


def test_every_page_is_in_the_navigation_and_every_zoo_model_has_one():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = _nav_pages(config["nav"])
    assert len(nav) == len(set(nav))
    assert sorted(nav) == sorted(p.relative_to(DOCS).as_posix() for p in _pages())
    for model_id in list_models():
        assert f"zoo/{model_id}.md" in nav, f"add docs/zoo/{model_id}.md (including its card) to mkdocs.yml"
        assert f'--8<-- "zoo/{model_id}/README.md"' in (DOCS / "zoo" / f"{model_id}.md").read_text()


def test_the_protocol_page_that_the_code_names_exists():
    assert (DOCS / "protocol.md").is_file()
    named = [path for folder in ("nucseg_zoo", "zoo", "datasets", "validation")
             for path in (ROOT / folder).rglob("*") if path.suffix in (".py", ".yaml", ".md")
             and "docs/protocol.md" in path.read_text(errors="replace")]
    assert named  # the metrics module points its readers to the page


def test_the_generated_tables_are_current():
    """README.md and docs/*.md quote the leaderboards, cards and entries as they are committed
    (regenerate with `nucseg-zoo leaderboard --no-atlases`)."""
    assert stale_docs(ROOT) == []


def test_ci_builds_the_documentation_strictly():
    ci = (ROOT / ".ci" / "run").read_text()
    assert '".[docs]"' in ci and "mkdocs build --strict" in ci
    extras = __import__("tomllib").loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(req.startswith("mkdocs-material") for req in extras["docs"])


def test_the_awkward_inputs_page_states_the_codes_rules():
    """The numbers of the saturated-artefact and camera-offset rules, as the code has them."""
    from nucseg_zoo.baselines.offset import FLOOR_PERCENTILE, PEDESTAL_RATIO
    from nucseg_zoo.images import ARTEFACT_CONTRAST, ARTEFACT_MIN_FRACTION, ARTEFACT_MIN_PIXELS, ARTEFACT_PERCENTILE

    text = " ".join((DOCS / "awkward-inputs.md").read_text().split())
    for stated in (f"at least {ARTEFACT_MIN_FRACTION * 100:g} % of the field (and {ARTEFACT_MIN_PIXELS} px)",
                   f"more than {ARTEFACT_CONTRAST:g} times as far above", f"other pixels' {ARTEFACT_PERCENTILE:g}th",
                   f"the {FLOOR_PERCENTILE:g}st percentile of its 3×3 median-filtered copy",
                   f"{PEDESTAL_RATIO:g} × its background level"):
        assert stated in text, stated

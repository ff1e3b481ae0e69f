"""The package's layering, checked from its source: no import circles, no upward imports.

Only module-level imports count (what runs when a module is imported; ``if TYPE_CHECKING:``
blocks excluded): a function may import a higher layer lazily where it dispatches to it.
Importing ``a.b.c`` also runs ``a/__init__`` and ``a/b/__init__``, so those count as imports
too. A module may import its own unit (the subpackage or module named in :data:`LAYERS`)
and any unit of a lower layer, never a unit of its own layer or above.

Run as a script to print the module-level violations and, with ``--lazy``, the upward
imports made inside functions as well::

    python tests/test_architecture.py [--lazy]
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "nucseg_zoo"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / PACKAGE

LAYERS: tuple[tuple[str, ...], ...] = (
    ("_atomic", "_hashing", "_io", "_logging", "_resources", "_text"),    # generic helpers
    ("images", "normalization", "rescaling", "tiling", "targets", "losses", "devices", "hardware", "precision",
     "metrics", "models"),                                                # arrays, networks, scores
    ("image_files",),                                                     # series, channels, planes of a file
    ("inference",),                                                       # torch prediction over tiles
    ("datasets",),                                                        # cards, manifests, splits
    ("postprocessing", "downloads"),                                      # output kinds; verified fetch
    ("zoo", "baselines"),                                                 # entries as data; classical baselines
    ("segmenters",),                                                      # the one resolver, protocols
    ("training",),                                                        # recipes, loop, tuning
    ("evaluation", "screens", "cards"),                                   # harness; batch runs; model cards
    ("packaging",),                                                       # bioimage.io packages
    ("leaderboard",),                                                     # results, pages, submissions
    ("commands", "cli", "errors", ""),                                    # "": nucseg_zoo/__init__ itself
    ("__main__",),                                                        # python -m nucseg_zoo
)
"""Units (top-level modules and subpackages of ``nucseg_zoo``), bottom to top."""

EXPECTED_TO_BE_REMOVED: dict[tuple[str, str], str] = {
}
"""Known module-level violations in code being reworked elsewhere: (importer, imported) -> why.
Empty it as they go; an entry that is no longer a violation fails the test."""


@dataclass(frozen=True)
class Import:
    """One import of a ``nucseg_zoo`` module by another."""

    importer: str
    imported: str
    line: int
    lazy: bool
    """Made inside a function (runs when the function does), not when the module is imported."""
    implicit: bool = False
    """A package whose ``__init__`` runs because a module inside it is imported."""


def module_files() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the package."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(body: list[ast.stmt], *, lazy: bool):
    """(node, lazy) for every import statement, descending into blocks; functions make it lazy."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, lazy
        elif isinstance(node, ast.If) and _is_type_checking(node):
            continue
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _import_nodes(node.body, lazy=True)
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    yield from _import_nodes([c for c in children if isinstance(c, ast.AST)], lazy=lazy)


def _with_parents(name: str, importer: str) -> list[str]:
    """``name`` and the packages whose ``__init__`` importing it runs (not the importer's own, not the root)."""
    parts = name.split(".")
    names = [".".join(parts[:i]) for i in range(2, len(parts) + 1)]
    own = {".".join(importer.split(".")[:i]) for i in range(1, importer.count(".") + 2)}
    return [n for n in names if n == name or n not in own]


def imports(modules: dict[str, Path] | None = None) -> list[Import]:
    """Every import of a package module by a package module (relative imports resolved), once
    per importer, imported module, line and kind."""
    modules = module_files() if modules is None else modules
    found: dict[Import, None] = {}
    for importer, path in modules.items():
        is_package = path.name == "__init__.py"
        for node, lazy in _import_nodes(ast.parse(path.read_text(), str(path)).body, lazy=False):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = importer.split(".")[:len(importer.split(".")) - node.level + is_package]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                if target != PACKAGE and not target.startswith(PACKAGE + "."):
                    continue
                while target not in modules:
                    target = target.rsplit(".", 1)[0]
                for name in _with_parents(target, importer):
                    if name != importer:
                        found[Import(importer, name, node.lineno, lazy, implicit=name != target)] = None
    return list(found)


def unit_of(module: str) -> str:
    """The unit of :data:`LAYERS` that ``module`` belongs to ("" for the package itself)."""
    return module.split(".")[1] if "." in module else ""


def layer_of(module: str) -> int:
    """Index in :data:`LAYERS` of ``module``'s unit.

    Raises:
        KeyError: the unit is in no layer (add it to :data:`LAYERS`).
    """
    unit = unit_of(module)
    for index, units in enumerate(LAYERS):
        if unit in units:
            return index
    raise KeyError(f"{module}: unit {unit!r} is in no layer of LAYERS")


def layering_violations(found: list[Import]) -> list[Import]:
    """Imports of a unit of the same layer or of a higher one (a module's own unit is fine).
    Implicit parent-package imports are left out: they are in the unit of the module imported."""
    return [i for i in found if not i.implicit and unit_of(i.importer) != unit_of(i.imported)
            and layer_of(i.imported) >= layer_of(i.importer)]


def circles(found: list[Import]) -> list[list[str]]:
    """Groups of modules that import each other (strongly connected components, Tarjan), sorted."""
    graph: dict[str, set[str]] = {}
    for i in found:
        graph.setdefault(i.importer, set()).add(i.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def _module_level() -> list[Import]:
    return [i for i in imports() if not i.lazy]


def test_every_unit_of_the_package_has_a_layer():
    for module in module_files():
        layer_of(module)


def test_no_module_level_import_circles():
    assert circles(_module_level()) == []


def test_no_module_imports_its_own_layer_or_above():
    unexpected = [f"{i.importer}:{i.line} imports {i.imported}" for i in layering_violations(_module_level())
                  if (i.importer, i.imported) not in EXPECTED_TO_BE_REMOVED]
    assert unexpected == []


def test_the_allowlist_names_only_current_violations():
    current = {(i.importer, i.imported) for i in layering_violations(_module_level())}
    assert [pair for pair in EXPECTED_TO_BE_REMOVED if pair not in current] == [], \
        "fixed: remove these from EXPECTED_TO_BE_REMOVED"


def test_the_checker_sees_upward_imports_circles_and_parent_packages(tmp_path, monkeypatch):
    """A throw-away package: zoo imports evaluation (upward), which imports zoo back (a circle);
    importing ``datasets.source`` runs ``datasets/__init__``."""
    root = tmp_path / PACKAGE
    files = {
        "__init__.py": "",
        "zoo/__init__.py": "from nucseg_zoo.evaluation import run\n",
        "evaluation/__init__.py": "from typing import TYPE_CHECKING\nimport nucseg_zoo.zoo\n"
                                  "if TYPE_CHECKING:\n    from nucseg_zoo.screens import x\n"
                                  "def run():\n    from nucseg_zoo.screens import y\n",
        "datasets/__init__.py": "", "datasets/source.py": "",
        "metrics/__init__.py": "from nucseg_zoo.datasets.source import sha\n",
        "screens/__init__.py": "",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE_DIR", root)
    found = imports()
    pairs = {(i.importer, i.imported, i.lazy, i.implicit) for i in found}
    assert ("nucseg_zoo.evaluation", "nucseg_zoo.screens", True, False) in pairs  # lazy, not type-only
    assert not any(i.imported == "nucseg_zoo.screens" and not i.lazy for i in found)
    assert {("nucseg_zoo.metrics", "nucseg_zoo.datasets", False, True),
            ("nucseg_zoo.metrics", "nucseg_zoo.datasets.source", False, False)} <= pairs
    module_level = [i for i in found if not i.lazy]
    assert circles(module_level) == [["nucseg_zoo.evaluation", "nucseg_zoo.zoo"]]
    assert {(i.importer, i.imported) for i in layering_violations(module_level)} == {
        ("nucseg_zoo.zoo", "nucseg_zoo.evaluation"), ("nucseg_zoo.metrics", "nucseg_zoo.datasets.source")}


def main(argv: list[str]) -> int:
    """Print the violations (``--lazy``: also upward imports inside functions); exit 1 if any."""
    found = imports()
    module_level = [i for i in found if not i.lazy]
    status = 0
    for group in circles(module_level):
        print("circle:", " <-> ".join(group))
        status = 1
    for i in layering_violations(module_level):
        allowed = EXPECTED_TO_BE_REMOVED.get((i.importer, i.imported))
        print(f"{'allowed' if allowed else 'upward'}: {i.importer}:{i.line} imports {i.imported}"
              + (f" ({allowed})" if allowed else ""))
        status = status or int(allowed is None)
    if "--lazy" in argv:
        for i in layering_violations([i for i in found if i.lazy]):
            print(f"lazy, inside a function: {i.importer}:{i.line} imports {i.imported}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The top-level package: ``import nucseg_zoo`` imports no numerical package, names and
subpackages are reachable as attributes on first use, and :mod:`nucseg_zoo.errors` lists
every error the package defines."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import nucseg_zoo
import nucseg_zoo.errors

PACKAGE_DIR = Path(nucseg_zoo.__file__).resolve().parent
HEAVY = ("torch", "xarray", "skimage", "pandas", "scipy", "bioimageio", "numpy", "yaml", "pooch", "tensorflow")


def _modules_after(code: str) -> list[str]:
    """Top-level names of the modules a fresh interpreter holds after running ``code``."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def test_importing_the_package_imports_no_heavy_package():
    assert [name for name in HEAVY if name in _modules_after("import nucseg_zoo")] == []


def test_importing_the_errors_index_imports_no_heavy_package():
    assert [name for name in HEAVY if name in _modules_after("import nucseg_zoo.errors")] == []


@pytest.mark.parametrize("name", ["datasets", "metrics", "zoo", "segmenters", "evaluation", "screens", "leaderboard",
                                  "baselines", "packaging", "training", "errors", "downloads", "precision"])
def test_subpackages_are_attributes(name):
    assert getattr(nucseg_zoo, name) is importlib.import_module(f"nucseg_zoo.{name}")
    assert name in dir(nucseg_zoo)


def test_every_public_module_is_listed_as_an_attribute():
    public = {path.stem if path.is_file() else path.name for path in PACKAGE_DIR.iterdir()
              if not path.name.startswith("_") and (path.suffix == ".py" or (path / "__init__.py").is_file())}
    assert public == set(nucseg_zoo._MODULES)


def test_top_level_functions_come_from_their_modules():
    from nucseg_zoo import screens, segmenters, zoo

    assert nucseg_zoo.load_model is segmenters.load_model
    assert nucseg_zoo.get_segmenter is segmenters.get_segmenter
    assert nucseg_zoo.list_models is zoo.list_models
    assert nucseg_zoo.segment_images is screens.segment_images and nucseg_zoo.measure is screens.measure
    assert set(nucseg_zoo.__all__) == {"__version__", *nucseg_zoo._FUNCTIONS}


def test_an_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'load_modle'"):
        nucseg_zoo.load_modle  # noqa: B018
    with pytest.raises(AttributeError, match="its errors: .*DownloadError"):
        nucseg_zoo.errors.NoSuchError  # noqa: B018


@pytest.mark.parametrize("name", nucseg_zoo.errors.__all__)
def test_each_listed_error_is_the_class_its_module_exports(name):
    error = getattr(nucseg_zoo.errors, name)
    assert isinstance(error, type) and issubclass(error, (Exception, Warning))
    assert getattr(importlib.import_module(nucseg_zoo.errors._WHERE[name]), name) is error
    assert name in nucseg_zoo.errors.__doc__


def _defined_errors() -> set[str]:
    """Public classes defined in the package that derive (by name) from an exception or warning."""
    found = set()
    for path in PACKAGE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_") and any(
                    (base.id if isinstance(base, ast.Name) else getattr(base, "attr", "")).endswith(
                        ("Error", "Exception", "Warning")) for base in node.bases):
                found.add(node.name)
    return found


def test_every_error_the_package_defines_is_listed():
    assert _defined_errors() == set(nucseg_zoo.errors.__all__)

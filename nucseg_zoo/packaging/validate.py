"""Checks of a bioimage.io package through bioimageio.spec / bioimageio.core.

* :func:`validate_package` — format validation with file checks (hashes, test tensors,
  documentation); raises :class:`PackageValidationError` with the validator's reasons.
* :func:`test_package` — ``bioimageio.core.test_model``: every weight format reproduces
  the test output and runs at several sizes and batch sizes; results per format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class PackageValidationError(ValueError):
    """A bioimage.io package is invalid or fails its tests; ``reasons`` lists why."""

    def __init__(self, message: str, reasons: list[str]):
        super().__init__(message + "".join(f"\n  - {reason}" for reason in reasons))
        self.reasons = reasons


def _entry_lines(detail) -> list[str]:
    return [f"{'.'.join(map(str, e.loc)) or detail.name}: {' '.join(e.msg.split())}" for e in detail.errors]


def failure_reasons(summary) -> list[str]:
    """The validator's reasons (``loc: message``) from the failed details of a summary."""
    reasons = [line for detail in summary.details if detail.status == "failed" for line in _entry_lines(detail)]
    if not reasons and summary.status == "failed":
        reasons = [f"{detail.name}: failed" for detail in summary.details if detail.status == "failed"]
    return reasons or ["validation failed without a reason"]


def format_summary(summary, *, warnings: bool = False, source: str | None = None) -> str:
    """Plain-text summary: overall status, one line per check, errors (and warnings).

    ``source`` replaces the summary's own source name (e.g. a temporary path).
    """
    lines = [f"bioimage.io validation of {source or summary.source_name}: {summary.status} "
             f"(format_version {summary.format_version})"]
    for detail in summary.details:
        lines.append(f"  [{detail.status}] {detail.name}")
        lines += [f"      error: {line}" for line in _entry_lines(detail)]
        if warnings:
            lines += [f"      warning: {'.'.join(map(str, w.loc))}: {' '.join(w.msg.split())}"
                      for w in detail.warnings]
    return "\n".join(lines)


def _named_files(node) -> set[str]:
    """Relative file names an rdf refers to (``source`` fields, covers, documentation)."""
    names: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("source", "documentation") and isinstance(value, str):
                names.add(value)
            elif key == "covers" and isinstance(value, list):
                names.update(v for v in value if isinstance(v, str))
            else:
                names |= _named_files(value)
    elif isinstance(node, list):
        for value in node:
            names |= _named_files(value)
    return {n for n in names if "://" not in n}


def missing_files(source) -> list[str]:
    """Files named in the rdf of a local package (``.zip`` or folder's ``rdf.yaml``) that it lacks.

    The validator reports a missing file only indirectly (e.g. "expected str ... not
    NoneType"), so :func:`load_valid_description` adds these names to its reasons.
    """
    import zipfile

    import yaml

    path = Path(str(source))
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                present = set(archive.namelist())
                rdf_name = next((n for n in ("rdf.yaml", "bioimageio.yaml") if n in present), None)
                rdf = yaml.safe_load(archive.read(rdf_name)) if rdf_name else {}
        elif path.is_file():
            rdf = yaml.safe_load(path.read_text())
            present = {str(p.relative_to(path.parent)) for p in path.parent.rglob("*") if p.is_file()}
        else:
            return []
    except (OSError, yaml.YAMLError, zipfile.BadZipFile):
        return []
    return sorted(name for name in _named_files(rdf) if name not in present)


def _reasons(summary, source) -> list[str]:
    return failure_reasons(summary) + [f"{name}: named in rdf.yaml but missing from the package"
                                       for name in missing_files(source)]


def load_valid_description(source, *, perform_io_checks: bool = True):
    """Load and validate a package (``.zip``, ``rdf.yaml``, URL) into a model description.

    The description is updated to the latest 0.5 format (0.4 models are converted).

    Raises:
        PackageValidationError: the validator rejects it (its reasons are listed), or it is
            not a model.
    """
    from bioimageio.spec import InvalidDescr, load_description
    from bioimageio.spec.model import v0_5

    try:
        descr = load_description(source, format_version="latest", perform_io_checks=perform_io_checks)
    except Exception as err:  # unreadable zip, missing rdf.yaml, network error, ...
        raise PackageValidationError(f"cannot read bioimage.io package {source}", [f"{type(err).__name__}: {err}"]) \
            from err
    if isinstance(descr, InvalidDescr) or descr.validation_summary.status == "failed":
        raise PackageValidationError(f"bioimage.io package {source} is invalid",
                                     _reasons(descr.validation_summary, source))
    if not isinstance(descr, v0_5.ModelDescr):
        raise PackageValidationError(f"{source} is not a bioimage.io model",
                                     [f"type: {getattr(descr, 'type', type(descr).__name__)}"])
    return descr


def validate_package(path: Path):
    """Validate the package at ``path``; return its ``ValidationSummary``.

    Raises:
        PackageValidationError: invalid package, with the validator's reasons.
    """
    return load_valid_description(path).validation_summary


@dataclass(frozen=True)
class TestReport:
    """Result of ``bioimageio.core.test_model``.

    Attributes:
        passed: every check passed.
        formats: weight format -> "passed" / "failed".
        reasons: failure reasons (``loc: message``).
        summary: the ``ValidationSummary`` itself.
    """

    passed: bool
    formats: dict[str, str]
    reasons: list[str] = field(default_factory=list)
    summary: object = None


def test_package(path: Path, *, devices: list[str] | None = None) -> TestReport:
    """Run ``bioimageio.core.test_model`` on the package at ``path`` (every weight format), on
    ``devices`` (each checked by :func:`nucseg_zoo.devices.check_device`; default: bioimageio.core's choice)."""
    from bioimageio.core import test_model

    from nucseg_zoo.devices import check_device

    summary = test_model(path, devices=None if devices is None else [check_device(device) for device in devices])
    formats: dict[str, str] = {}
    for detail in summary.details:
        if len(detail.loc) >= 2 and detail.loc[0] == "weights":
            fmt = str(detail.loc[1])
            if formats.get(fmt) != "failed":
                formats[fmt] = detail.status
    passed = summary.status == "passed" and all(status == "passed" for status in formats.values())
    return TestReport(passed=passed, formats=formats, reasons=[] if passed else _reasons(summary, path),
                      summary=summary)


test_package.__test__ = False  # not a pytest test
TestReport.__test__ = False

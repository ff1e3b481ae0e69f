"""Parameter records of the baselines and the json files that carry them.

Every baseline's parameters are a frozen dataclass deriving from :class:`Params`; the
values that ship with the package live in ``nucseg_zoo/baselines/data/<file>.json`` next
to the validation score they reached and the split they were chosen on.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping, TypeVar

from nucseg_zoo._atomic import write_text_atomically

DATA_DIR = Path(__file__).resolve().parent / "data"

P = TypeVar("P", bound="Params")


@dataclasses.dataclass(frozen=True)
class Params:
    """Base of the baselines' parameter dataclasses: plain-dict round trip.

    Fields whose default is itself a dataclass with a ``from_dict`` classmethod (another
    :class:`Params`, or :class:`~nucseg_zoo.postprocessing.PostprocessingParams`) are nested
    records; they are stored as nested dicts.
    """

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls: type[P], values: Mapping[str, Any]) -> P:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming the valid ones."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(values) - set(fields)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} parameters {sorted(unknown)}; valid: {sorted(fields)}")
        kwargs = {}
        for name, value in values.items():
            default = fields[name].default
            if dataclasses.is_dataclass(default) and hasattr(type(default), "from_dict"):
                value = type(default).from_dict(value)
            elif isinstance(default, tuple):
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)


def read_record(path: Path) -> dict[str, Any]:
    """The JSON record of a baseline (see :func:`write_record`)."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as err:
        raise FileNotFoundError(f"baseline parameter file {path} is missing; regenerate it "
                                "with `python -m nucseg_zoo.training.cellprofiler_tuning` (CellProfiler-like "
                                "baselines) or `python -m nucseg_zoo.training.random_forest`"
                                ) from err


def write_record(path: Path, record: Mapping[str, Any]) -> Path:
    """Write ``record`` as indented JSON, atomically (temporary file, then rename)."""
    path = Path(path)
    write_text_atomically(path, json.dumps(record, indent=2) + "\n")
    return path

"""The model zoo: entries as data (``zoo/<id>/entry.yaml``), listed by :func:`list_models`.

Load one with :func:`nucseg_zoo.load_model` (:mod:`nucseg_zoo.segmenters`); read its entry with
:func:`nucseg_zoo.zoo.entry.read_entry`.
"""

from __future__ import annotations

from nucseg_zoo.zoo.registry import list_models

__all__ = ["list_models"]

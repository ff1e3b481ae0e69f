"""Griffe extension: the docstrings' Sphinx roles as Markdown code.

The package's docstrings are Google style with reStructuredText roles
(:func:`load`, :class:`~nucseg_zoo.metrics.DatasetScores`) and literal blocks introduced
by ``::``. For the API reference the roles become code spans (``~`` keeps the last
component) and a trailing ``::`` becomes ``:``, before the Markdown rendering.
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:func|class|mod|meth|data|attr|exc|obj|const|py:\w+):`(~?)([^`]+)`")
_LITERAL = re.compile(r"(?<=\S)::$", re.M)


def _role(match: re.Match) -> str:
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def convert(text: str) -> str:
    """``text`` with roles as code spans and literal-block markers as colons."""
    return _LITERAL.sub(":", _ROLE.sub(_role, text))


class SphinxRoles(griffe.Extension):
    def on_object(self, *, obj, loader, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)

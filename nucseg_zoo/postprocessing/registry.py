"""The output-kind registry: one record per convention of a network's output.

An *output kind* names what a model's output ``(C, H, W)`` holds and everything that follows
from it (:class:`OutputKind`): the meaning of its channels, the type of its postprocessing
parameters, the adapter from output to instance labels, the grid its parameters are tuned
over on validation, and how a network learns to give it. Zoo entries (``output_kind`` in
``entry.yaml``), bioimage.io packages (``config.nucseg_zoo.output_kind`` or
``--output-kind``) and training recipes name a kind; every caller looks the record up here
(:func:`get_output_kind`) instead of switching on the name. Another convention (distances,
flows, ...) is one more record passed to :func:`register`, with no edit elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

import numpy as np


class KindParams(Protocol):
    """Postprocessing parameters of one kind: a frozen dataclass whose default construction
    gives the kind's defaults, with a plain-data round trip (model cards, rdf ``config``,
    ``postprocessing.json``). Tuning grids and :func:`override_params` replace its fields
    with :func:`dataclasses.replace`."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        ...

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> KindParams:
        """Inverse of :meth:`to_dict`; unknown names or bad values raise ``ValueError``."""
        ...


@dataclass(frozen=True)
class Channels:
    """The channels of a kind's output (axis 0 of ``(C, H, W)``).

    Attributes:
        names: meaning of each fixed channel, in order.
        repeated: meaning of each further channel of a kind whose output has a variable
            number of them (StarDist: one ray distance per ray); None: exactly ``names``.
        count_name: what the number of further channels is called (``n_rays``).
        min_repeated: fewest further channels.
    """

    names: tuple[str, ...]
    repeated: str | None = None
    count_name: str = "n"
    min_repeated: int = 0

    def fits(self, count: int) -> bool:
        """Whether an output with ``count`` channels can be of this kind."""
        if self.repeated is None:
            return count == len(self.names)
        return count >= len(self.names) + self.min_repeated

    @property
    def count(self) -> str:
        """The channel count as text: ``"3"``, ``"1 + n_rays (>= 4)"``."""
        if self.repeated is None:
            return str(len(self.names))
        return f"{len(self.names)} + {self.count_name} (>= {len(self.names) + self.min_repeated})"

    def describe(self, count: int) -> str:
        """``count`` channels in words, e.g. ``"background, interior, boundary"`` or, for a
        variable kind, ``"object probability and 16 ray distances"``."""
        fixed = ", ".join(self.names)
        if self.repeated is None:
            return fixed
        return f"{fixed} and {count - len(self.names)} {self.repeated}s"


@dataclass(frozen=True)
class RdfDeclaration:
    """A tool's own rdf entry that declares a kind (StarDist's export writes ``config.stardist``).

    Attributes:
        key: the entry's name under the rdf's ``config``; a package that has it is of this kind.
        params: the kind's parameters from that entry (a plain dict, empty when absent);
            raises ``ValueError`` on values the kind refuses.
    """

    key: str
    params: Callable[[Mapping[str, Any]], KindParams]


@dataclass(frozen=True)
class Tuning:
    """The grids a kind's parameters are chosen over on validation (:mod:`nucseg_zoo.training.tuning`).

    Attributes:
        search: stage one, parameter name → values; the point of best validation average F1.
        refine: stage two around stage one's choice, or None; the point of lowest error rate
            at IoU 0.7 among those within a tolerance of stage one's average F1.
    """

    search: Mapping[str, tuple]
    refine: Mapping[str, tuple] | None = None


@dataclass(frozen=True)
class Training:
    """How a network learns to give a kind's output here (:mod:`nucseg_zoo.training`).

    Attributes:
        targets: ``recipe -> (labels -> (target, weight))``: the recipe's per-pixel target
            builder; it maps ``(H, W)`` integer instance labels to an ``(H, W)`` target and
            ``(H, W)`` float32 loss weights. An all-background label image gives the target
            and weight of the background (blank fields, zero frames).
        loss: ``(logits (B, C, h, w), targets (B, h, w), weights (B, h, w)) -> scalar`` torch
            loss, weighted per pixel.
        output: network logits ``(C, H, W)`` float32 → the kind's output ``(C, H, W)``
            (e.g. a softmax over the channels); validation and tuning postprocess this.
        soft_loss: ``(logits, teacher outputs (B, C, h, w), weights) -> scalar`` for knowledge
            distillation, or None (recipes with ``distillation`` are refused).
        class_targets: whether the targets are class indices ``0..C-1``, so that pixels can be
            sampled class-balanced (recipe ``pixel_sampling``).
    """

    targets: Callable[[Any], Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]]
    loss: Callable[..., Any]
    output: Callable[[np.ndarray], np.ndarray]
    soft_loss: Callable[..., Any] | None = None
    class_targets: bool = False


_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class OutputKind:
    """One output convention and everything that follows from it.

    Attributes:
        name: the kind's id (lower case, digits, ``_`` and ``-``), as entries, rdfs and
            ``--output-kind`` name it.
        description: one line: what the output holds and how it becomes instances.
        channels: the output's channels.
        params: the parameter class (:class:`KindParams`); ``params()`` gives the defaults.
        adapter: ``(output, params) -> labels``: ``(C, H, W)`` output (the kind's channels)
            → ``(H, W)`` int32 instance labels, 0 = background; raises ``ValueError`` on an
            output of the wrong shape or dtype.
        integer: whether the output holds integer data (labels) rather than floats; an
            undeclared package output is read as this kind only with that data type.
        inferable: whether an undeclared package output with fitting channels and data type
            may be read as this kind; it is, when this is the only such kind.
        ambiguity: why an undeclared output that fits cannot be read as this kind (said when
            such a package is refused), e.g. another convention with the same channels.
        rdf_config: the rdf entry by which a tool's own export declares this kind, or None.
        tuning: the parameter grids, or None where the parameters come with the model only.
        training: how to train a network for this kind, or None where it cannot be trained
            here (the kind's module says why).
    """

    name: str
    description: str
    channels: Channels
    params: type
    adapter: Callable[[np.ndarray, Any], np.ndarray]
    integer: bool = False
    inferable: bool = False
    ambiguity: str = ""
    rdf_config: RdfDeclaration | None = None
    tuning: Tuning | None = None
    training: Training | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"output kind name {self.name!r} must be lower case letters, digits, '_' and '-', "
                             "starting with a letter")
        missing = [m for m in ("from_dict", "to_dict") if not callable(getattr(self.params, m, None))]
        if missing:
            raise ValueError(f"output kind {self.name!r}: parameter class {self.params.__name__} lacks "
                             f"{', '.join(missing)}")

    def parse_params(self, values: Mapping[str, Any] | None) -> KindParams:
        """Parameters from plain data (``postprocessing.json``, rdf ``config``); None or empty
        gives the defaults.

        Raises:
            ValueError: unknown parameter names or values the parameters refuse.
        """
        return self.params.from_dict(values) if values else self.params()

    def to_labels(self, output: np.ndarray, params: KindParams | None = None) -> np.ndarray:
        """Instance labels ``(H, W)`` int32 of an output of this kind (``params``: None = defaults).

        Raises:
            TypeError: ``params`` are not of this kind's parameter class.
            ValueError: the output does not fit the kind (see ``adapter``).
        """
        params = self.params() if params is None else params
        if not isinstance(params, self.params):
            raise TypeError(f"output kind {self.name} takes {self.params.__name__}, got {type(params).__name__}")
        return self.adapter(output, params)


_KINDS: dict[str, OutputKind] = {}


def register(kind: OutputKind) -> OutputKind:
    """Add ``kind`` to the registry and return it.

    Raises:
        ValueError: a kind of that name is registered already (the registry is never
            overwritten; pick another name).
    """
    if kind.name in _KINDS:
        raise ValueError(f"output kind {kind.name!r} is registered already ({_KINDS[kind.name].description}); "
                         f"registered: {', '.join(_KINDS)}")
    _KINDS[kind.name] = kind
    return kind


def list_output_kinds() -> list[str]:
    """Names of the registered kinds, in registration order (built-ins first)."""
    return list(_KINDS)


def get_output_kind(kind: str | OutputKind) -> OutputKind:
    """The registered kind of that name (an :class:`OutputKind` is returned as it is).

    Raises:
        ValueError: no kind of that name (the valid ones are listed).
    """
    if isinstance(kind, OutputKind):
        return kind
    try:
        return _KINDS[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown output kind {kind!r}; valid kinds: {', '.join(_KINDS)}") from None


def to_labels(output: np.ndarray, kind: str | OutputKind, params: KindParams | None = None) -> np.ndarray:
    """Instance labels ``(H, W)`` int32 of a model output of ``kind`` (a registered name or record).

    Args:
        output: the model's output, ``(C, H, W)`` with the kind's channels.
        kind: see :func:`list_output_kinds`.
        params: the kind's parameters; None = its defaults.

    Raises:
        ValueError: unknown kind (the valid ones are listed), or an output that does not fit it.
        TypeError: ``params`` of another kind's parameter class.
    """
    return get_output_kind(kind).to_labels(output, params)


def override_params(params: KindParams, overrides: Mapping[str, Any] | None) -> KindParams:
    """``params`` (a kind's frozen parameter dataclass) with the named fields replaced.

    Raises:
        ValueError: a name that is not a field of ``params`` (the valid ones are listed),
            or a value the parameters refuse.
    """
    if not overrides:
        return params
    known = [f.name for f in fields(params)]
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"unknown postprocessing parameter(s) {unknown} for {type(params).__name__}; "
                         f"valid: {known}")
    return replace(params, **dict(overrides))

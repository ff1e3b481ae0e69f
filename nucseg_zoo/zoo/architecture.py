"""A zoo network as data: which callable builds it, with which arguments, and its input geometry."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

REQUIRED_KEYS = {"module", "callable", "kwargs", "size_step", "halo"}
OPTIONAL_KEYS = {"summary", "probe_kwargs", "member"}
MEMBER_KEYS = {"callable", "kwargs"}


@dataclass(frozen=True)
class Architecture:
    """The network of a zoo entry (``entry.yaml``'s ``architecture``).

    Attributes:
        module, callable: a self-contained ``torch.nn`` file and the class or function in it
            (e.g. ``nucseg_zoo.models.unet`` / ``UNet``); the callable accepts ``softmax=False``.
        kwargs: the arguments of the shipped network.
        size_step: input height and width must be multiples of this (px; 2 ** poolings).
        halo: px of context a tile needs on each side (at least the receptive-field radius,
            a multiple of ``size_step``; see :mod:`nucseg_zoo.tiling`).
        summary: one paragraph for the model card.
        probe_kwargs: overrides that keep the receptive field but make the network cheap to
            build (e.g. 2 filters per level, one ensemble member), for measuring the halo.
        member: an ensemble's member network (same module, size step and halo): what one
            weights file holds, loaded into ``members[K]`` of this network; None for a single network.
    """

    module: str
    callable: str
    kwargs: Mapping[str, Any]
    size_step: int
    halo: int
    summary: str = ""
    probe_kwargs: Mapping[str, Any] = field(default_factory=dict)
    member: Architecture | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Architecture:
        """Read and check ``entry.yaml``'s ``architecture`` mapping.

        Raises:
            ValueError: a required key is missing, a key is unknown, or the geometry is not
                positive integers with the halo a multiple of the size step.
        """
        keys = set(raw)
        if not REQUIRED_KEYS <= keys <= REQUIRED_KEYS | OPTIONAL_KEYS:
            raise ValueError(f"architecture needs {sorted(REQUIRED_KEYS)} (optional: {sorted(OPTIONAL_KEYS)}); missing "
                             f"{sorted(REQUIRED_KEYS - keys)}, unknown {sorted(keys - REQUIRED_KEYS - OPTIONAL_KEYS)}")
        size_step, halo = int(raw["size_step"]), int(raw["halo"])
        if size_step < 1 or halo < 0 or halo % size_step:
            raise ValueError(f"architecture needs size_step >= 1 and a halo >= 0 that is a multiple of it, "
                             f"got size_step {size_step}, halo {halo}")
        member = raw.get("member")
        if member is not None and set(member) != MEMBER_KEYS:
            raise ValueError(f"architecture member must be {{callable, kwargs}}, got {sorted(member)}")
        return cls(module=raw["module"], callable=raw["callable"], kwargs=dict(raw["kwargs"]), size_step=size_step,
                   halo=halo, summary=str(raw.get("summary", "")).strip(),
                   probe_kwargs=dict(raw.get("probe_kwargs") or {}),
                   member=None if member is None else cls(module=raw["module"], callable=member["callable"],
                                                          kwargs=dict(member["kwargs"]), size_step=size_step,
                                                          halo=halo))

    @property
    def name(self) -> str:
        """``module.callable``, e.g. ``nucseg_zoo.models.unet.UNet``."""
        return f"{self.module}.{self.callable}"

    @property
    def source_file(self) -> Path:
        """The Python file defining the network (self-contained, pure torch)."""
        return Path(importlib.import_module(self.module).__file__)

    def build(self, **overrides: Any):
        """A fresh (randomly initialised) ``torch.nn.Module``; ``overrides`` replace ``kwargs``
        (e.g. ``softmax=False``), keeping the parameters those of the shipped state dicts."""
        return getattr(importlib.import_module(self.module), self.callable)(**{**self.kwargs, **overrides})

    def build_probe(self):
        """The network with :attr:`probe_kwargs` applied: the same receptive field, fast to measure."""
        return self.build(**self.probe_kwargs)

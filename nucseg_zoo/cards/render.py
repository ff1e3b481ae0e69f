"""One renderer for the model card of a zoo entry (``zoo/<id>/README.md``) and the documentation
of its bioimage.io package: the same sections from the same facts, with the per-target
differences as data (:class:`CardTarget`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from nucseg_zoo._atomic import write_text_atomically
from nucseg_zoo.cards import sections as S
from nucseg_zoo.cards.facts import CardFacts, gather
from nucseg_zoo.zoo.entry import read_entry

Section = Callable[[CardFacts, "CardTarget"], list[str]]


@dataclass(frozen=True)
class CardTarget:
    """What differs between the cards of one entry.

    Attributes:
        name: ``"zoo"`` or ``"package"``.
        regenerate: how the card is written, for its generated-file note (``{id}``: the entry).
        load_source: what ``nucseg_zoo.load_model`` opens in the usage example (``{id}``: the entry).
        preprocessing_location: where the preprocessing is stated.
        postprocessing_location: where the tuned postprocessing parameters are and what applies them.
        own_data: how a user segments annotated images of their own (a clause).
        needs_package: whether the card states a package's facts (:class:`~nucseg_zoo.cards.facts.PackageFacts`).
        model_bullets: the bullets of ``## Model``.
        sections: the sections, in order.
    """

    name: str
    regenerate: str
    load_source: str
    preprocessing_location: str
    postprocessing_location: str
    own_data: str
    needs_package: bool
    model_bullets: tuple[Section, ...]
    sections: tuple[Section, ...]


ZOO = CardTarget(
    name="zoo",
    regenerate="`python -m nucseg_zoo.cards {id}` from the files in this folder",
    load_source="{id}",
    preprocessing_location="stated in `entry.yaml` (`preprocessing`) and applied by `predict`",
    postprocessing_location="stored in `postprocessing.json` and applied by `segment`",
    own_data="segment images with known instance masks (`nucseg-zoo segment`, or `model.segment`)",
    needs_package=False,
    model_bullets=(S.architecture, S.zoo_input_output, S.weight_files, S.license_line),
    sections=(S.preamble, S.usage, S.model, S.preprocessing, S.training, S.fine_tuning, S.postprocessing,
              S.ensemble_comparison, S.experiments, S.metrics_summary, S.own_data, S.intended_use, S.citations),
)
"""``zoo/<id>/README.md``."""

PACKAGE = CardTarget(
    name="package",
    regenerate="`nucseg-zoo package {id}` from the entry's files",
    load_source="{id}.zip",
    preprocessing_location="written into the rdf's `preprocessing` (applied by bioimage.io tools)",
    postprocessing_location="they travel in `config.nucseg_zoo.postprocessing` of `rdf.yaml`",
    own_data=("run the package on images with known instance masks, apply the postprocessing from "
              "`config.nucseg_zoo.postprocessing`"),
    needs_package=True,
    model_bullets=(S.architecture, S.package_input_output, S.weight_formats, S.license_line),
    sections=(S.preamble, S.usage, S.model, S.preprocessing, S.per_tile_tools, S.training, S.fine_tuning,
              S.postprocessing,
              S.ensemble_comparison, S.experiments, S.test_data, S.metrics_all, S.own_data, S.intended_use,
              S.citations),
)
"""The ``README.md`` of the entry's bioimage.io package (its facts: :class:`~nucseg_zoo.cards.facts.PackageFacts`)."""


def render_card(facts: CardFacts, target: CardTarget) -> str:
    """The markdown card of ``facts`` for ``target``.

    Raises:
        ValueError: ``target`` states a package's facts and ``facts`` has none.
    """
    if target.needs_package and facts.package is None:
        raise ValueError(f"the {target.name} card of {facts.entry.id!r} needs the package's facts (PackageFacts)")
    lines = [line for section in target.sections for line in section(facts, target)]
    return "\n".join(lines)


def write_zoo_card(model_id: str | os.PathLike) -> str:
    """Render the zoo card of ``model_id`` (a zoo id or a local entry folder) into its
    ``README.md`` (atomically); return the text."""
    entry = read_entry(model_id)
    text = render_card(gather(entry), ZOO)
    write_text_atomically(entry.dir / "README.md", text)
    return text

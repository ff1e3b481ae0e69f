"""Which images of one dataset are fields of another, as the cards record it, and what follows
for a model's training data: does it hold fields of a test split?

A card may name, under ``fields_of``, a table of its images that are fields of another dataset
(``fields_of: {bbbc039: bbbc039-fields.tsv}``): tab-separated, a header line, then one row per
image — its id, the other dataset's field, that field's split, the similarity and the relation
(made with :func:`nucseg_zoo.datasets.overlap.find_fields`; ``nucseg-zoo datasets overlap A B``
recomputes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from nucseg_zoo._resources import bundled_dir
from nucseg_zoo.datasets.card import read_card


@dataclass(frozen=True)
class SharedField:
    """One image of ``dataset`` that is the field ``field`` of ``other`` (in ``other``'s split ``field_split``)."""

    dataset: str
    image: str
    other: str
    field: str
    field_split: str
    similarity: float
    relation: str


@lru_cache(maxsize=None)
def shared_fields(dataset: str, other: str) -> tuple[SharedField, ...]:
    """The recorded images of ``dataset`` that are fields of ``other`` (empty when its card records none).

    Raises:
        ValueError: unknown dataset.
    """
    card = read_card(dataset)
    table = card.fields_of.get(other)
    if table is None:
        return ()
    rows = (bundled_dir("datasets") / dataset / table).read_text().splitlines()[1:]
    fields = []
    for row in rows:
        image, field, field_split, similarity, relation = row.split("\t")
        fields.append(SharedField(dataset, image, other, field, field_split, float(similarity), relation))
    return tuple(fields)


def _split_of(dataset: str, image: str) -> str | None:
    return next((split.name for split in read_card(dataset).splits.values() if image in split.stems), None)


def holds_test_fields(training_data: tuple[str, ...], dataset: str, split: str) -> bool | None:
    """Whether data ``training_data`` (``"dataset/split"`` pairs) holds a field of ``dataset``/``split``.

    True when a pair is that split itself, or holds an image recorded as one of its fields
    (:func:`shared_fields`, either card's table); False when every pair is another split of the
    same dataset (official splits are disjoint) or of a dataset whose recorded shared fields miss
    that split; None (unknown) when a pair names a dataset without a card, or no pair is given.
    """
    from nucseg_zoo.datasets.card import list_card_ids

    if not training_data:
        return None
    known = set(list_card_ids())
    answer: bool | None = False
    for item in training_data:
        train_dataset, _, train_split = item.partition("/")
        if train_dataset == dataset:
            if train_split == split:
                return True
            continue
        if train_dataset not in known:
            answer = None
            continue
        forward = any(f.field_split == split and _split_of(train_dataset, f.image) == train_split
                      for f in shared_fields(train_dataset, dataset))
        backward = any(_split_of(dataset, f.image) == split and f.field_split == train_split
                       for f in shared_fields(dataset, train_dataset))
        if forward or backward:
            return True
    return answer

"""Model cards, rendered from a zoo entry's files: the zoo's ``zoo/<id>/README.md`` and the
``README.md`` of the entry's bioimage.io package, by one renderer.

Every number in a card comes from a file: ``entry.yaml`` (architecture, preprocessing,
weights), ``recipe.yaml`` (training), ``training_log.jsonl``, ``postprocessing.json``
(validation tuning), ``validation.json`` and ``experiments/*.json`` (validation studies),
``metrics.json`` (the harness's test-split evaluation) and the dataset's card (splits,
counts, license, citations). Re-render the zoo cards with ``python -m nucseg_zoo.cards
MODEL_ID ...``; never edit the numbers by hand.
"""

from nucseg_zoo.cards.facts import CardFacts, PackageFacts, gather
from nucseg_zoo.cards.render import PACKAGE, ZOO, CardTarget, render_card, write_zoo_card

__all__ = ["CardFacts", "CardTarget", "PACKAGE", "PackageFacts", "ZOO", "gather", "render_card", "write_zoo_card"]

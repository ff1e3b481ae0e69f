"""``python -m nucseg_zoo.cards MODEL_ID ...``: re-render the zoo cards of these entries."""

import sys

from nucseg_zoo.cards import write_zoo_card

for model_id in sys.argv[1:]:
    write_zoo_card(model_id)

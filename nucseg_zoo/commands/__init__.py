"""Sub-commands of the ``nucseg-zoo`` CLI, one module each (see :mod:`nucseg_zoo.cli`)."""

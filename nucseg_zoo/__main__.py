"""``python -m nucseg_zoo ...``: the same command line as ``nucseg-zoo ...``."""

from nucseg_zoo.cli import main

raise SystemExit(main())

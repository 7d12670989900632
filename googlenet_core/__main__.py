"""``python -m googlenet_core`` (see :mod:`googlenet_core.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

"""Entry point for ``python -m recsys``."""

import sys

from recsys.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m vsslomo.train``: train or fine-tune Super SloMo."""

import sys

from .trainer import main

if __name__ == "__main__":
    sys.exit(main())

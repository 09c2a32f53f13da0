"""``python -m vsslomo.train``: train or fine-tune a model (see ``--help``)."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m vsslomo.train"))

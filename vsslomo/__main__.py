"""``python -m vsslomo``: the ``vsslomo`` command."""

import sys

from .cli import main

sys.exit(main())

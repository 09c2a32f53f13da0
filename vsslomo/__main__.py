"""``python -m vsslomo``: the ``vsslomo`` command."""

from .cli import run

run()

"""The one exception type of training: a problem the user can fix, told in one line."""

from __future__ import annotations


class TrainError(Exception):
    """Bad input or setup for ``vsslomo train``; the command prints ``vsslomo train: error: <message>``."""

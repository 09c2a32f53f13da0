"""The one exception type of the render pipeline."""

from __future__ import annotations


class RenderError(Exception):
    """A user-facing failure of a render (bad input, ffmpeg setup, a worker's error).

    Its message is one line that says what is wrong and how to fix it; the command prints
    it as ``vsslomo: error: MESSAGE``.
    """


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped a render; the message says what was kept, if anything."""

"""Training and fine-tuning of Super SloMo (``python -m vsslomo.train`` / ``vsslomo train``).

Never imports VapourSynth; video frames are decoded with the ffmpeg binary.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Run the training command line with ``argv`` (default: ``sys.argv[1:]``)."""
    from .trainer import main as _main

    return _main(argv, prog="vsslomo train")

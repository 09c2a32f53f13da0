"""Training and fine-tuning of vsslomo's models (``python -m vsslomo.train`` / ``vsslomo train``).

Never imports VapourSynth; video frames are decoded with the ffmpeg binary. One loop serves
every family (:mod:`vsslomo.train.families`); the phases that made the shipped weights are
recipe files in ``recipes/``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None, prog: str = "vsslomo train") -> int:
    """Run the training command line with ``argv`` (default: ``sys.argv[1:]``).

    Bad input is reported as one line, ``vsslomo train: error: ...``, exit code 2, before
    the first training step.
    """
    from ..models.checkpoint import CheckpointError
    from .errors import TrainError

    try:
        return _main(argv, prog)
    except (TrainError, CheckpointError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2


def _main(argv: list[str] | None, prog: str) -> int:
    from .checks import check_args, check_out_dir
    from .checkpoint import export_checkpoint
    from .options import parse_args
    from .trainer import train

    args = parse_args(argv, prog)
    if args.export:
        src, dst = args.export
        check_out_dir(dst.parent if str(dst.parent) else Path("."))
        export_checkpoint(src, dst)
        print(f"wrote {dst}", file=sys.stderr)
        return 0
    check_args(args, world=int(os.environ.get("WORLD_SIZE", "1")))
    train(args)
    return 0

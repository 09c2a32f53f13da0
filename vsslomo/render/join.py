"""The final join: the lossless chunk files, in order, through the concat demuxer into the
final encode with the source's other streams, under a temporary name."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from .encode import atomic_output, build_encode_command, concat_input, run_encode
from .errors import RenderError
from .ffmpeg import count_frames
from .plan import Prepared, final_job
from .progress import Bar


def write_listing(listing: Path, files: Sequence[Path]) -> None:
    """A concat-demuxer listing of ``files`` (absolute paths, quotes escaped)."""
    lines = ["ffconcat version 1.0"]
    for f in files:
        escaped = str(f.resolve()).replace("'", "'\\''")
        lines.append(f"file '{escaped}'")
    listing.write_text("\n".join(lines) + "\n")


def join(prepared: Prepared, files: Sequence[Path], listing: Path, fps: Fraction, frames: int, props: dict[str, Any]) -> None:
    """Encode ``files`` (``frames`` frames at ``fps`` in all) into the request's output.

    The result is counted before it takes the final name: a join that lost or gained a
    frame is an error, never a silently wrong file.
    """
    write_listing(listing, files)
    output = prepared.request.output
    with atomic_output(output) as tmp:
        job = final_job(prepared, concat_input(listing, fps), tmp, props)
        with Bar("join", frames, prepared.request.quiet) as bar:
            run_encode(build_encode_command(job), on_frames=bar.update)
        written = count_frames(prepared.ffmpeg, tmp)
        if written != frames:
            raise RenderError(f"the join wrote {written} frames instead of {frames}; the chunks are kept (--resume joins them again)")

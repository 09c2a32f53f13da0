"""The single-process render: the filter graph piped straight into the final encode."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from .encode import (
    PIX_FMTS,
    atomic_output,
    build_encode_command,
    encodable,
    frame_writer,
    raw_input,
    run_encode,
    sigterm_as_interrupt,
)
from .plan import Prepared, RenderRequest, Summary, final_job, output_rate, prepare
from .progress import Bar
from .scan import analyse, with_dedup_file
from .source import interpolated, open_source

if TYPE_CHECKING:
    import vapoursynth as vs


def render(request: RenderRequest, note: Callable[[str], None], debug: Callable[[str], None] | None = None) -> Summary:
    """Interpolate ``request.source`` into ``request.output`` in this process.

    ``note`` receives one-line notices (streams converted or dropped). The output is written
    under a temporary name and renamed when complete; Ctrl-C and errors leave nothing.
    """
    prepared = prepare(request)
    src = open_source(request.source, request.threads)
    with tempfile.TemporaryDirectory(prefix="vsslomo-render-") as scratch:
        filter_kwargs, _ = with_dedup_file(request.filter_kwargs, Path(scratch))
        if filter_kwargs.get("dedup"):
            analyse(src, filter_kwargs, request.quiet)  # the one scan, with its progress bar, kept for the filter
        return _render(request, prepared, src, interpolated(src, filter_kwargs), note, debug)


def _render(
    request: RenderRequest, prepared: Prepared, src: vs.VideoNode, clip: vs.VideoNode,
    note: Callable[[str], None], debug: Callable[[str], None] | None,
) -> Summary:
    source_fps = Fraction(src.fps.numerator, src.fps.denominator) if src.fps.numerator else None
    plan_fps = Fraction(clip.fps.numerator, clip.fps.denominator) if clip.fps.numerator else None
    fps = output_rate(prepared, plan_fps, source_fps)
    clip = encodable(clip)
    pix_fmt, planes = PIX_FMTS[clip.format.name]
    props = dict(clip.get_frame(0).props)
    for line in prepared.streams.notices:
        note(line)
    start = time.perf_counter()
    with sigterm_as_interrupt(), atomic_output(request.output) as tmp:
        job = final_job(prepared, raw_input(clip.width, clip.height, pix_fmt, fps), tmp, props)
        cmd = build_encode_command(job)
        if debug is not None:
            debug(" ".join(cmd))
        with Bar("render", clip.num_frames, request.quiet) as bar:
            run_encode(cmd, frame_writer(clip, planes, bar.advance))
    return Summary(request.output, clip.num_frames, fps, time.perf_counter() - start)

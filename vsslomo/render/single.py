"""The single-process render: the filter graph piped straight into the final encode."""

from __future__ import annotations

import time
from collections.abc import Callable
from fractions import Fraction

from .encode import PIX_FMTS, atomic_output, build_encode_command, encodable, frame_writer, raw_input, run_encode, sigterm_as_interrupt
from .plan import RenderRequest, Summary, final_job, output_rate, prepare
from .progress import Bar
from .source import interpolated, open_source


def render(request: RenderRequest, note: Callable[[str], None], debug: Callable[[str], None] | None = None) -> Summary:
    """Interpolate ``request.source`` into ``request.output`` in this process.

    ``note`` receives one-line notices (streams converted or dropped). The output is written
    under a temporary name and renamed when complete; Ctrl-C and errors leave nothing.
    """
    prepared = prepare(request)
    src = open_source(request.source, request.threads)
    clip = interpolated(src, request.filter_kwargs)
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

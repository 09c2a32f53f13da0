"""What a worker does: build the render's filter graph once, then encode chunk after chunk.

Every worker, local process or Ray actor, runs a :class:`ChunkRenderer`. It opens the whole
source and builds the same graph the single-process render builds, then asks it only for
the output frames of its chunk: scene detection sees the same neighbours, every pair is
computed with all its timesteps, and so every frame has the bits of the single-process
render. Frames go straight from the graph into ffmpeg, never back to the driver.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from .encode import PART_MARK, PIX_FMTS, EncodeJob, build_encode_command, encodable, frame_writer, raw_input, run_encode
from .errors import RenderError
from .ffmpeg import count_frames
from .source import interpolated, open_source

INTERMEDIATE_CODEC = "ffv1"
"""Lossless, intra-only: any frame range decodes exactly and frames count as packets."""


@dataclass(frozen=True)
class RenderJob:
    """Everything a worker needs besides its chunks (small and picklable: no frames)."""

    source: str
    filter_kwargs: dict[str, Any]
    ffmpeg: str
    pix_fmt: str
    fps: Fraction
    """Rate of the intermediate files (their timestamps are replaced at the join)."""
    num_frames: int
    """Output length the driver planned; a worker whose graph disagrees refuses to work."""
    fingerprint: dict[str, str]
    """The driver's :func:`vsslomo.numerics.fingerprint`; a worker whose own differs refuses."""
    threads: int | None = None
    environment: dict[str, str] = field(default_factory=dict)
    """Environment variables set in every worker before torch starts (e.g. the numerics threads)."""


@dataclass(frozen=True)
class ChunkTask:
    """One chunk to render: output frames ``[start, stop)`` into ``path``."""

    index: int
    start: int
    stop: int
    path: str


@dataclass(frozen=True)
class ChunkResult:
    """A finished chunk file."""

    index: int
    frames: int
    seconds: float
    worker: str


def worker_name() -> str:
    """``host:pid`` of this process, for messages."""
    return f"{socket.gethostname()}:{os.getpid()}"


class ChunkRenderer:
    """The filter graph of one render, built once per worker (the model loads once)."""

    def __init__(self, job: RenderJob, device: str | None = None):
        from .. import numerics

        mine = numerics.fingerprint()
        if mine != job.fingerprint:
            diff = ", ".join(f"{k} {mine.get(k)} here, {v} on the driver" for k, v in job.fingerprint.items() if mine.get(k) != v)
            raise RenderError(f"worker {worker_name()} would not give the driver's bits: {diff}; install the same versions on every machine")
        kwargs = dict(job.filter_kwargs)
        if device is not None:
            kwargs["device"] = device
        self.job = job
        clip = encodable(interpolated(open_source(Path(job.source), job.threads), kwargs))
        if clip.num_frames != job.num_frames:
            raise RenderError(f"the filter gives {clip.num_frames} frames where the chunk plan has {job.num_frames}; the plan does not match the filter's timing")
        self.clip = clip
        self.planes = PIX_FMTS[clip.format.name][1]

    def render(self, task: ChunkTask, advance: Callable[[int], None]) -> ChunkResult:
        """Encode the chunk to a temporary file, check its frame count, then rename it."""
        start = time.perf_counter()
        final = Path(task.path)
        tmp = final.with_name(f".{final.name}{PART_MARK}-{os.getpid()}")
        job = EncodeJob(
            ffmpeg=self.job.ffmpeg,
            video_input=raw_input(self.clip.width, self.clip.height, self.job.pix_fmt, self.job.fps),
            output=tmp,
            codec=INTERMEDIATE_CODEC,
            output_format="matroska",
        )
        try:
            run_encode(build_encode_command(job), frame_writer(self.clip[task.start : task.stop], self.planes, advance))
            frames = count_frames(self.job.ffmpeg, tmp)
            expected = task.stop - task.start
            if frames != expected:
                raise RenderError(f"chunk {task.index}: wrote {frames} frames instead of {expected}")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return ChunkResult(task.index, frames, time.perf_counter() - start, worker_name())

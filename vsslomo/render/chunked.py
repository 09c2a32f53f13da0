"""The chunked render: plan in the driver, render chunks on many workers, join losslessly.

``vsslomo render IN OUT --workers N`` (local processes) or ``--ray [ADDRESS]`` (Ray actors):

1. one analysis pass over the source (scene cuts; durations for a variable rate);
2. chunks in source-frame space that end at cuts (:mod:`.chunks`), each with its output
   range from the timing plan, recorded in a manifest beside the output (:mod:`.manifest`);
3. workers (:mod:`.workers`, :mod:`.cluster`) render chunks longest first, each into its
   own lossless file; a chunk whose worker dies or whose file has the wrong frame count is
   handed out again;
4. the join (:mod:`.join`): the chunk files through the concat demuxer, the source's other
   streams, the final codec, under a temporary name.

Every worker builds the same graph as the single-process render, so the joined frames
are bit-identical to it (the numerics do not depend on the thread layout either, see
:mod:`vsslomo.numerics`). ``--resume`` reuses the finished chunks of an interrupted run.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from .chunks import Chunk, plan_chunks, timing_plan
from .encode import PART_MARK, PIX_FMTS, encodable_format, sigterm_as_interrupt
from .errors import Interrupted, RenderError
from .ffmpeg import frames_in
from .join import join
from .layout import Layout
from .manifest import MANIFEST_NAME, Manifest, differences, work_dir
from .plan import Prepared, RenderRequest, Summary, output_rate, prepare
from .progress import Bar
from .scan import analyse, source_fps
from .scheduler import Scheduler, file_problem
from .settings import render_settings
from .source import open_source

DEFAULT_CHUNK_FRAMES = 600
"""Most source frames in one chunk (25 s at 24 fps): long enough that a chunk's start-up
(seeking, ffmpeg) is small beside it, short enough to spread a film over many workers."""


@dataclass(frozen=True)
class ClusterOptions:
    """How to spread a render: local processes or Ray actors, chunk size, resuming."""

    workers: int | None = None
    """Number of workers (default: one per GPU, or CPU workers by the numerics threads)."""
    ray: bool = False
    address: str | None = None
    """Ray cluster to join (``"auto"`` or ``host:port``); ``None`` starts a local one."""
    chunk_frames: int = DEFAULT_CHUNK_FRAMES
    resume: bool = False


def render(request: RenderRequest, options: ClusterOptions, note: Callable[[str], None]) -> Summary:
    """Interpolate ``request.source`` into ``request.output`` over a pool of workers."""
    from . import cluster

    prepared = prepare(request)
    folder = work_dir(request.output)
    if folder.exists() and not options.resume and not request.overwrite:
        raise RenderError(f"{folder}: holds an unfinished render of {request.output.name}; add --resume to continue it, or -y to start over")
    start = time.perf_counter()
    with sigterm_as_interrupt():
        started_ray = cluster.connect(options.address) if options.ray else False
        try:
            plan = _plan(prepared, options)
            for line in prepared.streams.notices:
                note(line)
            detail = _distribute(prepared, options, note, plan)
        finally:
            if started_ray:
                cluster.import_ray().shutdown()
    return Summary(request.output, plan.frames, plan.fps, time.perf_counter() - start, detail)


def _plan(prepared: Prepared, options: ClusterOptions) -> "ChunkPlan":
    """The analysis pass, the timing plan and the chunks."""
    request = prepared.request
    src = open_source(request.source, request.threads)
    analysis = analyse(src, request.filter_kwargs, request.quiet)
    try:
        plan = timing_plan(src.num_frames, source_fps(src), request.filter_kwargs, analysis.durations)
    except ValueError as exc:
        raise RenderError(f"slomo.Interpolate: {exc}") from None
    fps = output_rate(prepared, plan.fps, source_fps(src))
    chunks = plan_chunks(plan, analysis.cuts, options.chunk_frames)
    pix_fmt = PIX_FMTS[encodable_format(src.format).name][0]
    return ChunkPlan(chunks, plan.num_frames, fps, pix_fmt, dict(src.get_frame(0).props))


@dataclass(frozen=True)
class ChunkPlan:
    """What the driver planned: the chunks and the video every chunk file holds."""

    chunks: list[Chunk]
    frames: int
    fps: Fraction
    pix_fmt: str
    props: dict[str, Any]


def _distribute(prepared: Prepared, options: ClusterOptions, note: Callable[[str], None], plan: ChunkPlan) -> str:
    """Render the chunks the manifest lacks, then join; returns the summary detail."""
    layout = Layout.decide(prepared.request, options)
    settings = render_settings(prepared.request, layout.kind, plan.pix_fmt, plan.fps, plan.frames, plan.chunks, options.chunk_frames)
    manifest = _open_manifest(work_dir(prepared.request.output), settings, plan.chunks, options.resume, prepared.ffmpeg, note)
    reused = len(manifest.done)
    todo = [c for c in plan.chunks if c.index not in manifest.done]
    try:
        if todo:
            with Bar("render", plan.frames, prepared.request.quiet) as bar:
                Scheduler(layout.pool(layout.job(prepared, plan)), manifest, prepared.ffmpeg, note).run(todo, bar)
        files = [manifest.chunk_file(c) for c in plan.chunks]
        join(prepared, files, manifest.folder / "join.ffconcat", plan.fps, plan.frames, plan.props)
    except KeyboardInterrupt:
        raise Interrupted(_kept(manifest, "interrupted")) from None
    except RenderError as exc:
        raise RenderError(_kept(manifest, str(exc))) from None
    finally:
        _tidy(manifest)
    shutil.rmtree(manifest.folder, ignore_errors=True)
    return f"{len(plan.chunks)} chunks on {layout.size} {layout.what}, {len(todo)} rendered, {reused} reused"


def _kept(manifest: Manifest, message: str) -> str:
    """``message``, saying what of the work is kept for ``--resume``."""
    if not manifest.done:
        return f"{message}; nothing was written" if message == "interrupted" else message
    return f"{message}; {len(manifest.done)} of {len(manifest.chunks)} chunks are kept in {manifest.folder} (add --resume to continue)"


def _tidy(manifest: Manifest) -> None:
    """Remove unfinished files; remove the work folder when no chunk is finished."""
    if not manifest.done:
        shutil.rmtree(manifest.folder, ignore_errors=True)
        return
    for part in manifest.folder.glob(f"*{PART_MARK}*"):
        part.unlink(missing_ok=True)


def _open_manifest(folder: Path, settings: dict[str, Any], chunks: list[Chunk], resume: bool, ffmpeg: str, note: Callable[[str], None]) -> Manifest:
    """The manifest to work with: resumed (checked against ``settings``) or new."""
    if resume and (folder / MANIFEST_NAME).exists():
        old = Manifest.load(folder)
        changed = differences(old.settings, settings)
        if changed:
            raise RenderError(f"--resume: {old.path} was made with other settings ({', '.join(changed)} differ); rerun with the same options, or start over with -y")
        for index in list(old.done):
            chunk = chunks[index]
            found = frames_in(ffmpeg, old.chunk_file(chunk))
            if found != chunk.frames:
                note(f"chunk {index} is rendered again: {file_problem(found, chunk.frames)}")
                del old.done[index]
        for part in folder.glob(f"*{PART_MARK}*"):
            part.unlink(missing_ok=True)
        old.save()
        return old
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    manifest = Manifest(folder=folder, settings=settings, chunks=chunks)
    manifest.save()
    return manifest

"""What a render will write, decided before the first frame: the request as the user gave it,
the checks of the output path and the encoder, and the plan of the output's streams."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from .. import timing
from .encode import (
    EncodeJob,
    check_container,
    check_pix_fmt,
    check_quality,
    color_args,
    default_codec,
    encoder_caps,
    sample_aspect,
)
from .errors import RenderError
from .ffmpeg import find_ffmpeg
from .probe import MediaInfo, check_input
from .streams import StreamPlan, plan_streams


@dataclass(frozen=True)
class EncodeOptions:
    """The user's choices for the final encode (``None``: the encoder's default)."""

    codec: str | None = None
    crf: float | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class RenderRequest:
    """One render as asked: ``filter_kwargs`` go to :func:`vsslomo.interpolate` unchanged."""

    source: Path
    output: Path
    filter_kwargs: dict[str, Any] = field(default_factory=dict)
    encode: EncodeOptions = EncodeOptions()
    slowmo: bool = False
    stretch_audio: bool = False
    overwrite: bool = False
    quiet: bool = False
    threads: int | None = None
    """VapourSynth worker threads (default: all cores)."""

    def slowdown(self) -> Fraction | None:
        """How many times slower a ``--slowmo`` render plays (``None`` without ``--slowmo``)."""
        if not self.slowmo:
            return None
        kw = self.filter_kwargs
        if "factor_num" in kw:
            return Fraction(kw["factor_num"], kw.get("factor_den", 1))
        return Fraction(kw.get("factor", timing.DEFAULT_FACTOR))


@dataclass(frozen=True)
class Prepared:
    """A request whose paths and encoder were checked, with its input probed."""

    request: RenderRequest
    ffmpeg: str
    info: MediaInfo
    codec: str
    crf: float | None
    preset: str | None
    streams: StreamPlan


def check_output(source: Path, output: Path, overwrite: bool) -> None:
    """Refuse an output path that cannot be written, or that would destroy something."""
    if output.exists() and output.is_dir():
        raise RenderError(f"{output}: is a folder; give an output file name such as {output / 'out.mkv'}")
    if output.exists() and output.resolve() == source.resolve():
        raise RenderError("OUTPUT is the same file as INPUT; choose another name")
    if output.exists() and not overwrite:
        raise RenderError(f"{output}: already exists (add -y to replace it)")
    if not output.suffix:
        raise RenderError(f"{output}: give the output file an extension such as .mkv or .mp4 (it picks the container)")
    folder = output_folder(output)
    if not folder.is_dir():
        raise RenderError(f"{folder}: {'is not a folder' if folder.exists() else 'output folder does not exist'}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RenderError(f"{folder}: output folder is not writable")


def output_folder(output: Path) -> Path:
    """The folder ``output`` is written in."""
    return output.parent if str(output.parent) else Path(".")


def prepare(request: RenderRequest) -> Prepared:
    """Check everything that can be checked before opening the source (fast, one-line errors)."""
    ffmpeg = find_ffmpeg()
    info = check_input(request.source, ffmpeg)
    check_output(request.source, request.output, request.overwrite)
    check_container(ffmpeg, request.output)
    if request.slowmo and "fps_num" in request.filter_kwargs:
        raise RenderError("--slowmo takes --factor (how many times slower), not --fps")
    if request.stretch_audio and not request.slowmo:
        raise RenderError("--stretch-audio only makes sense with --slowmo")
    codec = request.encode.codec or default_codec(request.output)
    caps = encoder_caps(ffmpeg, codec)
    crf, preset = check_quality(caps, request.encode.crf, request.encode.preset)
    check_pix_fmt(ffmpeg, codec, request.encode.pix_fmt)
    streams = plan_streams(info, request.output, request.slowdown(), request.stretch_audio)
    return Prepared(request, ffmpeg, info, codec, crf, preset, streams)


def output_rate(prepared: Prepared, plan_fps: Fraction | None, source_fps: Fraction | None) -> Fraction:
    """The constant frame rate of the output, or a :class:`RenderError` saying how to get one."""
    if prepared.request.slowmo:
        if source_fps is None:
            raise RenderError("--slowmo needs a constant-frame-rate input")
        return source_fps
    if plan_fps is None:
        raise RenderError("the interpolated clip has a variable frame rate; pass --fps to get a constant one")
    return plan_fps


def final_job(prepared: Prepared, video_input: list[str], output: Path, props: dict[str, Any]) -> EncodeJob:
    """The final encode: the video of input #0, the side streams of the source, the user's codec."""
    options = prepared.request.encode
    extra_video = color_args(props) + (["-pix_fmt", options.pix_fmt] if options.pix_fmt else [])
    return EncodeJob(
        ffmpeg=prepared.ffmpeg,
        video_input=video_input,
        output=output,
        codec=prepared.codec,
        crf=prepared.crf,
        preset=prepared.preset,
        source=prepared.request.source,
        side_streams=prepared.streams.args,
        extra_video_args=extra_video,
        extra_args=list(options.extra_args),
        sar=sample_aspect(props),
    )


@dataclass(frozen=True)
class Summary:
    """What a finished render wrote."""

    output: Path
    frames: int
    fps: Fraction
    seconds: float
    detail: str = ""

    def line(self) -> str:
        """One line for the user."""
        rate = f"{self.fps.numerator}/{self.fps.denominator}" if self.fps.denominator != 1 else str(self.fps.numerator)
        text = (
            f"{self.output}: {self.frames} frames at {rate} fps ({float(self.frames / self.fps):.3f} s), "
            f"{self.frames / max(self.seconds, 1e-9):.2f} fps, {self.seconds:.1f} s"
        )
        return f"{text}; {self.detail}" if self.detail else text

"""The ffmpeg encode: encoder capabilities and checks, the command, frames piped into it, and
the atomic final name (written under a temporary name, renamed only when complete)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .. import colour, props
from .errors import RenderError
from .ffmpeg import Drain

if TYPE_CHECKING:
    import vapoursynth as vs

PART_MARK = ".vsslomo-part"
"""Part of the name of every file still being written (renamed when complete)."""

DEFAULT_CRF = 18
_DEFAULT_CODEC = {".webm": "libvpx-vp9"}
_DEFAULT_PRESET = {"libx264": "medium", "libx265": "medium"}
# Encoders whose ffmpeg help gives no usable bounds (a string preset, crf "to FLT_MAX").
_X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
_KNOWN_CRF = {"libx264": (0.0, 51.0), "libx264rgb": (0.0, 51.0), "libx265": (0.0, 51.0)}
_KNOWN_PRESETS = {"libx264": _X26X_PRESETS, "libx264rgb": _X26X_PRESETS, "libx265": _X26X_PRESETS}


def default_codec(output: Path) -> str:
    """Video encoder used when the user names none: x264, or VP9 for ``.webm``."""
    return _DEFAULT_CODEC.get(output.suffix.lower(), "libx264")


# --------------------------------------------------------------------------- encoder capabilities


@dataclass(frozen=True)
class EncoderCaps:
    """What an ffmpeg encoder accepts, as far as ``vsslomo`` cares."""

    name: str
    crf: tuple[float, float] | None
    """Range of ``-crf`` (lower is better), ``None`` when the encoder has no such option."""
    presets: tuple[str, ...] | None
    """Named ``-preset`` values; empty when any value is passed on unchecked, ``None`` without ``-preset``."""
    preset_range: tuple[int, int] | None = None
    """Numeric ``-preset`` values accepted besides the names (e.g. SVT-AV1's 0..13)."""


_OPTION_RE = re.compile(r"^\s+-(\S+)\s+<(\w+)>.*?(?:\(from (\S+) to (\S+)\))?(?: \(default .*\))?\s*$")
_CONSTANT_RE = re.compile(r"^\s{4,}(\w+)\s+\S+\s+E")


def _bound(text: str | None) -> float | None:
    if text is None or "MAX" in text or "MIN" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def parse_encoder_help(name: str, text: str) -> EncoderCaps:
    """The capabilities of encoder ``name`` from the text of ``ffmpeg -h encoder=NAME``."""
    crf: tuple[float, float] | None = None
    presets: tuple[str, ...] | None = None
    preset_range: tuple[int, int] | None = None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _OPTION_RE.match(line)
        if not m:
            continue
        option, low, high = m.group(1), _bound(m.group(3)), _bound(m.group(4))
        if option == "crf":
            crf = (max(0.0, low if low is not None else 0.0), high if high is not None else float("inf"))
        elif option == "preset":
            names = []
            for follow in lines[i + 1 :]:
                c = _CONSTANT_RE.match(follow)
                if not c:
                    break
                names.append(c.group(1))
            presets = tuple(names)
            if m.group(2) == "int" and low is not None and high is not None:
                preset_range = (max(0, int(low)), int(high))
    if crf is not None and name in _KNOWN_CRF:
        crf = _KNOWN_CRF[name]
    if presets is not None and name in _KNOWN_PRESETS:
        presets = _KNOWN_PRESETS[name]
    return EncoderCaps(name=name, crf=crf, presets=presets, preset_range=preset_range)


def encoder_caps(ffmpeg: str, codec: str) -> EncoderCaps:
    """Look up a video encoder; raises :class:`RenderError` if this ffmpeg doesn't have it."""
    result = subprocess.run([ffmpeg, "-hide_banner", "-h", f"encoder={codec}"], capture_output=True, text=True, errors="replace")
    text = result.stdout + result.stderr
    if result.returncode != 0 or "is not recognized" in text or f"Encoder {codec} " not in text:
        raise RenderError(f"unknown codec {codec!r} for {ffmpeg} (list them with `ffmpeg -encoders`)")
    table = subprocess.run([ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True, errors="replace").stdout
    row = next((ln for ln in table.splitlines() if re.match(rf"^\s*\S+\s+{re.escape(codec)}\s", ln)), "")
    if not row.strip().startswith("V"):
        raise RenderError(f"codec {codec!r} is not a video encoder (list them with `ffmpeg -encoders`)")
    return parse_encoder_help(codec, text)


def check_pix_fmt(ffmpeg: str, codec: str, pix_fmt: str | None) -> None:
    """Refuse a ``--pix-fmt`` that encoder ``codec`` cannot write (before any frame is rendered)."""
    if pix_fmt is None:
        return
    text = subprocess.run([ffmpeg, "-hide_banner", "-h", f"encoder={codec}"], capture_output=True, text=True, errors="replace").stdout
    listed = re.search(r"Supported pixel formats:(.*)", text)
    if listed is None:  # the encoder does not say: at least ffmpeg must know the name
        table = subprocess.run([ffmpeg, "-hide_banner", "-pix_fmts"], capture_output=True, text=True, errors="replace").stdout
        known = {parts[1] for parts in (ln.split() for ln in table.splitlines()) if len(parts) > 1}
        if pix_fmt not in known:
            raise RenderError(f"--pix-fmt {pix_fmt!r} is not a pixel format ffmpeg knows (list them with `ffmpeg -pix_fmts`)")
        return
    names = listed.group(1).split()
    if pix_fmt not in names:
        raise RenderError(f"--pix-fmt {pix_fmt!r} cannot be written by {codec}; choose one of {', '.join(names)}")


def check_container(ffmpeg: str, output: Path) -> None:
    """Refuse an output extension for which ffmpeg has no container (asked on a probe name, no file written)."""
    with tempfile.TemporaryDirectory(prefix="vsslomo-probe-") as folder:
        probe = Path(folder) / f"probe{output.suffix}"
        result = subprocess.run(
            [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-f", "lavfi", "-i", "nullsrc=s=16x16:d=0.04", "-vn", str(probe)],
            capture_output=True, text=True, errors="replace",
        )
    if "suitable output format" in result.stderr or "choose an output format" in result.stderr:
        raise RenderError(f"{output}: ffmpeg has no container for {output.suffix!r} files; use an extension such as .mkv, .mp4 or .webm")


def check_quality(caps: EncoderCaps, crf: float | None, preset: str | None) -> tuple[float | None, str | None]:
    """The ``-crf`` and ``-preset`` to pass, from the user's (``None`` = not given).

    A value the encoder would reject or silently clamp is an error naming the valid ones;
    so is a value for an option the encoder does not have. Without a value the defaults
    apply where the encoder has the option (crf 18; preset ``medium`` for x264/x265).
    """
    if crf is not None:
        if caps.crf is None:
            raise RenderError(f"--crf: encoder {caps.name} has no constant-quality level (-crf); drop --crf, or give its own options with --encoder-args")
        low, high = caps.crf
        if not low <= crf <= high:
            span = f"{low:g} to {high:g}" if high != float("inf") else f"at least {low:g}"
            raise RenderError(f"--crf {crf:g} is out of range for {caps.name}: use {span} (lower is better quality; default {DEFAULT_CRF})")
    elif caps.crf is not None and caps.crf[0] <= DEFAULT_CRF <= caps.crf[1]:
        crf = DEFAULT_CRF
    if preset is not None:
        if caps.presets is None:
            raise RenderError(f"--preset: encoder {caps.name} has no -preset option; drop --preset, or give its own options with --encoder-args")
        numeric = caps.preset_range is not None and preset.lstrip("-").isdigit()
        if numeric and caps.preset_range is not None and not caps.preset_range[0] <= int(preset) <= caps.preset_range[1]:
            raise RenderError(f"--preset {preset} is out of range for {caps.name}: use {caps.preset_range[0]} to {caps.preset_range[1]}")
        if not numeric and caps.presets and preset not in caps.presets:
            raise RenderError(f"--preset {preset!r} is not a {caps.name} preset; choose one of {', '.join(caps.presets)}")
    else:
        preset = _DEFAULT_PRESET.get(caps.name) if caps.presets is not None else None
    return crf, preset


# --------------------------------------------------------------------------- pixel formats and colour


# VapourSynth format name -> (ffmpeg pix_fmt, plane order to write). RGB goes out as planar GBR.
PIX_FMTS: dict[str, tuple[str, tuple[int, ...]]] = {
    "GRAY8": ("gray", (0,)),
    "GRAY10": ("gray10le", (0,)),
    "GRAY12": ("gray12le", (0,)),
    "GRAY16": ("gray16le", (0,)),
    "YUV420P8": ("yuv420p", (0, 1, 2)),
    "YUV422P8": ("yuv422p", (0, 1, 2)),
    "YUV444P8": ("yuv444p", (0, 1, 2)),
    "YUV410P8": ("yuv410p", (0, 1, 2)),
    "YUV411P8": ("yuv411p", (0, 1, 2)),
    "YUV440P8": ("yuv440p", (0, 1, 2)),
    "YUV420P10": ("yuv420p10le", (0, 1, 2)),
    "YUV422P10": ("yuv422p10le", (0, 1, 2)),
    "YUV444P10": ("yuv444p10le", (0, 1, 2)),
    "YUV420P12": ("yuv420p12le", (0, 1, 2)),
    "YUV422P12": ("yuv422p12le", (0, 1, 2)),
    "YUV444P12": ("yuv444p12le", (0, 1, 2)),
    "YUV420P16": ("yuv420p16le", (0, 1, 2)),
    "YUV422P16": ("yuv422p16le", (0, 1, 2)),
    "YUV444P16": ("yuv444p16le", (0, 1, 2)),
    "RGB24": ("gbrp", (1, 2, 0)),
    "RGB30": ("gbrp10le", (1, 2, 0)),
    "RGB36": ("gbrp12le", (1, 2, 0)),
    "RGB48": ("gbrp16le", (1, 2, 0)),
}

# VapourSynth frame-property codes -> ffmpeg colour names (only the common ones).
_MATRIX = {1: "bt709", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020nc", 10: "bt2020c"}
_TRANSFER = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear", 13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 18: "arib-std-b67"}
_PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020", 12: "smpte432"}


def color_args(frame_props: dict[str, object]) -> list[str]:
    """ffmpeg output options tagging the colour description found in VapourSynth frame props."""
    args: list[str] = []
    for key, table, opt in ((props.MATRIX, _MATRIX, "-colorspace"), (props.TRANSFER, _TRANSFER, "-color_trc"), (props.PRIMARIES, _PRIMARIES, "-color_primaries")):
        value = frame_props.get(key)
        if isinstance(value, int) and value in table:
            args += [opt, table[value]]
    full = colour.tagged_range(frame_props)
    if full is not None:
        args += ["-color_range", "pc" if full else "tv"]
    return args


def sample_aspect(frame_props: dict[str, object]) -> Fraction | None:
    """The sample aspect ratio in the frame props, when both parts are set."""
    num, den = frame_props.get(props.SAR_NUM), frame_props.get(props.SAR_DEN)
    if isinstance(num, int) and isinstance(den, int) and num > 0 and den > 0:
        return Fraction(num, den)
    return None


def encodable_format(fmt: vs.VideoFormat) -> vs.VideoFormat:
    """The format a clip of ``fmt`` is piped to ffmpeg in: itself, or the nearest integer one."""
    import vapoursynth as vs

    if fmt.name in PIX_FMTS:
        return fmt
    bits = 8 if fmt.sample_type == vs.INTEGER and fmt.bits_per_sample <= 8 else 16
    target = fmt.replace(sample_type=vs.INTEGER, bits_per_sample=bits)
    if target.name not in PIX_FMTS:  # odd subsampling: go to 4:4:4
        target = target.replace(subsampling_w=0, subsampling_h=0)
    return target


def encodable(clip: vs.VideoNode) -> vs.VideoNode:
    """Bring the clip to a format that can be piped to ffmpeg as raw video."""
    target = encodable_format(clip.format)
    return clip if target.id == clip.format.id else clip.resize.Point(format=target.id)


# --------------------------------------------------------------------------- the command


@dataclass
class EncodeJob:
    """Everything needed to build the ffmpeg command that encodes the video into ``output``."""

    ffmpeg: str
    video_input: list[str]
    """Input options and ``-i`` of input #0, the video (see :func:`raw_input`, :func:`concat_input`)."""
    output: Path
    codec: str
    crf: float | None = None
    preset: str | None = None
    source: Path | None = None
    """Input #1, for the side streams."""
    side_streams: list[str] = field(default_factory=list)
    extra_video_args: list[str] = field(default_factory=list)
    extra_args: list[str] = field(default_factory=list)
    sar: Fraction | None = None
    output_format: str | None = None


def raw_input(width: int, height: int, pix_fmt: str, fps: Fraction) -> list[str]:
    """Input #0 as raw frames on stdin."""
    return ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{width}x{height}", "-framerate", _rate(fps), "-i", "pipe:0"]


def concat_input(listing: Path, fps: Fraction) -> list[str]:
    """Input #0 as the files named in a concat-demuxer listing, timed at exactly ``fps``.

    ``-r`` on the input replaces the files' timestamps (Matroska rounds them to the
    millisecond) by those of a constant ``fps``, so the join has the single-process timing.
    """
    return ["-f", "concat", "-safe", "0", "-r", _rate(fps), "-i", str(listing)]


def _rate(fps: Fraction) -> str:
    return f"{fps.numerator}/{fps.denominator}"


def build_encode_command(job: EncodeJob) -> list[str]:
    """The ffmpeg command encoding input #0 (and the side streams of ``job.source``) into ``job.output``."""
    cmd = [job.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    cmd += job.video_input
    if job.side_streams and job.source is not None:
        cmd += ["-i", str(job.source)]
    mapped = bool(job.side_streams and job.source is not None)
    cmd += ["-map", "0:v:0"]
    if mapped:
        cmd += job.side_streams
    cmd += ["-map_metadata", "1" if mapped else "-1", "-map_chapters", "1" if mapped else "-1"]
    cmd += ["-c:v", job.codec]
    if job.crf is not None:
        cmd += ["-crf", f"{job.crf:g}"]
        if job.codec in ("libvpx-vp9", "libvpx", "libaom-av1"):
            cmd += ["-b:v", "0"]  # constant-quality mode for these encoders
    if job.preset is not None:
        cmd += ["-preset", job.preset]
    if job.sar is not None and job.sar != 1:
        cmd += ["-vf", f"setsar={job.sar.numerator}/{job.sar.denominator}"]
    ext = job.output.suffix.lower()
    if ext in (".mp4", ".m4v", ".mov"):
        cmd += ["-movflags", "+faststart"]
        if job.codec in ("libx265", "hevc_nvenc"):
            cmd += ["-tag:v", "hvc1"]  # lets Apple players open HEVC in MP4
    cmd += job.extra_video_args
    cmd += job.extra_args
    if job.output_format:
        cmd += ["-f", job.output_format]
    cmd.append(str(job.output))
    return cmd


# --------------------------------------------------------------------------- running it


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_output(final: Path) -> Iterator[Path]:
    """A temporary path beside ``final`` that becomes ``final`` when the block succeeds.

    Whatever ends the block early (an error, Ctrl-C) removes the temporary file, so
    nothing incomplete is ever found under the final name.
    """
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.stem}.", suffix=f"{PART_MARK}{final.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it normal permissions
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the block like Ctrl-C does (clean-up included); main thread only."""
    old = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_encode(cmd: list[str], feed: Callable[[Any], None] | None = None, on_frames: Callable[[int], None] | None = None) -> None:
    """Run an ffmpeg command; ``feed(stdin)`` writes its input, ``on_frames(n)`` hears how
    many frames it has written. Raises :class:`RenderError` on failure.

    ffmpeg runs in its own process group (a terminal Ctrl-C reaches only us) and is killed
    if we stop early.
    """
    if on_frames is not None:
        cmd = [cmd[0], "-progress", "pipe:1", "-nostats", *cmd[1:]]
    stdin = subprocess.PIPE if feed is not None else subprocess.DEVNULL
    stdout = subprocess.PIPE if on_frames is not None else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, process_group=0)
    try:
        assert proc.stderr is not None
        drain = Drain(proc.stderr)
        drain.start()
        reader = _ProgressReader(proc.stdout, on_frames) if on_frames is not None and proc.stdout is not None else None
        if feed is not None:
            assert proc.stdin is not None
            try:
                feed(proc.stdin)
            except BrokenPipeError:
                pass  # ffmpeg died; its message is reported below
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
        rc = proc.wait()
        drain.join(timeout=5)
        if reader is not None:
            reader.join(timeout=5)
        if rc != 0:
            raise RenderError(f"ffmpeg failed: {drain.last(f'exit code {rc}')}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class _ProgressReader(threading.Thread):
    """Reads ffmpeg's ``-progress`` lines and reports its frame count."""

    def __init__(self, stream: IO[bytes], on_frames: Callable[[int], None]):
        super().__init__(daemon=True)
        self.stream = stream
        self.on_frames = on_frames
        self.start()

    def run(self) -> None:
        for raw in self.stream:
            if raw.startswith(b"frame="):
                value = raw[6:].strip()
                if value.isdigit():
                    self.on_frames(int(value))


def frame_writer(clip: vs.VideoNode, planes: tuple[int, ...], advance: Callable[[int], None]) -> Callable[[Any], None]:
    """A ``feed`` for :func:`run_encode` writing every frame of ``clip`` as raw planes."""
    import numpy as np

    def feed(stdin: Any) -> None:
        for frame in clip.frames(close=True):
            for p in planes:
                stdin.write(memoryview(np.ascontiguousarray(np.asarray(frame[p]))))
            advance(1)

    return feed

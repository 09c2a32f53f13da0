"""ffmpeg plumbing for the ``vsslomo`` command: finding binaries, probing files, encoder commands.

This module imports neither VapourSynth nor torch. It finds ``ffmpeg``/``ffprobe`` on the
system first and falls back to the binary shipped by ``imageio-ffmpeg`` (which has no
ffprobe, so probing then parses ``ffmpeg -i`` output instead).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path


class MediaError(Exception):
    """A user-facing problem with a media file or the ffmpeg setup (one-line message)."""


# --------------------------------------------------------------------------- binaries


def find_ffmpeg() -> str:
    """Path of the ffmpeg to use: ``$VSSLOMO_FFMPEG``, then ``ffmpeg`` on PATH, then imageio-ffmpeg's."""
    env = os.environ.get("VSSLOMO_FFMPEG")
    if env:
        return env
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        raise MediaError("ffmpeg not found: install it (e.g. apt install ffmpeg) or `pip install imageio-ffmpeg`") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def find_ffprobe(ffmpeg: str | None = None) -> str | None:
    """Path of an ffprobe matching ``ffmpeg`` if there is one (imageio-ffmpeg ships none)."""
    env = os.environ.get("VSSLOMO_FFPROBE")
    if env:
        return env
    if ffmpeg:
        sibling = Path(ffmpeg).with_name("ffprobe")
        if sibling.is_file() and os.access(sibling, os.X_OK):
            return str(sibling)
    return shutil.which("ffprobe")


def ffmpeg_version(ffmpeg: str) -> str:
    """First line of ``ffmpeg -version`` (e.g. ``ffmpeg version 5.1.4 ...``)."""
    try:
        out = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, timeout=30).stdout
    except OSError as exc:
        raise MediaError(f"cannot run {ffmpeg}: {exc.strerror or exc}") from None
    return out.splitlines()[0] if out else "unknown version"


# --------------------------------------------------------------------------- probing


@dataclass
class Stream:
    """One stream of a media file."""

    index: int
    kind: str
    """``"video"``, ``"audio"``, ``"subtitle"``, ``"data"`` or ``"attachment"``."""
    codec: str


@dataclass
class MediaInfo:
    """What the ``vsslomo`` command needs to know about an input file."""

    path: Path
    format_name: str = ""
    duration: float | None = None
    """Container duration in seconds, when known."""
    streams: list[Stream] = field(default_factory=list)
    fps: Fraction | None = None
    """Frame rate of the first video stream, when known."""

    def of_kind(self, kind: str) -> list[Stream]:
        """Streams of one kind, in file order."""
        return [s for s in self.streams if s.kind == kind]

    @property
    def has_video(self) -> bool:
        """Whether the file has a real video stream (cover art pictures don't count)."""
        return any(s.kind == "video" for s in self.streams)


def _parse_rate(text: str | None) -> Fraction | None:
    if not text or text in ("0/0", "0"):
        return None
    try:
        rate = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
    return rate if rate > 0 else None


def probe(path: str | os.PathLike[str], ffmpeg: str | None = None) -> MediaInfo:
    """Describe the streams of ``path`` with ffprobe, or by parsing ``ffmpeg -i`` without one.

    Raises :class:`MediaError` when the file is missing or not a media file ffmpeg can read.
    """
    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p}: no such file")
    if p.is_dir():
        raise MediaError(f"{p}: is a folder, not a video file")
    ffmpeg = ffmpeg or find_ffmpeg()
    ffprobe = find_ffprobe(ffmpeg)
    if ffprobe:
        return _probe_with_ffprobe(p, ffprobe)
    result = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-i", str(p)], capture_output=True, text=True, errors="replace")
    info = parse_ffmpeg_banner(result.stderr, p)
    if not info.streams:
        raise MediaError(f"{p}: not a media file ffmpeg can read")
    return info


def _probe_with_ffprobe(p: Path, ffprobe: str) -> MediaInfo:
    cmd = [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(p)]
    result = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if result.returncode != 0:
        raise MediaError(f"{p}: not a media file ffmpeg can read")
    data = json.loads(result.stdout or "{}")
    fmt = data.get("format", {})
    info = MediaInfo(path=p, format_name=fmt.get("format_name", ""))
    if fmt.get("duration") not in (None, "N/A"):
        info.duration = float(fmt["duration"])
    for s in data.get("streams", []):
        kind = s.get("codec_type", "data")
        if kind == "video" and s.get("disposition", {}).get("attached_pic"):
            kind = "attachment"  # cover art is not footage
        info.streams.append(Stream(index=int(s.get("index", len(info.streams))), kind=kind, codec=s.get("codec_name", "unknown")))
        if kind == "video" and info.fps is None:
            info.fps = _parse_rate(s.get("avg_frame_rate")) or _parse_rate(s.get("r_frame_rate"))
    return info


_STREAM_RE = re.compile(r"^\s*Stream #\d+:(\d+)(?:\[[^\]]*\])?(?:\([^)]*\))?: (Video|Audio|Subtitle|Data|Attachment): (\w+)(.*)$")
_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_FPS_RE = re.compile(r"(\d+(?:\.\d+)?)(k?) (?:fps|tbr)")
_INPUT_RE = re.compile(r"^Input #0, ([^,]+(?:,[^,]+)*?), from")


def parse_ffmpeg_banner(text: str, path: Path) -> MediaInfo:
    """Build a :class:`MediaInfo` from the stderr of ``ffmpeg -i FILE`` (the no-ffprobe fallback)."""
    info = MediaInfo(path=path)
    for line in text.splitlines():
        m = _INPUT_RE.match(line)
        if m:
            info.format_name = m.group(1)
            continue
        m = _DURATION_RE.search(line)
        if m and info.duration is None:
            h, mnt, sec = m.groups()
            info.duration = int(h) * 3600 + int(mnt) * 60 + float(sec)
            continue
        m = _STREAM_RE.match(line)
        if not m:
            continue
        index, kind, codec, rest = int(m.group(1)), m.group(2).lower(), m.group(3), m.group(4)
        if kind == "video" and "(attached pic)" in rest:
            kind = "attachment"
        info.streams.append(Stream(index=index, kind=kind, codec=codec))
        if kind == "video" and info.fps is None:
            fm = _FPS_RE.search(rest)
            if fm:
                value = Fraction(fm.group(1)) * (1000 if fm.group(2) else 1)
                info.fps = _snap_ntsc(value)
    return info


def _snap_ntsc(rate: Fraction) -> Fraction:
    """ffmpeg prints 29.97 for 30000/1001; recover the exact NTSC rates."""
    for base in (24, 30, 48, 60, 120, 240):
        exact = Fraction(base * 1000, 1001)
        if abs(float(rate) - float(exact)) < 0.006:
            return exact
    return rate


def parse_rate(text: str) -> Fraction:
    """Parse a frame rate or factor given as ``60000/1001``, ``59.94``, ``2.5`` or ``4``.

    The usual NTSC decimals (23.976, 29.97, 59.94, 119.88) mean their exact x/1001 rates.
    Raises ``ValueError`` with a readable message for anything else.
    """
    cleaned = text.strip()
    try:
        value = Fraction(cleaned)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{text!r} is not a number or fraction like 60000/1001") from None
    if value <= 0:
        raise ValueError(f"{text!r} must be positive")
    if "." in cleaned and "/" not in cleaned:
        value = _snap_ntsc(value)
    return value


# --------------------------------------------------------------------------- encoding


@dataclass(frozen=True)
class EncoderCaps:
    """What an ffmpeg encoder accepts, as far as ``vsslomo`` cares."""

    name: str
    crf: bool
    preset: bool


def encoder_caps(ffmpeg: str, codec: str) -> EncoderCaps:
    """Look up a video encoder; raises :class:`MediaError` if this ffmpeg doesn't have it."""
    result = subprocess.run([ffmpeg, "-hide_banner", "-h", f"encoder={codec}"], capture_output=True, text=True, errors="replace")
    text = result.stdout + result.stderr
    if result.returncode != 0 or "is not recognized" in text or f"Encoder {codec} " not in text:
        raise MediaError(f"unknown codec {codec!r} for {ffmpeg} (list them with `ffmpeg -encoders`)")
    table = subprocess.run([ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True, errors="replace").stdout
    row = next((ln for ln in table.splitlines() if re.match(rf"^\s*\S+\s+{re.escape(codec)}\s", ln)), "")
    if not row.strip().startswith("V"):
        raise MediaError(f"codec {codec!r} is not a video encoder (list them with `ffmpeg -encoders`)")
    return EncoderCaps(name=codec, crf=bool(re.search(r"^\s*-crf\b", text, re.M)), preset=bool(re.search(r"^\s*-preset\b", text, re.M)))


# Audio/subtitle codecs each output container can hold as-is (by output file extension).
_MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "alac", "opus", "mp2"}
_CONTAINERS: dict[str, tuple[set[str] | None, set[str] | None, str, str | None]] = {
    # ext: (audio codecs copied, subtitle codecs copied, audio fallback encoder, subtitle fallback encoder)
    # ``None`` means "anything"; an empty set means "nothing".
    ".mkv": (None, None, "aac", None),
    ".mka": (None, None, "aac", None),
    ".mp4": (_MP4_AUDIO, {"mov_text"}, "aac", "mov_text"),
    ".m4v": (_MP4_AUDIO, {"mov_text"}, "aac", "mov_text"),
    ".mov": (_MP4_AUDIO | {"pcm_s16le", "pcm_s24le", "pcm_s16be", "pcm_s24be"}, {"mov_text"}, "aac", "mov_text"),
    ".webm": ({"opus", "vorbis"}, {"webvtt"}, "libopus", "webvtt"),
    ".avi": ({"mp3", "ac3", "pcm_s16le", "mp2"}, set(), "libmp3lame", None),
    ".ts": ({"aac", "mp3", "ac3", "eac3", "mp2", "opus"}, {"dvb_subtitle"}, "aac", None),
    ".m2ts": ({"aac", "mp3", "ac3", "eac3", "mp2"}, {"hdmv_pgs_subtitle"}, "aac", None),
}
_TEXT_SUBTITLES = {"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"}
_DEFAULT_CODEC = {".webm": "libvpx-vp9"}


def default_codec(output: Path) -> str:
    """Video encoder used when the user names none: x264, or VP9 for ``.webm``."""
    return _DEFAULT_CODEC.get(output.suffix.lower(), "libx264")


@dataclass
class StreamPlan:
    """How the non-video streams of the input reach the output."""

    args: list[str]
    """ffmpeg output arguments (``-map``/``-c``) for input #1 (the original file)."""
    notices: list[str]
    """One line per stream that couldn't be copied as-is (re-encoded or dropped)."""


def plan_side_streams(info: MediaInfo, output: Path, input_index: int = 1, audio_filter: str | None = None) -> StreamPlan:
    """Map the audio and subtitle streams of ``info`` into ``output``, copying where the container allows.

    ``audio_filter`` (e.g. an ``atempo`` chain) forces audio re-encoding through that filter.
    """
    ext = output.suffix.lower()
    audio_ok, subs_ok, audio_fallback, subs_fallback = _CONTAINERS.get(ext, (None, None, "aac", None))
    args: list[str] = []
    notices: list[str] = []
    out_a = 0
    for s in info.of_kind("audio"):
        args += ["-map", f"{input_index}:{s.index}"]
        if audio_filter:
            args += [f"-filter:a:{out_a}", audio_filter, f"-c:a:{out_a}", audio_fallback]
            if audio_fallback == "aac":
                args += [f"-b:a:{out_a}", "192k"]
        elif audio_ok is None or s.codec in audio_ok:
            args += [f"-c:a:{out_a}", "copy"]
        else:
            args += [f"-c:a:{out_a}", audio_fallback]
            if audio_fallback == "aac":
                args += [f"-b:a:{out_a}", "192k"]
            notices.append(f"audio stream #{s.index} ({s.codec}) can't go into {ext} as-is: re-encoding it to {audio_fallback}")
        out_a += 1
    out_s = 0
    for s in info.of_kind("subtitle"):
        if subs_ok is None or s.codec in subs_ok:
            args += ["-map", f"{input_index}:{s.index}", f"-c:s:{out_s}", "copy"]
        elif subs_fallback and s.codec in _TEXT_SUBTITLES:
            args += ["-map", f"{input_index}:{s.index}", f"-c:s:{out_s}", subs_fallback]
            notices.append(f"subtitle stream #{s.index} ({s.codec}) converted to {subs_fallback} for {ext}")
        else:
            notices.append(f"subtitle stream #{s.index} ({s.codec}) can't go into {ext}: dropped (use .mkv to keep it)")
            continue
        out_s += 1
    return StreamPlan(args=args, notices=notices)


def atempo_chain(speed: Fraction) -> str:
    """An ``atempo`` filter chain changing audio speed by ``speed`` (< 1 slows down), pitch kept.

    One atempo stage handles 0.5..2 cleanly; slower speeds are split into several stages.
    """
    stages: list[float] = []
    remaining = float(speed)
    while remaining < 0.5:
        stages.append(0.5)
        remaining /= 0.5
    while remaining > 2.0:
        stages.append(2.0)
        remaining /= 2.0
    stages.append(remaining)
    return ",".join(f"atempo={s:.10g}" for s in stages)


# VapourSynth frame-property codes -> ffmpeg colour names (only the common ones).
_MATRIX = {1: "bt709", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020nc", 10: "bt2020c"}
_TRANSFER = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear", 13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 18: "arib-std-b67"}
_PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020", 12: "smpte432"}


def color_args(props: dict[str, object]) -> list[str]:
    """ffmpeg output options tagging the colour description found in VapourSynth frame props."""
    args: list[str] = []
    for key, table, opt in (("_Matrix", _MATRIX, "-colorspace"), ("_Transfer", _TRANSFER, "-color_trc"), ("_Primaries", _PRIMARIES, "-color_primaries")):
        value = props.get(key)
        if isinstance(value, int) and value in table:
            args += [opt, table[value]]
    # VapourSynth R74+ writes _Range (0 limited, 1 full); older cores _ColorRange (0 full, 1 limited).
    if "_Range" in props and props["_Range"] in (0, 1):
        args += ["-color_range", "tv" if props["_Range"] == 0 else "pc"]
    elif props.get("_ColorRange") in (0, 1):
        args += ["-color_range", "pc" if props["_ColorRange"] == 0 else "tv"]
    return args


@dataclass
class EncodeJob:
    """Everything needed to build the ffmpeg command that encodes the piped frames."""

    ffmpeg: str
    width: int
    height: int
    pix_fmt: str
    fps: Fraction
    source: Path
    output: Path
    codec: str
    caps: EncoderCaps
    crf: float | None = 18
    preset: str | None = "medium"
    side_streams: list[str] = field(default_factory=list)
    extra_video_args: list[str] = field(default_factory=list)
    extra_args: list[str] = field(default_factory=list)
    sar: Fraction | None = None
    output_format: str | None = None


def build_encode_command(job: EncodeJob) -> list[str]:
    """The ffmpeg command reading raw frames on stdin (input #0) and ``job.source`` (input #1)."""
    cmd = [job.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    cmd += ["-f", "rawvideo", "-pix_fmt", job.pix_fmt, "-s", f"{job.width}x{job.height}"]
    cmd += ["-framerate", f"{job.fps.numerator}/{job.fps.denominator}", "-i", "pipe:0"]
    if job.side_streams:
        cmd += ["-i", str(job.source)]
    cmd += ["-map", "0:v:0"]
    cmd += job.side_streams
    cmd += ["-map_metadata", "1" if job.side_streams else "-1", "-map_chapters", "1" if job.side_streams else "-1"]
    cmd += ["-c:v", job.codec]
    if job.crf is not None and job.caps.crf:
        cmd += ["-crf", f"{job.crf:g}"]
        if job.codec in ("libvpx-vp9", "libvpx", "libaom-av1"):
            cmd += ["-b:v", "0"]  # constant-quality mode for these encoders
    if job.preset is not None and job.caps.preset:
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

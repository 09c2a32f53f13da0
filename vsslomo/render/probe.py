"""What the render needs to know about an input file: its streams, duration and frame rate.

Uses ffprobe when there is one, else parses the banner of ``ffmpeg -i``. Also the parser of
rates and factors given on the command line.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

from .errors import RenderError
from .ffmpeg import find_ffmpeg, find_ffprobe


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

    def without(self, kind: str) -> "MediaInfo":
        """The same description with the streams of one kind left out."""
        return replace(self, streams=[s for s in self.streams if s.kind != kind])

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

    Raises :class:`RenderError` when the file is missing or not a media file ffmpeg can read.
    """
    p = Path(path)
    if not p.exists():
        raise RenderError(f"{p}: no such file")
    if p.is_dir():
        raise RenderError(f"{p}: is a folder, not a video file")
    ffmpeg = ffmpeg or find_ffmpeg()
    ffprobe = find_ffprobe(ffmpeg)
    if ffprobe:
        return _probe_with_ffprobe(p, ffprobe)
    result = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-i", str(p)], capture_output=True, text=True, errors="replace")
    info = parse_ffmpeg_banner(result.stderr, p)
    if not info.streams:
        raise RenderError(f"{p}: not a media file ffmpeg can read")
    return info


def _probe_with_ffprobe(p: Path, ffprobe: str) -> MediaInfo:
    cmd = [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(p)]
    result = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if result.returncode != 0:
        raise RenderError(f"{p}: not a media file ffmpeg can read")
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


def check_input(path: Path, ffmpeg: str) -> MediaInfo:
    """Probe ``path`` and make sure it has a video stream."""
    info = probe(path, ffmpeg)
    if not info.has_video:
        raise RenderError(f"{path}: has no video stream")
    return info

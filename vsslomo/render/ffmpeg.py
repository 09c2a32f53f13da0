"""Finding and running ffmpeg: the binaries, their version, stderr collection, frame counts.

Imports neither VapourSynth nor torch. ``ffmpeg``/``ffprobe`` are taken from
``$VSSLOMO_FFMPEG``/``$VSSLOMO_FFPROBE``, then the system, then the binary shipped by
``imageio-ffmpeg`` (which has no ffprobe; probing then parses ``ffmpeg -i`` instead).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import IO

from .errors import RenderError


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
        raise RenderError("ffmpeg not found: install it (e.g. apt install ffmpeg) or `pip install imageio-ffmpeg`") from None
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
        raise RenderError(f"cannot run {ffmpeg}: {exc.strerror or exc}") from None
    return out.splitlines()[0] if out else "unknown version"


class Drain(threading.Thread):
    """Collects the last lines a process writes on a stream (for the error message)."""

    def __init__(self, stream: IO[bytes]):
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: deque[str] = deque(maxlen=20)

    def run(self) -> None:
        for raw in self.stream:
            line = raw.decode(errors="replace").strip()
            if line:
                self.lines.append(line)

    def last(self, default: str) -> str:
        """The last line written, or ``default`` when there was none."""
        return self.lines[-1] if self.lines else default


_FRAME_RE = re.compile(r"^frame=\s*(\d+)", re.M)


def count_frames(ffmpeg: str, path: Path) -> int:
    """Number of frames of the first video stream of ``path``, counted without decoding.

    Copies the stream's packets to the null muxer (every frame of an intra-only codec such
    as FFV1 is one packet). Raises :class:`RenderError` when ffmpeg cannot read the file.
    """
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-", "-progress", "pipe:1", "-nostats"]
    result = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    counts = _FRAME_RE.findall(result.stdout)
    if result.returncode != 0 or not counts:
        detail = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit code {result.returncode}"
        raise RenderError(f"{path}: cannot read its video ({detail})")
    return int(counts[-1])


def frames_in(ffmpeg: str, path: Path) -> int | None:
    """:func:`count_frames` of ``path``, or ``None`` when it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        return count_frames(ffmpeg, path)
    except RenderError:
        return None

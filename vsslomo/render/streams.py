"""How the input's audio and subtitles reach the output: copied where the container can hold
them, converted with a notice otherwise, slowed down with ``--slowmo --stretch-audio``."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .probe import MediaInfo

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


def plan_streams(info: MediaInfo, output: Path, slowmo: Fraction | None, stretch_audio: bool) -> StreamPlan:
    """The side streams of a render; ``slowmo`` is the slow-down factor of a ``--slowmo`` render.

    In slow motion subtitles no longer fit and are dropped; audio is dropped too, or slowed
    down with the video (pitch kept) with ``stretch_audio``.
    """
    if slowmo is None:
        return plan_side_streams(info, output)
    notices: list[str] = []
    if stretch_audio and info.of_kind("audio"):
        plan = plan_side_streams(info.without("subtitle"), output, audio_filter=atempo_chain(1 / slowmo))
    else:
        plan = StreamPlan(args=[], notices=[])
        if info.of_kind("audio"):
            notices.append("--slowmo: audio dropped (add --stretch-audio to slow it down with the video)")
    if info.of_kind("subtitle"):
        notices.append("--slowmo: subtitles dropped (their timing no longer matches)")
    return StreamPlan(args=plan.args, notices=plan.notices + notices)


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

"""The driver's one analysis pass over the source: where the scene cuts are, and the frame
durations a variable-rate source needs for a target fps. Reads every frame once, on small
thumbnails for the cut detector (the same detector the filter runs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import timing
from .errors import RenderError
from .progress import Bar

if TYPE_CHECKING:
    import vapoursynth as vs


@dataclass(frozen=True)
class Analysis:
    """What chunk planning needs to know about the source.

    With ``dedup`` the pass is the filter's own (:class:`vsslomo.analysis.vsadapter.Dedup`,
    one thumbnail scan that finds the cuts and the held drawings, kept in a sidecar file), and
    the drawings re-time :func:`vsslomo.render.chunks.timing_plan`'s plan as they do the filter's.
    """

    cuts: tuple[int, ...]
    """Source frames ``i`` with a cut between ``i`` and ``i + 1``."""
    durations: tuple[Fraction, ...] | None
    """Every frame's duration, when the timing needs them (target fps on a variable-rate source)."""
    drawings: tuple[int, ...] | None = None
    """With ``dedup``: the source frames that start a distinct drawing (the rest are held copies)."""
    frame_durations: tuple[Fraction | None, ...] | None = None
    """With ``dedup``: every frame's duration as scanned (``None`` where a frame has none)."""


def source_fps(clip: vs.VideoNode) -> Fraction | None:
    """The clip's constant frame rate, ``None`` for a variable one."""
    return Fraction(clip.fps.numerator, clip.fps.denominator) if clip.fps.numerator else None


def analyse(clip: vs.VideoNode, filter_kwargs: Mapping[str, Any], quiet: bool = False) -> Analysis:
    """Scene cuts (when the filter's ``sc`` is on) and durations (when needed) of ``clip``;
    with ``dedup``, the held drawings too, from the scan that ``filter_kwargs["dedup_file"]``
    keeps (written there when it does not exist yet, read otherwise)."""
    if filter_kwargs.get("dedup"):
        return _analyse_holds(clip, filter_kwargs, quiet)
    from ..analysis.vsadapter import mark_scene_changes
    from ..props import SCENE_CHANGE, usable_duration

    detect = filter_kwargs.get("sc", True) is not False
    need_durations = timing.needs_durations(source_fps(clip), filter_kwargs.get("fps_num"))
    if not detect and not need_durations:
        return Analysis(cuts=(), durations=None)
    if detect:
        try:
            clip = mark_scene_changes(clip, filter_kwargs.get("sc_threshold"))
        except ValueError as exc:
            raise RenderError(f"slomo.Interpolate: {exc}") from None
    cuts: list[int] = []
    durations: list[Fraction] = []
    with Bar("analysis", clip.num_frames, quiet) as bar:
        for n, frame in enumerate(clip.frames(close=True)):
            props = frame.props
            if detect and props.get(SCENE_CHANGE):
                cuts.append(n)
            if need_durations:
                duration = usable_duration(props)
                if duration is None:
                    raise RenderError(f"the source has a variable frame rate but frame {n} has no valid duration; give it a constant rate, or use --factor")
                durations.append(duration)
            bar.advance()
    return Analysis(cuts=tuple(cuts), durations=tuple(durations) if need_durations else None)


def _analyse_holds(clip: vs.VideoNode, filter_kwargs: Mapping[str, Any], quiet: bool) -> Analysis:
    from ..analysis.vsadapter import Dedup

    sc = filter_kwargs.get("sc", True) is not False
    try:
        holds = Dedup(clip, filter_kwargs.get("dedup_threshold"), filter_kwargs.get("dedup_max_hold"),
                      filter_kwargs.get("dedup_file"), sc, filter_kwargs.get("sc_threshold"))
        with Bar("analysis", clip.num_frames, quiet) as bar:
            holds.progress = lambda done, total: bar.update(done)
            record = holds.record()
        found = holds.decisions()
        need_durations = timing.needs_durations(source_fps(clip), filter_kwargs.get("fps_num"))
        durations = tuple(holds.durations()) if need_durations else None
    except ValueError as exc:
        raise RenderError(f"slomo.Interpolate: {exc}") from None
    return Analysis(cuts=tuple(found.cuts) if sc else (), durations=durations, drawings=tuple(found.drawings),
                    frame_durations=tuple(record.durations))


SIDECAR_NAME = "holds.slomo.json"
"""The sidecar a ``dedup`` render keeps its scan in when ``--dedup-file`` names none."""


def with_dedup_file(filter_kwargs: Mapping[str, Any], folder: Path) -> tuple[dict[str, Any], Path | None]:
    """``filter_kwargs`` with a ``dedup_file`` for a ``dedup`` render, and the file to remove
    at the end (``None`` when the user named one, or without ``dedup``)."""
    kwargs = dict(filter_kwargs)
    if not kwargs.get("dedup") or kwargs.get("dedup_file"):
        return kwargs, None
    path = folder / SIDECAR_NAME
    kwargs["dedup_file"] = str(path)
    return kwargs, path

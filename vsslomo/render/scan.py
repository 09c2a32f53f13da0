"""The driver's one analysis pass over the source: where the scene cuts are, and the frame
durations a variable-rate source needs for a target fps. Reads every frame once, on small
thumbnails for the cut detector (the same detector the filter runs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from .. import timing
from .errors import RenderError
from .progress import Bar

if TYPE_CHECKING:
    import vapoursynth as vs


@dataclass(frozen=True)
class Analysis:
    """What chunk planning needs to know about the source.

    Holds (repeated drawings, from the ``dedup`` analysis in :mod:`vsslomo.analysis`) join
    here when that lands: the pass that finds them reads the same frames, and the timing
    plan they give replaces :func:`vsslomo.render.chunks.timing_plan`'s.
    """

    cuts: tuple[int, ...]
    """Source frames ``i`` with a cut between ``i`` and ``i + 1``."""
    durations: tuple[Fraction, ...] | None
    """Every frame's duration, when the timing needs them (target fps on a variable-rate source)."""


def source_fps(clip: "vs.VideoNode") -> Fraction | None:
    """The clip's constant frame rate, ``None`` for a variable one."""
    return Fraction(clip.fps.numerator, clip.fps.denominator) if clip.fps.numerator else None


def analyse(clip: "vs.VideoNode", filter_kwargs: Mapping[str, Any], quiet: bool = False) -> Analysis:
    """Scene cuts (when the filter's ``sc`` is on) and durations (when needed) of ``clip``."""
    from ..vsscene import PROP, mark_scene_changes

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
            if detect and props.get(PROP):
                cuts.append(n)
            if need_durations:
                num, den = props.get("_DurationNum"), props.get("_DurationDen")
                if not isinstance(num, int) or not isinstance(den, int) or num <= 0 or den <= 0:
                    raise RenderError(f"the source has a variable frame rate but frame {n} has no valid duration; give it a constant rate, or use --factor")
                durations.append(Fraction(num, den))
            bar.advance()
    return Analysis(cuts=tuple(cuts), durations=tuple(durations) if need_durations else None)

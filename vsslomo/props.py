"""Names of the frame props vsslomo reads and writes (one home for each name).

Output frames of ``slomo.Interpolate`` carry:

* ``SlomoSourceFrame`` (int): the source frame the output frame starts from (with
  ``dedup=True``, the drawing before it);
* ``SlomoT`` (float): the time between that frame and the next one (or the next drawing),
  0 for a copy;
* ``SlomoSceneChange`` (int): 1 when a scene cut lies between them (the frame is a copy);
* with ``dedup=True`` also ``SlomoDrawings`` (int array ``[a, b]``): the distinct drawing
  ``a`` the frame starts from (``SlomoSourceFrame``) and the drawing ``b`` it moves towards
  at ``SlomoT`` (``b == a`` when there is none: after the last drawing or across a cut; at
  ``SlomoT`` 0 the frame is a bit-exact copy of ``a``); and
  ``SlomoHeld`` (int): 1 when the source frame at this output frame's time was a held copy
  of an earlier drawing (the frame plain interpolation would have started from).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import TypeGuard

from . import timing

# VapourSynth's reserved props.
DURATION_NUM = "_DurationNum"
DURATION_DEN = "_DurationDen"
MATRIX = "_Matrix"
TRANSFER = "_Transfer"
PRIMARIES = "_Primaries"
RANGE = "_Range"
COLOR_RANGE = "_ColorRange"
"""Written by plugins older than R74 (0 = full, the opposite of ``_Range``)."""
SAR_NUM = "_SARNum"
SAR_DEN = "_SARDen"
SCENE_CHANGE_NEXT = "_SceneChangeNext"
SCENE_CHANGE_PREV = "_SceneChangePrev"
"""VapourSynth's reserved scene-change props, set upstream by ``misc.SCDetect`` and others."""

# Written by slomo.Interpolate.
SOURCE_FRAME = "SlomoSourceFrame"
T = "SlomoT"
SCENE_CHANGE = "SlomoSceneChange"
SCENE_SCORE = "SlomoSceneScore"
"""Float, on the cut marks of the detector only (not on output frames): a pair's score."""
DRAWINGS = "SlomoDrawings"
HELD = "SlomoHeld"


def retiming(plan: timing.Timing, n: int) -> dict[str, int | list[int]]:
    """The ``dedup`` props of output frame ``n`` (none for a plan that is not re-timed)."""
    if not isinstance(plan, timing.DrawingTiming):
        return {}
    where = plan.provenance(n)
    return {DRAWINGS: list(where.drawings), HELD: int(where.held)}


def duration(frame_props: Mapping[str, object]) -> Fraction | None:
    """A frame's ``_DurationNum/_DurationDen`` in seconds; ``None`` when neither is set.

    Raises :class:`ValueError` when they are set but are not two positive integers.
    """
    num, den = frame_props.get(DURATION_NUM), frame_props.get(DURATION_DEN)
    if num is None and den is None:
        return None
    if not (_positive_int(num) and _positive_int(den)):
        raise ValueError(f"invalid duration {num}/{den}")
    return Fraction(num, den)


def usable_duration(frame_props: Mapping[str, object]) -> Fraction | None:
    """:func:`duration`, with ``None`` also for set but unusable values."""
    try:
        return duration(frame_props)
    except ValueError:
        return None


def _positive_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0

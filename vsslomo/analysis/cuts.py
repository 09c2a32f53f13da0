"""Scene-change (cut) detection rule on the pair features of :mod:`.features` (pure numpy).

A cut between frames ``i`` and ``i + 1`` is a single isolated jump in the pair scores:

* ``diff[i] >= threshold`` and ``struct[i] >= threshold``: absolute floors, so that noise in
  near-static footage never fires, and neither does a sudden exposure or brightness step
  (the exposure-compensated ``struct`` of such a pair scores like plain motion);
* both stand out from the nearest *changing* pair on each side, looked up at most
  :data:`SEARCH_RADIUS` pairs away: pairs whose ``diff`` is below
  ``threshold * DUPLICATE_FRACTION`` are duplicates (held frames) and are looked past.
  Fast motion, pans and flashes raise the neighbouring pairs as well, so they do not fire.

"Stand out" allows for holds. In animation held on twos and threes, or on a mix, the change
after a drawing held ``L`` frames carries ``L`` frames of motion; a pair's *hold* is 1 plus
the number of held copies (``held``, the copy rule of :mod:`.holds`) right before it, up
to :data:`HOLD_CAP` (a longer still stretch is not a hold: it counts as 1). Pair ``i``
stands out when its scores are at least ``NEIGHBOUR_RATIO`` times the change after it, and
``NEIGHBOUR_RATIO * max(1, hold(i) / hold(j))`` times the change ``j`` before it (scaled up
to pair ``i``'s hold, never down). On footage shot on ones every hold is 1 and this is the
plain ratio test.

A single odd frame (a flash, a damaged or glitched frame) makes *two* adjacent pairs jump.
Inside a shot the frames on both sides of it look alike; next to a cut they do not. So when
pairs ``p`` and ``p + 1`` both stand out from the pairs around them, and the frames on both
sides of the odd frame still differ (``skip[p]``, exposure-compensated, at least
``threshold`` and ``SKIP_RATIO / 2`` times the motion expected over the span it covers),
the larger of the two pairs is the cut: the odd frame belongs to the shot it resembles more.

The decision for pair ``i`` reads only the pairs in :func:`window`, so the lazy per-frame
VapourSynth adapter and a scan over the whole clip decide identically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

DEFAULT_THRESHOLD = 0.015
"""Default absolute floor on the pair scores (about 4 code values of 8-bit luma, on average
over the whole picture). Tuned with ``benchmarks/scene_detection.py``."""

NEIGHBOUR_RATIO = 2.0
"""A cut's scores must be at least this many times its neighbours' reference scores."""

SEARCH_RADIUS = 5
"""How many pairs on each side are searched for the nearest changing neighbour (enough to
look past a drawing held on fives)."""

HOLD_CAP = 4
"""Longest hold (frames) that counts; longer still stretches count as 1 (no motion to scale)."""

DUPLICATE_FRACTION = 0.25
"""Pairs scoring below ``threshold * DUPLICATE_FRACTION`` count as duplicates."""

REACH = SEARCH_RADIUS + HOLD_CAP + 1
"""Pairs on each side of a pair that its decision reads: the neighbours of a two-pair
spike, and the duplicates before them that make their holds."""

SKIP_RATIO = 3.0
"""Across an odd single frame, the frames on both sides must differ by ``SKIP_RATIO / 2``
times the motion expected over the span (motion over two frames scores about twice one
frame's) for the odd frame to sit next to a cut."""


@dataclass(frozen=True)
class CutScores:
    """The cut features of consecutive pairs: ``diff``, ``struct``, ``skip`` and ``held``."""

    diff: np.ndarray
    struct: np.ndarray
    skip: np.ndarray
    held: np.ndarray
    """Whether each pair is a held copy (see :func:`.holds.copies`)."""

    @classmethod
    def of(
        cls,
        diff: ArrayLike,
        struct: ArrayLike | None = None,
        skip: ArrayLike | None = None,
        held: ArrayLike | None = None,
    ) -> CutScores:
        """Scores from plain sequences; ``struct`` defaults to ``diff``, ``skip`` to unknown
        (NaN), ``held`` to no held copies."""
        d = np.asarray(diff, dtype=np.float64)
        s = d.copy() if struct is None else np.asarray(struct, dtype=np.float64)
        k = np.full(d.shape, np.nan) if skip is None else np.asarray(skip, dtype=np.float64)
        h = np.zeros(d.shape, dtype=bool) if held is None else np.asarray(held, dtype=bool)
        if d.ndim != 1 or not d.shape == s.shape == k.shape == h.shape:
            raise ValueError(f"scores must be 1-D and of one length, got {d.shape}, {s.shape}, {k.shape}, {h.shape}")
        return cls(d, s, k, h)

    def __len__(self) -> int:
        return len(self.diff)

    def __getitem__(self, window: slice) -> CutScores:
        return CutScores(self.diff[window], self.struct[window], self.skip[window], self.held[window])


def validate_threshold(threshold: float | None) -> float:
    """Return the detection threshold to use (``None`` means :data:`DEFAULT_THRESHOLD`).

    Raises ``ValueError`` with a fixing hint when it is not a finite number in (0, 1].
    """
    if threshold is None:
        return DEFAULT_THRESHOLD
    hint = (
        "it is the minimum mean luma difference between two consecutive frames, as a "
        f"fraction of full range (default {DEFAULT_THRESHOLD}); use a smaller value such as "
        "0.008 to catch subtler cuts, or a larger one such as 0.05 for fewer detections"
    )
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ValueError(
            f"scene-change threshold must be a number in (0, 1], got {threshold!r}: {hint}"
        )
    value = float(threshold)
    if not math.isfinite(value) or not 0.0 < value <= 1.0:
        raise ValueError(
            f"scene-change threshold must be in (0, 1], got {threshold!r}: {hint}"
        )
    return value


def window(index: int, num_pairs: int) -> tuple[int, int]:
    """Half-open range ``[lo, hi)`` of pairs that the decision for ``index`` reads."""
    if not 0 <= index < num_pairs:
        raise IndexError(f"pair index {index} out of range for {num_pairs} pairs")
    return max(0, index - REACH), min(num_pairs, index + REACH + 1)


def _nearest(diff: np.ndarray, edge: int, step: int, threshold: float) -> int | None:
    """Nearest changing pair beyond ``edge`` in direction ``step``, within the radius."""
    duplicate_below = threshold * DUPLICATE_FRACTION
    for distance in range(1, SEARCH_RADIUS + 1):
        j = edge + step * distance
        if not 0 <= j < len(diff):
            return None
        if diff[j] >= duplicate_below:
            return j
    return None


def _hold(held: np.ndarray, index: int) -> int:
    """1 + the held copies right before pair ``index``; 1 when they are more than
    :data:`HOLD_CAP` - 1 (a still stretch, not a drawing's hold)."""
    copies = 0
    while copies < HOLD_CAP and index - copies - 1 >= 0 and held[index - copies - 1]:
        copies += 1
    return copies + 1 if copies < HOLD_CAP else 1


def _neighbours(scores: CutScores, lo: int, hi: int, threshold: float) -> tuple[int | None, int | None]:
    """The nearest changing pair before pair ``lo`` and after pair ``hi`` (None where none)."""
    return _nearest(scores.diff, lo, -1, threshold), _nearest(scores.diff, hi, 1, threshold)


def _stands_out(scores: CutScores, index: int, hold: int, neighbours: tuple[int | None, int | None]) -> bool:
    """Whether pair ``index`` (after a hold of ``hold`` frames) stands out from ``neighbours``.

    The change before it, made after a shorter hold, is scaled up to ``hold`` frames of
    motion; nothing is scaled down (a jump after a still stretch is no motion to compare),
    and the change after it is not scaled (a cut may start the next shot mid-hold).
    """
    before, after = neighbours
    for j, factor in ((before, hold / _hold(scores.held, before) if before is not None else 1.0), (after, 1.0)):
        if j is None:
            continue
        limit = NEIGHBOUR_RATIO * max(1.0, factor)
        if scores.diff[index] < limit * scores.diff[j] or scores.struct[index] < limit * scores.struct[j]:
            return False
    return True


def _beside_odd_frame(scores: CutScores, index: int, threshold: float) -> bool:
    """Whether ``index`` is the larger pair of a two-pair spike around an odd frame next to a cut."""
    d = scores.diff
    for partner in (index - 1, index + 1):
        if not 0 <= partner < len(d) or d[partner] < threshold:
            continue
        if (d[partner], -partner) > (d[index], -index):  # ties go to the earlier pair
            continue
        lo, hi = min(index, partner), max(index, partner)
        if lo == 0 and hi == len(d) - 1:
            continue  # no pair around the spike: nothing tells it from motion
        around = _neighbours(scores, lo, hi, threshold)
        hold = _hold(scores.held, lo)  # the pair after the odd frame holds 1
        if not all(_stands_out(scores, k, hold if k == lo else 1, around) for k in (lo, hi)):
            continue
        across = float(scores.skip[lo])
        expected = (hold + 1) * max((float(d[j]) / _hold(scores.held, j) for j in around if j is not None), default=0.0)
        if not math.isnan(across) and across >= threshold and across >= SKIP_RATIO / 2 * expected:
            return True
    return False


def is_scene_change(scores: CutScores, index: int, threshold: float = DEFAULT_THRESHOLD) -> bool:
    """Whether pair ``index`` (frames ``index`` -> ``index + 1``) is a cut.

    ``scores`` may be a slice of the full sequence as long as it holds every pair that
    :func:`window` names (pairs beyond the clip's ends must simply be absent).
    """
    if not 0 <= index < len(scores):
        raise IndexError(f"pair index {index} out of range for {len(scores)} scores")
    if scores.diff[index] < threshold or scores.struct[index] < threshold:
        return False
    if _stands_out(scores, index, _hold(scores.held, index), _neighbours(scores, index, index, threshold)):
        return True
    return _beside_odd_frame(scores, index, threshold)


def detect_scene_changes(scores: CutScores, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Cut decision for every pair: boolean array of ``len(scores)``."""
    return np.array([is_scene_change(scores, i, threshold) for i in range(len(scores))], dtype=bool)

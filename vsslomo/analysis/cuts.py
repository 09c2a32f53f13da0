"""Scene-change (cut) detection rule on the pair features of :mod:`.features` (pure numpy).

A cut between frames ``i`` and ``i + 1`` is a single isolated jump in the pair scores:

* ``diff[i] >= threshold`` and ``struct[i] >= threshold``: absolute floors, so that noise in
  near-static footage never fires, and neither does a sudden exposure or brightness step
  (the exposure-compensated ``struct`` of such a pair scores like plain motion);
* ``diff[i]`` and ``struct[i]`` are both at least :data:`NEIGHBOUR_RATIO` times those of the
  nearest *non-duplicate* pair on each side (the larger side), looked up at most
  :data:`SEARCH_RADIUS` pairs away. Fast motion, pans and flashes raise the neighbouring
  pairs as well, so they do not fire. Pairs whose ``diff`` is below
  ``threshold * DUPLICATE_FRACTION`` are skipped as duplicates, so footage held on
  twos/threes does not turn every real change of drawing into a cut.

A single odd frame (a flash, a damaged or glitched frame) makes *two* adjacent pairs jump.
Inside a shot the frames on both sides of it look alike; next to a cut they do not. So when
pairs ``p`` and ``p + 1`` both stand out from the pairs around them, and the frames on both
sides of the odd frame still differ (``skip[p]``, exposure-compensated, at least
``threshold`` and :data:`SKIP_RATIO` times the surrounding pairs), the larger of the two
pairs is the cut: the odd frame belongs to the shot it resembles more.

The decision for pair ``i`` reads only the pairs in :func:`window`, so the lazy per-frame
VapourSynth adapter and a scan over the whole clip decide identically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_THRESHOLD = 0.015
"""Default absolute floor on the pair scores (about 4 code values of 8-bit luma, on average
over the whole picture). Tuned with ``benchmarks/scene_detection.py``."""

NEIGHBOUR_RATIO = 2.0
"""A cut's scores must be at least this many times its neighbours' reference scores."""

SEARCH_RADIUS = 3
"""How many pairs on each side are searched for the nearest non-duplicate neighbour."""

DUPLICATE_FRACTION = 0.25
"""Neighbour pairs scoring below ``threshold * DUPLICATE_FRACTION`` count as duplicates."""

REACH = SEARCH_RADIUS + 1
"""Pairs on each side of a pair that its decision reads (a two-pair spike's context starts
one pair further out)."""

SKIP_RATIO = 3.0
"""Across an odd single frame, the frames on both sides must differ by this many times the
surrounding pairs for the odd frame to sit next to a cut (motion over two frames scores
about twice one frame's)."""


@dataclass(frozen=True)
class CutScores:
    """The cut features of consecutive pairs: ``diff``, ``struct`` and ``skip`` arrays."""

    diff: np.ndarray
    struct: np.ndarray
    skip: np.ndarray

    @classmethod
    def of(
        cls,
        diff: Sequence[float],
        struct: Sequence[float] | None = None,
        skip: Sequence[float] | None = None,
    ) -> "CutScores":
        """Scores from plain sequences; ``struct`` defaults to ``diff``, ``skip`` to unknown (NaN)."""
        d = np.asarray(diff, dtype=np.float64)
        s = d.copy() if struct is None else np.asarray(struct, dtype=np.float64)
        k = np.full(d.shape, np.nan) if skip is None else np.asarray(skip, dtype=np.float64)
        if d.ndim != 1 or s.shape != d.shape or k.shape != d.shape:
            raise ValueError(f"scores must be 1-D and of one length, got {d.shape}, {s.shape}, {k.shape}")
        return cls(d, s, k)

    def __len__(self) -> int:
        return len(self.diff)

    def __getitem__(self, window: slice) -> "CutScores":
        return CutScores(self.diff[window], self.struct[window], self.skip[window])


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
    """Nearest non-duplicate pair beyond ``edge`` in direction ``step``, within the radius."""
    duplicate_below = threshold * DUPLICATE_FRACTION
    for distance in range(1, SEARCH_RADIUS + 1):
        j = edge + step * distance
        if not 0 <= j < len(diff):
            return None
        if diff[j] >= duplicate_below:
            return j
    return None


def _reference(scores: CutScores, lo: int, hi: int, threshold: float) -> tuple[float, float]:
    """Reference ``(diff, struct)`` of the pairs around the pairs ``lo..hi`` (0 where none)."""
    ref_d = ref_s = 0.0
    for j in (_nearest(scores.diff, lo, -1, threshold), _nearest(scores.diff, hi, 1, threshold)):
        if j is not None:
            ref_d = max(ref_d, float(scores.diff[j]))
            ref_s = max(ref_s, float(scores.struct[j]))
    return ref_d, ref_s


def _stands_out(scores: CutScores, pairs: Sequence[int], ref: tuple[float, float]) -> bool:
    return all(
        scores.diff[j] >= NEIGHBOUR_RATIO * ref[0] and scores.struct[j] >= NEIGHBOUR_RATIO * ref[1]
        for j in pairs
    )


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
        ref = _reference(scores, lo, hi, threshold)
        if not (_stands_out(scores, (index,), ref) and d[partner] >= NEIGHBOUR_RATIO * ref[0]):
            continue
        across = float(scores.skip[lo])
        if not math.isnan(across) and across >= threshold and across >= SKIP_RATIO * ref[0]:
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
    if _stands_out(scores, (index,), _reference(scores, index, index, threshold)):
        return True
    return _beside_odd_frame(scores, index, threshold)


def detect_scene_changes(scores: CutScores, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Cut decision for every pair: boolean array of ``len(scores)``."""
    return np.array([is_scene_change(scores, i, threshold) for i in range(len(scores))], dtype=bool)

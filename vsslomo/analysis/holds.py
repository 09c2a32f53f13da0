"""Held drawings: which frames are copies of the drawing before them (pure numpy).

Animation holds each drawing for two or three frames (or a mix); the copies differ from the
drawing only by compression noise. A pair ``i -> i + 1`` is a *copy* when its thumbnail
difference stays local-noise sized (see :mod:`.features`):

* ``peak <= threshold``: no thumbnail pixel changed by more than ``threshold``; a mouth
  opening or an eye closing moves its pixels by far more, while the mean over the picture
  would hardly notice it; or
* ``peak <= NOISE_CEILING * threshold`` and ``peak - level <= SPREAD_EXCESS * threshold``:
  a somewhat larger difference that is spread over the picture like compression noise (a
  keyframe re-quantising every edge): the peak is judged against the noise level of the
  pair (``level``, what the difference reaches over a spread of the picture) and must not
  rise far above it the way a moving part does.

A *run* is a maximal stretch of frames joined by copy pairs; runs never cross a scene cut.
The first frame of a run is its drawing. A run longer than ``max_hold`` frames is real
stillness (a character standing still), not a hold: every one of its frames counts as a
drawing of its own, so the motion after it is not smeared over the whole still stretch.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

DEFAULT_THRESHOLD = 0.05
"""Default largest thumbnail-pixel change of a copy, as a fraction of full range.
Tuned on held drawings encoded with x264 at crf 30 with grain and crf 36 without (``tests/test_holds.py``)."""

NOISE_CEILING = 2.5
"""Spread-out noise may reach this many times the threshold and still be a copy."""

SPREAD_EXCESS = 0.5
"""How far (times the threshold) a spread-out difference's peak may rise above its level."""

DEFAULT_MAX_HOLD = 4
"""Longest run (in frames) that is a hold: on ones, twos, threes and fours."""


def validate_threshold(threshold: float | None) -> float:
    """The hold threshold to use (``None`` means :data:`DEFAULT_THRESHOLD`); ValueError if not in (0, 1]."""
    if threshold is None:
        return DEFAULT_THRESHOLD
    hint = (
        "it is the largest local luma change between a drawing and its held copy, as a "
        f"fraction of full range (default {DEFAULT_THRESHOLD}); raise it (e.g. 0.06) when "
        "noisy copies are not merged, lower it (e.g. 0.025) when small moving parts are"
    )
    valid = not isinstance(threshold, bool) and isinstance(threshold, (int, float))
    if not valid or not math.isfinite(float(threshold)) or not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"dedup_threshold must be a number in (0, 1], got {threshold!r}: {hint}")
    return float(threshold)


def validate_max_hold(max_hold: int | None) -> int:
    """The longest hold in frames (``None`` means :data:`DEFAULT_MAX_HOLD`); ValueError if not a whole number >= 2."""
    if max_hold is None:
        return DEFAULT_MAX_HOLD
    hint = (
        "it is the longest run of identical frames that is still one held drawing (default "
        f"{DEFAULT_MAX_HOLD}: animation on ones to fours); longer runs are real stillness"
    )
    whole = isinstance(max_hold, numbers.Integral) and not isinstance(max_hold, bool)
    if not whole or int(max_hold) < 2:
        raise ValueError(f"dedup_max_hold must be a whole number of frames >= 2, got {max_hold!r}: {hint}")
    return int(max_hold)


def copies(peak: ArrayLike, level: ArrayLike, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Copy decision for every pair (see the module docstring): boolean array."""
    p = np.asarray(peak, dtype=np.float64)
    lv = np.asarray(level, dtype=np.float64)
    if p.shape != lv.shape or p.ndim != 1:
        raise ValueError(f"peak and level must be 1-D and of one length, got {p.shape}, {lv.shape}")
    spread = (p <= NOISE_CEILING * threshold) & (p - lv <= SPREAD_EXCESS * threshold)
    return (p <= threshold) | spread


def runs(copy: ArrayLike, cuts: ArrayLike) -> list[tuple[int, int]]:
    """Runs ``(start, stop)`` (``stop`` exclusive) covering all ``len(copy) + 1`` frames.

    Pair ``i`` joins frames ``i`` and ``i + 1`` when it is a copy and not a cut.
    """
    joined = np.asarray(copy, dtype=bool) & ~np.asarray(cuts, dtype=bool)
    if joined.ndim != 1:
        raise ValueError("copy and cut decisions must be 1-D")
    breaks = np.flatnonzero(~joined) + 1  # frames that start a new run
    starts = [0, *breaks.tolist()]
    stops = [*breaks.tolist(), len(joined) + 1]
    return list(zip(starts, stops))


def drawings(run_list: Sequence[tuple[int, int]], max_hold: int = DEFAULT_MAX_HOLD) -> tuple[int, ...]:
    """The source frames that start a drawing: each run's first frame, or every frame of a
    run longer than ``max_hold`` (real stillness)."""
    out: list[int] = []
    for start, stop in run_list:
        out.extend(range(start, stop) if stop - start > max_hold else (start,))
    return tuple(out)

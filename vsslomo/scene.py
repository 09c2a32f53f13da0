"""Scene-change (cut) detection rule on small per-frame features (pure numpy).

A *pair score* ``s[i]`` measures how different source frames ``i`` and ``i + 1`` are: the
mean absolute luma difference of two small greyscale thumbnails (values in [0, 1], so a
score is a fraction of full range; see :func:`frame_difference`).

A cut between ``i`` and ``i + 1`` is declared when the pair stands out from its context:

* ``s[i] >= threshold``, an absolute floor, so that noise in near-static footage never
  fires; and
* ``s[i] >= NEIGHBOUR_RATIO * ref``, where ``ref`` is the larger of the nearest
  *non-duplicate* pair score on each side, looked up at most ``SEARCH_RADIUS`` pairs away.
  Fast motion, pans and flashes raise the neighbouring pairs as well, so they do not fire;
  a cut is a single isolated jump. Pairs scoring below ``threshold * DUPLICATE_FRACTION``
  are skipped as duplicates, so footage held on twos/threes (animation, pulldown) does not
  turn every real change of drawing into a cut.

The VapourSynth adapter lives in :mod:`vsslomo.vsscene`; this module never imports it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

DEFAULT_THRESHOLD = 0.015
"""Default absolute floor on the pair score (about 4 code values of 8-bit luma, on average
over the whole picture). Tuned with ``benchmarks/scene_detection.py``."""

NEIGHBOUR_RATIO = 2.0
"""A cut's score must be at least this many times its neighbours' reference score."""

SEARCH_RADIUS = 3
"""How many pairs on each side are searched for the nearest non-duplicate neighbour."""

DUPLICATE_FRACTION = 0.25
"""Neighbour pairs scoring below ``threshold * DUPLICATE_FRACTION`` count as duplicates."""

THUMB_WIDTH = 64
"""Width in pixels of the greyscale thumbnails that pair scores are computed on."""


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


def thumbnail_size(width: int, height: int) -> tuple[int, int]:
    """Size ``(w, h)`` of the detection thumbnail for a ``width x height`` picture.

    The width is :data:`THUMB_WIDTH`; the height keeps the aspect ratio, clamped to [8, 128].
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"picture size must be positive, got {width}x{height}")
    h = round(THUMB_WIDTH * height / width)
    return THUMB_WIDTH, min(128, max(8, h))


def frame_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Pair score of two thumbnails: mean absolute difference of their values.

    ``a`` and ``b`` are same-shape arrays of luma in [0, 1] (2-D thumbnails). The adapter
    computes the identical quantity natively (``std.PlaneStats``' ``PlaneStatsDiff``).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"thumbnails differ in shape: {a.shape} vs {b.shape}")
    return float(np.mean(np.abs(a - b)))


def window(index: int, num_pairs: int) -> tuple[int, int]:
    """Half-open range ``[lo, hi)`` of pair scores that the decision for ``index`` reads."""
    if not 0 <= index < num_pairs:
        raise IndexError(f"pair index {index} out of range for {num_pairs} pairs")
    return max(0, index - SEARCH_RADIUS), min(num_pairs, index + SEARCH_RADIUS + 1)


def neighbour_reference(scores: Sequence[float], index: int, threshold: float) -> float:
    """Larger of the nearest non-duplicate pair score on each side of ``index`` (0 if none).

    Only pairs at most :data:`SEARCH_RADIUS` away are considered.
    """
    duplicate_below = threshold * DUPLICATE_FRACTION
    ref = 0.0
    for step in (-1, 1):
        j = index + step
        while 0 <= j < len(scores) and abs(j - index) <= SEARCH_RADIUS:
            if scores[j] >= duplicate_below:
                ref = max(ref, float(scores[j]))
                break
            j += step
    return ref


def is_scene_change(
    scores: Sequence[float], index: int, threshold: float = DEFAULT_THRESHOLD
) -> bool:
    """Whether the pair ``scores[index]`` (frames ``index`` -> ``index + 1``) is a cut.

    ``scores`` may be a slice of the full sequence as long as it holds every pair that
    :func:`window` names (scores beyond the clip's ends must simply be absent).
    """
    if not 0 <= index < len(scores):
        raise IndexError(f"pair index {index} out of range for {len(scores)} scores")
    score = float(scores[index])
    if score < threshold:
        return False
    return score >= NEIGHBOUR_RATIO * neighbour_reference(scores, index, threshold)


def detect_scene_changes(
    scores: Sequence[float], threshold: float = DEFAULT_THRESHOLD
) -> np.ndarray:
    """Cut decision for every pair: boolean array of ``len(scores)``."""
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {values.shape}")
    return np.array(
        [is_scene_change(values, i, threshold) for i in range(len(values))], dtype=bool
    )

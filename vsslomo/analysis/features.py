"""What the analysis measures on each pair of consecutive frames (pure numpy).

Every frame is reduced to one small luma thumbnail, :data:`THUMB_WIDTH` pixels wide (the
adapter resizes with a bilinear kernel, which averages the ~30x30 source pixels behind each
thumbnail pixel of a 1080p frame, so grain and most compression noise are gone). Values are
luma in [0, 1]; every score below is a fraction of full range.

Per pair ``i`` (source frames ``i -> i + 1``), :class:`PairFeatures`:

* ``diff``: mean absolute difference (the classic cut score);
* ``struct``: the same after matching the two thumbnails' mean and contrast, so a sudden
  exposure or brightness step inside a shot scores like the motion around it;
* ``skip``: the exposure-compensated difference between frames ``i`` and ``i + 2`` (across
  frame ``i + 1``; NaN for the last pair), which tells a damaged single frame inside a shot
  (frames on both sides alike) from one that sits next to a cut (they differ);
* ``peak``: the largest difference of any one thumbnail pixel (a small moving part, a
  mouth or a blinking eye, shows up here while it is lost in the mean);
* ``level``: the :data:`NOISE_RANK`-th largest, the level the difference reaches over a
  spread of the picture: compression noise (re-quantised edges at a keyframe) raises it
  with the peak, a single local change does not.

Features are rounded to float32, so that a scan, a per-frame adapter and a sidecar file
all decide on exactly the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THUMB_WIDTH = 64
"""Width in pixels of the luma thumbnails every feature is computed on."""

MIN_HEIGHT, MAX_HEIGHT = 8, 128
"""Bounds on the thumbnail height (extreme aspect ratios are squeezed)."""

NOISE_RANK = 10
"""``level`` is the difference of the ``NOISE_RANK``-th most changed thumbnail pixel: larger
than a mouth plus two eyes can cover (about 2x2 pixels each at 1080p), small next to the
number of edge pixels that compression noise touches."""

STD_FLOOR = 0.01
"""Below this luma standard deviation a thumbnail is flat: only its mean is matched."""


def thumbnail_size(width: int, height: int) -> tuple[int, int]:
    """Size ``(w, h)`` of the thumbnail of a ``width x height`` picture.

    The width is :data:`THUMB_WIDTH`; the height keeps the aspect ratio, clamped to
    [:data:`MIN_HEIGHT`, :data:`MAX_HEIGHT`].
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"picture size must be positive, got {width}x{height}")
    h = round(THUMB_WIDTH * height / width)
    return THUMB_WIDTH, min(MAX_HEIGHT, max(MIN_HEIGHT, h))


def _f32(value: float) -> float:
    return float(np.float32(value))


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Non-finite samples of float clips become the nearest valid value, as the engine treats
    # them: one NaN pixel must not turn every score of its frame to NaN (read as a cut).
    a = np.nan_to_num(np.asarray(a, dtype=np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    b = np.nan_to_num(np.asarray(b, dtype=np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    if a.shape != b.shape:
        raise ValueError(f"thumbnails differ in shape: {a.shape} vs {b.shape}")
    return a, b


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails."""
    a, b = _pair(a, b)
    return _f32(np.mean(np.abs(a - b)))


def structure_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference after matching mean and contrast (exposure-compensated).

    Both thumbnails are brought to zero mean and unit standard deviation, compared, and the
    result scaled back by their mean standard deviation. With a flat thumbnail (standard
    deviation below :data:`STD_FLOOR`) nothing tells exposure from content: the plain
    difference is returned.
    """
    a, b = _pair(a, b)
    sa, sb = float(a.std()), float(b.std())
    if min(sa, sb) < STD_FLOOR:
        return _f32(np.mean(np.abs(a - b)))
    scale = (sa + sb) / 2
    return _f32(np.mean(np.abs((a - a.mean()) / sa - (b - b.mean()) / sb)) * scale)


def local_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``(peak, level)``: the largest and the :data:`NOISE_RANK`-th largest pixel difference."""
    a, b = _pair(a, b)
    flat = np.abs(a - b).ravel()
    rank = min(NOISE_RANK, flat.size)
    top = np.partition(flat, flat.size - rank)[flat.size - rank :]
    return _f32(top.max()), _f32(top.min())


@dataclass(frozen=True, slots=True)
class PairFeatures:
    """The features of one frame pair (see the module docstring)."""

    diff: float
    struct: float
    skip: float
    peak: float
    level: float


def pair_features(a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None) -> PairFeatures:
    """Features of the pair ``a -> b``; ``c`` is the frame after ``b`` (``None`` at the end)."""
    peak, level = local_difference(a, b)
    skip = structure_difference(a, c) if c is not None else float("nan")
    return PairFeatures(difference(a, b), structure_difference(a, b), skip, peak, level)

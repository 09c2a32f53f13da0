"""Any timestep from a network that only predicts the middle frame of a pair.

Models trained at t = 0.5 only (RIFE HDv3, IFRNet's Vimeo90K checkpoints) serve other
timesteps in two ways, planned here once for every such model:

* **Dyadic t** (``k / 2**d`` with ``d <= max_depth``): recursive bisection, e.g. ``t=0.25``
  is ``mid(img0, mid(img0, img1))``. Each needed midpoint is computed once per call and
  runs of the same depth (interval width) are batched together, widest first, because
  a narrower interval needs the frames that wider ones produce.
* **Other t**: the model's own motion from one run on an enclosing interval, scaled to the
  local time (the *flow-scaling* scheme; how is the model's business, see
  ``RIFEHDv3.synthesize``). Its error grows with the distance from the interval's middle,
  so t is served from the shallowest bisection interval (width ``2**-D``,
  ``D <= arbitrary_t_depth``) whose middle half contains it, i.e. local t in [1/4, 3/4];
  at the depth limit the enclosing interval is used.

:func:`serve` drives a model through the plan with two callbacks: ``run`` computes the
midpoints (and the motion) of a batch of intervals, ``scaled`` renders a local time from
a kept motion.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import torch

Interval = tuple[Fraction, Fraction]
"""A bisection interval ``(lo, hi)`` in [0, 1] whose endpoints are dyadic."""

Target = Fraction | tuple[Interval, float]
"""A dyadic position to bisect to, or (enclosing interval, local time) for flow scaling."""

RunFn = Callable[[list[Interval], dict[Fraction, torch.Tensor]], tuple[torch.Tensor, Sequence[Any]]]
"""``run(intervals, frames) -> (midpoints (N, C, H, W), motion per interval)``; ``frames`` holds
every endpoint (``(1, C, H, W)`` by position)."""

ScaledFn = Callable[[Interval, dict[Fraction, torch.Tensor], Any, float], torch.Tensor]
"""``scaled(interval, frames, motion, t_local) -> (1, C, H, W)`` from the motion ``run`` gave."""


def target(t: float, max_depth: int, arbitrary_t_depth: int) -> Target:
    """Where ``t`` comes from: a dyadic position, or an interval and the local time in it."""
    steps = 2 ** max(max_depth, arbitrary_t_depth)
    k = round(t * steps)
    if abs(t * steps - k) < 1e-5:
        return Fraction(k, steps)
    for depth in range(max(0, arbitrary_t_depth) + 1):
        n = 2**depth
        j = min(math.floor(t * n), n - 1)
        t_local = t * n - j
        if 0.25 <= t_local <= 0.75:
            break
    return (Fraction(j, n), Fraction(j + 1, n)), t_local


def plan_runs(targets: Sequence[Target]) -> tuple[set[Interval], set[Interval]]:
    """Runs (intervals whose midpoint is computed) needed for ``targets``, and the subset
    whose motion must be kept for flow-scaled timesteps."""
    runs: set[Interval] = set()
    keep: set[Interval] = set()

    def need_run(interval: Interval) -> None:
        if interval not in runs:
            runs.add(interval)
            need_frame(interval[0])
            need_frame(interval[1])

    def need_frame(pos: Fraction) -> None:
        if 0 < pos < 1:
            half = Fraction(1, pos.denominator)  # pos = k / 2**d, k odd: bisected from pos +- 2**-d
            need_run((pos - half, pos + half))

    for item in targets:
        if isinstance(item, Fraction):
            need_frame(item)
        else:
            keep.add(item[0])
            need_run(item[0])
    return runs, keep


def by_depth(runs: set[Interval]) -> list[list[Interval]]:
    """Runs grouped by interval width, widest first: a group only needs frames from earlier groups."""
    widths = sorted({hi - lo for lo, hi in runs}, reverse=True)
    return [sorted(r for r in runs if r[1] - r[0] == width) for width in widths]


def serve(
    timesteps: Sequence[float],
    img0: torch.Tensor,
    img1: torch.Tensor,
    run: RunFn,
    scaled: ScaledFn,
    *,
    max_depth: int,
    arbitrary_t_depth: int,
    max_batch: int,
) -> torch.Tensor:
    """Frames ``(T, C, H, W)`` at ``timesteps`` (in [0, 1]) between ``img0`` and ``img1`` (unclamped).

    ``run`` is called once per batch of at most ``max_batch`` intervals of one depth.
    """
    targets = [target(float(t), max_depth, arbitrary_t_depth) for t in timesteps]
    if not targets:
        return img0.new_empty((0, *img0.shape[1:]))
    runs, keep = plan_runs(targets)
    frames: dict[Fraction, torch.Tensor] = {Fraction(0): img0, Fraction(1): img1}
    motion: dict[Interval, Any] = {}
    step = max(1, max_batch)
    for group in by_depth(runs):
        for start in range(0, len(group), step):
            chunk = group[start : start + step]
            mids, motions = run(chunk, frames)
            for i, interval in enumerate(chunk):
                frames[(interval[0] + interval[1]) / 2] = mids[i : i + 1]
                if interval in keep:
                    motion[interval] = motions[i]
    out = []
    for item in targets:
        if isinstance(item, Fraction):
            out.append(frames[item])
        else:
            interval, t_local = item
            out.append(scaled(interval, frames, motion[interval], t_local))
    return torch.cat(out, 0)

"""Cutting a render into independent chunks: pure arithmetic, no VapourSynth, no torch.

A chunk is a range of *source* frames ``[start, stop)``; it emits every output frame whose
left source frame (``Timing.step(n).left``) lies in that range, so its output range comes
from the timing plan itself and the chunks add up to exactly the single-process output.

Boundaries go where the source has a scene cut (interpolation never crosses a cut, so the
chunks on either side share nothing). Consecutive short shots are packed into one chunk
up to ``max_frames`` source frames; a longer shot is split into nearly equal pieces. A
chunk that ends inside a shot needs one source frame of look-ahead, its ``stop`` frame,
which the next chunk emits (the shared boundary frame is emitted once).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..timing import Timing, resolve

RATE_KEYS = ("factor", "factor_num", "factor_den", "fps_num", "fps_den")
"""The filter arguments that set the output rate (see :func:`vsslomo.timing.resolve`)."""


@dataclass(frozen=True)
class Chunk:
    """Source frames ``[source_start, source_stop)`` and the output frames they emit."""

    index: int
    source_start: int
    source_stop: int
    output_start: int
    output_stop: int

    @property
    def frames(self) -> int:
        """Number of output frames the chunk emits."""
        return self.output_stop - self.output_start


def output_start(plan: Timing, source_frame: int) -> int:
    """The first output frame whose left source frame is ``source_frame`` or later.

    ``Timing.step(n).left`` never decreases with ``n``, so this is a bisection; for
    ``source_frame == plan.source_frames`` it is ``plan.num_frames``.
    """
    lo, hi = 0, plan.num_frames
    while lo < hi:
        mid = (lo + hi) // 2
        if plan.step(mid).left < source_frame:
            lo = mid + 1
        else:
            hi = mid
    return lo


def boundaries(num_frames: int, cuts: Sequence[int], max_frames: int) -> list[int]:
    """Chunk starts in source frames, then ``num_frames``.

    ``cuts`` are the source frames ``i`` with a cut between ``i`` and ``i + 1``.
    """
    if num_frames < 1:
        raise ValueError("the clip has no frames")
    if max_frames < 1:
        raise ValueError(f"chunks need at least one source frame, got {max_frames}")
    shot_starts = sorted({c + 1 for c in cuts if 0 <= c < num_frames - 1})
    shots = list(zip([0, *shot_starts], [*shot_starts, num_frames]))
    edges = [0]
    for start, stop in shots:
        length = stop - start
        if length > max_frames:  # close the chunk being packed, then split the shot evenly
            if start != edges[-1]:
                edges.append(start)
            pieces = math.ceil(length / max_frames)
            edges += [start + (length * k) // pieces for k in range(1, pieces)]
            edges.append(stop)
        elif stop - edges[-1] > max_frames:  # the shot would overflow the chunk: it starts the next
            edges.append(start)
    if edges[-1] != num_frames:
        edges.append(num_frames)
    return edges


def plan_chunks(plan: Timing, cuts: Sequence[int], max_frames: int) -> list[Chunk]:
    """The chunks of a render with timing ``plan`` (see the module docstring).

    Chunks that emit no output frame (possible only for very short frames of a
    variable-rate source) are left out; the others are numbered from 0 in source order.
    """
    edges = boundaries(plan.source_frames, cuts, max_frames)
    starts = [output_start(plan, e) for e in edges]
    chunks: list[Chunk] = []
    for (s0, s1), (o0, o1) in zip(zip(edges, edges[1:]), zip(starts, starts[1:])):
        if o1 > o0:
            chunks.append(Chunk(len(chunks), s0, s1, o0, o1))
    return chunks


def longest_first(chunks: Sequence[Chunk]) -> list[Chunk]:
    """The order to hand chunks to workers: longest first (the last to finish are short)."""
    return sorted(chunks, key=lambda c: (-c.frames, c.index))


def timing_plan(num_frames: int, source_fps: Fraction | None, filter_kwargs: Mapping[str, Any], durations: Sequence[Fraction] | None) -> Timing:
    """The filter's timing plan for these arguments: the one source of every chunk's output range.

    Takes the rate arguments from ``filter_kwargs`` (the others don't move frames in time);
    raises ``ValueError`` as :func:`vsslomo.timing.resolve` does. A filter argument that
    re-times frames (the coming ``dedup``, from holds in :class:`.scan.Analysis`) must be
    turned into its plan here too; until it is, workers refuse to render, because their
    filter's length differs from this plan's (see :class:`.job.ChunkRenderer`).
    """
    rate = {k: filter_kwargs[k] for k in RATE_KEYS if k in filter_kwargs}
    return resolve(num_frames, source_fps, durations=durations, **rate)

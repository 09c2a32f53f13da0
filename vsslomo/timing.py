"""Which source frames and which interpolation time each output frame uses.

Pure, exact rational arithmetic (:class:`fractions.Fraction`); no VapourSynth or torch.

Every output frame ``n`` maps to a position in the source: a left source frame ``i`` and
a time ``t`` in ``[0, 1)`` between frame ``i`` and frame ``i + 1``:

* ``t == 0``: output frame ``n`` *is* source frame ``i`` (``Step(i, i, 0)``).
* ``t > 0`` and ``i + 1 <= N - 1``: blend source frames ``i`` and ``i + 1`` at ``t``.
* Tail: positions past the last source frame (``i >= N - 1`` with ``t > 0``) repeat it:
  ``Step(N - 1, N - 1, 0)``.

Ratio mode (integer ``factor``, ``factor_num/factor_den``, or ``target_fps/source_fps``)
uses a ratio ``r >= 1``::

    num_frames = ceil(N * r)        p_n = n / r       i = floor(p_n)     t = p_n - i
    duration_n = source_duration(i) / r               fps = source_fps * r  (None if VFR)

so the total duration is kept exactly when ``N * r`` is whole and is exceeded by less than
one output frame otherwise.

Timestamps mode (variable-frame-rate source, constant target rate ``F``) uses the source
frame durations ``d_0 .. d_{N-1}`` (seconds) and their start times ``T_i = sum_{k<i} d_k``,
``D = T_N``::

    num_frames = ceil(D * F)        tau_n = n / F     i = max{i : T_i <= tau_n}
    t = (tau_n - T_i) / d_i         duration_n = 1 / F

Re-timing between distinct drawings (:class:`DrawingTiming`, for animation held on twos,
threes or mixed cadences) wraps either plan. Only some source frames start a new drawing
(``drawings``: the first frame of every run of held copies); the others are copies of the
drawing before them. Each drawing sits at the time ``T_a`` its run starts, and the output
frame at time ``tau`` of the plain plan (``tau = T_i + t * d_i`` for its plain step
``(i, t)``) lies between drawings ``a <= tau < b`` and is synthesized at::

    t = (tau - T_a) / (T_b - T_a)       Step(a, b, t), or Step(a, a, 0) when t == 0

After the last drawing, and across a scene cut (a cut always starts a new drawing), the
output frames are copies of drawing ``a``: ``Step(a, a, 0)``. Frame count, rate and every
duration are those of the wrapped plan.

Fractions are always kept in lowest terms, so ``(f.numerator, f.denominator)`` can be
written straight into VapourSynth's ``_DurationNum``/``_DurationDen`` (see :func:`normalize`).

:func:`resolve` turns the filter's user arguments into a :class:`Timing`. Its
``ValueError`` messages say how to fix the call; the filter prefixes them with
``"slomo.Interpolate: "``.
"""

from __future__ import annotations

import math
import numbers
import operator
from bisect import bisect_right
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

__all__ = [
    "Step",
    "Timing",
    "RatioTiming",
    "TimestampTiming",
    "DrawingTiming",
    "Provenance",
    "resolve",
    "needs_durations",
    "normalize",
    "DEFAULT_FACTOR",
]

DEFAULT_FACTOR = 2
"""Factor used when the user gives no rate argument at all."""


@dataclass(frozen=True, slots=True)
class Step:
    """Source frames ``left``/``right`` and the time ``t`` in ``[0, 1)`` between them.

    ``t == 0`` means the output frame is exactly source frame ``left`` (and ``right == left``).
    """

    left: int
    right: int
    t: Fraction


def normalize(fr: Fraction) -> tuple[int, int]:
    """``(numerator, denominator)`` of ``fr`` in lowest terms, denominator positive.

    :class:`~fractions.Fraction` is always normalized, so this only spells out the
    guarantee VapourSynth needs for ``_DurationNum``/``_DurationDen`` and fps.
    """
    fr = Fraction(fr)
    return fr.numerator, fr.denominator


def _check_index(n: int, size: int, what: str) -> int:
    n = operator.index(n)
    if not 0 <= n < size:
        raise IndexError(f"{what} {n} out of range [0, {size})")
    return n


class Timing:
    """Maps output frame numbers to source frame pairs (see the module docstring).

    Attributes shared by all modes: ``num_frames`` (output length), ``source_frames``
    (``N``), ``fps`` (output rate, ``None`` when unknown) and ``ratio`` (``None`` in
    timestamps mode).
    """

    num_frames: int
    source_frames: int
    fps: Fraction | None
    ratio: Fraction | None

    def step(self, n: int) -> Step:
        """Source pair and time of output frame ``n``; ``IndexError`` outside the clip."""
        raise NotImplementedError

    def duration(self, n: int, source_duration: Fraction | None = None) -> Fraction:
        """Duration in seconds of output frame ``n``.

        ``source_duration`` is the duration of source frame ``step(n).left``; it is only
        needed in ratio mode when the source frame rate is unknown.
        """
        raise NotImplementedError

    def timesteps(self, left: int) -> tuple[Fraction, ...]:
        """Sorted distinct ``t > 0`` of all output frames interpolated after source frame ``left``.

        Lets the filter run every time of one pair in a single model call. Costs
        O(output frames per source frame), independent of the clip length.
        """
        raise NotImplementedError

    def outputs(self, left: int) -> range:
        """Output frames whose time lies in source frame ``left``'s interval.

        That is every output frame whose plain step has ``left`` as its left frame, the
        tail included for the last source frame.
        """
        raise NotImplementedError

    def _tail(self) -> Step:
        last = self.source_frames - 1
        return Step(last, last, Fraction(0))

    def _make_step(self, i: int, t: Fraction) -> Step:
        if t == 0:
            return Step(i, i, t)
        if i + 1 <= self.source_frames - 1:
            return Step(i, i + 1, t)
        return self._tail()


@dataclass(frozen=True)
class RatioTiming(Timing):
    """Output rate is the source rate times ``ratio`` (O(1) memory)."""

    source_frames: int
    ratio: Fraction
    source_fps: Fraction | None = None
    """Source frame rate, ``None`` for variable frame rate clips."""
    num_frames: int = field(init=False)
    fps: Fraction | None = field(init=False)

    def __post_init__(self) -> None:
        if self.source_frames < 1:
            raise ValueError("the clip has no frames")
        object.__setattr__(self, "ratio", Fraction(self.ratio))
        if self.source_fps is not None:
            object.__setattr__(self, "source_fps", Fraction(self.source_fps))
        if self.ratio < 1:
            raise ValueError(f"rate ratio {self.ratio} is below 1")
        object.__setattr__(self, "num_frames", math.ceil(self.source_frames * self.ratio))
        fps = None if self.source_fps is None else self.source_fps * self.ratio
        object.__setattr__(self, "fps", fps)

    def step(self, n: int) -> Step:
        n = _check_index(n, self.num_frames, "output frame")
        # p = n / r = n * den / num, split into integer part and remainder exactly.
        i, rem = divmod(n * self.ratio.denominator, self.ratio.numerator)
        return self._make_step(i, Fraction(rem, self.ratio.numerator))

    def duration(self, n: int, source_duration: Fraction | None = None) -> Fraction:
        _check_index(n, self.num_frames, "output frame")
        if source_duration is None:
            if self.fps is None:
                raise ValueError(
                    "the clip has a variable frame rate: pass the source frame's duration"
                )
            return 1 / self.fps
        return Fraction(source_duration) / self.ratio

    def timesteps(self, left: int) -> tuple[Fraction, ...]:
        left = _check_index(left, self.source_frames, "source frame")
        if left == self.source_frames - 1:
            return ()  # everything after the last frame is the repeated tail
        num, den = self.ratio.numerator, self.ratio.denominator
        # Output frames with floor(n / r) == left: left * r <= n < (left + 1) * r.
        first = math.ceil(left * self.ratio)
        stop = math.ceil((left + 1) * self.ratio)
        return tuple(
            Fraction(n * den - left * num, num) for n in range(first, stop) if n * den != left * num
        )

    def outputs(self, left: int) -> range:
        left = _check_index(left, self.source_frames, "source frame")
        stop = math.ceil((left + 1) * self.ratio)
        return range(math.ceil(left * self.ratio), min(stop, self.num_frames))


@dataclass(frozen=True)
class TimestampTiming(Timing):
    """Constant output rate ``fps`` sampled from a variable-frame-rate source (O(N) memory)."""

    durations: Sequence[Fraction] = field(repr=False)
    fps: Fraction
    source_frames: int = field(init=False)
    num_frames: int = field(init=False)
    ratio: None = field(init=False, default=None)
    starts: tuple[Fraction, ...] = field(init=False, repr=False)
    """``T_0 .. T_N``: start time of every source frame, then the total duration."""

    def __post_init__(self) -> None:
        durations = tuple(Fraction(d) for d in self.durations)
        if not durations:
            raise ValueError("the clip has no frames")
        for k, d in enumerate(durations):
            if d <= 0:
                raise ValueError(
                    f"source frame {k} has duration {d}; every frame needs a positive "
                    "_DurationNum/_DurationDen (fix the source or use std.AssumeFPS)"
                )
        fps = Fraction(self.fps)
        if fps <= 0:
            raise ValueError(f"target fps {fps} must be positive")
        starts = [Fraction(0)]
        for d in durations:
            starts.append(starts[-1] + d)
        object.__setattr__(self, "durations", durations)
        object.__setattr__(self, "fps", fps)
        object.__setattr__(self, "source_frames", len(durations))
        object.__setattr__(self, "starts", tuple(starts))
        object.__setattr__(self, "num_frames", math.ceil(starts[-1] * fps))

    def step(self, n: int) -> Step:
        n = _check_index(n, self.num_frames, "output frame")
        tau = Fraction(n) / self.fps
        i = bisect_right(self.starts, tau) - 1
        if i >= self.source_frames:  # tau == D cannot happen for n < num_frames; be safe
            return self._tail()
        return self._make_step(i, (tau - self.starts[i]) / self.durations[i])

    def duration(self, n: int, source_duration: Fraction | None = None) -> Fraction:
        _check_index(n, self.num_frames, "output frame")
        return 1 / self.fps

    def timesteps(self, left: int) -> tuple[Fraction, ...]:
        left = _check_index(left, self.source_frames, "source frame")
        if left == self.source_frames - 1:
            return ()
        start, d = self.starts[left], self.durations[left]
        # Output frames with T_left <= n / F < T_{left+1}.
        first = math.ceil(start * self.fps)
        stop = math.ceil(self.starts[left + 1] * self.fps)
        ts = ((Fraction(n) / self.fps - start) / d for n in range(first, stop))
        return tuple(t for t in ts if t > 0)

    def outputs(self, left: int) -> range:
        left = _check_index(left, self.source_frames, "source frame")
        first = math.ceil(self.starts[left] * self.fps)
        return range(first, min(math.ceil(self.starts[left + 1] * self.fps), self.num_frames))

@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a re-timed output frame comes from (see :meth:`DrawingTiming.provenance`)."""

    drawings: tuple[int, int]
    """``(a, b)``: the drawing ``a`` the frame starts from and the drawing ``b`` it moves
    towards (``b == a`` when there is none: after the last drawing, or a cut after ``a``)."""
    t: Fraction
    """Time between the two drawings; 0 means the frame is a copy of ``a``."""
    source: int
    """The source frame the plain plan starts from at this output frame's time."""
    held: bool
    """Whether that source frame is a held copy (it does not start a drawing)."""


@dataclass(frozen=True)
class DrawingTiming(Timing):
    """``base`` re-timed so that output frames interpolate between distinct drawings.

    ``drawings``: the source frames that start a new drawing, increasing, starting with 0;
    every other frame is a held copy of the drawing before it. ``cuts``: pairs ``i``
    (``i -> i + 1``) with a scene cut, after which the output frames copy the drawing
    before the cut; ``i + 1`` must start a drawing. ``durations``: every source frame's
    duration (``None`` where unknown), needed when ``base`` is a ratio plan of a
    variable-frame-rate clip; with it, :meth:`duration` gives exactly what ``base`` gives
    for the plain step's source frame. See the module docstring for the mapping.
    """

    base: Timing
    drawings: Sequence[int]
    cuts: Collection[int] = ()
    durations: Sequence[Fraction | None] | None = field(default=None, repr=False)
    source_frames: int = field(init=False)
    num_frames: int = field(init=False)
    fps: Fraction | None = field(init=False)
    ratio: Fraction | None = field(init=False)
    starts: tuple[Fraction, ...] = field(init=False, repr=False)
    """``T_0 .. T_N`` on the time axis the plain plan interpolates on."""

    def __post_init__(self) -> None:
        n_src = self.base.source_frames
        drawings = tuple(operator.index(i) for i in self.drawings)
        if not drawings or drawings[0] != 0:
            raise ValueError("the first source frame must start a drawing")
        if any(b <= a for a, b in zip(drawings, drawings[1:])) or drawings[-1] >= n_src:
            raise ValueError(f"drawings must be increasing source frames below {n_src}")
        starting = frozenset(drawings)
        cuts = frozenset(operator.index(i) for i in self.cuts)
        for i in sorted(cuts):
            if not 0 <= i < n_src - 1:
                raise ValueError(f"cut after source frame {i} is outside the clip")
            if i + 1 not in starting:
                raise ValueError(f"a run of held frames crosses the cut after source frame {i}")
        durations = None if self.durations is None else tuple(
            None if d is None else Fraction(d) for d in self.durations
        )
        if durations is not None and len(durations) != n_src:
            raise ValueError(f"got {len(durations)} frame durations for a clip of {n_src} frames")
        object.__setattr__(self, "drawings", drawings)
        object.__setattr__(self, "cuts", cuts)
        object.__setattr__(self, "durations", durations)
        for name in ("source_frames", "num_frames", "fps", "ratio"):
            object.__setattr__(self, name, getattr(self.base, name))
        object.__setattr__(self, "starts", self._source_starts())

    def _source_starts(self) -> tuple[Fraction, ...]:
        if isinstance(self.base, TimestampTiming):
            return self.base.starts
        if self.base.fps is not None:  # constant rate: positions are times
            return tuple(Fraction(i) for i in range(self.source_frames + 1))
        if self.durations is None or any(d is None or d <= 0 for d in self.durations):
            raise ValueError(
                "re-timing a variable-frame-rate clip needs every source frame's duration "
                "(_DurationNum/_DurationDen)"
            )
        starts = [Fraction(0)]
        for d in self.durations:
            starts.append(starts[-1] + d)  # type: ignore[operator]
        return tuple(starts)

    def _drawing(self, i: int) -> tuple[int, int | None]:
        """The drawing ``a`` that source frame ``i`` shows and the next one (``None`` when
        there is none to interpolate towards: the last drawing, or a cut after ``a``'s run)."""
        k = bisect_right(self.drawings, i) - 1
        a = self.drawings[k]
        if k + 1 == len(self.drawings) or self.drawings[k + 1] - 1 in self.cuts:
            return a, None
        return a, self.drawings[k + 1]

    def _time(self, plain: Step) -> Fraction:
        start = self.starts[plain.left]
        if plain.t == 0:
            return start
        return start + plain.t * (self.starts[plain.left + 1] - start)

    def step(self, n: int) -> Step:
        plain = self.base.step(n)
        a, b = self._drawing(plain.left)
        if b is None:
            return Step(a, a, Fraction(0))
        t = (self._time(plain) - self.starts[a]) / (self.starts[b] - self.starts[a])
        return Step(a, b, t) if t else Step(a, a, t)

    def duration(self, n: int, source_duration: Fraction | None = None) -> Fraction:
        """Duration of output frame ``n``, exactly as the plain plan gives it.

        With ``durations`` known, ``source_duration`` is ignored: the plain plan's own
        source frame (not drawing ``step(n).left``) decides.
        """
        if self.durations is not None:
            known = self.durations[self.base.step(n).left]
            source_duration = known if known is not None else source_duration
        return self.base.duration(n, source_duration)

    def outputs(self, left: int) -> range:
        """Output frames whose step starts from ``left`` (empty unless it starts a drawing)."""
        left = _check_index(left, self.source_frames, "source frame")
        k = bisect_right(self.drawings, left) - 1
        if self.drawings[k] != left:
            return range(0)
        last = self.drawings[k + 1] - 1 if k + 1 < len(self.drawings) else self.source_frames - 1
        return range(self.base.outputs(left).start, self.base.outputs(last).stop)

    def timesteps(self, left: int) -> tuple[Fraction, ...]:
        ts = {s.t for s in map(self.step, self.outputs(left))}
        ts.discard(Fraction(0))
        return tuple(sorted(ts))

    def is_drawing(self, i: int) -> bool:
        """Whether source frame ``i`` starts a drawing (is not a held copy)."""
        i = _check_index(i, self.source_frames, "source frame")
        return self.drawings[bisect_right(self.drawings, i) - 1] == i

    def cut_after(self, left: int) -> bool:
        """Whether a scene cut ends the run of drawing ``left`` (its frames are then copies)."""
        left = _check_index(left, self.source_frames, "source frame")
        if not self.is_drawing(left):
            return False
        k = bisect_right(self.drawings, left)
        return k < len(self.drawings) and self.drawings[k] - 1 in self.cuts

    def provenance(self, n: int) -> Provenance:
        """The drawings, time and plain source frame of output frame ``n``."""
        plain = self.base.step(n)
        a, b = self._drawing(plain.left)
        t = self.step(n).t
        return Provenance((a, a if b is None else b), t, plain.left, not self.is_drawing(plain.left))


def _whole(name: str, value: object, hint: Callable[[Fraction], str]) -> int:
    """``value`` as an int, or a ValueError that suggests ``hint`` for fractional values."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Rational, float)):
        raise ValueError(f"{name} must be a whole number, got {value!r}; pass an int")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}; pass an int")
    exact = Fraction(value)
    if exact.denominator != 1:
        raise ValueError(f"{name} must be a whole number, got {value!r}; {hint(exact)}")
    return int(exact)


def _factor_hint(value: Fraction) -> str:
    approx = value.limit_denominator(1000)
    return (
        f"for a fractional factor use factor_num={approx.numerator}, "
        f"factor_den={approx.denominator}"
    )


def _fps_hint(value: Fraction) -> str:
    # NTSC-style rates (59.94, 29.97, 23.976) are k * 1000/1001.
    ntsc = Fraction(round(value * Fraction(1001, 1000)) * 1000, 1001)
    approx = ntsc if abs(ntsc - value) < Fraction(1, 100) else value.limit_denominator(1000)
    return f"for a fractional rate use fps_num={approx.numerator}, fps_den={approx.denominator}"


def _pair_hint(name: str) -> Callable[[Fraction], str]:
    return lambda value: f"give {name} as an integer numerator/denominator pair"


def _source_fps(source_fps: Fraction | None) -> Fraction | None:
    """The source rate, with ``None`` or ``0`` (VapourSynth's 0/1) meaning variable."""
    if source_fps is None:
        return None
    fps = Fraction(source_fps)
    if fps < 0:
        raise ValueError(f"source fps {fps} is negative")
    return fps if fps != 0 else None


def needs_durations(source_fps: Fraction | None, fps_num: int | None) -> bool:
    """True when :func:`resolve` needs the source frame durations.

    That is a target frame rate on a variable-frame-rate clip (``source_fps`` None or 0),
    which uses timestamps mode.
    """
    return fps_num is not None and _source_fps(source_fps) is None


def resolve(
    num_frames: int,
    source_fps: Fraction | None,
    factor: int | None = None,
    factor_num: int | None = None,
    factor_den: int | None = None,
    fps_num: int | None = None,
    fps_den: int | None = None,
    durations: Sequence[Fraction] | Callable[[], Sequence[Fraction]] | None = None,
) -> Timing:
    """Build the :class:`Timing` of the filter's user arguments.

    Exactly one way of giving the rate is allowed: ``factor`` (a whole number >= 1),
    ``factor_num``/``factor_den`` (a ratio >= 1, ``factor_den`` defaults to 1) or
    ``fps_num``/``fps_den`` (a target rate >= the source rate, ``fps_den`` defaults to 1).
    With none of them the factor is :data:`DEFAULT_FACTOR`.

    ``source_fps`` None or 0 marks a variable-frame-rate clip. A target fps on such a clip
    samples the source by timestamps and needs ``durations`` (one per source frame, in
    seconds); see :func:`needs_durations`. ``durations`` is ignored otherwise. It may be a
    function returning them, called only once the other arguments have been checked and
    only when they are needed (reading every frame's duration is a pass over the clip).

    Raises ``ValueError`` with a message saying how to fix the arguments.
    """
    if isinstance(num_frames, bool) or not isinstance(num_frames, int):
        raise ValueError(f"the clip length must be an int, got {num_frames!r}")
    if num_frames <= 0:
        raise ValueError("the clip has no frames; give it at least one frame")
    src_fps = _source_fps(source_fps)

    uses_ratio = factor_num is not None or factor_den is not None
    uses_fps = fps_num is not None or fps_den is not None
    if factor is not None and (uses_ratio or uses_fps):
        raise ValueError(
            "give the rate one way only: factor, factor_num/factor_den, or fps_num/fps_den"
        )
    if uses_ratio and uses_fps:
        raise ValueError("give either factor_num/factor_den or fps_num/fps_den, not both")

    if uses_fps:
        if fps_num is None:
            raise ValueError("fps_den needs fps_num (e.g. fps_num=60000, fps_den=1001)")
        num = _whole("fps_num", fps_num, _fps_hint)
        den = 1 if fps_den is None else _whole("fps_den", fps_den, _pair_hint("the fps"))
        if num <= 0 or den <= 0:
            raise ValueError(
                f"fps_num and fps_den must be positive, got {num}/{den} "
                "(e.g. fps_num=60000, fps_den=1001)"
            )
        target = Fraction(num, den)
        if src_fps is None:
            if callable(durations):
                durations = durations()
            if durations is None:
                raise ValueError(
                    "the clip has a variable frame rate, so a target fps needs the source "
                    "frame durations (or use factor=/factor_num= instead)"
                )
            if len(durations) != num_frames:
                raise ValueError(
                    f"got {len(durations)} frame durations for a clip of {num_frames} frames"
                )
            return TimestampTiming(durations, target)
        if target < src_fps:
            raise ValueError(
                f"target fps {_fmt(target)} is below the source fps {_fmt(src_fps)}; "
                "this filter only raises the frame rate (use std.SelectEvery or a decimator "
                "to lower it)"
            )
        return RatioTiming(num_frames, target / src_fps, src_fps)

    if uses_ratio:
        if factor_num is None:
            raise ValueError("factor_den needs factor_num (e.g. factor_num=5, factor_den=2)")
        num = _whole("factor_num", factor_num, _pair_hint("the factor"))
        den = 1 if factor_den is None else _whole(
            "factor_den", factor_den, _pair_hint("the factor")
        )
        if num <= 0 or den <= 0:
            raise ValueError(
                f"factor_num and factor_den must be positive, got {num}/{den} "
                "(e.g. factor_num=5, factor_den=2 for 2.5x)"
            )
        ratio = Fraction(num, den)
        if ratio < 1:
            raise ValueError(
                f"factor_num/factor_den = {num}/{den} is below 1; this filter only raises "
                "the frame rate, so use a ratio >= 1"
            )
        return RatioTiming(num_frames, ratio, src_fps)

    whole = DEFAULT_FACTOR if factor is None else _whole("factor", factor, _factor_hint)
    if whole < 1:
        raise ValueError(f"factor must be at least 1, got {whole} (e.g. factor=2)")
    return RatioTiming(num_frames, Fraction(whole), src_fps)


def _fmt(fps: Fraction) -> str:
    """``60000/1001 (59.940)`` style rendering for messages."""
    if fps.denominator == 1:
        return str(fps.numerator)
    return f"{fps.numerator}/{fps.denominator} ({float(fps):.3f})"

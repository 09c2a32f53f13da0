"""Tests for vsslomo.timing: exact output-frame -> source-pair mapping and argument checks.

The reference implementations below (``_brute_*``) recompute every step from the
definitions with plain Fraction arithmetic and linear scans, independently of the
divmod/bisect shortcuts the module uses.
"""

from __future__ import annotations

import dataclasses
import math
import random
import subprocess
import sys
import time
from fractions import Fraction

import pytest

from vsslomo.timing import (
    DEFAULT_FACTOR,
    DrawingTiming,
    RatioTiming,
    Step,
    TimestampTiming,
    Timing,
    needs_durations,
    normalize,
    resolve,
)

F = Fraction
NTSC_FILM = F(24000, 1001)
NTSC_VIDEO = F(30000, 1001)


# ---------------------------------------------------------------- reference models


def _rule(i: int, t: Fraction, n_src: int) -> Step:
    """The left/right/tail rule straight from the spec."""
    if i > n_src - 1 or (i == n_src - 1 and t > 0):
        return Step(n_src - 1, n_src - 1, F(0))
    if t == 0:
        return Step(i, i, F(0))
    return Step(i, i + 1, t)


def _brute_ratio(n_src: int, r: Fraction) -> list[Step]:
    steps = []
    n = 0
    while F(n) < n_src * r:  # output length is the smallest n with n >= N * r
        p = F(n) / r
        i = math.floor(p)
        steps.append(_rule(i, p - i, n_src))
        n += 1
    return steps


def _brute_timestamps(durations: list[Fraction], fps: Fraction) -> list[Step]:
    starts = [sum(durations[:k], F(0)) for k in range(len(durations) + 1)]
    total = starts[-1]
    steps = []
    n = 0
    while F(n) / fps < total:
        tau = F(n) / fps
        i = max(k for k in range(len(durations)) if starts[k] <= tau)
        steps.append(_rule(i, (tau - starts[i]) / durations[i], len(durations)))
        n += 1
    return steps


def _all_steps(timing: Timing) -> list[Step]:
    return [timing.step(n) for n in range(timing.num_frames)]


def _check_timesteps(timing: Timing, steps: list[Step]) -> None:
    """timesteps(left) must list exactly the t > 0 of the steps with that left, sorted."""
    by_left: dict[int, set[Fraction]] = {}
    for s in steps:
        if s.t > 0:
            by_left.setdefault(s.left, set()).add(s.t)
    for left in range(timing.source_frames):
        got = timing.timesteps(left)
        assert got == tuple(sorted(by_left.get(left, ()))), left
        assert all(0 < t < 1 for t in got)


def _check_invariants(timing: Timing, steps: list[Step]) -> None:
    n_src = timing.source_frames
    assert len(steps) == timing.num_frames
    positions = [s.left + s.t for s in steps]
    assert positions == sorted(positions), "source positions must not go backwards"
    assert steps[0] == Step(0, 0, F(0))
    for s in steps:
        assert 0 <= s.left <= s.right <= n_src - 1
        assert 0 <= s.t < 1
        assert isinstance(s.t, Fraction)
        if s.t == 0:
            assert s.right == s.left
        else:
            assert s.right == s.left + 1
    _check_timesteps(timing, steps)


# ---------------------------------------------------------------- integer factors


@pytest.mark.parametrize("factor", [2, 3, 4, 8])
@pytest.mark.parametrize("n_src", [1, 2, 5, 17])
def test_integer_factor_mapping(factor: int, n_src: int) -> None:
    timing = resolve(n_src, F(25), factor=factor)
    assert timing.num_frames == n_src * factor
    assert timing.ratio == factor
    assert timing.fps == 25 * factor
    steps = _all_steps(timing)
    for n, s in enumerate(steps):
        left, k = divmod(n, factor)
        if left == n_src - 1 and k > 0:
            assert s == Step(n_src - 1, n_src - 1, F(0)), n  # tail
        elif k == 0:
            assert s == Step(left, left, F(0)), n
        else:
            assert s == Step(left, left + 1, F(k, factor)), n
    _check_invariants(timing, steps)
    # Each source frame shows up unchanged at output frame i * factor.
    assert [n for n, s in enumerate(steps) if s.t == 0 and n % factor == 0] == [
        i * factor for i in range(n_src)
    ]
    for i in range(n_src - 1):
        assert timing.timesteps(i) == tuple(F(k, factor) for k in range(1, factor))
    assert timing.timesteps(n_src - 1) == ()


def test_every_source_frame_appears_at_t0_for_integer_factors() -> None:
    for factor in range(1, 10):
        for n_src in range(1, 12):
            steps = _all_steps(resolve(n_src, F(30), factor=factor))
            exact = [s.left for s in steps if s.t == 0 and s.right == s.left]
            # Distinct t == 0 lefts cover all source frames in order (tail repeats excluded).
            assert sorted(set(exact)) == list(range(n_src))
            assert steps[::factor] == [Step(i, i, F(0)) for i in range(n_src)]


def test_default_factor_is_two() -> None:
    assert DEFAULT_FACTOR == 2
    timing = resolve(10, F(24))
    assert timing.ratio == 2 and timing.num_frames == 20 and timing.fps == 48


def test_factor_one_is_identity() -> None:
    timing = resolve(7, NTSC_FILM, factor=1)
    assert _all_steps(timing) == [Step(i, i, F(0)) for i in range(7)]
    assert timing.fps == NTSC_FILM
    assert all(timing.timesteps(i) == () for i in range(7))


def test_integral_float_and_fraction_factor_accepted() -> None:
    assert resolve(3, F(25), factor=4.0).ratio == 4
    assert resolve(3, F(25), factor=F(3)).ratio == 3


# ---------------------------------------------------------------- rational ratios


def test_factor_five_halves() -> None:
    timing = resolve(4, F(10), factor_num=5, factor_den=2)
    assert timing.ratio == F(5, 2)
    assert timing.num_frames == 10
    assert timing.fps == 25
    expected = [
        Step(0, 0, F(0)),
        Step(0, 1, F(2, 5)),
        Step(0, 1, F(4, 5)),
        Step(1, 2, F(1, 5)),
        Step(1, 2, F(3, 5)),
        Step(2, 2, F(0)),
        Step(2, 3, F(2, 5)),
        Step(2, 3, F(4, 5)),
        Step(3, 3, F(0)),
        Step(3, 3, F(0)),  # tail: position 3.2 is past the last frame
    ]
    assert _all_steps(timing) == expected
    assert timing.timesteps(0) == (F(2, 5), F(4, 5))
    assert timing.timesteps(1) == (F(1, 5), F(3, 5))
    assert timing.timesteps(2) == (F(2, 5), F(4, 5))
    assert timing.timesteps(3) == ()


def test_factor_den_defaults_to_one() -> None:
    timing = resolve(5, F(25), factor_num=3)
    assert timing.ratio == 3 and timing.num_frames == 15


def test_film_to_ntsc_60() -> None:
    n_src = 48
    timing = resolve(n_src, NTSC_FILM, fps_num=60000, fps_den=1001)
    assert timing.ratio == F(5, 2)
    assert timing.fps == F(60000, 1001)
    assert timing.num_frames == 120
    steps = _all_steps(timing)
    # Every 2 source frames give 5 output frames with t = 0, 2/5, 4/5, 1/5, 3/5.
    for block in range(n_src // 2 - 1):
        got = steps[5 * block : 5 * block + 5]
        a = 2 * block
        assert [s.t for s in got] == [F(0), F(2, 5), F(4, 5), F(1, 5), F(3, 5)]
        assert [s.left for s in got] == [a, a, a, a + 1, a + 1]
        assert [s.right for s in got] == [a, a + 1, a + 1, a + 2, a + 2]
    # ... except the last block, which ends in the tail after the last source frame.
    last = n_src - 1
    assert steps[-5:] == [
        Step(last - 1, last - 1, F(0)),
        Step(last - 1, last, F(2, 5)),
        Step(last - 1, last, F(4, 5)),
        Step(last, last, F(0)),
        Step(last, last, F(0)),
    ]
    assert all(timing.duration(n) == F(1001, 60000) for n in range(timing.num_frames))
    _check_invariants(timing, steps)


def test_pal_25_to_50() -> None:
    timing = resolve(9, F(25), fps_num=50)
    assert timing.ratio == 2 and timing.fps == 50 and timing.num_frames == 18
    assert _all_steps(timing) == _all_steps(resolve(9, F(25), factor=2))
    assert timing.duration(3) == F(1, 50)


def test_ntsc_video_to_60() -> None:
    n_src = 1000
    timing = resolve(n_src, NTSC_VIDEO, fps_num=60)
    assert timing.ratio == F(1001, 500)
    assert timing.fps == 60
    assert timing.num_frames == math.ceil(n_src * F(1001, 500)) == 2002
    steps = _all_steps(timing)
    assert steps == _brute_ratio(n_src, F(1001, 500))
    _check_invariants(timing, steps)
    # p_n = 500 n / 1001 hits a source frame exactly only every 1001 output frames;
    # p_n > 999 (the last frame) for n >= 2000: the tail.
    assert [(n, s.left) for n, s in enumerate(steps) if s.t == 0] == [
        (0, 0),
        (1001, 500),
        (2000, n_src - 1),
        (2001, n_src - 1),
    ]
    # Output frames are 1/60 s, total is N / (30000/1001) rounded up to whole output frames.
    total = sum((timing.duration(n) for n in range(timing.num_frames)), F(0))
    source_total = n_src / NTSC_VIDEO
    assert total == F(2002, 60)
    assert source_total <= total < source_total + F(1, 60)


def test_target_fps_equal_to_source_is_identity() -> None:
    timing = resolve(6, NTSC_FILM, fps_num=24000, fps_den=1001)
    assert timing.ratio == 1
    assert _all_steps(timing) == [Step(i, i, F(0)) for i in range(6)]


def test_fps_den_defaults_to_one() -> None:
    assert resolve(4, F(30), fps_num=90).ratio == 3


def test_ratio_matches_brute_force_on_sample_rates() -> None:
    cases = [
        (NTSC_FILM, F(60)),
        (F(24), F(60)),
        (F(25), F(60000, 1001)),
        (F(15), F(144)),
        (F(50), F(120)),
        (F(12), F(25)),
        (NTSC_VIDEO, F(120000, 1001)),
    ]
    for src, dst in cases:
        for n_src in (1, 2, 3, 10, 33):
            timing = resolve(n_src, src, fps_num=dst.numerator, fps_den=dst.denominator)
            steps = _all_steps(timing)
            assert timing.fps == dst
            assert steps == _brute_ratio(n_src, dst / src), (src, dst, n_src)
            _check_invariants(timing, steps)


# ---------------------------------------------------------------- durations


@pytest.mark.parametrize(
    "src_fps, kwargs",
    [
        (F(25), {"factor": 2}),
        (F(25), {"factor": 3}),
        (NTSC_FILM, {"factor_num": 5, "factor_den": 2}),
        (NTSC_FILM, {"fps_num": 60000, "fps_den": 1001}),
        (NTSC_FILM, {"fps_num": 60}),
        (NTSC_VIDEO, {"fps_num": 60}),
        (F(24), {"factor_num": 7, "factor_den": 3}),
    ],
)
def test_total_duration_identity(src_fps: Fraction, kwargs: dict[str, int]) -> None:
    for n_src in (1, 2, 3, 4, 7, 10, 31, 100):
        timing = resolve(n_src, src_fps, **kwargs)
        r = timing.ratio
        assert r is not None
        out_frame = 1 / (src_fps * r)
        total = sum((timing.duration(n) for n in range(timing.num_frames)), F(0))
        source_total = n_src / src_fps
        if (n_src * r).denominator == 1:
            assert total == source_total
        else:
            assert source_total < total < source_total + out_frame
        # Passing the source frame's own (constant) duration gives the same numbers.
        assert all(
            timing.duration(n, 1 / src_fps) == timing.duration(n)
            for n in range(timing.num_frames)
        )


def test_vfr_ratio_mode_scales_each_source_duration() -> None:
    durations = [F(1, 24), F(1, 30), F(1, 60), F(1, 24), F(1001, 30000)]
    for factor in (2, 3, 4):
        timing = resolve(len(durations), None, factor=factor)
        assert timing.fps is None
        assert timing.ratio == factor
        out = [
            timing.duration(n, durations[timing.step(n).left]) for n in range(timing.num_frames)
        ]
        assert all(d == durations[timing.step(n).left] / factor for n, d in enumerate(out))
        assert sum(out, F(0)) == sum(durations, F(0))  # whole factor: exact
        with pytest.raises(ValueError, match="variable frame rate"):
            timing.duration(0)
    # VapourSynth reports an unknown rate as 0/1: same as None.
    zero = resolve(len(durations), F(0), factor_num=5, factor_den=2)
    assert zero.fps is None
    assert zero.duration(1, F(1, 24)) == F(1, 60)


def test_durations_are_normalized() -> None:
    timing = resolve(10, F(30000, 1001), fps_num=60)
    d = timing.duration(0)
    assert normalize(d) == (1, 60)
    assert normalize(F(6, 4)) == (3, 2)
    assert normalize(F(-2, 4)) == (-1, 2)
    num, den = normalize(resolve(3, F(48, 2), factor=5).duration(0))
    assert (num, den) == (1, 120) and math.gcd(num, den) == 1


# ---------------------------------------------------------------- edge cases


def test_single_frame_clip() -> None:
    for kwargs in ({"factor": 4}, {"factor_num": 5, "factor_den": 2}, {"fps_num": 60}):
        timing = resolve(1, F(24), **kwargs)
        assert timing.num_frames == math.ceil(timing.ratio)
        assert _all_steps(timing) == [Step(0, 0, F(0))] * timing.num_frames
        assert timing.timesteps(0) == ()
    vfr = resolve(1, None, fps_num=30, durations=[F(1, 10)])
    assert vfr.num_frames == 3
    assert _all_steps(vfr) == [Step(0, 0, F(0))] * 3
    assert vfr.timesteps(0) == ()


def test_tail_repeats_last_frame() -> None:
    timing = resolve(3, F(10), factor=4)
    steps = _all_steps(timing)
    assert steps[8:] == [Step(2, 2, F(0))] * 4
    assert steps[7] == Step(1, 2, F(3, 4))


def test_index_errors() -> None:
    timing = resolve(3, F(10), factor=2)
    for bad in (-1, 6, 100):
        with pytest.raises(IndexError):
            timing.step(bad)
        with pytest.raises(IndexError):
            timing.duration(bad)
    for bad in (-1, 3):
        with pytest.raises(IndexError):
            timing.timesteps(bad)
    with pytest.raises(TypeError):
        timing.step(1.5)  # type: ignore[arg-type]
    vfr = resolve(3, None, fps_num=10, durations=[F(1, 10)] * 3)
    with pytest.raises(IndexError):
        vfr.step(vfr.num_frames)
    with pytest.raises(IndexError):
        vfr.timesteps(3)


def test_timings_are_immutable_and_hashable() -> None:
    timing = resolve(3, F(10), factor=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        timing.num_frames = 1  # type: ignore[misc]
    assert hash(timing) == hash(resolve(3, F(10), factor=2))
    vfr = resolve(2, None, fps_num=10, durations=[F(1, 10), F(1, 5)])
    assert hash(vfr) == hash(resolve(2, None, fps_num=10, durations=[F(1, 10), F(1, 5)]))


def test_huge_clip_is_constant_time() -> None:
    n_src = 10**15
    start = time.perf_counter()
    timing = resolve(n_src, NTSC_VIDEO, fps_num=60)
    last = timing.num_frames - 1
    assert timing.num_frames == math.ceil(n_src * F(1001, 500))
    assert timing.step(last).left == n_src - 1
    mid = timing.step(10**14 + 7)
    p = F(10**14 + 7) * 500 / 1001
    assert mid == _rule(math.floor(p), p % 1, n_src)
    assert len(timing.timesteps(n_src // 2)) in (1, 2)
    assert time.perf_counter() - start < 0.5


def test_module_is_pure_stdlib() -> None:
    code = (
        "import sys, vsslomo.timing\n"
        "bad = {'vapoursynth', 'torch', 'numpy'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- timestamps mode


def test_needs_durations() -> None:
    assert needs_durations(None, 60)
    assert needs_durations(F(0), 60)
    assert not needs_durations(None, None)
    assert not needs_durations(F(0), None)
    assert not needs_durations(NTSC_FILM, 60)
    assert not needs_durations(NTSC_FILM, None)


def test_timestamps_hand_checked() -> None:
    # Frames of 0.1 s, 0.2 s, 0.1 s at 10 fps -> times 0, 0.1, 0.2, 0.3.
    durations = [F(1, 10), F(1, 5), F(1, 10)]
    timing = resolve(3, None, fps_num=10, durations=durations)
    assert isinstance(timing, TimestampTiming)
    assert timing.ratio is None and timing.fps == 10
    assert _all_steps(timing) == [
        Step(0, 0, F(0)),
        Step(1, 1, F(0)),
        Step(1, 2, F(1, 2)),
        Step(2, 2, F(0)),
    ]
    assert timing.timesteps(0) == ()
    assert timing.timesteps(1) == (F(1, 2),)
    assert timing.timesteps(2) == ()
    assert timing.duration(2) == F(1, 10)
    assert timing.duration(2, F(1, 5)) == F(1, 10)  # source duration is irrelevant here


def test_timestamps_tail() -> None:
    # Last frame lasts 1 s at 4 fps: 3 repeats after it, then nothing.
    timing = resolve(2, None, fps_num=4, durations=[F(1, 4), F(1)])
    assert _all_steps(timing) == [Step(0, 0, F(0))] + [Step(1, 1, F(0))] * 4


def test_timestamps_with_constant_durations_equals_ratio_mode() -> None:
    rates = [(NTSC_FILM, F(60000, 1001)), (F(25), F(60)), (NTSC_VIDEO, F(60)), (F(24), F(24))]
    for src, dst in rates:
        for n_src in (1, 2, 5, 24):
            by_time = TimestampTiming([1 / src] * n_src, dst)
            by_ratio = RatioTiming(n_src, dst / src, src)
            assert by_time.num_frames == by_ratio.num_frames
            assert _all_steps(by_time) == _all_steps(by_ratio)
            for left in range(n_src):
                assert by_time.timesteps(left) == by_ratio.timesteps(left)
            assert by_time.duration(0) == by_ratio.duration(0)


def test_timestamps_random_durations_against_brute_force() -> None:
    rng = random.Random(20240611)
    dens = [24, 25, 30, 50, 60, 1000, 90000]
    for _ in range(150):
        n_src = rng.randint(1, 25)
        durations = [F(rng.randint(1, 6), rng.choice(dens)) for _ in range(n_src)]
        if rng.random() < 0.2:
            durations = [F(1001, 24000)] * n_src  # long constant runs
        fps = F(rng.randint(5, 240), rng.choice([1, 1, 1001]))
        timing = resolve(
            n_src, None, fps_num=fps.numerator, fps_den=fps.denominator, durations=durations
        )
        steps = _all_steps(timing)
        assert steps == _brute_timestamps(durations, fps)
        _check_invariants(timing, steps)
        total = sum(durations, F(0))
        assert timing.num_frames == math.ceil(total * fps)
        out_total = sum((timing.duration(n) for n in range(timing.num_frames)), F(0))
        assert total <= out_total < total + 1 / fps


# ---------------------------------------------------------------- property test


def test_random_ratios_property() -> None:
    rng = random.Random(1234)
    for _ in range(400):
        den = rng.randint(1, 1001)
        num = rng.randint(den, 9 * den)
        r = F(num, den)
        n_src = rng.randint(1, 30)
        src_fps = rng.choice(
            [None, F(0), F(24), NTSC_FILM, F(25), NTSC_VIDEO, F(rng.randint(1, 120))]
        )
        timing = resolve(n_src, src_fps, factor_num=num, factor_den=den)
        assert timing.ratio == r
        assert timing.num_frames == math.ceil(n_src * r)
        steps = _all_steps(timing)
        assert steps == _brute_ratio(n_src, r)
        _check_invariants(timing, steps)
        # Output spacing 1/r <= 1 source frame: no source frame is skipped.
        assert sorted({s.left for s in steps}) == list(range(n_src))
        for n, s in enumerate(steps):
            if s.t == 0 and F(n) / r <= n_src - 1:
                assert F(n) / r == s.left  # exact source frame, not a rounding accident
        if src_fps:
            assert timing.fps == src_fps * r
            out_frame = 1 / (src_fps * r)
            total = sum((timing.duration(n) for n in range(timing.num_frames)), F(0))
            assert n_src / src_fps <= total < n_src / src_fps + out_frame
        else:
            assert timing.fps is None
            d = F(rng.randint(1, 100), 1000)
            assert timing.duration(0, d) == d / r


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "src_fps, kwargs, message",
    [
        (F(25), {"factor": 0}, "factor must be at least 1"),
        (F(25), {"factor": -3}, "factor must be at least 1"),
        (F(25), {"factor": 2.5}, "factor_num=5, factor_den=2"),
        (F(25), {"factor": F(7, 3)}, "factor_num=7, factor_den=3"),
        (F(25), {"factor": "2"}, "factor must be a whole number"),
        (F(25), {"factor": True}, "factor must be a whole number"),
        (F(25), {"factor": float("inf")}, "factor must be a whole number"),
        (F(25), {"factor": 2, "factor_num": 5}, "one way only"),
        (F(25), {"factor": 2, "factor_den": 2}, "one way only"),
        (F(25), {"factor": 2, "fps_num": 50}, "one way only"),
        (F(25), {"factor": 2, "fps_den": 1}, "one way only"),
        (F(25), {"factor_num": 5, "fps_num": 50}, "not both"),
        (F(25), {"factor_den": 2}, "factor_den needs factor_num"),
        (F(25), {"factor_num": 0}, "must be positive"),
        (F(25), {"factor_num": 5, "factor_den": 0}, "must be positive"),
        (F(25), {"factor_num": -5, "factor_den": -2}, "must be positive"),
        (F(25), {"factor_num": 2, "factor_den": 3}, "below 1"),
        (F(25), {"factor_num": 2.5, "factor_den": 1}, "factor_num must be a whole number"),
        (F(25), {"fps_den": 1001}, "fps_den needs fps_num"),
        (F(25), {"fps_num": 0}, "must be positive"),
        (F(25), {"fps_num": 60000, "fps_den": 0}, "must be positive"),
        (F(25), {"fps_num": -50}, "must be positive"),
        (F(25), {"fps_num": 59.94}, "fps_num=60000, fps_den=1001"),
        (F(25), {"fps_num": 24}, "below the source fps"),
        (NTSC_VIDEO, {"fps_num": 24000, "fps_den": 1001}, "below the source fps 30000/1001"),
        (None, {"fps_num": 60}, "needs the source frame durations"),
        (F(0), {"fps_num": 60}, "needs the source frame durations"),
        (F(-25), {"factor": 2}, "negative"),
    ],
)
def test_validation_errors(src_fps: Fraction | None, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        resolve(10, src_fps, **kwargs)


@pytest.mark.parametrize("n_src", [0, -1])
def test_empty_clip_rejected(n_src: int) -> None:
    with pytest.raises(ValueError, match="no frames"):
        resolve(n_src, F(25), factor=2)


def test_bad_durations_rejected() -> None:
    with pytest.raises(ValueError, match="got 2 frame durations for a clip of 3 frames"):
        resolve(3, None, fps_num=30, durations=[F(1, 30)] * 2)
    with pytest.raises(ValueError, match="source frame 1 has duration 0"):
        resolve(3, None, fps_num=30, durations=[F(1, 30), F(0), F(1, 30)])
    with pytest.raises(ValueError, match="no frames"):
        TimestampTiming([], F(30))
    with pytest.raises(ValueError, match="positive"):
        TimestampTiming([F(1, 30)], F(0))
    with pytest.raises(ValueError, match="below 1"):
        RatioTiming(3, F(1, 2), F(25))
    with pytest.raises(ValueError, match="no frames"):
        RatioTiming(0, F(2), F(25))


def test_durations_ignored_when_not_needed() -> None:
    # CFR clip with fps target, VFR clip with a factor: durations play no part.
    a = resolve(4, F(25), fps_num=50, durations=[F(0)] * 4)
    assert isinstance(a, RatioTiming) and a.ratio == 2
    b = resolve(4, None, factor=3, durations=[F(1, 30)] * 4)
    assert isinstance(b, RatioTiming) and b.fps is None


# ---------------------------------------------------------------- re-timing between drawings


def _brute_retimed(
    base: Timing, drawings: list[int], cuts: set[int], starts: list[Fraction]
) -> list[Step]:
    """Re-timed steps from the definition: output frame n sits at the time the plain plan
    samples (its source position, mapped onto the source frames' own times), and lies
    between the drawings around that time."""
    n_src = base.source_frames
    out = []
    for n in range(base.num_frames):
        if isinstance(base, TimestampTiming):
            tau = F(n) / base.fps
        else:  # ratio mode: position n / r, each source frame spanning its own duration
            p = F(n) / base.ratio
            i = min(math.floor(p), n_src - 1)
            tau = starts[i] + (p - i) * (starts[i + 1] - starts[i]) if p < n_src - 1 else starts[n_src - 1]
        if tau >= starts[n_src - 1]:
            tau = min(tau, starts[n_src - 1])  # the plain tail repeats the last frame
        a = max(d for d in drawings if starts[d] <= tau)
        later = [d for d in drawings if d > a]
        if not later or later[0] - 1 in cuts:
            out.append(Step(a, a, F(0)))
            continue
        b = later[0]
        t = (tau - starts[a]) / (starts[b] - starts[a])
        out.append(Step(a, b, t) if t else Step(a, a, F(0)))
    return out


def _random_drawings(rng: random.Random, n_src: int) -> tuple[list[int], set[int]]:
    """Drawings held on ones to fours, mixed, and cuts at some drawing boundaries."""
    drawings, i = [0], 0
    while True:
        i += rng.choice([1, 2, 2, 3, 3, 4])
        if i >= n_src:
            break
        drawings.append(i)
    cuts = {d - 1 for d in drawings[1:] if rng.random() < 0.2}
    return drawings, cuts


def _check_retimed(retimed: DrawingTiming, base: Timing, durations: list[Fraction] | None) -> list[Step]:
    """The contract the filter relies on; returns the steps."""
    steps = _all_steps(retimed)
    drawings = list(retimed.drawings)
    assert (retimed.num_frames, retimed.fps, retimed.ratio) == (base.num_frames, base.fps, base.ratio)
    for n, s in enumerate(steps):
        assert 0 <= s.t < 1 and isinstance(s.t, Fraction)
        assert s.left in drawings, n
        if s.t == 0:
            assert s.right == s.left
        else:  # interpolated: between a drawing and the next one, never across a cut
            assert s.right == drawings[drawings.index(s.left) + 1]
            assert s.right - 1 not in retimed.cuts
        plain_duration = base.duration(n, None if durations is None else durations[base.step(n).left])
        assert retimed.duration(n) == plain_duration
    # timesteps(left) lists exactly the t > 0 of the frames rendered from that left, and
    # outputs(left) exactly the frames whose step starts there
    for left in range(retimed.source_frames):
        expected = sorted({s.t for s in steps if s.left == left and s.t > 0})
        assert retimed.timesteps(left) == tuple(expected), left
        assert list(retimed.outputs(left)) == [n for n, s in enumerate(steps) if s.left == left], left
    # time never goes backwards between two frames of one drawing pair
    times = [retimed.starts[s.left] + s.t * (retimed.starts[s.right] - retimed.starts[s.left]) for s in steps]
    assert times == sorted(times)
    return steps


@pytest.mark.parametrize(
    "src_fps, kwargs",
    [
        (NTSC_FILM, {"factor": 1}),
        (NTSC_FILM, {"factor": 2}),
        (NTSC_FILM, {"fps_num": 60000, "fps_den": 1001}),
        (F(24), {"factor_num": 5, "factor_den": 2}),
        (F(25), {"fps_num": 60}),
    ],
)
def test_retimed_against_brute_force_and_plain_plan(src_fps: Fraction, kwargs: dict[str, int]) -> None:
    rng = random.Random(77)
    for _ in range(40):
        n_src = rng.randint(1, 30)
        base = resolve(n_src, src_fps, **kwargs)
        drawings, cuts = _random_drawings(rng, n_src)
        retimed = DrawingTiming(base, drawings, cuts)
        steps = _check_retimed(retimed, base, None)
        assert steps == _brute_retimed(base, drawings, cuts, [F(i) for i in range(n_src + 1)])


def test_on_twos_at_factor_one_replaces_each_copy_by_the_midpoint() -> None:
    base = resolve(8, NTSC_FILM, factor=1)
    retimed = DrawingTiming(base, [0, 2, 4, 6])
    assert _all_steps(retimed) == [
        Step(0, 0, F(0)), Step(0, 2, F(1, 2)), Step(2, 2, F(0)), Step(2, 4, F(1, 2)),
        Step(4, 4, F(0)), Step(4, 6, F(1, 2)), Step(6, 6, F(0)), Step(6, 6, F(0)),  # last run: copies
    ]
    assert retimed.fps == NTSC_FILM and retimed.num_frames == 8
    where = [retimed.provenance(n) for n in range(8)]
    assert [p.held for p in where] == [False, True] * 4
    assert [p.drawings for p in where[:4]] == [(0, 2), (0, 2), (2, 4), (2, 4)]
    assert where[7].drawings == (6, 6) and where[7].source == 7


def test_on_threes_24_to_60_and_a_cut_inside_the_hold_cadence() -> None:
    # Drawings 0, 3, 6 on threes; a cut after frame 8 (drawing 6 held 3 frames), then 9, 11.
    base = resolve(13, NTSC_FILM, fps_num=60000, fps_den=1001)
    retimed = DrawingTiming(base, [0, 3, 6, 9, 11], cuts={8})
    steps = _all_steps(retimed)
    # 2.5 output frames per source frame: drawing 0 covers output frames 0 .. 7 (tau < 3)
    assert [s.t for s in steps[:8]] == [F(k, 15) * 2 for k in range(8)] and all(s.left == 0 and s.right == 3 for s in steps[1:8])
    # the run of drawing 6 ends at the cut: its 7-8 output frames are copies of drawing 6
    run6 = [s for n, s in enumerate(steps) if 15 <= n < 23]
    assert run6 == [Step(6, 6, F(0))] * 8
    assert retimed.cut_after(6) and not retimed.cut_after(3) and not retimed.cut_after(7)
    assert retimed.timesteps(6) == ()


def test_cuts_must_start_a_drawing_and_drawings_must_be_well_formed() -> None:
    base = resolve(10, F(24), factor=2)
    with pytest.raises(ValueError, match="crosses the cut after source frame 4"):
        DrawingTiming(base, [0, 3, 6], cuts={4})
    with pytest.raises(ValueError, match="first source frame"):
        DrawingTiming(base, [1, 3])
    with pytest.raises(ValueError, match="increasing"):
        DrawingTiming(base, [0, 3, 3])
    with pytest.raises(ValueError, match="increasing"):
        DrawingTiming(base, [0, 10])
    with pytest.raises(ValueError, match="outside the clip"):
        DrawingTiming(base, [0, 3], cuts={9})
    with pytest.raises(ValueError, match="got 3 frame durations"):
        DrawingTiming(base, [0], durations=[F(1, 24)] * 3)


def test_every_frame_a_drawing_is_the_plain_plan() -> None:
    for kwargs in ({"factor": 3}, {"fps_num": 60000, "fps_den": 1001}, {"factor": 1}):
        base = resolve(9, NTSC_FILM, **kwargs)
        retimed = DrawingTiming(base, range(9), cuts={4})
        assert _all_steps(retimed)[: base.outputs(4).start] == _all_steps(base)[: base.outputs(4).start]
        for left in range(9):
            if left != 4:
                assert retimed.timesteps(left) == base.timesteps(left)


def test_variable_frame_rate_ratio_mode_retimes_on_real_time() -> None:
    durations = [F(1, 24), F(1, 12), F(1, 24), F(1, 8), F(1, 24), F(1, 24)]
    starts = [sum(durations[:k], F(0)) for k in range(7)]
    base = resolve(6, None, factor=2)
    with pytest.raises(ValueError, match="needs every source frame's duration"):
        DrawingTiming(base, [0, 2, 4])
    retimed = DrawingTiming(base, [0, 2, 4], durations=durations)
    steps = _check_retimed(retimed, base, durations)
    assert steps == _brute_retimed(base, [0, 2, 4], set(), starts)
    # output frame 3 is half-way through source frame 1 (which lasts 1/12 s): real time
    # 1/24 + 1/24 = 1/12 of the 1/8 s between drawings 0 and 2
    assert steps[3] == Step(0, 2, F(2, 3))
    # every duration is the plain one: half of its own source frame's
    assert [retimed.duration(n) for n in range(12)] == [d / 2 for d in durations for _ in range(2)]


def test_variable_frame_rate_by_timestamps() -> None:
    rng = random.Random(5)
    for _ in range(40):
        n_src = rng.randint(1, 20)
        durations = [F(rng.randint(1, 5), rng.choice([24, 30, 1000])) for _ in range(n_src)]
        base = resolve(n_src, None, fps_num=60, durations=durations)
        drawings, cuts = _random_drawings(rng, n_src)
        retimed = DrawingTiming(base, drawings, cuts, durations)
        steps = _check_retimed(retimed, base, durations)
        assert steps == _brute_retimed(base, drawings, cuts, list(base.starts))
        total = sum((retimed.duration(n) for n in range(retimed.num_frames)), F(0))
        assert total == sum((base.duration(n) for n in range(base.num_frames)), F(0))


def test_resolve_reads_durations_only_when_needed_and_after_checking() -> None:
    calls = []

    def durations() -> list[Fraction]:
        calls.append(1)
        return [F(1, 24)] * 4

    assert isinstance(resolve(4, F(24), fps_num=60, durations=durations), RatioTiming)
    with pytest.raises(ValueError, match="must be positive"):
        resolve(4, None, fps_num=-60, durations=durations)
    assert calls == []
    assert isinstance(resolve(4, None, fps_num=60, durations=durations), TimestampTiming)
    assert calls == [1]

"""Scene-change detection: the pure rule (vsslomo.analysis.cuts) and the VapourSynth adapter."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vsslomo.analysis import cuts, features
from vsslomo.analysis.cuts import CutScores

vs = pytest.importorskip("vapoursynth")

W, H = 96, 64


# ---------------------------------------------------------------- pure rule


def _cuts(
    diff: list[float],
    threshold: float = cuts.DEFAULT_THRESHOLD,
    struct: list[float] | None = None,
    skip: list[float] | None = None,
    held: list[bool] | None = None,
) -> list[int]:
    scores = CutScores.of(diff, struct, skip, held)
    return [int(i) for i in np.flatnonzero(cuts.detect_scene_changes(scores, threshold))]


def test_isolated_spike_is_the_only_cut() -> None:
    rng = np.random.default_rng(1)
    scores = list(rng.uniform(0.002, 0.006, 40))
    scores[17] = 0.2
    assert _cuts(scores) == [17]


def test_fast_motion_and_pans_do_not_fire() -> None:
    # Sustained large differences (fast pan) that fluctuate by +-30 %.
    rng = np.random.default_rng(2)
    scores = list(0.08 * rng.uniform(0.7, 1.3, 60))
    assert _cuts(scores) == []


def test_flash_frame_does_not_fire_but_cut_in_motion_does() -> None:
    scores = [0.004] * 10 + [0.25, 0.24] + [0.004] * 10  # frame 10 -> flash -> frame 12
    assert _cuts(scores) == []
    across = [0.008] * 22
    across[10] = 0.005  # frames 10 and 12 are alike: a flash inside the shot
    assert _cuts(scores, skip=across) == []
    scores = [0.05, 0.06, 0.05, 0.4, 0.06, 0.05, 0.05]  # cut inside fast motion
    assert _cuts(scores) == [3]


@pytest.mark.parametrize("odd_first", [True, False])
def test_cut_next_to_a_damaged_frame_is_found_once(odd_first: bool) -> None:
    # Frame 11 is damaged: pairs 10 and 11 both jump. Frames 10 and 12 lie in different
    # shots, so one of the two pairs is a cut: the larger, as the odd frame resembles the
    # shot on the other side more.
    diff = [0.004] * 10 + ([0.30, 0.22] if odd_first else [0.22, 0.30]) + [0.004] * 10
    skip = [0.008] * 22
    skip[10] = 0.28
    assert _cuts(diff, skip=skip) == [10 if odd_first else 11]
    skip[10] = 0.006  # frames 10 and 12 alike: a damaged frame inside one shot
    assert _cuts(diff, skip=skip) == []


def test_cut_next_to_a_damaged_frame_in_held_footage() -> None:
    # On twos: every other pair is a duplicate; the damaged frame replaces a held copy.
    diff = [0.0005, 0.03] * 5 + [0.3, 0.25] + [0.03, 0.0005] * 5
    skip = [0.03] * len(diff)
    skip[10] = 0.3
    assert _cuts(diff, skip=skip) == [10]


def test_exposure_step_inside_a_shot_does_not_fire() -> None:
    # A sudden brightness step: the mean difference jumps, the exposure-compensated one
    # stays at the level of the motion around it.
    diff = [0.0045] * 10 + [0.038] + [0.0045] * 10
    struct = [0.0047] * 10 + [0.0083] + [0.0047] * 10
    assert _cuts(diff) == [10]
    assert _cuts(diff, struct=struct) == []
    struct[10] = 0.2  # a real cut with a brightness change
    assert _cuts(diff, struct=struct) == [10]


def test_absolute_floor_and_threshold_parameter() -> None:
    scores = [0.001] * 10 + [0.01] + [0.001] * 10
    assert _cuts(scores) == []  # 10x its neighbours, but below the default floor
    assert _cuts(scores, threshold=0.008) == [10]
    strong = [0.001] * 10 + [0.3] + [0.001] * 10
    assert _cuts(strong, threshold=1.0) == []
    assert _cuts(strong, threshold=0.3) == [10]


def test_held_frames_are_not_cuts_but_cuts_between_held_shots_are() -> None:
    # Animation on twos and on threes: every second/third pair is a duplicate.
    twos = [0.0005, 0.04] * 15
    threes = [0.0005, 0.0007, 0.04] * 10
    assert _cuts(twos) == []
    assert _cuts(threes) == []
    cut = threes[:14] + [0.3] + threes[15:]
    assert _cuts(cut) == [14]


def test_mixed_cadences_compare_motion_per_frame_of_hold() -> None:
    # On ones, threes, ones, fours, ...: the change after a drawing held L frames carries L
    # frames of motion (0.01 per frame here).
    diff, held = [], []
    for length in (1, 3, 1, 1, 4, 1, 3, 2):
        diff += [0.0] * (length - 1) + [0.01 * length]
        held += [True] * (length - 1) + [False]
    assert _cuts(diff, held=held) == []
    assert _cuts(diff) == [3, 9]  # without hold lengths the changes after long holds stand out
    cut = list(diff)
    cut[9] = 0.2  # a real cut after the four-frame hold
    assert _cuts(cut, held=held) == [9]


def test_cuts_at_the_ends_and_tiny_sequences() -> None:
    assert _cuts([0.3] + [0.003] * 8) == [0]
    assert _cuts([0.003] * 8 + [0.3]) == [8]
    assert _cuts([0.3]) == [0]
    assert _cuts([0.01]) == []
    assert _cuts([]) == []
    # two similar jumps and nothing around them: motion, not a damaged frame at a cut
    assert _cuts([0.2, 0.2], skip=[0.4, math.nan]) == []


def test_decision_on_a_window_slice_matches_the_full_sequence() -> None:
    # The adapter only sees scores[window(i)]; that must give the same answer.
    rng = np.random.default_rng(3)
    for trial in range(40):
        n = int(rng.integers(1, 30))
        diff = rng.choice([0.0, 0.004, 0.03, 0.3], size=n) * rng.uniform(0.5, 1.5, n)
        struct = diff * rng.choice([0.2, 1.0], size=n)
        skip = rng.choice([0.001, 0.3], size=n)
        skip[-1] = np.nan
        scores = CutScores.of(diff, struct, skip, diff < 0.001)
        full = cuts.detect_scene_changes(scores)
        for i in range(n):
            lo, hi = cuts.window(i, n)
            assert cuts.is_scene_change(scores[lo:hi], i - lo) == full[i], (trial, i)


def test_features_and_thumbnail_size() -> None:
    a = np.zeros((4, 6))
    b = np.full((4, 6), 0.25)
    b[0, 0] = 1.25
    assert math.isclose(features.difference(a, b), (23 * 0.25 + 1.25) / 24, rel_tol=1e-6)
    assert features.difference(b, b) == 0.0
    with pytest.raises(ValueError, match="shape"):
        features.difference(a, np.zeros((6, 4)))
    # a brightness/contrast change leaves the structure difference at zero
    rng = np.random.default_rng(0)
    img = rng.uniform(0.2, 0.6, (8, 8))
    assert features.structure_difference(img, 1.3 * img + 0.05) < 1e-6
    assert features.structure_difference(img, rng.uniform(0.2, 0.6, (8, 8))) > 0.05
    assert features.thumbnail_size(1920, 1080) == (64, 36)
    assert features.thumbnail_size(16, 4000) == (64, 128)
    assert features.thumbnail_size(4000, 16) == (64, 8)


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, float("nan"), float("inf"), "0.1", True])
def test_invalid_threshold_is_rejected_with_a_hint(bad: object) -> None:
    with pytest.raises(ValueError, match=r"threshold must be .*\(0, 1\].*smaller value"):
        cuts.validate_threshold(bad)  # type: ignore[arg-type]


def test_valid_thresholds() -> None:
    assert cuts.validate_threshold(None) == cuts.DEFAULT_THRESHOLD
    assert cuts.validate_threshold(1) == 1.0
    assert cuts.validate_threshold(0.05) == 0.05


# ---------------------------------------------------------------- VapourSynth adapter


def _from_arrays(images: list[np.ndarray]) -> vs.VideoNode:
    """GRAYS clip whose frame i shows images[i] (H x W floats in [0, 1])."""
    core = vs.core
    blank = core.std.BlankClip(width=W, height=H, format=vs.GRAYS, length=len(images))

    def stamp(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        np.copyto(np.asarray(out[0]), images[n].astype(np.float32))
        return out

    return core.std.ModifyFrame(blank, blank, stamp)


def _noise_shot(seed: int, length: int, step: int = 1) -> list[np.ndarray]:
    """A textured picture (blocky noise, 8 px blocks) panning by ``step`` px per frame."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.1, 0.9, (H // 8, (W + length * step) // 8 + 1))
    big = np.kron(base, np.ones((8, 8)))
    return [big[:H, t * step : t * step + W] for t in range(length)]


def _moving_box(length: int, speed: int) -> list[np.ndarray]:
    """A bright box sliding over a vertical gradient, bouncing off the borders."""
    grad = np.tile(np.linspace(0.2, 0.6, H)[:, None], (1, W))
    span = W - 16
    frames = []
    for t in range(length):
        img = grad.copy()
        x = abs((t * speed) % (2 * span) - span)
        img[20:40, x : x + 16] = 0.95
        frames.append(img)
    return frames


def _to_format(clip: vs.VideoNode, fmt: int) -> vs.VideoNode:
    family = vs.core.get_video_format(fmt).color_family
    kwargs = {"matrix_in_s": "709"} if family == vs.RGB else {}
    return vs.core.resize.Bicubic(clip, format=fmt, **kwargs)


def _marks(clip: vs.VideoNode, **kwargs: object) -> list[int]:
    from vsslomo.analysis.vsadapter import mark_scene_changes
    from vsslomo.props import SCENE_CHANGE as PROP

    marked = mark_scene_changes(clip, **kwargs)  # type: ignore[arg-type]
    assert marked.num_frames == clip.num_frames
    return [int(f.props[PROP]) for f in marked.frames()]


def _spliced() -> tuple[vs.VideoNode, int]:
    a = _noise_shot(seed=10, length=9, step=1)
    b = _noise_shot(seed=20, length=8, step=1)
    return _from_arrays(a + b), len(a) - 1


FORMATS = [
    vs.YUV420P8,
    vs.YUV422P10,
    vs.YUV444P16,
    vs.YUV444PS,
    vs.YUV420PH,
    vs.RGB24,
    vs.RGB30,
    vs.RGBH,
    vs.RGBS,
    vs.GRAY8,
    vs.GRAY16,
    vs.GRAYS,
]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: vs.core.get_video_format(f).name)
def test_one_cut_exactly_at_the_splice_in_every_format(fmt: int) -> None:
    clip, cut = _spliced()
    clip = _to_format(clip, fmt)
    marks = _marks(clip)
    assert [i for i, m in enumerate(marks) if m] == [cut]


def test_marked_frames_keep_format_pixels_and_props() -> None:
    from vsslomo.analysis.vsadapter import mark_scene_changes
    from vsslomo.props import SCENE_SCORE as SCORE_PROP

    clip, cut = _spliced()
    clip = vs.core.std.SetFrameProps(_to_format(clip, vs.YUV420P8), Tag=7)
    marked = mark_scene_changes(clip)
    assert marked.format.id == clip.format.id
    assert (marked.width, marked.height) == (clip.width, clip.height)
    for n in (0, cut, clip.num_frames - 1):
        src, out = clip.get_frame(n), marked.get_frame(n)
        for p in range(3):
            np.testing.assert_array_equal(np.asarray(src[p]), np.asarray(out[p]))
        assert out.props["Tag"] == 7
    assert marked.get_frame(cut).props[SCORE_PROP] > 0.05
    assert marked.get_frame(clip.num_frames - 1).props["SlomoSceneChange"] == 0


@pytest.mark.parametrize("speed", [1, 3, 8])
def test_smooth_and_fast_motion_gives_no_cut(speed: int) -> None:
    clip = _to_format(_from_arrays(_moving_box(24, speed)), vs.YUV420P8)
    assert sum(_marks(clip)) == 0
    pan = _from_arrays(_noise_shot(seed=5, length=20, step=3))
    assert sum(_marks(pan)) == 0


def test_threshold_changes_sensitivity() -> None:
    # A faint cut: the second shot is the first one slightly brightened and shifted.
    a = _noise_shot(seed=1, length=8, step=0)
    b = [np.roll(img, 3, axis=1) * 0.97 + 0.02 for img in a]
    clip = _from_arrays(a + b)
    from vsslomo.analysis.vsadapter import mark_scene_changes
    from vsslomo.props import SCENE_SCORE as SCORE_PROP

    score = mark_scene_changes(clip).get_frame(7).props[SCORE_PROP]
    assert 0 < score < 1
    assert _marks(clip, threshold=score * 0.9)[7] == 1
    assert _marks(clip, threshold=min(1.0, score * 1.1))[7] == 0


def _with_upstream_props(clip: vs.VideoNode) -> vs.VideoNode:
    core = vs.core

    def tag(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        if n == 3:
            out.props["_SceneChangeNext"] = 1
        if n == 7:
            out.props["_SceneChangePrev"] = 1
        if n == 9:
            out.props["_SceneChangeNext"] = 0
            out.props["_SceneChangePrev"] = 0
        return out

    return core.std.ModifyFrame(clip, clip, tag)


def test_upstream_scene_change_props_are_honoured() -> None:
    static = vs.core.std.BlankClip(width=W, height=H, format=vs.YUV420P8, length=12)
    tagged = _with_upstream_props(static)
    expected = [1 if i in (3, 6) else 0 for i in range(12)]
    assert _marks(tagged, detect=False) == expected
    assert _marks(tagged, detect=True) == expected
    assert sum(_marks(static, detect=False)) == 0


def test_detect_false_ignores_picture_content() -> None:
    clip, _ = _spliced()
    assert sum(_marks(clip, detect=False)) == 0


def test_last_frame_prev_prop_and_tiny_clips() -> None:
    one = vs.core.std.BlankClip(width=W, height=H, format=vs.RGB24, length=1)
    assert _marks(one) == [0]
    assert _marks(one, detect=False) == [0]
    two = _from_arrays([np.zeros((H, W)), np.ones((H, W))])
    assert _marks(two) == [1, 0]
    assert _marks(two, detect=False) == [0, 0]


def test_invalid_arguments() -> None:
    from vsslomo.analysis.vsadapter import mark_scene_changes

    clip = vs.core.std.BlankClip(width=W, height=H, format=vs.YUV420P8, length=3)
    for bad in (0, -1, 2.0, float("nan")):
        with pytest.raises(ValueError, match=r"\(0, 1\]"):
            mark_scene_changes(clip, threshold=bad)
    variable = vs.core.std.Splice(
        [clip, vs.core.std.BlankClip(width=W * 2, height=H, format=vs.YUV420P8, length=3)],
        mismatch=True,
    )
    with pytest.raises(ValueError, match="constant format and size"):
        mark_scene_changes(variable)

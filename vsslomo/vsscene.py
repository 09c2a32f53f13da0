"""VapourSynth adapter for scene-change detection: marks cuts as a frame property.

The detector works on a small greyscale thumbnail of every frame (``resize`` to
:data:`vsslomo.scene.THUMB_WIDTH` pixels wide, luma only), scores each consecutive pair
natively with ``std.PlaneStats`` and applies the pure rule of :mod:`vsslomo.scene` to a
few neighbouring pair scores, so asking for a marked frame costs a fraction of a
millisecond on top of reading the source frames.
"""

from __future__ import annotations

from functools import partial

import vapoursynth as vs

from . import props, scene

PROP = props.SCENE_CHANGE
SCORE_PROP = props.SCENE_SCORE

_DIFF = "PlaneStatsDiff"


def _shifted(clip: vs.VideoNode, offset: int) -> vs.VideoNode:
    """``clip`` with frame ``n`` showing frame ``clamp(n + offset)``, same length."""
    if offset == 0:
        return clip
    n = clip.num_frames
    k = min(abs(offset), n - 1)
    if k == 0:
        return clip
    if offset > 0:
        return clip[k:] + clip[-1] * k
    return clip[0] * k + clip[: n - k]


def _truthy(props: vs.FrameProps, key: str) -> bool:
    """Whether numeric prop ``key`` is present and non-zero."""
    value = props.get(key, 0)
    return isinstance(value, (int, float)) and bool(value)


def _pair_scores(clip: vs.VideoNode) -> vs.VideoNode:
    """Clip whose frame ``i`` carries ``PlaneStatsDiff`` = score of pair ``i -> i + 1``
    (0 on the last frame) and all of source frame ``i``'s props."""
    core = vs.core
    tw, th = scene.thumbnail_size(clip.width, clip.height)
    kwargs = {"matrix_s": "709"} if clip.format.color_family == vs.RGB else {}
    thumb = core.resize.Bilinear(clip, tw, th, format=vs.GRAYS, **kwargs)
    return core.std.PlaneStats(thumb, _shifted(thumb, 1), prop="PlaneStats")


def _mark_from_props(
    n: int, f: list[vs.VideoFrame], num_frames: int
) -> vs.VideoFrame:
    """Upstream-only marking: f = [frame n, frame n + 1 (clamped)]."""
    out = f[0].copy()
    cut = n + 1 < num_frames and (
        _truthy(f[0].props, "_SceneChangeNext") or _truthy(f[1].props, "_SceneChangePrev")
    )
    out.props[PROP] = int(cut)
    return out


def _mark_detected(
    n: int, f: list[vs.VideoFrame], num_frames: int, threshold: float
) -> vs.VideoFrame:
    """f = [frame n, then pair-score frames for pairs n - R .. n + R (clamped)]."""
    out = f[0].copy()
    num_pairs = num_frames - 1
    if n >= num_pairs:
        out.props[PROP] = 0
        out.props[SCORE_PROP] = 0.0
        return out
    radius = scene.SEARCH_RADIUS
    lo, hi = scene.window(n, num_pairs)
    # f[1 + radius + d] holds pair n + d; read only pairs that exist.
    scores = [float(f[1 + radius + (j - n)].props[_DIFF]) for j in range(lo, hi)]  # type: ignore[arg-type]
    here = f[1 + radius].props
    after = f[2 + radius].props  # pair n + 1's frame carries source frame n + 1's props
    cut = (
        scene.is_scene_change(scores, n - lo, threshold)
        or _truthy(here, "_SceneChangeNext")
        or _truthy(after, "_SceneChangePrev")
    )
    out.props[PROP] = int(cut)
    out.props[SCORE_PROP] = scores[n - lo]
    return out


def mark_scene_changes(
    clip: vs.VideoNode, threshold: float | None = None, detect: bool = True
) -> vs.VideoNode:
    """Return ``clip`` with int prop ``SlomoSceneChange`` on every frame.

    Frame ``i`` gets 1 iff there is a cut between source frames ``i`` and ``i + 1`` (the
    last frame always gets 0): the built-in detector fires (when ``detect``), or frame ``i``
    has a truthy ``_SceneChangeNext``, or frame ``i + 1`` a truthy ``_SceneChangePrev``
    (as set by ``misc.SCDetect`` and similar plugins).

    ``threshold`` is the detector's absolute floor, in (0, 1]: the minimum mean luma
    difference between two consecutive frames, as a fraction of full range (``None`` =
    :data:`vsslomo.scene.DEFAULT_THRESHOLD`, 0.015). A cut must also be at least
    :data:`vsslomo.scene.NEIGHBOUR_RATIO` times larger than the neighbouring frame
    differences, so motion and flashes do not fire. Lower it to catch subtler cuts.
    With detection on, frames also carry float ``SlomoSceneScore``, the pair's score.
    """
    value = scene.validate_threshold(threshold)
    if not isinstance(clip, vs.VideoNode):
        raise ValueError(f"mark_scene_changes needs a vs.VideoNode, got {type(clip).__name__}")
    if clip.format is None or clip.width == 0 or clip.height == 0:
        raise ValueError(
            "scene-change detection needs a clip with constant format and size: "
            "convert it first, e.g. with core.resize.Bicubic(clip, width, height, format=...)"
        )
    core = vs.core
    n = clip.num_frames
    if not detect:
        return core.std.ModifyFrame(
            clip, [clip, _shifted(clip, 1)], partial(_mark_from_props, num_frames=n)
        )
    scores = _pair_scores(clip)
    radius = scene.SEARCH_RADIUS
    shifted = [_shifted(scores, d) for d in range(-radius, radius + 1)]
    return core.std.ModifyFrame(
        clip, [clip, *shifted], partial(_mark_detected, num_frames=n, threshold=value)
    )

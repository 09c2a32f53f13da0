"""VapourSynth adapter of the clip analysis: thumbnails in, cut marks and measurements out.

Every frame is reduced to a small greyscale thumbnail (``resize`` to
:data:`.features.THUMB_WIDTH` pixels wide, luma only); the pure rules of :mod:`.cuts` and
:mod:`.holds` decide on the features of those thumbnails. Two ways feed them, on the same
thumbnails and through the same feature functions, so they agree on every cut:

* :func:`mark_scene_changes`: lazily, per frame, as the filter asks for frames (a few
  neighbouring thumbnails per decision);
* :func:`scan`: one sequential pass over the whole clip at filter creation, for
  ``dedup=True`` (re-timing needs every hold before the first frame is rendered), which
  also reads the frame durations and keeps sample thumbnails that identify the clip.

:class:`Dedup` is the filter's single entry point for ``dedup=True``: it checks the
arguments at once, reads or writes the sidecar file, and re-times the plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from fractions import Fraction
from functools import partial
from pathlib import Path

import numpy as np
import vapoursynth as vs

from .. import convert, props, timing
from . import cuts, features, holds, measurements, sidecar

Progress = Callable[[int, int], None]
"""``progress(frames_done, total_frames)``, called during a scan."""

PROGRESS_EVERY = 50
"""Frames between two progress calls of a scan."""

_DIFF, _STRUCT, _SKIP, _HELD = "_SlomoCutDiff", "_SlomoCutStruct", "_SlomoCutSkip", "_SlomoCutHeld"
"""Internal props of the per-pair feature frames (never on the filter's output)."""


def _check_clip(clip: object, what: str) -> vs.VideoNode:
    if not isinstance(clip, vs.VideoNode):
        raise ValueError(f"{what} needs a vs.VideoNode, got {type(clip).__name__}")
    if clip.format is None or clip.width == 0 or clip.height == 0:
        raise ValueError(
            f"{what} needs a clip with constant format and size: "
            "convert it first, e.g. with core.resize.Bicubic(clip, width, height, format=...)"
        )
    return clip


def thumbnails(clip: vs.VideoNode) -> vs.VideoNode:
    """The analysis thumbnails of ``clip``: GRAYS luma, :func:`.features.thumbnail_size`."""
    tw, th = features.thumbnail_size(clip.width, clip.height)
    kwargs = {"matrix_s": "709"} if clip.format.color_family == vs.RGB else {}
    info = convert.color_info(clip, clip.get_frame(0).props)  # unusable colour tags never stop the scan
    return vs.core.resize.Bilinear(convert.tagged(clip, info), tw, th, format=vs.GRAYS, **kwargs)


def clip_key(clip: vs.VideoNode) -> measurements.ClipKey:
    """What a sidecar file must match to be used for ``clip``."""
    return measurements.ClipKey(
        clip.num_frames, clip.width, clip.height, clip.format.name, clip.fps.numerator, clip.fps.denominator
    )


def _shifted(clip: vs.VideoNode, offset: int) -> vs.VideoNode:
    """``clip`` with frame ``n`` showing frame ``clamp(n + offset)``, same length."""
    n = clip.num_frames
    k = min(abs(offset), n - 1)
    if k == 0:
        return clip
    if offset > 0:
        return clip[k:] + clip[-1] * k
    return clip[0] * k + clip[: n - k]


def _truthy(frame_props: vs.FrameProps, key: str) -> bool:
    """Whether numeric prop ``key`` is present and non-zero."""
    value = frame_props.get(key, 0)
    return isinstance(value, (int, float)) and bool(value)


def _upstream_cut(left: vs.FrameProps, right: vs.FrameProps) -> bool:
    """A cut between two frames marked upstream (``misc.SCDetect`` and similar)."""
    return _truthy(left, props.SCENE_CHANGE_NEXT) or _truthy(right, props.SCENE_CHANGE_PREV)


# --- lazy, per-frame cut marks --------------------------------------------------------


def _feature_frame(n: int, f: list[vs.VideoFrame], num_frames: int) -> vs.VideoFrame:
    """f = thumbnails n, n + 1, n + 2 (clamped): pair n's cut features as props."""
    out = f[0].copy()
    if n + 1 < num_frames:
        third = np.asarray(f[2][0]) if n + 2 < num_frames else None
        pair = features.pair_features(np.asarray(f[0][0]), np.asarray(f[1][0]), third)
        held = bool(holds.copies([pair.peak], [pair.level])[0])
        diff, struct, skip = pair.diff, pair.struct, pair.skip
    else:
        diff, struct, skip, held = 0.0, 0.0, math.nan, False
    out.props[_DIFF], out.props[_STRUCT], out.props[_SKIP], out.props[_HELD] = diff, struct, skip, int(held)
    return out


def _pair_features(clip: vs.VideoNode) -> vs.VideoNode:
    """Clip whose frame ``i`` carries pair ``i``'s cut features and source frame ``i``'s props."""
    thumb = thumbnails(clip)
    sources = [thumb, _shifted(thumb, 1), _shifted(thumb, 2)]
    return vs.core.std.ModifyFrame(thumb, sources, partial(_feature_frame, num_frames=clip.num_frames))


def _mark_from_props(n: int, f: list[vs.VideoFrame], num_frames: int) -> vs.VideoFrame:
    """Upstream-only marking: f = [frame n, frame n + 1 (clamped)]."""
    out = f[0].copy()
    out.props[props.SCENE_CHANGE] = int(n + 1 < num_frames and _upstream_cut(f[0].props, f[1].props))
    return out


def _mark_detected(n: int, f: list[vs.VideoFrame], num_frames: int, threshold: float) -> vs.VideoFrame:
    """f = [frame n, then the feature frames of pairs n - reach .. n + reach (clamped)]."""
    out = f[0].copy()
    num_pairs = num_frames - 1
    if n >= num_pairs:
        out.props[props.SCENE_CHANGE] = 0
        out.props[props.SCENE_SCORE] = 0.0
        return out
    reach = cuts.REACH
    lo, hi = cuts.window(n, num_pairs)
    pairs = [f[1 + reach + (j - n)].props for j in range(lo, hi)]  # only pairs that exist
    scores = cuts.CutScores.of(
        *([p[key] for p in pairs] for key in (_DIFF, _STRUCT, _SKIP, _HELD))
    )
    # Pair n + 1's feature frame carries source frame n + 1's props.
    cut = cuts.is_scene_change(scores, n - lo, threshold) or _upstream_cut(f[1 + reach].props, f[2 + reach].props)
    out.props[props.SCENE_CHANGE] = int(cut)
    out.props[props.SCENE_SCORE] = float(scores.diff[n - lo])
    return out


def mark_scene_changes(clip: vs.VideoNode, threshold: float | None = None, detect: bool = True) -> vs.VideoNode:
    """Return ``clip`` with int prop ``SlomoSceneChange`` on every frame.

    Frame ``i`` gets 1 iff there is a cut between source frames ``i`` and ``i + 1`` (the
    last frame always gets 0): the built-in detector fires (when ``detect``), or frame ``i``
    has a truthy ``_SceneChangeNext``, or frame ``i + 1`` a truthy ``_SceneChangePrev``
    (as set by ``misc.SCDetect`` and similar plugins).

    ``threshold`` is the detector's absolute floor, in (0, 1]: the minimum mean luma
    difference between two consecutive frames, as a fraction of full range (``None`` =
    :data:`.cuts.DEFAULT_THRESHOLD`). A cut must also stand out from the neighbouring frame
    differences (see :mod:`.cuts`), so motion, flashes and exposure steps do not fire. With
    detection on, frames also carry float ``SlomoSceneScore``, the pair's mean difference.
    """
    value = cuts.validate_threshold(threshold)
    clip = _check_clip(clip, "scene-change detection")
    n = clip.num_frames
    if not detect:
        return vs.core.std.ModifyFrame(clip, [clip, _shifted(clip, 1)], partial(_mark_from_props, num_frames=n))
    scores = _pair_features(clip)
    shifted = [_shifted(scores, d) for d in range(-cuts.REACH, cuts.REACH + 1)]
    return vs.core.std.ModifyFrame(clip, [clip, *shifted], partial(_mark_detected, num_frames=n, threshold=value))


# --- one scan over the whole clip -----------------------------------------------------


def scan(clip: vs.VideoNode, progress: Progress | None = None) -> measurements.Measurements:
    """Measure ``clip`` in one sequential pass over its thumbnails (one decode of each frame)."""
    clip = _check_clip(clip, "the hold analysis")
    total = clip.num_frames
    values = {name: np.zeros(max(0, total - 1)) for name in measurements.FEATURE_NAMES}
    wanted = set(measurements.sample_frames(total))
    samples: dict[int, np.ndarray] = {}
    durations: list[Fraction | None] = []
    upstream: list[int] = []
    recent: list[tuple[np.ndarray, dict]] = []  # the last three thumbnails and their props

    def measure(pair: int, after: np.ndarray | None) -> None:
        (a, a_props), (b, b_props) = recent[0], recent[1]
        found = features.pair_features(a, b, after)
        for name in measurements.FEATURE_NAMES:
            values[name][pair] = getattr(found, name)
        if _upstream_cut(a_props, b_props):
            upstream.append(pair)

    for n, frame in enumerate(thumbnails(clip).frames(close=True)):
        thumb = np.array(frame[0], dtype=np.float32, copy=True)
        frame_props = dict(frame.props)
        durations.append(props.usable_duration(frame_props))
        if n in wanted:
            samples[n] = measurements.sample_pixels(thumb)
        recent.append((thumb, frame_props))
        if len(recent) == 3:
            measure(n - 2, thumb)
            recent.pop(0)
        if progress is not None and ((n + 1) % PROGRESS_EVERY == 0 or n + 1 == total):
            progress(n + 1, total)
    if len(recent) == 2:
        measure(total - 2, None)
    return measurements.Measurements(clip_key(clip), values, tuple(upstream), tuple(durations), samples)


def read_samples(clip: vs.VideoNode, frames: list[int]) -> dict[int, np.ndarray]:
    """The 8-bit sample thumbnails of ``frames`` (those inside the clip)."""
    thumb = thumbnails(clip)
    out = {}
    for n in frames:
        if 0 <= n < clip.num_frames:
            with thumb.get_frame(n) as frame:
                out[n] = measurements.sample_pixels(np.asarray(frame[0]))
    return out


def load_or_scan(
    clip: vs.VideoNode,
    path: str | Path | None = None,
    progress: Progress | None = None,
    params: Mapping[str, object] | None = None,
) -> measurements.Measurements:
    """The measurements of ``clip``: read from the sidecar ``path`` when it exists (and is
    checked against the clip), else scanned and, with a ``path``, written there.

    ``params`` (thresholds) only choose the decisions written into a new file for people to
    read. Raises :class:`.sidecar.SidecarError` for a file that does not fit the clip.
    """
    if path is not None and Path(path).exists():
        record = sidecar.read(path)
        name = f"dedup_file {str(path)!r}"
        sidecar.check(record, clip_key(clip), read_samples(clip, sorted(record.samples)), name)
        return record
    record = scan(clip, progress)
    if path is not None:
        chosen = dict(params or {})
        decisions = record.decide(
            chosen.get("sc_threshold"), chosen.get("dedup_threshold"), chosen.get("dedup_max_hold")  # type: ignore[arg-type]
        )
        sidecar.write(path, record, decisions, chosen)
    return record


# --- the filter's dedup=True ----------------------------------------------------------


def _check_path(path: object) -> str | None:
    if path is None:
        return None
    if not isinstance(path, (str, Path)) or not str(path):
        raise ValueError(f"dedup_file must be a file path, got {path!r}")
    target = Path(path).expanduser()
    if target.is_dir():
        raise ValueError(f"dedup_file {str(path)!r} is a folder; give a file name such as {str(target / 'clip.slomo.json')!r}")
    parent = target.parent
    if not target.exists() and not parent.is_dir():
        raise ValueError(f"dedup_file {str(path)!r}: the folder {str(parent)!r} does not exist")
    return str(target)


def cut_marks(clip: vs.VideoNode, plan: timing.DrawingTiming) -> vs.VideoNode:
    """A blank clip like ``clip`` (no source frame is read) whose frame ``i`` carries
    ``SlomoSceneChange`` = 1 when ``i`` starts a drawing whose run ends at a cut."""
    blank = vs.core.std.BlankClip(clip, keep=True)

    def mark(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        out.props[props.SCENE_CHANGE] = int(plan.cut_after(n))
        return out

    return vs.core.std.ModifyFrame(blank, blank, mark)


class Dedup:
    """``dedup=True`` of the filter: arguments checked at once, the clip measured (one scan,
    or the sidecar file) when first needed, the plan re-timed between distinct drawings."""

    def __init__(
        self,
        clip: vs.VideoNode,
        threshold: float | None = None,
        max_hold: int | None = None,
        path: str | None = None,
        sc: bool = True,
        sc_threshold: float | None = None,
        progress: Progress | None = None,
    ):
        self.clip = _check_clip(clip, "dedup")
        self.threshold = holds.validate_threshold(threshold)
        self.max_hold = holds.validate_max_hold(max_hold)
        self.sc_threshold = cuts.validate_threshold(sc_threshold)
        self.sc = sc
        self.path = _check_path(path)
        self.progress = progress
        self._record: measurements.Measurements | None = None

    def record(self) -> measurements.Measurements:
        """The clip's measurements (scanned or read once)."""
        if self._record is None:
            params = {"sc_threshold": self.sc_threshold, "dedup_threshold": self.threshold, "dedup_max_hold": self.max_hold}
            self._record = load_or_scan(self.clip, self.path, self.progress, params)
        return self._record

    def durations(self) -> list[Fraction]:
        """Every frame's duration from the same scan (for a variable-frame-rate clip)."""
        found = self.record().durations
        for n, d in enumerate(found):
            if d is None:
                raise ValueError(
                    f"the clip has a variable frame rate but frame {n} has no valid _DurationNum/_DurationDen; "
                    "use a source filter that sets frame durations, or give the clip a constant rate "
                    "with core.std.AssumeFPS"
                )
        return list(found)  # type: ignore[arg-type]

    def decisions(self) -> measurements.Decisions:
        """Cuts, runs and drawings for this filter's thresholds."""
        return self.record().decide(self.sc_threshold, self.threshold, self.max_hold)

    def retime(self, plan: timing.Timing) -> tuple[timing.DrawingTiming, vs.VideoNode | None]:
        """``plan`` re-timed between distinct drawings, and the cut marks for the filter
        (``None`` with ``sc=False``)."""
        record = self.record()
        found = self.decisions()
        retimed = timing.DrawingTiming(plan, found.drawings, found.cuts if self.sc else (), record.durations)
        return retimed, cut_marks(self.clip, retimed) if self.sc else None

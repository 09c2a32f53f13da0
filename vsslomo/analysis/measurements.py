"""Everything one pass over a clip measured, and the decisions taken from it (pure numpy).

A :class:`Measurements` holds the pair features of every consecutive frame pair (see
:mod:`.features`), the scene-cut marks set upstream, every frame's duration and a few
sample thumbnails that identify the clip. It depends on no threshold: :meth:`decide`
turns it into cuts, runs and drawings for any thresholds, so changing ``sc_threshold``,
``dedup_threshold`` or ``dedup_max_hold`` never needs a rescan (and a sidecar file stays
valid).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from . import cuts as cut_rule
from . import holds as hold_rule

FEATURE_VERSION = 1
"""Version of what is measured; records of another version are stale."""

SAMPLE_COUNT = 8
"""Frames, evenly spread, whose thumbnails identify the clip."""

SAMPLE_TOLERANCE = 2.0
"""Largest mean difference, in 8-bit code values, between a sample thumbnail and the same
frame of the clip (a different decoder of the same file may round a little differently)."""

FEATURE_NAMES = ("diff", "struct", "skip", "peak", "level")


@dataclass(frozen=True)
class ClipKey:
    """What must match between a record and the clip it is used for."""

    num_frames: int
    width: int
    height: int
    format: str
    fps_num: int
    fps_den: int

    def describe(self) -> str:
        """``'240 frames, 1920x1080 YUV420P8 at 24000/1001 fps'``."""
        rate = "variable frame rate" if self.fps_num == 0 else f"{self.fps_num}/{self.fps_den} fps"
        return f"{self.num_frames} frames, {self.width}x{self.height} {self.format} at {rate}"


@dataclass(frozen=True)
class Decisions:
    """Cuts, runs of held frames and drawings of one clip, for one set of thresholds."""

    cuts: tuple[int, ...]
    """Pairs ``i`` (frames ``i -> i + 1``) with a scene cut (detected or set upstream)."""
    runs: tuple[tuple[int, int], ...]
    """``(start, stop)`` of every run of a drawing and its held copies, ``stop`` exclusive."""
    drawings: tuple[int, ...]
    """Source frames that start a drawing (see :func:`.holds.drawings`)."""


def sample_frames(num_frames: int) -> tuple[int, ...]:
    """The frames whose thumbnails identify a clip of ``num_frames`` frames."""
    if num_frames <= 0:
        return ()
    count = min(SAMPLE_COUNT, num_frames)
    if count == 1:
        return (0,)
    return tuple(sorted({round(k * (num_frames - 1) / (count - 1)) for k in range(count)}))


def sample_pixels(thumbnail: np.ndarray) -> np.ndarray:
    """A thumbnail (luma in [0, 1]) as the 8-bit picture kept to identify its frame."""
    return np.clip(np.rint(np.asarray(thumbnail, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def samples_mismatch(expected: Mapping[int, np.ndarray], actual: Mapping[int, np.ndarray]) -> int | None:
    """The first sample frame whose thumbnail differs beyond :data:`SAMPLE_TOLERANCE`, or None."""
    for n in sorted(expected):
        a, b = expected[n], actual.get(n)
        if b is None or a.shape != b.shape:
            return n
        if float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64)))) > SAMPLE_TOLERANCE:
            return n
    return None


@dataclass(frozen=True, eq=False)
class Measurements:
    """The pair features, upstream cut marks, durations and samples of one clip."""

    key: ClipKey
    features: Mapping[str, np.ndarray]
    """``diff``, ``struct``, ``skip``, ``peak``, ``level``: one float per pair (N - 1)."""
    upstream_cuts: tuple[int, ...] = ()
    """Pairs marked as cuts upstream (``_SceneChangeNext`` / ``_SceneChangePrev``)."""
    durations: tuple[Fraction | None, ...] = field(default=(), repr=False)
    """Every frame's duration (``_DurationNum/_DurationDen``), None where a frame has none."""
    samples: Mapping[int, np.ndarray] = field(default_factory=dict, repr=False)
    """8-bit thumbnails of :func:`sample_frames`."""

    def __post_init__(self) -> None:
        pairs = max(0, self.key.num_frames - 1)
        missing = [name for name in FEATURE_NAMES if name not in self.features]
        if missing:
            raise ValueError(f"measurements lack the features {', '.join(missing)}")
        features = {name: np.asarray(self.features[name], dtype=np.float64) for name in FEATURE_NAMES}
        for name, values in features.items():
            if values.shape != (pairs,):
                raise ValueError(f"feature {name!r} has shape {values.shape}, expected ({pairs},)")
        if any(not 0 <= i < pairs for i in self.upstream_cuts):
            raise ValueError("an upstream cut lies outside the clip")
        if self.durations and len(self.durations) != self.key.num_frames:
            raise ValueError(f"got {len(self.durations)} durations for {self.key.num_frames} frames")
        object.__setattr__(self, "features", features)

    @property
    def cut_scores(self) -> cut_rule.CutScores:
        """The cut features of every pair."""
        f = self.features
        return cut_rule.CutScores(f["diff"], f["struct"], f["skip"], hold_rule.copies(f["peak"], f["level"]))

    def cuts(self, threshold: float | None = None) -> np.ndarray:
        """Cut marks for every pair: detected at ``threshold`` or set upstream."""
        detected = cut_rule.detect_scene_changes(self.cut_scores, cut_rule.validate_threshold(threshold))
        detected[list(self.upstream_cuts)] = True
        return detected

    def decide(
        self,
        sc_threshold: float | None = None,
        dedup_threshold: float | None = None,
        max_hold: int | None = None,
    ) -> Decisions:
        """Cuts, runs and drawings for these thresholds (``None`` = each rule's default)."""
        cut_marks = self.cuts(sc_threshold)
        copy = hold_rule.copies(
            self.features["peak"], self.features["level"], hold_rule.validate_threshold(dedup_threshold)
        )
        run_list = hold_rule.runs(copy, cut_marks)
        return Decisions(
            cuts=tuple(int(i) for i in np.flatnonzero(cut_marks)),
            runs=tuple(run_list),
            drawings=hold_rule.drawings(run_list, hold_rule.validate_max_hold(max_hold)),
        )

"""Names of the frame properties vsslomo reads and writes: one home for each."""

from __future__ import annotations

# VapourSynth's reserved props.
DURATION_NUM = "_DurationNum"
DURATION_DEN = "_DurationDen"
MATRIX = "_Matrix"
TRANSFER = "_Transfer"
PRIMARIES = "_Primaries"
RANGE = "_Range"
COLOR_RANGE = "_ColorRange"
"""Written by plugins older than R74 (0 = full, the opposite of ``_Range``)."""
SAR_NUM = "_SARNum"
SAR_DEN = "_SARDen"
SCENE_CHANGE_NEXT = "_SceneChangeNext"
SCENE_CHANGE_PREV = "_SceneChangePrev"

# Written by slomo.Interpolate on every output frame.
SOURCE_FRAME = "SlomoSourceFrame"
"""Int: the source frame the output frame starts from (its pair's left frame)."""
T = "SlomoT"
"""Float: the time in [0, 1) between that frame and the next; 0 for copies of the source."""
SCENE_CHANGE = "SlomoSceneChange"
"""Int: 1 when there is a cut after the pair's left frame (its in-between frames are copies)."""
SCENE_SCORE = "SlomoSceneScore"
"""Float (detection on): the cut detector's score of the pair, to help tune the threshold."""

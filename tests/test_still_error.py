"""benchmarks/still_error.py: the still / moving split of the drop-frame error."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import vapoursynth as vs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from still_error import split_errors  # noqa: E402

from vsslomo import evaluate  # noqa: E402

core = vs.core


def _half_still_clip(frames: int = 9) -> vs.VideoNode:
    """RGB24 64x48: the left half a fixed pattern, the right half a grey that brightens faster and faster."""
    rng = np.random.default_rng(0)
    left = rng.integers(0, 256, (48, 32, 3), dtype=np.uint8)
    blank = core.std.BlankClip(width=64, height=48, format=vs.RGB24, length=frames)
    pictures = [np.concatenate([left, np.full((48, 32, 3), 3 * n * n, dtype=np.uint8)], axis=1) for n in range(frames)]

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p in range(3):
            np.copyto(np.asarray(out[p]), pictures[n][..., p])
        return out

    return blank.std.ModifyFrame(blank, fill)


def test_blending_errs_only_where_pixels_move() -> None:
    clip = _half_still_clip()
    dec = evaluate.decimate(clip, 2)
    parts = split_errors(clip, {"truth": clip, "blend": evaluate.blend_clip(dec, 2)}, factor=2, still=12.0)
    assert parts["truth"] == (0.0, 0.0)
    still_part, moving_part = parts["blend"]
    # the grey at frame j is 3j^2, blending gives the mean of 3(j-1)^2 and 3(j+1)^2: 3 levels too bright
    assert still_part == 0.0 and abs(moving_part - 9.0 / 2) < 0.01

"""A built-in synthetic scene with exact ground truth at any time.

The picture is analytic (sums of sinusoids and a soft-edged striped disc), so a frame can
be rendered at any fractional time with no resampling error: the demo needs no input
file, and tests and benchmarks get the true in-between frame to compare against.
"""

from __future__ import annotations

import numpy as np


def render(time: float, width: int, height: int, shot: int = 0) -> np.ndarray:
    """The scene at ``time`` (in source frames) as ``(H, W, 3)`` float32 RGB in [0, 1].

    ``shot`` picks one of several unrelated looks, to build clips with real cuts.
    """
    rng = np.random.default_rng(1234 + shot)
    unit = min(width, height) / 360.0  # the scene is laid out for 360 lines and scaled to fit
    y, x = np.mgrid[0:height, 0:width].astype(np.float64) / unit
    bx, by = x + 1.5 * time, y + 0.5 * time  # camera pan, 360p-pixels per frame
    image = np.full((height, width, 3), 0.5)
    for _ in range(8):  # aperiodic smooth texture: random-direction waves of several scales
        angle, freq = rng.uniform(0, np.pi), rng.uniform(0.015, 0.08)
        wave = np.sin(freq * (np.cos(angle) * bx + np.sin(angle) * by) + rng.uniform(0, 2 * np.pi))
        image += wave[..., None] * rng.uniform(-0.09, 0.09, 3)
    # A striped disc moving faster than the pan, on a gentle curve.
    radius = 0.18 * 360.0
    cx = 0.25 * width / unit + 6.0 * time
    cy = 0.5 * height / unit + 40.0 * np.sin(0.15 * time)
    dist = np.hypot(x - cx, y - cy)
    inside = np.clip((radius - dist) * unit + 0.5, 0.0, 1.0)[..., None]
    stripes = 0.5 + 0.45 * np.sin((x - cx) * 0.12 + (y - cy) * 0.07)
    colour = np.stack([stripes, 1.0 - stripes, 0.5 + 0.3 * (stripes - 0.5)], axis=-1)
    if shot % 2:
        colour = colour[..., ::-1]
    image = image * (1.0 - inside) + colour * inside
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def demo_clip(
    width: int = 640,
    height: int = 360,
    frames: int = 48,
    fps: tuple[int, int] = (24, 1),
    cut_at: int | None = None,
):
    """The synthetic scene as an RGB24 VapourSynth clip; shot changes at ``cut_at``."""
    import vapoursynth as vs

    core = vs.core
    blank = core.std.BlankClip(format=vs.RGB24, width=width, height=height, length=frames, fpsnum=fps[0], fpsden=fps[1])

    def draw(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        shot = 1 if cut_at is not None and n >= cut_at else 0
        pixels = np.rint(render(float(n), width, height, shot) * 255.0).astype(np.uint8)
        out = f.copy()
        for p in range(3):
            np.copyto(np.asarray(out[p]), pixels[..., p])
        return out

    return core.std.ModifyFrame(blank, blank, draw)

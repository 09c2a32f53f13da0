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
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    scale = 64.0 / max(1.0, min(width, height) / 4.0)
    pan_x, pan_y = 1.5 * time, 0.5 * time  # camera pan, pixels per frame
    bx, by = (x + pan_x) * scale, (y + pan_y) * scale
    image = np.zeros((height, width, 3))
    for channel in range(3):
        fx, fy, phase = rng.uniform(0.02, 0.09, 2), rng.uniform(0.02, 0.09, 2), rng.uniform(0, 2 * np.pi, 2)
        image[..., channel] = 0.5 + 0.22 * np.sin(fx[0] * bx + fy[0] * by + phase[0]) + 0.18 * np.sin(
            fx[1] * bx - fy[1] * by + phase[1]
        )
    # A striped disc moving across the frame faster than the pan, on a gentle curve.
    radius = 0.18 * min(width, height)
    cx = width * 0.25 + 3.0 * time * width / 160.0
    cy = height * 0.5 + 0.15 * height * np.sin(0.15 * time)
    dist = np.hypot(x - cx, y - cy)
    inside = np.clip(radius - dist + 0.5, 0.0, 1.0)[..., None]
    stripes = 0.5 + 0.45 * np.sin((x - cx) * 0.35 + (y - cy) * 0.2)
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

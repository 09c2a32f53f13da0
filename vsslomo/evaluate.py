"""The drop-frame protocol and its metrics (PSNR and SSIM on RGB 8-bit), numpy only.

Protocol: keep every ``factor``-th frame of a real clip, rebuild the frames in between from the
kept ones, and compare the rebuilt frames with the hidden originals. Only truly hidden frames
are scored, and only those with a kept frame on both sides (no extrapolation at the end).

A "method" is anything that turns the decimated clip back into a clip aligned with the
original, frame ``j`` of its output standing for original frame ``j``. Used by
``vsslomo bench`` and by ``benchmarks/quality.py``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import props

if TYPE_CHECKING:
    import vapoursynth as vs

PSNR_CAP = 100.0
"""Identical frames (infinite PSNR) count as this many dB in means, so that one does not swamp the rest."""

# --------------------------------------------------------------------------- known motion


def wave_pattern(shift: tuple[float, float], height: int = 64, width: int = 64, seed: int = 5) -> np.ndarray:
    """A smooth texture of six plane waves (7-16 px wavelength) translated by ``shift`` pixels (x, y).

    Exact at any shift, so a frame at time t between the pattern and its copy moved by v is the
    pattern moved by t * v. Motion of about one wavelength tells whether a model resolves
    motion from context: locally a shift by a wavelength looks like none. ``(3, H, W)`` in [0, 1].
    """
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    x, y = x - shift[0], y - shift[1]
    rng = np.random.default_rng(seed)
    img = np.full((3, height, width), 0.5)
    for _ in range(6):
        angle, freq, phase = rng.uniform(0, np.pi), rng.uniform(0.4, 0.9), rng.uniform(0, 2 * np.pi)
        wave = np.sin(freq * (np.cos(angle) * x + np.sin(angle) * y) + phase)
        img += wave[None] * rng.uniform(-0.12, 0.12, (3, 1, 1))
    return np.clip(img, 0, 1)


# --------------------------------------------------------------------------- metrics


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB between two images of equal shape (``inf`` if identical)."""
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def _gaussian_kernel(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k = np.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def _filter_valid(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable 2-D filtering of an (H, W) array, keeping only fully covered pixels."""
    n = len(kernel)
    rows = sum(kernel[i] * img[i : img.shape[0] - n + 1 + i, :] for i in range(n))
    return sum(kernel[i] * rows[:, i : rows.shape[1] - n + 1 + i] for i in range(n))


def ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Structural similarity (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1=0.01, K2=0.03).

    ``a``/``b`` are (H, W) or (H, W, C) images; for colour images the per-channel SSIM maps
    are averaged. Images smaller than the window are compared with a shrunken window.
    """
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
    x = a.astype(np.float64)
    y = b.astype(np.float64)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    size = min(11, x.shape[0], x.shape[1])
    size -= 1 - size % 2  # odd window
    kernel = _gaussian_kernel(size, 1.5 * size / 11)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    scores = []
    for ch in range(x.shape[2]):
        xc, yc = x[..., ch], y[..., ch]
        mx, my = _filter_valid(xc, kernel), _filter_valid(yc, kernel)
        sxx = _filter_valid(xc * xc, kernel) - mx * mx
        syy = _filter_valid(yc * yc, kernel) - my * my
        sxy = _filter_valid(xc * yc, kernel) - mx * my
        num = (2 * mx * my + c1) * (2 * sxy + c2)
        den = (mx * mx + my * my + c1) * (sxx + syy + c2)
        scores.append(float(np.mean(num / den)))
    return float(np.mean(scores))


# --------------------------------------------------------------------------- protocol


def hidden_indices(num_frames: int, factor: int) -> list[int]:
    """Original frame numbers that the protocol hides and scores.

    Frames ``0, factor, 2*factor, ...`` are kept; frame ``j`` is scored when it is not kept and
    the next kept frame ``(j // factor + 1) * factor`` exists.
    """
    if factor < 2:
        raise ValueError("factor must be at least 2")
    return [j for j in range(num_frames) if j % factor and (j // factor + 1) * factor < num_frames]


def decimate(clip: vs.VideoNode, factor: int) -> vs.VideoNode:
    """Keep every ``factor``-th frame (0, factor, 2*factor, ...), at 1/factor the frame rate."""
    return clip.std.SelectEvery(cycle=factor, offsets=[0], modify_duration=True)


def blend_clip(decimated: vs.VideoNode, factor: int) -> vs.VideoNode:
    """Frame blending baseline: output frame ``k*factor + r`` mixes kept frames k and k+1 at weight r/factor."""
    import vapoursynth as vs

    nxt = decimated[1:] + decimated[-1]
    phases = [decimated if r == 0 else decimated.std.Merge(nxt, weight=[r / factor]) for r in range(factor)]
    return vs.core.std.Interleave(phases, modify_duration=True)


def to_rgb24(clip: vs.VideoNode) -> vs.VideoNode:
    """Convert to 8-bit RGB for scoring, with the matrix and range the filter reads the clip in.

    Matrix and range come from :func:`vsslomo.convert.color_info` (untagged YUV: the defaults of
    :mod:`vsslomo.colour`), so a clip is scored in the colours the models saw it in.
    """
    import vapoursynth as vs

    from . import convert

    if clip.format.id == vs.RGB24:
        return clip
    info = convert.color_info(clip, clip.get_frame(0).props)
    return convert.to_model_clip(clip, info).resize.Point(format=vs.RGB24, dither_type="none")


def frame_to_rgb(frame: vs.VideoFrame) -> np.ndarray:
    """An RGB24 VideoFrame as an (H, W, 3) uint8 array."""
    return np.stack([np.asarray(frame[p]) for p in range(3)], axis=-1)


@dataclass
class MethodScore:
    """Mean quality of one method over the scored frames, plus its speed."""

    method: str
    psnr: float
    ssim: float
    seconds_per_frame: float
    frames: int
    note: str = ""
    frame_psnr: dict[int, float] = field(default_factory=dict)
    """PSNR in dB of each scored frame, by original frame number (``inf`` for identical frames)."""


def check_alignment(frame_props: dict[str, object], j: int, factor: int) -> None:
    """Raise if an interpolated frame's ``SlomoSourceFrame``/``SlomoT`` props don't match original frame ``j``."""
    src = frame_props.get(props.SOURCE_FRAME)
    t = frame_props.get(props.T)
    if src is None or t is None:
        return
    if int(src) != j // factor or abs(float(t) - (j % factor) / factor) > 1e-6:  # type: ignore[call-overload, arg-type]
        raise RuntimeError(
            f"output frame {j} stands for source frame {src} at t={t}, expected {j // factor} at t={(j % factor) / factor:g}"
        )


def score_clip(
    method: str,
    truth_rgb: Sequence[np.ndarray] | Callable[[int], np.ndarray],
    rebuilt: vs.VideoNode,
    indices: Sequence[int],
    factor: int,
    warmup: bool = True,
) -> MethodScore:
    """Score a rebuilt clip (any format) against the originals at ``indices``.

    Time per frame covers requesting each scored frame of ``rebuilt`` in turn (sequentially);
    the first request is a warm-up (model loading) and is not timed unless it's the only one.
    """
    rgb = to_rgb24(rebuilt)
    truth = truth_rgb if callable(truth_rgb) else truth_rgb.__getitem__
    if len(indices) == 0:
        return MethodScore(method, math.nan, math.nan, math.nan, 0, "no hidden frames")
    order = list(indices)
    timed = order[1:] if warmup and len(order) > 1 else order
    frames: dict[int, np.ndarray] = {}
    if warmup and len(order) > 1:
        f = rgb.get_frame(order[0])
        check_alignment(dict(f.props), order[0], factor)
        frames[order[0]] = frame_to_rgb(f)
    start = time.perf_counter()
    for j in timed:
        f = rgb.get_frame(j)
        frames[j] = frame_to_rgb(f)
        check_alignment(dict(f.props), j, factor)
    elapsed = time.perf_counter() - start
    return score_arrays(method, truth, frames, elapsed / len(timed))


def score_arrays(
    method: str, truth: Callable[[int], np.ndarray], frames: dict[int, np.ndarray], seconds_per_frame: float, note: str = ""
) -> MethodScore:
    """Score already rebuilt RGB frames ``{original index: (H, W, 3) uint8}``."""
    p, s = [], []
    for j, img in sorted(frames.items()):
        ref = truth(j)
        p.append(psnr(ref, img))
        s.append(ssim(ref, img))
    mean_p = float(np.mean([min(v, PSNR_CAP) for v in p])) if p else math.nan
    mean_s = float(np.mean(s)) if s else math.nan
    return MethodScore(method, mean_p, mean_s, seconds_per_frame, len(frames), note, dict(zip(sorted(frames), p)))


def truth_frames(clip_rgb: vs.VideoNode, indices: Iterable[int]) -> dict[int, np.ndarray]:
    """Decode the original RGB24 frames at ``indices`` once."""
    return {j: frame_to_rgb(clip_rgb.get_frame(j)) for j in indices}


def format_table(scores: Sequence[MethodScore], title: str = "") -> str:
    """A plain-text table of scores (best PSNR marked), for terminals and logs."""
    lines = []
    if title:
        lines.append(title)
    header = f"{'method':<22} {'PSNR dB':>8} {'SSIM':>7} {'s/frame':>9} {'frames':>6}"
    lines.append(header)
    lines.append("-" * len(header))
    finite = [s.psnr for s in scores if not math.isnan(s.psnr)]
    best = max(finite) if finite else None
    for s in scores:
        mark = " *" if best is not None and s.psnr == best else ""
        spf = f"{s.seconds_per_frame:9.4f}" if not math.isnan(s.seconds_per_frame) else f"{'-':>9}"
        psnr_txt = f"{s.psnr:8.2f}" if not math.isnan(s.psnr) else f"{'-':>8}"
        ssim_txt = f"{s.ssim:7.4f}" if not math.isnan(s.ssim) else f"{'-':>7}"
        note = f"  ({s.note})" if s.note else ""
        lines.append(f"{s.method:<22} {psnr_txt} {ssim_txt} {spf} {s.frames:>6}{mark}{note}")
    return "\n".join(lines)

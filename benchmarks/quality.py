"""Drop-frame quality benchmark on real footage: vsslomo's models against classic interpolators.

For each video (first ``--frames`` frames, downscaled to ``--width``) and each factor (2, 4):
keep every factor-th frame, rebuild the hidden ones, and score them against the originals
(PSNR and SSIM on RGB 8-bit, see :mod:`vsslomo.evaluate`). Methods:

* frame blending (weighted average of the two kept neighbours)
* MVTools ``FlowFPS`` (block motion, pel 2, overlapped 8/16 px blocks, true-motion search, refined)
* ffmpeg ``minterpolate`` (``mi_mode=mci``, adaptive OBMC, bidirectional search, variable blocks)
* RIFE and Super SloMo through :func:`vsslomo.interpolate` (scene-cut handling off)

Usage::

    python benchmarks/quality.py [VIDEO ...] [--factors 2,4] [--start 0] [--frames 41] [--width 384]
    python benchmarks/quality.py --held-out --width 0 --factors 2 --models rife,superslomo,superslomo:ensemble

``--held-out`` scores each video's validation segment (its last 10%, the frames ``vsslomo
train`` holds out) instead of ``--start``/``--frames``. A model written ``NAME:ensemble``
runs with ``ensemble=True``.

Without videos, the OpenCV sample clips (vtest.avi, tree.avi, box.mp4, cup.mp4) are taken
from an extracted ``opencv-doc`` package: ``$VSSLOMO_OPENCV_DOC``, else a cache folder where
``apt-get download opencv-doc`` fetches it once. The default run takes a few minutes on a CPU.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import vapoursynth as vs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from footage import DEFAULT_CACHE, check_not_reserved, opencv_doc_videos  # noqa: E402

import vsslomo  # noqa: E402
from vsslomo import evaluate, props  # noqa: E402
from vsslomo.render.encode import PIX_FMTS  # noqa: E402
from vsslomo.render.ffmpeg import find_ffmpeg  # noqa: E402
from vsslomo.render.source import open_source  # noqa: E402
from vsslomo.train.data import split_segments  # noqa: E402

# The split `vsslomo train` used for the shipped weights (--window 5, --val-fraction 0.1).
TRAIN_WINDOW, VAL_FRACTION = 5, 0.1
MODEL_LABELS = {"rife": "RIFE (vsslomo)", "superslomo": "Super SloMo (vsslomo)"}

core = vs.core


# --------------------------------------------------------------------------- footage


def load(path: Path, start: int, frames: int, width: int, held_out: bool = False) -> vs.VideoNode:
    """``frames`` frames of a video from ``start`` (or its held-out segment), downscaled to ``width`` (even sizes) when narrower is asked."""
    clip = open_source(path)
    if held_out:
        _, val = split_segments(clip.num_frames, TRAIN_WINDOW, VAL_FRACTION)
        start, frames = val.start, len(val)
    clip = clip[min(start, clip.num_frames - 1) :][:frames]
    if width and clip.width > width:
        height = int(round(clip.height * width / clip.width / 2)) * 2
        clip = clip.resize.Bicubic(width=width, height=height)
    if clip.format.subsampling_w or clip.format.subsampling_h:
        # keep chroma-subsampled sizes valid for every method
        clip = clip.resize.Bicubic(width=clip.width // 2 * 2, height=clip.height // 2 * 2)
    return clip


# --------------------------------------------------------------------------- methods


def mvtools(decimated: vs.VideoNode, factor: int) -> vs.VideoNode:
    """MVTools FlowFPS to ``factor`` times the rate: the usual good-quality settings.

    MVTools takes YUV only: RGB footage goes through YUV 4:4:4 (16-bit, so the round trip
    costs nothing measurable) and back.
    """
    if decimated.format.color_family == vs.RGB:
        yuv = decimated.resize.Point(format=vs.YUV444P16, matrix_s="709")
        return mvtools(yuv, factor).resize.Point(format=decimated.format.id, matrix_in_s="709", dither_type="none")
    blk = 16 if decimated.width >= 640 else 8
    sup = core.mv.Super(decimated, pel=2, sharp=2, rfilter=4)
    common = dict(blksize=blk, overlap=blk // 2, truemotion=True, search=3, searchparam=2)
    bv = core.mv.Analyse(sup, isb=True, **common)
    fv = core.mv.Analyse(sup, isb=False, **common)
    # refine the vectors at half the block size
    small = max(4, blk // 2)
    bv = core.mv.Recalculate(sup, bv, blksize=small, overlap=small // 2, truemotion=True, search=3)
    fv = core.mv.Recalculate(sup, fv, blksize=small, overlap=small // 2, truemotion=True, search=3)
    return core.mv.FlowFPS(decimated, sup, bv, fv, num=decimated.fps.numerator * factor, den=decimated.fps.denominator, mask=2)


def minterpolate(decimated: vs.VideoNode, factor: int, work: Path) -> tuple[vs.VideoNode, float]:
    """ffmpeg minterpolate (motion-compensated) to ``factor`` times the rate; returns (clip, seconds).

    The decimated frames go to ffmpeg as raw video in their own pixel format and come back in
    it, so the RGB conversion for scoring is the same as for every other method.
    """
    pix_fmt, planes = PIX_FMTS[decimated.format.name]
    raw_in = work / "decimated.raw"
    # minterpolate stops one input frame early at the end of a stream: pad with the last frame.
    padded = decimated + decimated[-1] * 2
    with open(raw_in, "wb") as fh:
        for frame in padded.frames(close=True):
            for p in planes:
                fh.write(np.ascontiguousarray(np.asarray(frame[p])).tobytes())
    # Only relative timing matters; a plain rate keeps ffmpeg from rounding odd source rates.
    rate, out_rate = "25", str(25 * factor)
    vf = f"minterpolate=fps={out_rate}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"
    cmd = [find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", pix_fmt,
           "-s", f"{decimated.width}x{decimated.height}", "-framerate", rate, "-i", str(raw_in),
           "-vf", vf, "-f", "rawvideo", "-pix_fmt", pix_fmt, "pipe:1"]
    start = time.perf_counter()
    data = subprocess.run(cmd, check=True, capture_output=True).stdout
    seconds = time.perf_counter() - start
    return _raw_to_clip(data, decimated, planes), seconds


def _raw_to_clip(data: bytes, like: vs.VideoNode, planes: tuple[int, ...]) -> vs.VideoNode:
    """Raw frames (ffmpeg plane order) as a clip shaped like ``like``, with its colour props."""
    fmt = like.format
    dtype = np.uint8 if fmt.bytes_per_sample == 1 else np.uint16
    shapes = [(like.height >> (fmt.subsampling_h if p else 0), like.width >> (fmt.subsampling_w if p else 0)) for p in range(fmt.num_planes)]
    if fmt.color_family == vs.RGB:
        shapes = [(like.height, like.width)] * 3
    frame_bytes = sum(h * w for h, w in shapes) * fmt.bytes_per_sample
    count = len(data) // frame_bytes
    buf = np.frombuffer(data[: count * frame_bytes], dtype=dtype)
    first = like.get_frame(0).props
    keep = {k: first[k] for k in (props.MATRIX, props.TRANSFER, props.PRIMARIES, props.RANGE) if k in first}

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        offset = n * frame_bytes // fmt.bytes_per_sample
        for p in planes:  # planes arrive in ffmpeg's order
            h, w = shapes[p]
            np.asarray(out[p])[:] = buf[offset : offset + h * w].reshape(h, w)
            offset += h * w
        out.props.update(keep)
        return out

    blank = core.std.BlankClip(like, length=count, fpsnum=like.fps.numerator, fpsden=like.fps.denominator, keep=True)
    return core.std.ModifyFrame(blank, blank, fill)


# --------------------------------------------------------------------------- run


@dataclass
class Row:
    video: str
    factor: int
    score: evaluate.MethodScore


def baseline_scores(dec: vs.VideoNode, factor: int, truth: dict[int, np.ndarray], idx: list[int],
                    work: Path) -> list[evaluate.MethodScore]:
    """Frame blending, MVTools FlowFPS and ffmpeg minterpolate on the decimated clip ``dec``."""
    scores = [evaluate.score_clip("frame blending", truth.__getitem__, evaluate.blend_clip(dec, factor), idx, factor)]
    try:
        scores.append(evaluate.score_clip("MVTools FlowFPS", truth.__getitem__, mvtools(dec, factor), idx, factor))
    except vs.Error as exc:
        scores.append(evaluate.MethodScore("MVTools FlowFPS", math.nan, math.nan, math.nan, 0, f"failed: {exc}"))
    mi_clip, seconds = minterpolate(dec, factor, work)
    synthesized = max(1, (dec.num_frames - 1) * (factor - 1))
    mi = evaluate.score_clip("ffmpeg minterpolate", truth.__getitem__, mi_clip, idx, factor, warmup=False)
    mi.seconds_per_frame = seconds / synthesized
    scores.append(mi)
    return scores


def bench_video(path: Path, factor: int, args: argparse.Namespace, work: Path) -> list[evaluate.MethodScore]:
    """All methods on one video at one factor."""
    src = load(path, args.start, args.frames, args.width, args.held_out)
    dec = evaluate.decimate(src, factor)
    idx = evaluate.hidden_indices(src.num_frames, factor)
    truth = evaluate.truth_frames(evaluate.to_rgb24(src), idx)
    scores = baseline_scores(dec, factor, truth, idx, work)
    for entry in args.models:
        model, _, option = entry.partition(":")
        ensemble = option == "ensemble"
        name = MODEL_LABELS.get(model, model) + (" ensemble" if ensemble else "")
        checkpoint = str(args.checkpoint) if args.checkpoint and model == "superslomo" else None
        try:
            clip = vsslomo.interpolate(
                dec, factor=factor, model=model, checkpoint=checkpoint, device=args.device, sc=False, ensemble=ensemble
            )
            scores.append(evaluate.score_clip(name, truth.__getitem__, clip, idx, factor))
        except vs.Error as exc:
            scores.append(evaluate.MethodScore(name, math.nan, math.nan, math.nan, 0, f"failed: {str(exc).splitlines()[-1]}"))
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path, help="videos to test (default: OpenCV sample clips)")
    parser.add_argument("--factors", default="2,4", help="comma-separated factors (default 2,4)")
    parser.add_argument("--frames", type=int, default=41, help="frames per video from the start (default 41)")
    parser.add_argument("--start", type=int, default=0, help="first frame used in each video (default 0)")
    parser.add_argument("--width", type=int, default=384, help="downscale wider videos to this width; 0 keeps the size (default 384)")
    parser.add_argument("--held-out", action="store_true", help="score each video's held-out segment (its last 10%%) instead of --start/--frames")
    parser.add_argument("--models", default="rife,superslomo", help="vsslomo models, NAME or NAME:ensemble (default rife,superslomo)")
    parser.add_argument("--checkpoint", type=Path, help="Super SloMo weights (default: the shipped ones)")
    parser.add_argument("--device", default="cpu", help="device for the models (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where opencv-doc is fetched")
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in args.models if m.partition(":")[2] not in ("", "ensemble")]
    if bad:
        parser.error(f"unknown model option in {', '.join(bad)}; write NAME or NAME:ensemble")
    factors = [int(f) for f in args.factors.split(",")]

    import torch

    torch.set_num_threads(args.threads)
    videos = args.videos or opencv_doc_videos(args.cache)
    check_not_reserved(videos)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for video in videos:
            for factor in factors:
                t0 = time.perf_counter()
                scores = bench_video(video, factor, args, Path(tmp))
                rows += [Row(video.name, factor, s) for s in scores]
                src = load(video, args.start, args.frames, args.width, args.held_out)
                title = f"{video.name}  {src.width}x{src.height}, {src.num_frames} frames, factor {factor} ({time.perf_counter() - t0:.0f} s)"
                print(evaluate.format_table(scores, title), flush=True)
                print(flush=True)
    # Mean over videos per factor and method.
    for factor in factors:
        methods = list(dict.fromkeys(r.score.method for r in rows if r.factor == factor))
        summary = []
        for m in methods:
            sel = [r.score for r in rows if r.factor == factor and r.score.method == m and r.score.frames]
            if not sel:
                continue
            summary.append(
                evaluate.MethodScore(
                    m,
                    float(np.mean([s.psnr for s in sel])),
                    float(np.mean([s.ssim for s in sel])),
                    float(np.mean([s.seconds_per_frame for s in sel])),
                    sum(s.frames for s in sel),
                )
            )
        print(evaluate.format_table(summary, f"MEAN over {len(videos)} videos, factor {factor}"))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

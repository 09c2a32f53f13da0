"""Honest evaluation of trained models: footage they never saw, next to the classic methods and RIFE.

Two scopes, drop-frame at every factor (every factor-th frame kept, the others rebuilt and
scored against the originals; PSNR on RGB 8-bit and SSIM, :mod:`vsslomo.evaluate`):

* ``whole``: every frame of each held-out video (by default ``vtest.avi``, which no recipe in
  ``recipes/`` trains on, in any form: no windows, no teacher flows, no validation);
* ``segments``: the held-out last 10% of each opencv-doc video (the README's protocol; the
  three training videos' segments are never trained on either).

Methods: frame blending, MVTools FlowFPS and ffmpeg minterpolate (the settings of
``benchmarks/quality.py``), our RIFE, and every ``--model NAME[:ensemble][=CHECKPOINT]`` given
(e.g. ``superslomo=runs/superslomo-3/last.pt``, ``ifrnet-s:ensemble=recipes/init/ifrnet-s-13.pt``;
``:ensemble`` runs the filter with ``ensemble=True``).

    python benchmarks/heldout_eval.py --scope whole --width 384 --factors 2,4 \\
        --model superslomo=runs/superslomo-3/last.pt --model ifrnet-s=runs/ifrnet-s-1/last.pt
    python benchmarks/heldout_eval.py --scope segments --width 0 --factors 2,4 --model ifrnet-s
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import vapoursynth as vs

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from footage import DEFAULT_CACHE, check_not_reserved, opencv_doc_videos  # noqa: E402
from quality import baseline_scores, load  # noqa: E402

import vsslomo  # noqa: E402
from vsslomo import evaluate  # noqa: E402
from vsslomo.device import PRECISIONS  # noqa: E402

HELD_OUT_VIDEOS = ("vtest.avi",)
"""Videos no recipe trains on: the static-camera street scene (people walking, many small
independent movers, 10 fps so the largest motion per frame) unlike the three hand-held-object
clips the models train on."""


def model_label(name: str, checkpoint: str | None) -> str:
    """``name``, or ``name (run)`` with the checkpoint's folder (or file) name."""
    return name if checkpoint is None else f"{name} ({Path(checkpoint).parent.name or Path(checkpoint).name})"


def model_options(name: str) -> dict[str, object]:
    """:func:`vsslomo.interpolate` options of a ``--model`` name: ``NAME`` or ``NAME:ensemble``."""
    model, _, option = name.partition(":")
    if option not in ("", "ensemble"):
        raise SystemExit(f"heldout_eval: unknown model option {option!r} in {name!r}; write NAME or NAME:ensemble")
    return {"model": model, "ensemble": option == "ensemble"}


def model_scores(dec: vs.VideoNode, factor: int, truth: dict[int, np.ndarray], idx: list[int],
                 entries: list[tuple[str, str | None]], device: str, precision: str) -> list[evaluate.MethodScore]:
    """Our models through :func:`vsslomo.interpolate` (scene-cut handling off)."""
    out = []
    for name, checkpoint in entries:
        label = model_label(name, checkpoint)
        try:
            clip = vsslomo.interpolate(dec, factor=factor, checkpoint=checkpoint, device=device, precision=precision,
                                       sc=False, **model_options(name))
            out.append(evaluate.score_clip(label, truth.__getitem__, clip, idx, factor))
        except vs.Error as exc:
            out.append(evaluate.MethodScore(label, math.nan, math.nan, math.nan, 0, f"failed: {str(exc).splitlines()[-1]}"))
    return out


def bench(src: vs.VideoNode, factor: int, entries: list[tuple[str, str | None]], device: str,
          precision: str, work: Path) -> list[evaluate.MethodScore]:
    """Every method on one clip at one factor."""
    dec = evaluate.decimate(src, factor)
    idx = evaluate.hidden_indices(src.num_frames, factor)
    truth = evaluate.truth_frames(evaluate.to_rgb24(src), idx)
    return baseline_scores(dec, factor, truth, idx, work) + model_scores(dec, factor, truth, idx, entries, device, precision)


def parse_models(values: list[str], rife: bool = True) -> list[tuple[str, str | None]]:
    """``NAME`` or ``NAME=CHECKPOINT`` entries; RIFE first unless ``rife`` is false."""
    entries: list[tuple[str, str | None]] = [("rife", None)] if rife else []
    for v in values:
        name, _, ckpt = v.partition("=")
        model_options(name.strip())  # refuse a bad option before any work
        entries.append((name.strip(), ckpt.strip() or None))
    return entries


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("videos", nargs="*", type=Path, help="default: the opencv-doc clips (whole: only the held-out ones)")
    p.add_argument("--scope", choices=("whole", "segments"), default="whole")
    p.add_argument("--factors", default="2,4")
    p.add_argument("--width", type=int, default=384, help="downscale wider videos to this width; 0 keeps the size")
    p.add_argument("--max-frames", type=int, default=0, help="whole scope: only the first N frames (0: all)")
    p.add_argument("--model", action="append", default=[], help="NAME or NAME=CHECKPOINT (repeatable)")
    p.add_argument("--no-rife", action="store_true", help="leave our RIFE out (e.g. when its figures are known)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="our models' precision (auto: the filter's default, bf16 on CPUs with native bfloat16)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    factors = [int(f) for f in args.factors.split(",")]
    videos = args.videos or opencv_doc_videos(args.cache)
    if args.scope == "whole" and not args.videos:
        videos = [v for v in videos if v.name in HELD_OUT_VIDEOS]
    check_not_reserved(videos)
    entries = parse_models(args.model, rife=not args.no_rife)
    rows: dict[tuple[int, str], list[evaluate.MethodScore]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for video in videos:
            whole = args.scope == "whole"
            frames = args.max_frames or 10**9
            src = load(video, 0, frames, args.width, held_out=not whole)
            for factor in factors:
                t0 = time.perf_counter()
                scores = bench(src, factor, entries, args.device, args.precision, Path(tmp))
                for s in scores:
                    rows.setdefault((factor, s.method), []).append(s)
                title = (f"{video.name} {'whole' if whole else 'held-out segment'} {src.width}x{src.height}, "
                         f"{src.num_frames} frames, factor {factor} ({time.perf_counter() - t0:.0f} s)")
                print(evaluate.format_table(scores, title), flush=True)
                print(flush=True)
    for factor in factors:
        summary = []
        for (f, method), sel in rows.items():
            sel = [s for s in sel if s.frames]
            if f != factor or not sel:
                continue
            summary.append(evaluate.MethodScore(method, float(np.mean([s.psnr for s in sel])),
                                                float(np.mean([s.ssim for s in sel])),
                                                float(np.mean([s.seconds_per_frame for s in sel])),
                                                sum(s.frames for s in sel)))
        print(evaluate.format_table(summary, f"MEAN of {len(videos)} clips ({args.scope}), factor {factor}"))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

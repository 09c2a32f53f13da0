"""Where the drop-frame error comes from: pixels that stand still against pixels that move.

Same protocol as ``heldout_eval.py`` (every ``factor``-th frame kept, the others rebuilt), on
the first ``--frames`` frames of one video. A hidden frame's pixel counts as still when its
two kept neighbours differ by less than ``--still`` (8-bit, largest channel). The mean squared
error over all pixels is split into the part from still pixels and the part from moving
ones, so the two parts add up to the MSE over all hidden frames (the PSNR beside them is of
that pooled MSE, not the mean of per-frame PSNRs that the other benchmarks print).
A model that blurs a still background by sub-pixel warping shows a larger still part than
frame blending; one that ghosts movers, a larger moving part::

    python benchmarks/still_error.py vtest.avi --frames 81 --model superslomo=runs/superslomo-4/best.pt
    python benchmarks/still_error.py vtest.avi --frames 161 --factor 4 --model ifrnet-s=runs/ifrnet-s-3/best.pt
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import vapoursynth as vs

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from footage import DEFAULT_CACHE, check_not_reserved, opencv_doc_videos  # noqa: E402
from heldout_eval import model_label, model_options, parse_models  # noqa: E402
from quality import load, minterpolate, mvtools  # noqa: E402

import vsslomo  # noqa: E402
from vsslomo import evaluate  # noqa: E402


def split_errors(truth: vs.VideoNode, outputs: dict[str, vs.VideoNode], factor: int,
                 still: float) -> dict[str, tuple[float, float]]:
    """Per method, the (still, moving) parts of the mean squared error over all hidden frames."""
    hidden = evaluate.hidden_indices(truth.num_frames, factor)
    rgb = {name: evaluate.to_rgb24(clip) for name, clip in outputs.items()}
    sums = {name: [0.0, 0.0] for name in outputs}
    pixels = 0
    for j in hidden:
        kept = j - j % factor
        before = evaluate.frame_to_rgb(truth.get_frame(kept)).astype(np.float32)
        after = evaluate.frame_to_rgb(truth.get_frame(kept + factor)).astype(np.float32)
        target = evaluate.frame_to_rgb(truth.get_frame(j)).astype(np.float32)
        is_still = np.abs(after - before).max(axis=-1) < still
        pixels += is_still.size
        for name, clip in rgb.items():
            err = ((evaluate.frame_to_rgb(clip.get_frame(j)).astype(np.float32) - target) ** 2).mean(axis=-1)
            sums[name][0] += float(err[is_still].sum())
            sums[name][1] += float(err[~is_still].sum())
    return {name: (s / pixels, m / pixels) for name, (s, m) in sums.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video", help="an opencv-doc clip by name (e.g. vtest.avi) or a path")
    p.add_argument("--frames", type=int, default=81)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--width", type=int, default=384, help="downscale wider videos to this width; 0 keeps the size")
    p.add_argument("--factor", type=int, default=2)
    p.add_argument("--still", type=float, default=12.0, help="largest 8-bit change between the kept neighbours of a still pixel")
    p.add_argument("--model", action="append", default=[], help="NAME or NAME=CHECKPOINT (repeatable); RIFE is always in")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = p.parse_args(argv)
    named = {v.name: v for v in opencv_doc_videos(args.cache)}
    video = named.get(args.video, Path(args.video))
    check_not_reserved([video])
    src = load(video, args.start, args.frames, args.width)
    dec = evaluate.decimate(src, args.factor)
    truth = evaluate.to_rgb24(src)
    with tempfile.TemporaryDirectory() as tmp:
        outputs = {"frame blending": evaluate.blend_clip(dec, args.factor), "MVTools FlowFPS": mvtools(dec, args.factor),
                   "ffmpeg minterpolate": minterpolate(dec, args.factor, Path(tmp))[0]}
        for name, checkpoint in parse_models(args.model):
            outputs[model_label(name, checkpoint)] = vsslomo.interpolate(dec, factor=args.factor, checkpoint=checkpoint, sc=False,
                                                                          **model_options(name))
        parts = split_errors(truth, outputs, args.factor, args.still)
    print(f"{video.name} {src.width}x{src.height}, frames {args.start}-{args.start + src.num_frames - 1}, "
          f"factor {args.factor}, still: neighbours within {args.still:g}")
    print(f"{'method':28s} {'PSNR dB':>8s} {'MSE still':>10s} {'MSE moving':>11s}")
    for name, (still_part, moving_part) in parts.items():
        total = still_part + moving_part
        psnr = 10 * np.log10(255.0**2 / total) if total > 0 else float("inf")
        print(f"{name:28s} {psnr:8.2f} {still_part:10.3f} {moving_part:11.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

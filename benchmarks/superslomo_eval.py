"""Held-out validation of Super SloMo checkpoints against frame blending and RIFE.

Protocol: each video's last ``--val-fraction`` of frames is the held-out time segment (the same
split ``vsslomo train`` uses, so the shipped checkpoint never saw these frames). For frame
triplets (i, i+s/2, i+s) in that segment, the middle frame is predicted from the outer two at
t = 0.5 and compared with the real one: PSNR and SSIM on full frames (padded to a multiple of
32 for the networks, cropped back).

    python benchmarks/superslomo_eval.py VIDEO... [--checkpoint CKPT ...] [--rife] [--span 2]

Without videos it uses the opencv-doc sample videos (see ``footage.py``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from footage import check_not_reserved, opencv_doc_videos  # noqa: E402

from vsslomo.train.data import read_video, split_segments, to_tensor  # noqa: E402
from vsslomo.train.metrics import psnr, ssim  # noqa: E402

Method = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def padded(model: torch.nn.Module) -> Method:
    """Run an interpolation model on frames padded to a multiple of 32, cropped back."""

    def run(img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        h, w = img0.shape[-2:]
        ph, pw = (-h) % 32, (-w) % 32
        a = F.pad(img0, (0, pw, 0, ph), mode="replicate")
        b = F.pad(img1, (0, pw, 0, ph), mode="replicate")
        with torch.no_grad():
            out = model(a, b, torch.tensor([0.5]))
        return out[..., :h, :w].clamp(0, 1)

    return run


def blend(img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
    return (img0 + img1) / 2


def evaluate(videos: list[Path], methods: dict[str, Method], span: int, per_video: int,
             val_fraction: float, window: int) -> dict[str, dict[str, tuple[float, float]]]:
    """{video: {method: (PSNR, SSIM)}} over held-out triplets, plus 'mean' over all triplets."""
    results: dict[str, dict[str, tuple[float, float]]] = {}
    totals = {m: [0.0, 0.0, 0] for m in methods}
    for video in videos:
        frames = read_video(video)
        _, val = split_segments(len(frames), window, val_fraction)
        starts = np.linspace(val.start, val.stop - 1 - span, num=min(per_video, len(val) - span))
        starts = sorted({int(round(s)) for s in starts})
        sums = {m: [0.0, 0.0] for m in methods}
        for s in starts:
            i0, it, i1 = (to_tensor(frames[s + o])[None] for o in (0, span // 2, span))
            for name, fn in methods.items():
                pred = fn(i0, i1)
                p, q = float(psnr(pred, it)), float(ssim(pred, it))
                sums[name][0] += p
                sums[name][1] += q
                totals[name][0] += p
                totals[name][1] += q
                totals[name][2] += 1
        results[video.name] = {m: (v[0] / len(starts), v[1] / len(starts)) for m, v in sums.items()}
        print(f"{video.name}: {len(starts)} held-out triplets "
              + "  ".join(f"{m} {v[0]:.2f} dB / {v[1]:.4f}" for m, v in results[video.name].items()), flush=True)
    results["mean"] = {m: (v[0] / v[2], v[1] / v[2]) for m, v in totals.items() if v[2]}
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("videos", nargs="*", type=Path)
    p.add_argument("--checkpoint", type=Path, action="append", default=[],
                   help="Super SloMo checkpoint(s); default: the shipped one")
    p.add_argument("--rife", action="store_true", help="also evaluate RIFE (vsslomo.models.rife)")
    p.add_argument("--span", type=int, default=2, help="frames between the two inputs (2: predict every other frame)")
    p.add_argument("--per-video", type=int, default=12, help="triplets per video")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--window", type=int, default=5, help="training window (sets the train/val gap)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    videos = args.videos or opencv_doc_videos()
    check_not_reserved(videos)
    from vsslomo.models.superslomo import load_superslomo

    methods: dict[str, Method] = {"blend": blend}
    for ckpt in args.checkpoint or [None]:
        methods[f"superslomo[{ckpt.name if ckpt else 'shipped'}]"] = padded(load_superslomo(ckpt))
    if args.rife:
        from vsslomo.models.rife import load_rife

        methods["rife"] = padded(load_rife())
    t0 = time.time()
    results = evaluate(videos, methods, args.span, args.per_video, args.val_fraction, args.window)
    print(f"\nheld-out frames, span {args.span}, t=0.5 ({time.time() - t0:.0f} s)")
    print(f"{'video':<12}" + "".join(f"{m:>34}" for m in methods))
    for video, row in results.items():
        print(f"{video:<12}" + "".join(f"{row[m][0]:>20.2f} dB / {row[m][1]:.4f}" for m in methods))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where does an IFRNet checkpoint lose on a clip? Its merge taken apart, term by term.

IFRNet's frame is ``mask * warp(I0, F_t0) + (1 - mask) * warp(I1, F_t1) + residual``. On the
held-out segment of each video this rebuilds every other frame at t = 0.5 from its neighbours
(the 2x drop-frame protocol, sampled every ``--step`` frames) five ways: the model, blending,
and the model with one term replaced (mask 0.5, no residual, zero flows). A variant above the
model names the term that costs it; the mean |mask - 0.5|, |residual| and |F_t0| are printed too::

    .venv/bin/python benchmarks/merge_probe.py --model ifrnet-s=recipes/init/ifrnet-s-10.pt box.mp4

PSNR is on RGB 8-bit; frames are cropped to a multiple of 16 (no padding, so the borders match).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from footage import DEFAULT_CACHE, check_not_reserved  # noqa: E402
from quality import load  # noqa: E402

from vsslomo import evaluate  # noqa: E402
from vsslomo.models.ifrnet import IFRNet, frame_mean, load_ifrnet, merge  # noqa: E402

VARIANTS = ("model", "blend", "mask 0.5", "no residual", "zero flows")


def psnr8(pred: torch.Tensor, truth: torch.Tensor) -> float:
    """PSNR in dB of two [0, 1] images after rounding both to 8 bits (:func:`vsslomo.evaluate.psnr`)."""
    a, b = ((x.clamp(0, 1) * 255).round().numpy() for x in (pred, truth))
    return evaluate.psnr(a, b)


def rgb_frames(clip: vs.VideoNode) -> list[torch.Tensor]:
    """Every frame in the scoring colours (RGB24), as ``(1, 3, H, W)`` in [0, 1] cropped to a multiple of 16."""
    clip = evaluate.to_rgb24(clip)
    h, w = clip.height // 16 * 16, clip.width // 16 * 16
    out = []
    for n in range(clip.num_frames):
        rgb = evaluate.frame_to_rgb(clip.get_frame(n))[:h, :w].transpose(2, 0, 1)
        out.append(torch.from_numpy(rgb.astype(np.float32) / 255.0)[None])
    return out


def probe(model: IFRNet, a: torch.Tensor, truth: torch.Tensor, b: torch.Tensor) -> list[float]:
    """PSNR of each of :data:`VARIANTS`, then mean |mask - 0.5|, |residual|, |F_t0|."""
    with torch.inference_mode():
        decoded = model.decode(model.pyramid(a - frame_mean(a)), model.pyramid(b - frame_mean(b)), torch.tensor([0.5]))
        f0, f1, mask, res = model.motion(decoded, 1.0)
        frames = (
            merge(a, b, f0, f1, mask, res),
            (a + b) / 2,
            merge(a, b, f0, f1, torch.full_like(mask, 0.5), res),
            merge(a, b, f0, f1, mask, torch.zeros_like(res)),
            merge(a, b, torch.zeros_like(f0), torch.zeros_like(f1), mask, res),
        )
        stats = [float((mask - 0.5).abs().mean()), float(res.abs().mean()), float(f0.norm(dim=1).mean())]
    return [psnr8(frame, truth) for frame in frames] + stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("videos", nargs="+", help="file names in --cache (e.g. box.mp4) or paths")
    p.add_argument("--model", required=True, help="ifrnet-s=CHECKPOINT (or ifrnet / ifrnet-l=...)")
    p.add_argument("--step", type=int, default=4, help="probe every N-th triplet of the segment")
    p.add_argument("--max-triplets", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    name, _, checkpoint = args.model.partition("=")
    if not name.startswith("ifrnet") or not checkpoint:
        p.error("--model must be ifrnet-s=CHECKPOINT (or ifrnet= / ifrnet-l=)")
    model = load_ifrnet(Path(checkpoint)).float().eval()
    videos = [Path(v) if Path(v).exists() else args.cache / v for v in args.videos]
    check_not_reserved(videos)
    header = "  ".join(f"{v:>11}" for v in (*VARIANTS, "|mask-0.5|", "|residual|", "|F_t0| px"))
    print(f"{'video':<12}{'pairs':>6}  {header}")
    for video in videos:
        frames = rgb_frames(load(video, 0, 0, 0, held_out=True))
        starts = list(range(0, len(frames) - 2, args.step))[: args.max_triplets]
        rows = np.array([probe(model, *frames[i : i + 3]) for i in starts])
        print(f"{video.name:<12}{len(starts):>6}  " + "  ".join(f"{v:>11.3f}" for v in rows.mean(0)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

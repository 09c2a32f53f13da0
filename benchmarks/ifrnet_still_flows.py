"""What IFRNet does on pixels that stand still: its mask, residual and flows there, and what they cost.

Drop-frame at t = 1/2 on RGB frames of one video (every 2nd frame hidden, rebuilt from its
neighbours by the bare model). A hidden frame's pixel counts as still when its kept
neighbours differ by less than ``--still`` (8-bit, largest channel). Printed: the pooled
mean squared error of frame blending, of the model, and of the model with its flows set to
zero on the still pixels (what it would score if it left them in place) or wherever both
flows are under ``--cut`` px (the same without ground truth), each split into its still and
moving parts as in ``still_error.py``; then percentiles of the mask, the residual and the
flow length on the still pixels::

    python benchmarks/ifrnet_still_flows.py box.mp4 --checkpoint recipes/init/ifrnet-s-13.pt
    python benchmarks/ifrnet_still_flows.py cup.mp4 --start 100 --frames 60 --checkpoint ...

Without ``--start`` it reads the video's held-out segment (the last 10%, as ``heldout_eval.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from footage import DEFAULT_CACHE, check_not_reserved, opencv_doc_videos  # noqa: E402
from quality import load  # noqa: E402

from vsslomo import evaluate  # noqa: E402
from vsslomo.models.ifrnet import IFRNet, load_ifrnet, merge  # noqa: E402


def rgb_frames(video: Path, start: int | None, frames: int, cache: Path) -> list[torch.Tensor]:
    """``(1, 3, H, W)`` frames in [0, 1]: ``frames`` from ``start``, or the held-out segment."""
    named = {v.name: v for v in opencv_doc_videos(cache)}
    path = named.get(str(video), video)
    check_not_reserved([path])
    clip = evaluate.to_rgb24(load(path, start or 0, frames, 0, held_out=start is None))
    return [torch.from_numpy(evaluate.frame_to_rgb(clip.get_frame(i))).permute(2, 0, 1)[None].float() / 255
            for i in range(clip.num_frames)]


def midpoint_parts(model: IFRNet, img0: torch.Tensor, img1: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Full-size (F_t->0, F_t->1, mask, residual) at t = 1/2, the input padded to the model's multiple."""
    h, w = img0.shape[-2:]
    m = model.pad_multiple
    pad = (0, (m - w % m) % m, 0, (m - h % m) % m)
    a, b = (F.pad(x, pad, mode="replicate") for x in (img0, img1))
    state = model.pair(a, b, None, None)
    parts = model.motion(model.decode(state.pyramid0, state.pyramid1, torch.tensor([0.5])), 1.0)
    return tuple(p[..., :h, :w] for p in parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video", type=Path, help="an opencv-doc clip by name (e.g. box.mp4) or a path")
    p.add_argument("--checkpoint", type=Path, required=True, help="IFRNet weights (ours or official)")
    p.add_argument("--start", type=int, help="first frame (default: the held-out segment)")
    p.add_argument("--frames", type=int, default=81)
    p.add_argument("--still", type=float, default=12.0, help="largest 8-bit change between the kept neighbours of a still pixel")
    p.add_argument("--cut", type=float, default=0.5, help="flows shorter than this (px) set to zero in the last row")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    frames = rgb_frames(args.video, args.start, args.frames, args.cache)
    model = load_ifrnet(args.checkpoint)
    rows = ("frame blending", "model", "model, zero flow on still pixels", f"model, flows under {args.cut:g} px zeroed")
    sums = {name: [0.0, 0.0] for name in rows}
    pixels = hidden = 0
    on_still: dict[str, list[np.ndarray]] = {"mask": [], "|residual| (8-bit)": [], "|flow| (px)": []}
    with torch.no_grad():
        for i in range(0, len(frames) - 2, 2):
            a, b, truth = frames[i], frames[i + 2], frames[i + 1] * 255
            flow0, flow1, mask, residual = midpoint_parts(model, a, b)
            still = (b - a).abs().amax(1, keepdim=True) * 255 < args.still
            short = torch.maximum(flow0.norm(dim=1, keepdim=True), flow1.norm(dim=1, keepdim=True)) < args.cut
            outputs = [0.5 * (a + b)] + [merge(a, b, flow0 * k, flow1 * k, mask, residual)
                                         for k in (torch.ones_like(mask), (~still).float(), (~short).float())]
            for name, out in zip(rows, outputs, strict=True):
                err = (((out.clamp(0, 1) * 255).round() - truth) ** 2).mean(1, keepdim=True)
                sums[name][0] += float(err[still].sum())
                sums[name][1] += float(err[~still].sum())
            pixels += still.numel()
            hidden += 1
            s = still[0, 0]
            on_still["mask"].append(mask[0, 0][s].numpy())
            on_still["|residual| (8-bit)"].append(residual[0].abs().mean(0)[s].numpy() * 255)
            on_still["|flow| (px)"].append(torch.cat((flow0, flow1), 1)[0].norm(dim=0)[s].numpy())
    share = sum(v.size for v in on_still["mask"]) / pixels
    print(f"{args.video.name}: {len(frames)} frames, {hidden} hidden at t = 1/2, "
          f"still pixels {share:.0%} (neighbours within {args.still:g})")
    print(f"{'method':40s} {'PSNR dB':>8s} {'MSE still':>10s} {'MSE moving':>11s}")
    for name, (still_part, moving_part) in sums.items():
        total = (still_part + moving_part) / pixels
        print(f"{name:40s} {10 * np.log10(255.0**2 / total):8.2f} {still_part / pixels:10.3f} {moving_part / pixels:11.3f}")
    print("on still pixels, percentiles 5 / 25 / 50 / 75 / 95:")
    for name, values in on_still.items():
        q = np.percentile(np.concatenate(values), [5, 25, 50, 75, 95])
        print(f"  {name:20s} " + " / ".join(f"{v:.3f}" for v in q))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

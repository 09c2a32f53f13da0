"""How much IFRNet's cacheable per-frame mean normalisation changes a checkpoint's output.

The reference subtracts one mean over both frames of a pair (``mean_mode="pair"``); vsslomo's
filter subtracts each frame's own mean (``"frame"``), so the encoder runs once per frame. For
the official checkpoints that shifts each encoder input by ``(m0 - m1) / 2``; for weights
trained in ``"frame"`` mode (ours) ``"frame"`` is exact. For each video this prints, over
triplets (i, i + step/2, i + step) spread over the clip:

* ``frame~pair``: PSNR between the two modes' frames at t = 1/2 (higher: closer);
* ``|m0-m1|``: the mean brightness difference of the pairs (what the modes disagree on);
* ``frame`` / ``pair``: PSNR of each mode against the true middle frame.

Usage (real footage: the opencv-doc clips, see ``footage.py``)::

    nice -n 10 .venv/bin/python benchmarks/ifrnet_mean_mode.py --checkpoint IFRNet_S_Vimeo90K.pth
    .venv/bin/python benchmarks/ifrnet_mean_mode.py                      # our shipped weights
    .venv/bin/python benchmarks/ifrnet_mean_mode.py clip.mp4 --checkpoint ours.pt --triplets 16
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsslomo.models.checkpoint import CheckpointError  # noqa: E402
from vsslomo.models.ifrnet import frame_mean, load_ifrnet, psnr  # noqa: E402
from vsslomo.train.data import read_video  # noqa: E402

from footage import check_not_reserved, opencv_doc_videos  # noqa: E402


def to_tensor(frame: np.ndarray, multiple: int) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> ``(1, 3, H', W')`` in [0, 1], cropped to multiples of ``multiple``."""
    h, w = frame.shape[0] // multiple * multiple, frame.shape[1] // multiple * multiple
    return torch.from_numpy(np.array(frame[:h, :w])).permute(2, 0, 1)[None].float() / 255.0


def score_video(model: torch.nn.Module, path: Path, args: argparse.Namespace) -> dict[str, float]:
    video = read_video(path, max_side=args.max_side, max_frames=args.max_frames)
    last = len(video) - 1 - args.step
    if last < 0:
        raise SystemExit(f"{path.name} has {len(video)} frames, fewer than --step {args.step} + 1")
    starts = sorted({int(round(x)) for x in np.linspace(0, last, args.triplets)})
    rows: dict[str, list[float]] = {"frame~pair": [], "|m0-m1|": [], "frame": [], "pair": []}
    t = torch.tensor([0.5])
    with torch.inference_mode():
        for i in starts:
            img0, truth, img1 = (to_tensor(video[i + k], model.pad_multiple) for k in (0, args.step // 2, args.step))
            by_frame = model(img0, img1, t, mean_mode="frame")
            by_pair = model(img0, img1, t, mean_mode="pair")
            rows["frame~pair"].append(psnr(by_frame, by_pair))
            rows["|m0-m1|"].append(float((frame_mean(img0) - frame_mean(img1)).abs()) * 255)
            rows["frame"].append(psnr(by_frame, truth))
            rows["pair"].append(psnr(by_pair, truth))
    return {k: statistics.fmean(v) for k, v in rows.items()} | {"n": float(len(starts))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path, help="default: the opencv-doc sample clips")
    parser.add_argument("--checkpoint", type=Path, default=None, help="IFRNet weights (default: ours)")
    parser.add_argument("--triplets", type=int, default=8, help="triplets per video")
    parser.add_argument("--step", type=int, default=2, help="frames between the pair's two frames (even)")
    parser.add_argument("--max-side", type=int, default=640)
    parser.add_argument("--max-frames", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.step < 2 or args.step % 2:
        parser.error("--step must be even and at least 2")
    torch.set_num_threads(args.threads)
    videos = args.videos or opencv_doc_videos()
    check_not_reserved(videos)
    try:
        model = load_ifrnet(args.checkpoint)
    except (CheckpointError, FileNotFoundError) as exc:
        raise SystemExit(f"ifrnet_mean_mode: {exc}") from None
    print(f"{model.summary}; t = 1/2 between frames {args.step} apart, longer side <= {args.max_side}")
    print(f"  {'video':<12} {'n':>3} {'frame~pair dB':>14} {'|m0-m1| /255':>13} {'frame dB':>9} {'pair dB':>8}")
    results = []
    for path in videos:
        r = score_video(model, path, args)
        results.append(r)
        print(f"  {path.name:<12} {int(r['n']):>3} {r['frame~pair']:>14.2f} {r['|m0-m1|']:>13.2f} {r['frame']:>9.2f} {r['pair']:>8.2f}")
    if len(results) > 1:
        mean = {k: statistics.fmean(r[k] for r in results) for k in ("frame~pair", "|m0-m1|", "frame", "pair")}
        print(f"  {'mean':<12} {'':>3} {mean['frame~pair']:>14.2f} {mean['|m0-m1|']:>13.2f} {mean['frame']:>9.2f} {mean['pair']:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

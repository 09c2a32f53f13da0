"""Has a model learned motion? Known motion, exact truth: translated photos and synthetic scenes.

A model can beat frame blending on real footage through its occlusion mask and residual
alone, with flows near zero, and then blend every camera pan. This checks motion directly,
before the slower held-out evaluation::

    .venv/bin/python benchmarks/flow_check.py --model rife --model ifrnet-s=runs/ifrnet-s-4/best.pt

* **pans**: a crop of a photo and the same crop moved by (dx, dy) pixels, the middle frame
  being the crop moved by half of that (PSNR against it, every model and frame blending);
* **waves**: :func:`vsslomo.evaluate.wave_pattern` (the texture of the IFRNet gate test,
  ``tests/test_ifrnet.py``) moved by (6, 4) px, about one wavelength, at several sizes:
  PSNR at t = 0.25 / 0.5 / 0.75 (the 64x64 of the gate test is too small a picture to say
  much: there even RIFE is barely over blending at t = 0.5);
* **scenes**: synthetic training scenes (``vsslomo.train.synthetic``, a fixed seed) rendered
  with their exact flows: PSNR at t = 0.5 and, for models that expose their flows (IFRNet),
  the mean magnitude of the predicted F_t->0 as a share of the true one (median over scenes).

Photos: ``--photos`` (default the gnome-backgrounds pictures, as the recipes use).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsslomo import registry  # noqa: E402
from vsslomo.engine import pad_to_multiple  # noqa: E402
from vsslomo.evaluate import wave_pattern  # noqa: E402
from vsslomo.models import contract  # noqa: E402
from vsslomo.models.ifrnet import IFRNet, frame_mean, psnr  # noqa: E402
from vsslomo.train.synthetic import SyntheticScenes, load_photos  # noqa: E402

PANS = ((4, 2), (8, 4), (16, 8))
"""Shifts (dx, dy) in pixels between the two inputs."""

WAVE_MOTION = (6.0, 4.0)
WAVE_TIMES = (0.25, 0.5, 0.75)


def load(entry: str) -> tuple[str, torch.nn.Module]:
    """``NAME`` or ``NAME=CHECKPOINT`` as (label, model on the CPU in fp32)."""
    name, _, checkpoint = entry.partition("=")
    model = registry.get_spec(name).load(Path(checkpoint) if checkpoint else None)
    return (f"{name} ({Path(checkpoint).parent.name or Path(checkpoint).stem})" if checkpoint else name), model.float().eval()


def middle(model: torch.nn.Module, img0: torch.Tensor, img1: torch.Tensor,
           times: tuple[float, ...] = (0.5,)) -> torch.Tensor:
    """The model's frames at ``times`` (inputs padded to its multiple and cropped back)."""
    h, w = img0.shape[-2:]
    multiple = contract.pad_multiple(model)
    a, b = (pad_to_multiple(x, multiple) for x in (img0, img1))  # as the filter pads
    with torch.inference_mode():
        return model(a, b, torch.tensor(times))[..., :h, :w]


def waves(side: int, t: float) -> torch.Tensor:
    """The wave pattern at ``side``, moved by ``t`` times :data:`WAVE_MOTION`."""
    return torch.from_numpy(wave_pattern((WAVE_MOTION[0] * t, WAVE_MOTION[1] * t), side, side)).float()[None]


def flow_share(model: torch.nn.Module, img0: torch.Tensor, img1: torch.Tensor, truth: torch.Tensor) -> float | None:
    """Mean |predicted F_t->0| over mean |true F_t->0| at t = 0.5 (IFRNet only), else None."""
    if not isinstance(model, IFRNet):
        return None
    with torch.inference_mode():
        p0, p1 = model.pyramid(img0 - frame_mean(img0)), model.pyramid(img1 - frame_mean(img1))
        flow = model.decode(p0, p1, torch.tensor([0.5])).flows0[3]
    return float(flow.norm(dim=1).mean() / truth[0:2].norm(dim=0).mean().clamp_min(1e-6))


def cell(frames: list[torch.Tensor], truths: list[torch.Tensor]) -> str:
    """PSNR of each frame against its truth, as 'a / b / c'."""
    return " / ".join(f"{psnr(f, truth):.2f}" for f, truth in zip(frames, truths))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=None, help="NAME or NAME=CHECKPOINT (repeatable; default rife)")
    parser.add_argument("--photos", type=Path, default=Path("/usr/share/backgrounds/gnome"))
    parser.add_argument("--size", type=int, default=256, help="side of the pan crops")
    parser.add_argument("--wave-sizes", type=int, nargs="*", default=[64, 128, 256], help="sides of the wave pattern")
    parser.add_argument("--scenes", type=int, default=12, help="synthetic scenes (crop 160, motion up to 32 px)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    photos = load_photos(args.photos, 768)
    if not photos:
        sys.exit(f"flow_check: no pictures in {args.photos}")
    models = [load(entry) for entry in (args.model or ["rife"])]

    print(f"pans: {args.size}x{args.size} crops of the first of {len(photos)} photos, PSNR dB of the middle frame")
    photo = photos[0].float().div(255.0)[None]
    s, (oy, ox) = args.size, (16, 16)
    print(f"{'shift':<10}{'blending':>10}" + "".join(f"{label:>28}" for label, _ in models))
    for dx, dy in PANS:
        def crop(x: int, y: int) -> torch.Tensor:
            return photo[..., oy + y : oy + y + s, ox + x : ox + x + s]

        img0, img1, truth = crop(0, 0), crop(dx, dy), crop(dx // 2, dy // 2)
        row = f"{f'({dx}, {dy})':<10}{psnr((img0 + img1) / 2, truth):>10.2f}"
        print(row + "".join(f"{psnr(middle(m, img0, img1), truth):>28.2f}" for _, m in models))

    times = "/".join(f"{t:g}" for t in WAVE_TIMES)
    print(f"\nwaves: the gate test's pattern moved by {WAVE_MOTION} px, PSNR dB at t = {times}")
    print(f"{'side':<10}{'blending':>22}" + "".join(f"{label:>28}" for label, _ in models))
    for side in args.wave_sizes:
        img0, img1 = waves(side, 0.0), waves(side, 1.0)
        truths = [waves(side, t) for t in WAVE_TIMES]
        row = f"{side:<10}{cell([(1 - t) * img0 + t * img1 for t in WAVE_TIMES], truths):>22}"
        print(row + "".join(f"{cell(list(middle(m, img0, img1, WAVE_TIMES).split(1)), truths):>28}" for _, m in models))

    scenes = SyntheticScenes(photos, args.scenes, crop=160, max_motion=32.0, zoom_change=0.1, rotation=5.0, flows=True)
    blend, scores = [], {label: [] for label, _ in models}
    shares: dict[str, list[float]] = {label: [] for label, _ in models}
    for i in range(args.scenes):
        frames, flow = scenes.render_with_flows(np.random.default_rng((0, 0, i, 7)), 0.5)
        img0, truth, img1 = frames[0:1], frames[1:2], frames[2:3]
        blend.append(psnr((img0 + img1) / 2, truth))
        for label, m in models:
            scores[label].append(psnr(middle(m, img0, img1), truth))
            share = flow_share(m, img0, img1, flow)
            if share is not None:
                shares[label].append(share)
    print(f"\nscenes: {args.scenes} synthetic scenes, mean PSNR dB at t = 0.5 (blending {statistics.mean(blend):.2f})")
    for label, _ in models:
        line = f"  {label:<30}{statistics.mean(scores[label]):>7.2f}"
        if shares[label]:
            line += f"   predicted / true flow magnitude: median {statistics.median(shares[label]):.2f}"
            line += f" (range {min(shares[label]):.2f}-{max(shares[label]):.2f})"
        print(line)


if __name__ == "__main__":
    main()

"""How soon does IFRNet trained from scratch start to estimate motion? A short training probe.

Trains a fresh IFRNet on synthetic scenes with exact flows (``vsslomo.train.synthetic``) with
the training package's own criterion, optimiser and ``--flow-gain`` hook, and every
``--every`` steps prints, on held-out synthetic scenes at t = 0.5, the predicted F_t->0's mean
magnitude as a share of the true one (median), its end-point error and the frame's PSNR. A
network that has not learned motion keeps the share near 0 and the error at the true flows'
mean magnitude. Fifth session (one core each, AdamW with 50 warm-up steps and a cosine)::

    .venv/bin/python benchmarks/ifrnet_flow_probe.py --steps 2000 --crop 64 --max-motion 16 --lr 5e-4
    .venv/bin/python benchmarks/ifrnet_flow_probe.py --steps 2000 --crop 64 --max-motion 16 --lr 5e-4 --flow-gain 4

Photos: ``--photos`` (default the gnome-backgrounds pictures, as the recipes use).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import cast

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsslomo.models.ifrnet import IFRNet, psnr  # noqa: E402
from vsslomo.train.data import Augment  # noqa: E402
from vsslomo.train.families import FAMILIES  # noqa: E402
from vsslomo.train.options import parse_args  # noqa: E402
from vsslomo.train.synthetic import SyntheticScenes, load_photos  # noqa: E402
from vsslomo.train.trainer import make_optimizer  # noqa: E402

WARMUP = 50
VAL_SEED = 99


def evaluate(net: IFRNet, scenes: SyntheticScenes, count: int) -> tuple[float, float, float]:
    """(median flow share, mean end-point error in px, mean PSNR) on ``count`` fixed scenes."""
    net.eval()
    shares, errors, scores = [], [], []
    with torch.no_grad():
        for i in range(count):
            frames, flow = scenes.render_with_flows(np.random.default_rng((VAL_SEED, 0, i, 7)), 0.5)
            img0, middle, img1 = frames[0:1], frames[1:2], frames[2:3]
            out = net.forward_train(img0, img1, torch.tensor([0.5]), middle)
            predicted, true = out.decoded.flows0[3], flow[0:2].unsqueeze(0)
            shares.append(float(predicted.norm(dim=1).mean() / true.norm(dim=1).mean().clamp_min(1e-6)))
            errors.append(float((predicted - true).norm(dim=1).mean()))
            scores.append(psnr(out.frame, middle))
    net.train()
    return statistics.median(shares), statistics.fmean(errors), statistics.fmean(scores)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ifrnet-s", choices=[name for name in FAMILIES if name.startswith("ifrnet")])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--max-motion", type=float, default=16.0)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--distill-weight", type=float, default=1.0)
    parser.add_argument("--distill-beta", type=float, default=0.0)
    parser.add_argument("--flow-gain", type=float, default=1.0)
    parser.add_argument("--every", type=int, default=200, help="evaluate every this many steps")
    parser.add_argument("--val-scenes", type=int, default=24)
    parser.add_argument("--photos", type=Path, default=Path("/usr/share/backgrounds/gnome"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.flow_gain <= 0:
        parser.error(f"--flow-gain must be positive, got {args.flow_gain}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    family = FAMILIES[args.model]
    train_args = parse_args(["--model", args.model, "--lr", str(args.lr), "--distill-weight", str(args.distill_weight),
                             "--distill-beta", str(args.distill_beta), "--flow-gain", str(args.flow_gain)])

    photos = load_photos(args.photos, max_side=768)
    scenes = dict(max_motion=args.max_motion, zoom_change=0.1, rotation=5.0, flows=True)
    train = SyntheticScenes(photos, args.steps * args.batch, crop=args.crop, augment=Augment(), seed=args.seed + 1,
                            still_fraction=0.4, **scenes)  # type: ignore[arg-type]
    held_out = SyntheticScenes(photos, args.val_scenes, crop=128, seed=VAL_SEED, **scenes)  # type: ignore[arg-type]

    net = cast(IFRNet, family.from_payload({}))  # a fresh network of the family's size, as training builds it
    step_module = family.train_forward(net)
    criterion = family.criterion(train_args, torch.device("cpu"), print)
    optimizer = make_optimizer(train_args, net)  # with the family's --flow-gain hooks
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / WARMUP)
                                                 * (0.1 + 0.45 * (1 + math.cos(math.pi * s / args.steps))))
    print(f"{args.model} from scratch, {args.crop} px crops of batch {args.batch}, lr {args.lr}, "
          f"distillation {args.distill_weight} (beta {args.distill_beta}), flow gain {args.flow_gain}")
    share, error, score = evaluate(net, held_out, args.val_scenes)
    print(f"step     0: flow share {share:.3f}, end-point error {error:.2f} px, PSNR {score:.2f} dB")
    start = time.perf_counter()
    loader = torch.utils.data.DataLoader(train, batch_size=args.batch, num_workers=0)
    for step, batch in enumerate(loader, start=1):
        total, _ = criterion(step_module(batch), batch)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        schedule.step()
        if step % args.every == 0 or step == args.steps:
            share, error, score = evaluate(net, held_out, args.val_scenes)
            print(f"step {step:5d}: flow share {share:.3f}, end-point error {error:.2f} px, PSNR {score:.2f} dB"
                  f" ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()

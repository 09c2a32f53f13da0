"""The training loop: data, model, optimiser, validation, checkpoints, DDP and mixed precision."""

from __future__ import annotations

import argparse
import datetime
import math
import os
import signal
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler, RandomSampler

from ..models.superslomo import COMPACT_WIDTHS, FULL_WIDTHS, SuperSloMo, Synthesis, load_superslomo
from .checkpoint import checkpoint_payload, cpu_state_dicts, load_training_state, save_atomic
from .data import ValidationWindows, VideoWindows, load_sources
from .ema import WeightAverage
from .losses import DEFAULT_REC_WEIGHTS, REC_NORMS, LossWeights, SuperSloMoLoss, VGG16Conv43
from .metrics import psnr, ssim
from .progress import Progress
from .synthetic import SyntheticScenes, load_photos
from .widen import widen


class _TrainForward(nn.Module):
    """Runs flow + synthesis through ``__call__`` so DistributedDataParallel sees the forward."""

    def __init__(self, net: SuperSloMo) -> None:
        super().__init__()
        self.net = net

    def forward(self, x0: Tensor, x1: Tensor, t: Tensor) -> tuple[Tensor, ...]:
        f01, f10 = self.net.flows(x0, x1)
        out = self.net.refine(x0, x1, f01, f10, t)
        return tuple(getattr(out, f.name) for f in fields(out))


def parse_widths(text: str) -> tuple[int, ...]:
    """``full``, ``compact`` or six comma-separated integers."""
    named = {"full": FULL_WIDTHS, "compact": COMPACT_WIDTHS}
    if text in named:
        return named[text]
    try:
        widths = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"widths must be 'full', 'compact' or six integers, got {text!r}") from None
    if len(widths) != 6 or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"need six positive widths, got {text!r}")
    return widths


class _Dist:
    """Distributed context from torchrun's environment (single process when absent)."""

    def __init__(self, device_arg: str | None) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device_arg:
            device = torch.device(device_arg)
        else:
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if device.type == "cuda" and self.world > 1:
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        self.device = device
        if self.world > 1:
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def all_reduce_flag(self, flag: bool) -> bool:
        """True if any rank has the flag set."""
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _build_train_set(args: argparse.Namespace, log: Any) -> tuple[Dataset, list]:
    parts: list[Dataset] = []
    sources = load_sources(args.sources, args.max_side) if args.sources else []
    for s in sources:
        log(f"source {s.name}: {len(s.frames)} frames {s.frames.shape[2]}x{s.frames.shape[1]}")
    n = args.samples_per_epoch
    n_synth = 0
    if args.synthetic is not None:
        n_synth = n if not sources else int(round(n * args.synthetic_fraction))
    if sources and n - n_synth > 0:
        parts.append(VideoWindows(sources, n - n_synth, args.crop, args.window, args.min_span,
                                  args.val_fraction, not args.no_reverse, args.seed, args.motion_crops,
                                  args.balance_sources))
    if n_synth > 0:
        folder = Path(args.synthetic)
        if not folder.is_dir():
            raise SystemExit(f"vsslomo train: photo folder {folder} not found; pass --synthetic PHOTO_DIR "
                             "(any folder of jpg/png/webp pictures) or install gnome-backgrounds")
        photos = load_photos(folder, max_side=args.photo_side, log=log)
        log(f"synthetic scenes from {len(photos)} photos in {folder}")
        parts.append(SyntheticScenes(photos, n_synth, args.crop, args.max_motion, reverse=not args.no_reverse,
                                     seed=args.seed))
    if not parts:
        raise SystemExit("vsslomo train: give video files / frame folders and/or --synthetic [PHOTO_DIR]")
    return (parts[0] if len(parts) == 1 else ConcatDataset(parts)), sources


def _set_epoch(dataset: Dataset, epoch: int) -> None:
    for d in getattr(dataset, "datasets", [dataset]):
        d.set_epoch(epoch)


@torch.no_grad()
def validate(model: SuperSloMo, data: ValidationWindows, device: torch.device) -> dict[str, Any]:
    """Mean PSNR/SSIM of the model and of frame blending over ``data``, and the model's PSNR per source."""
    if len(data) == 0:
        return {}
    was_training = model.training
    model.eval()
    sums = {"psnr": 0.0, "ssim": 0.0, "blend_psnr": 0.0, "blend_ssim": 0.0}
    per_source: dict[str, list[float]] = {}
    for i in range(len(data)):
        img0, target, img1, t = (x.to(device) for x in data[i])
        pred = model(img0[None], img1[None], t.reshape(1))
        blend = (1 - t) * img0[None] + t * img1[None]
        value = float(psnr(pred, target[None]))
        per_source.setdefault(data.names[i], []).append(value)
        sums["psnr"] += value
        sums["ssim"] += float(ssim(pred, target[None]))
        sums["blend_psnr"] += float(psnr(blend, target[None]))
        sums["blend_ssim"] += float(ssim(blend, target[None]))
    model.train(was_training)
    out: dict[str, Any] = {k: v / len(data) for k, v in sums.items()}
    out["source_psnr"] = {name: sum(v) / len(v) for name, v in per_source.items()}
    return out


def _plain_args(args: argparse.Namespace) -> dict[str, Any]:
    """The options as plain data (paths as strings) so ``weights_only`` loading reads them."""

    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return str(v) if isinstance(v, Path) else v

    return {k: plain(v) for k, v in vars(args).items()}


def _initial_model(args: argparse.Namespace, log: Any) -> SuperSloMo:
    """A fresh model of ``--widths``, or ``--init``'s weights, grown to ``--widths`` if those are given."""
    if not args.init:
        widths = args.widths or COMPACT_WIDTHS
        return SuperSloMo(widths, args.refine_widths or widths)
    model = load_superslomo(Path(args.init)).train()
    if args.widths is None and args.refine_widths is None:
        return model
    flow = args.widths or model.flow_net.widths
    refine = args.refine_widths or args.widths or model.refine_net.widths
    if (tuple(flow), tuple(refine)) == (model.flow_net.widths, model.refine_net.widths):
        return model
    try:
        grown = widen(model, flow, refine)
    except ValueError as exc:
        raise SystemExit(f"vsslomo train: --init {args.init}: {exc}") from None
    log(f"widened {args.init} from {model.flow_net.widths}/{model.refine_net.widths} to {tuple(flow)}/{tuple(refine)}")
    return grown


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Run training as configured by :func:`build_parser`; returns the final metadata."""
    ctx = _Dist(args.device)
    torch.manual_seed(args.seed + ctx.rank)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = ctx.device
    out_dir = Path(args.out)
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    progress_log = Progress(0, enabled=ctx.main, rich=False)

    train_set, sources = _build_train_set(args, progress_log.log)
    val_set = ValidationWindows(sources, args.val_windows, args.val_span, args.window, args.val_fraction, args.val_size)
    progress_log.log(f"training samples per epoch: {len(train_set)}; validation windows: {len(val_set)}")

    resume_state = None
    if args.resume and last_path.is_file():
        resume_state = load_training_state(last_path)
        model = SuperSloMo(resume_state["widths"]["flow"], resume_state["widths"]["refine"])
        # With an EMA the public keys hold the average; the raw weights sit beside them.
        raw = "train_" if "train_state_dictFC" in resume_state else ""
        model.flow_net.load_state_dict(resume_state[raw + "state_dictFC"])
        model.refine_net.load_state_dict(resume_state[raw + "state_dictAT"])
        progress_log.log(f"resuming from {last_path} after epoch {resume_state['epoch']}")
    else:
        model = _initial_model(args, progress_log.log)
    model.to(device).train()
    ema = None
    if args.ema > 0:
        ema = WeightAverage(model, args.ema, int(resume_state.get("ema_updates", 0)) if resume_state else 0)
        if resume_state is not None and "train_state_dictFC" in resume_state:
            ema.model.flow_net.load_state_dict(resume_state["state_dictFC"])
            ema.model.refine_net.load_state_dict(resume_state["state_dictAT"])
    # The model that is validated and saved for inference.
    eval_model = ema.model if ema is not None else model

    vgg = None
    if args.vgg:
        vgg = VGG16Conv43.from_torchvision_state(Path(args.vgg)).to(device)
        progress_log.log(f"perceptual loss on (VGG16 conv4_3 from {args.vgg})")
    else:
        progress_log.log("perceptual loss off: no --vgg weights given (torchvision vgg16 state dict)")
    rec_weight = args.rec_weight if args.rec_weight is not None else DEFAULT_REC_WEIGHTS[args.rec_loss]
    weights = LossWeights(rec_weight, args.perc_weight, args.warp_weight, args.smooth_weight)
    criterion = SuperSloMoLoss(weights, vgg, args.rec_loss)

    step_module: nn.Module = _TrainForward(model)
    if ctx.world > 1:
        step_module = nn.parallel.DistributedDataParallel(
            step_module, device_ids=[device.index] if device.type == "cuda" else None
        )

    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        optimizer, T_0=args.restart_epochs, T_mult=args.restart_mult, eta_min=args.lr * 0.01
    )
    use_amp = device.type == "cuda" and not args.no_amp
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    start_epoch, history, best = 0, [], -math.inf
    if resume_state is not None:
        optimizer.load_state_dict(resume_state["optimizer"])
        scheduler.load_state_dict(resume_state["scheduler"])
        if use_amp and resume_state.get("scaler"):
            scaler.load_state_dict(resume_state["scaler"])
        start_epoch = int(resume_state["epoch"]) + 1
        history = list(resume_state.get("history", []))
        best = float(resume_state.get("best_psnr", -math.inf))
        # Keep training time accounting across resumes.
    elapsed_before = float(resume_state.get("train_seconds", 0.0)) if resume_state else 0.0

    if ctx.world > 1:
        sampler = DistributedSampler(train_set, num_replicas=ctx.world, rank=ctx.rank, shuffle=True, seed=args.seed)
    else:
        sampler = RandomSampler(train_set)
    loader = DataLoader(train_set, batch_size=args.batch, sampler=sampler, num_workers=args.workers,
                        drop_last=True, pin_memory=device.type == "cuda", persistent_workers=args.workers > 0)
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise SystemExit("vsslomo train: --samples-per-epoch is smaller than the global batch")
    mean = model.mean

    stop = {"flag": False}

    def on_signal(signum: int, frame: Any) -> None:
        stop["flag"] = True

    if ctx.main and start_epoch == 0 and len(val_set):
        v0 = validate(eval_model, val_set, device)
        progress_log.log(f"before training: val psnr {v0['psnr']:.2f} ssim {v0['ssim']:.4f} | "
                         f"blend psnr {v0['blend_psnr']:.2f} ssim {v0['blend_ssim']:.4f}")
    progress = Progress((args.epochs - start_epoch) * steps_per_epoch, enabled=ctx.main,
                        rich=None if not args.plain else False, log_every=args.log_every)
    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    deadline = time.monotonic() + args.max_minutes * 60 if args.max_minutes else math.inf
    t_start = time.monotonic()
    meta: dict[str, Any] = {}
    try:
        epoch = start_epoch
        for epoch in range(start_epoch, args.epochs):
            if isinstance(sampler, DistributedSampler):
                sampler.set_epoch(epoch)
            _set_epoch(train_set, epoch)
            loss_sum, psnr_sum, n_steps = 0.0, 0.0, 0
            for i, (img0, target, img1, t) in enumerate(loader):
                img0, target, img1, t = (x.to(device, non_blocking=True) for x in (img0, target, img1, t))
                x0, xt, x1 = img0 - mean, target - mean, img1 - mean
                with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                    out = Synthesis(*step_module(x0, x1, t))
                    loss, _ = criterion(out, x0, xt, x1, mean)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                if ema is not None:
                    ema.update(model)
                scheduler.step(epoch + (i + 1) / steps_per_epoch)
                with torch.no_grad():
                    batch_psnr = float(psnr((out.frame.float() + mean).clamp(0, 1), target).mean())
                loss_value = loss.item()
                loss_sum += loss_value
                psnr_sum += batch_psnr
                n_steps += 1
                progress.step(epoch, i + 1, args.batch * ctx.world, loss_value, batch_psnr,
                              optimizer.param_groups[0]["lr"])
                if ctx.all_reduce_flag(stop["flag"] or time.monotonic() > deadline):
                    stop["flag"] = True
                    break
            finished_epoch = n_steps == steps_per_epoch
            record = {"epoch": epoch, "steps": n_steps, "complete": finished_epoch,
                      "train_loss": loss_sum / max(1, n_steps), "train_psnr": psnr_sum / max(1, n_steps)}
            if ctx.main:
                val = validate(eval_model, val_set, device)
                record.update({f"val_{k}": v for k, v in val.items()})
                history.append(record)
                is_best = bool(val) and val["psnr"] > best
                best = max(best, val.get("psnr", -math.inf))
                meta = {
                    # A partial epoch is resumed from its start (its steps are kept as training).
                    "epoch": epoch if finished_epoch else epoch - 1,
                    "timestamp": datetime.datetime.now().isoformat(timespec="seconds"),
                    "learningRate": optimizer.param_groups[0]["lr"],
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict() if use_amp else {},
                    "history": history,
                    "best_psnr": best,
                    "val": val,
                    "train_seconds": elapsed_before + time.monotonic() - t_start,
                    "args": _plain_args(args),
                }
                if ema is not None:
                    meta.update({f"train_{k}": v for k, v in cpu_state_dicts(model).items()})
                    meta["ema_updates"] = ema.updates
                payload = checkpoint_payload(eval_model, **meta)
                save_atomic(payload, last_path)
                if is_best:
                    save_atomic(payload, best_path)
                msg = (f"epoch {epoch} done: train loss {record['train_loss']:.3f} psnr {record['train_psnr']:.2f}")
                if val:
                    msg += (f" | val psnr {val['psnr']:.2f} ssim {val['ssim']:.4f} (blend {val['blend_psnr']:.2f} / "
                            f"{val['blend_ssim']:.4f}){' best' if is_best else ''}")
                progress.log(msg + f" | saved {last_path}")
                if val:
                    progress.log("val psnr per source: " + ", ".join(f"{k} {v:.2f}" for k, v in val["source_psnr"].items()))
            ctx.barrier()
            if stop["flag"]:
                progress.log("stopping early (signal or --max-minutes); resume with --resume")
                break
    finally:
        progress.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
        ctx.close()
    return meta


def build_parser(prog: str = "python -m vsslomo.train") -> argparse.ArgumentParser:
    """Command-line options of ``vsslomo train``."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Train or fine-tune Super SloMo on videos / frame folders and/or synthetic scenes. "
        "Multi-GPU: torchrun --nproc_per_node=N -m vsslomo.train ...",
    )
    p.add_argument("sources", nargs="*", type=Path, help="video files or folders of numbered frames")
    p.add_argument("--out", type=Path, required=True, help="folder for last.pt / best.pt")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt if it exists")
    p.add_argument("--init", type=Path, help="start from this Super SloMo checkpoint (fine-tuning)")
    p.add_argument("--synthetic", nargs="?", const="/usr/share/backgrounds/gnome", default=None, metavar="PHOTO_DIR",
                   help="add synthetic sprite scenes made from the photos in PHOTO_DIR "
                   "(default /usr/share/backgrounds/gnome)")
    p.add_argument("--synthetic-fraction", type=float, default=0.5, help="share of synthetic samples when mixing")
    p.add_argument("--max-motion", type=float, default=24.0, help="synthetic sprite motion between inputs, pixels")
    p.add_argument("--photo-side", type=int, default=1024, help="shrink photos to this longer side")
    g = p.add_argument_group("model")
    g.add_argument("--widths", type=parse_widths, default=None,
                   help="'full', 'compact' (default) or six integers; with --init, grow its U-Nets to these")
    g.add_argument("--refine-widths", type=parse_widths, default=None, help="widths of U-Net 2 (default: --widths)")
    g = p.add_argument_group("data")
    g.add_argument("--samples-per-epoch", type=int, default=4000)
    g.add_argument("--batch", type=int, default=8, help="batch per process")
    g.add_argument("--crop", type=int, default=256, help="square training crop (multiple of 32)")
    g.add_argument("--window", type=int, default=9, help="frames per window; ends are the inputs")
    g.add_argument("--min-span", type=int, default=None, help="also train on shorter spans down to this")
    g.add_argument("--motion-crops", type=int, default=4,
                   help="crop candidates per video sample; the one with most change is used (1: uniform)")
    g.add_argument("--balance-sources", action="store_true",
                   help="draw every video equally often (default: in proportion to its training frames)")
    g.add_argument("--no-reverse", action="store_true", help="disable random frame-order reversal")
    g.add_argument("--max-side", type=int, default=None, help="shrink source frames to this longer side")
    g.add_argument("--val-fraction", type=float, default=0.1, help="held-out final part of each source")
    g.add_argument("--val-windows", type=int, default=8, help="validation windows per source")
    g.add_argument("--val-span", type=int, default=2, help="validation inputs are this many frames apart")
    g.add_argument("--val-size", type=int, default=256, help="centre crop of validation frames (0: whole)")
    g.add_argument("--workers", type=int, default=0, help="data loader worker processes")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=50)
    g.add_argument("--lr", type=float, default=1e-4)
    g.add_argument("--ema", type=float, default=0.999,
                   help="decay of the weight average that is validated and saved (0: save the raw weights)")
    g.add_argument("--restart-epochs", type=int, default=10, help="epochs until the first warm restart")
    g.add_argument("--restart-mult", type=int, default=2, help="period multiplier after each restart")
    g.add_argument("--rec-loss", choices=REC_NORMS, default="l1",
                   help="reconstruction loss: l1 (the paper), or l2 / psnr (per-sample PSNR) to fine-tune for PSNR")
    g.add_argument("--rec-weight", type=float, default=None,
                   help="reconstruction weight (default: " + ", ".join(f"{v:g} for {k}" for k, v in DEFAULT_REC_WEIGHTS.items()) + ")")
    g.add_argument("--perc-weight", type=float, default=LossWeights.perc)
    g.add_argument("--warp-weight", type=float, default=LossWeights.warp)
    g.add_argument("--smooth-weight", type=float, default=LossWeights.smooth)
    g.add_argument("--vgg", type=Path, help="torchvision vgg16 state dict for the perceptual loss (no download)")
    g = p.add_argument_group("run")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    g.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    g.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--max-minutes", type=float, default=0, help="stop (and save) after this long")
    g.add_argument("--plain", action="store_true", help="plain log lines even on a terminal")
    g.add_argument("--log-every", type=int, default=20, help="steps between plain log lines")
    return p


def main(argv: list[str] | None = None, prog: str = "python -m vsslomo.train") -> int:
    """Entry point of ``python -m vsslomo.train`` and ``vsslomo train``."""
    args = build_parser(prog).parse_args(argv)
    if args.crop % 32:
        raise SystemExit("vsslomo train: --crop must be a multiple of 32")
    if args.val_size == 0:
        args.val_size = None
    train(args)
    return 0

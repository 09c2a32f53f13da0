"""The training loop, one for every family: data, optimiser, schedule, validation, checkpoints,
DDP, mixed precision (fp16 on CUDA, bf16 on CPU) and resuming.

What differs between families (the network, one training forward, the loss, the checkpoint
layout, default optimiser and schedule) comes from :mod:`vsslomo.train.families`.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from ..device import cpu_has_native_bf16
from .checkpoint import checkpoint_payload, family_of, load_training_state, restore, save_atomic
from .data import ValidationWindows
from .datasets import TrainSet, build_train_set, build_val_set, load_all_sources, set_epoch, teacher_lookup
from .ema import WeightAverage
from .errors import TrainError
from .families import FAMILIES, Family
from .metrics import psnr, ssim
from .progress import Progress


class Dist:
    """Distributed context from torchrun's environment (single process when absent)."""

    def __init__(self, device_arg: str | None) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device(device_arg) if device_arg else torch.device("cuda" if torch.cuda.is_available() else "cpu")
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

    def any(self, flag: bool) -> bool:
        """True if any rank has the flag set."""
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


@torch.no_grad()
def validate(model: nn.Module, data: ValidationWindows, device: torch.device) -> dict[str, Any]:
    """Mean PSNR/SSIM of the model (its inference forward) and of frame blending over ``data``,
    and the model's PSNR per source."""
    if len(data) == 0:
        return {}
    was_training = model.training
    model.eval()
    sums = {"psnr": 0.0, "ssim": 0.0, "blend_psnr": 0.0, "blend_ssim": 0.0}
    per_source: dict[str, list[float]] = {}
    for i in range(len(data)):
        s = {k: v.to(device) for k, v in data[i].items()}
        img0, target, img1, t = s["img0"][None], s["target"][None], s["img1"][None], s["t"]
        pred = model(img0, img1, t.reshape(1)).float()
        blend = (1 - t) * img0 + t * img1
        value = float(psnr(pred, target))
        per_source.setdefault(data.names[i], []).append(value)
        sums["psnr"] += value
        sums["ssim"] += float(ssim(pred, target))
        sums["blend_psnr"] += float(psnr(blend, target))
        sums["blend_ssim"] += float(ssim(blend, target))
    model.train(was_training)
    out: dict[str, Any] = {k: v / len(data) for k, v in sums.items()}
    out["source_psnr"] = {name: sum(v) / len(v) for name, v in per_source.items()}
    return out


def plain_args(args: argparse.Namespace) -> dict[str, Any]:
    """The options as plain data (paths as strings) so ``weights_only`` loading reads them."""

    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return str(v) if isinstance(v, Path) else v

    return {k: plain(v) for k, v in vars(args).items()}


def make_optimizer(args: argparse.Namespace, model: nn.Module) -> torch.optim.Optimizer:
    """The optimiser of the options, with whatever the family of ``args.model`` adds to it."""
    kind = torch.optim.AdamW if args.optimizer == "adamw" else torch.optim.Adam
    optimizer = kind(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    tune = FAMILIES[args.model].tune_optimizer
    if tune is not None:
        tune(args, model, optimizer)
    return optimizer


class Schedule:
    """``restarts``: cosine annealing with warm restarts, stepped in fractional epochs (to lr/100);
    ``cosine``: one cosine per iteration from ``--lr`` to ``--lr-end`` over all epochs."""

    def __init__(self, args: argparse.Namespace, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> None:
        self.kind = args.schedule
        self.steps_per_epoch = steps_per_epoch
        if self.kind == "cosine":
            total = max(1, args.epochs * steps_per_epoch)
            lo, hi = args.lr_end, args.lr

            def factor(step: int) -> float:
                return (lo + (hi - lo) * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))) / hi

            self.impl: Any = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        else:
            self.impl = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
                optimizer, T_0=args.restart_epochs, T_mult=args.restart_mult, eta_min=args.lr * 0.01)

    def step(self, epoch: int, step_in_epoch: int) -> None:
        if self.kind == "cosine":
            self.impl.step()
        else:
            self.impl.step(epoch + step_in_epoch / self.steps_per_epoch)

    def state_dict(self) -> dict[str, Any]:
        return self.impl.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.impl.load_state_dict(state)


@dataclass
class Run:
    """Everything one training run holds between steps."""

    family: Family
    model: nn.Module
    ema: WeightAverage | None
    step_module: nn.Module
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    scaler: torch.amp.GradScaler
    autocast: dict[str, Any]
    start_epoch: int
    history: list[dict[str, Any]]
    best: float
    seconds_before: float
    samples_before: int

    @property
    def eval_model(self) -> nn.Module:
        """The model that is validated and saved for inference (the average, if any)."""
        return self.ema.model if self.ema is not None else self.model


def _resume_state(args: argparse.Namespace, family: Family, last: Path) -> dict[str, Any] | None:
    if not (args.resume and last.is_file()):
        return None
    state = load_training_state(last)
    found = family_of(state)
    if found != family.name:
        raise TrainError(f"--resume: {last} is a {found} checkpoint, not {family.name}; pass --model {found} "
                         "or another --out")
    return state


def setup_run(args: argparse.Namespace, ctx: Dist, steps_per_epoch: int, log: Any) -> Run:
    """Model (fresh, ``--init`` or resumed), average, optimiser, schedule and precision."""
    family = FAMILIES[args.model]
    device = ctx.device
    state = _resume_state(args, family, Path(args.out) / "last.pt")
    model = family.from_payload(state) if state is not None else family.build(args, log)
    model.to(device).train()
    if args.channels_last:
        model.to(memory_format=torch.channels_last)
    ema = None
    if args.ema > 0:
        ema = WeightAverage(model, args.ema)
    meta: dict[str, Any] = {}
    if state is not None:
        meta = restore(family, state, model, ema.model if ema is not None else None)
        if ema is not None:
            ema.updates = int(meta.get("ema_updates", 0))
        log(f"resuming from {Path(args.out) / 'last.pt'} after epoch {meta.get('epoch')}")
    step_module: nn.Module = family.train_forward(model)
    if ctx.world > 1:
        step_module = nn.parallel.DistributedDataParallel(
            step_module, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = make_optimizer(args, model)
    schedule = Schedule(args, optimizer, steps_per_epoch)
    use_amp = device.type == "cuda" and not args.no_amp
    use_bf16 = device.type == "cpu" and args.bf16
    if use_bf16 and not cpu_has_native_bf16():
        log("note: --bf16 on a CPU without native bfloat16 (no AVX-512 BF16 or AMX): autocast emulates it, "
            "several times slower than fp32 here; drop --bf16")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    autocast = {"device_type": device.type, "dtype": torch.bfloat16 if use_bf16 else torch.float16,
                "enabled": use_amp or use_bf16}
    run = Run(family, model, ema, step_module, family.criterion(args, device, log).to(device), optimizer, schedule,
              scaler, autocast, 0, [], -math.inf, 0.0, 0)
    if state is not None:
        optimizer.load_state_dict(meta["optimizer"])
        schedule.load_state_dict(meta["scheduler"])
        if use_amp and meta.get("scaler"):
            scaler.load_state_dict(meta["scaler"])
        run.start_epoch = int(meta["epoch"]) + 1
        run.history = list(meta.get("history", []))
        run.best = float(meta.get("best_psnr", -math.inf))
        run.seconds_before = float(meta.get("train_seconds", 0.0))
        run.samples_before = int(meta.get("samples_seen", 0))
    return run


def train_step(run: Run, batch: dict[str, torch.Tensor], channels_last: bool) -> tuple[float, float]:
    """One optimisation step; returns (loss, batch PSNR)."""
    if channels_last:
        batch = {k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v for k, v in batch.items()}
    with torch.autocast(**run.autocast):
        out = run.step_module(batch)
    loss, _ = run.criterion(out, batch)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    if run.ema is not None:
        run.ema.update(run.model)
    with torch.no_grad():
        batch_psnr = float(psnr(run.family.frame(out, batch), batch["target"]).mean())
    return loss.item(), batch_psnr


def end_epoch(run: Run, args: argparse.Namespace, record: dict[str, Any], val_set: ValidationWindows,
              device: torch.device, elapsed: float, samples: int, progress: Progress) -> dict[str, Any]:
    """Validate, append to the history, save last.pt (and best.pt); rank 0 only."""
    out_dir = Path(args.out)
    val = validate(run.eval_model, val_set, device)
    record.update({f"val_{k}": v for k, v in val.items()})
    run.history.append(record)
    is_best = bool(val) and val["psnr"] > run.best
    run.best = max(run.best, val.get("psnr", -math.inf))
    meta = {
        # A partial epoch is resumed from its start (its steps are kept as training).
        "epoch": record["epoch"] if record["complete"] else record["epoch"] - 1,
        "timestamp": datetime.datetime.now().isoformat(timespec="seconds"),
        "learningRate": run.optimizer.param_groups[0]["lr"],
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.schedule.state_dict(),
        "scaler": run.scaler.state_dict() if run.scaler.is_enabled() else {},
        "history": run.history,
        "best_psnr": run.best,
        "val": val,
        "train_seconds": run.seconds_before + elapsed,
        "samples_seen": run.samples_before + samples,
        "args": plain_args(args),
        "ema_updates": run.ema.updates if run.ema is not None else 0,
    }
    payload = checkpoint_payload(run.family, run.model, run.ema.model if run.ema is not None else None, meta)
    save_atomic(payload, out_dir / "last.pt")
    if is_best:
        save_atomic(payload, out_dir / "best.pt")
    msg = f"epoch {record['epoch']} done: train loss {record['train_loss']:.4f} psnr {record['train_psnr']:.2f}"
    if val:
        msg += (f" | val psnr {val['psnr']:.2f} ssim {val['ssim']:.4f} (blend {val['blend_psnr']:.2f} / "
                f"{val['blend_ssim']:.4f}){' best' if is_best else ''}")
    progress.log(msg + f" | saved {out_dir / 'last.pt'}")
    if val:
        progress.log("val psnr per source: " + ", ".join(f"{k} {v:.2f}" for k, v in val["source_psnr"].items()))
    return meta


def make_loader(train_set: TrainSet, args: argparse.Namespace, ctx: Dist) -> tuple[DataLoader, Any]:
    if ctx.world > 1:
        sampler: Any = DistributedSampler(train_set, num_replicas=ctx.world, rank=ctx.rank, shuffle=True, seed=args.seed)
    else:
        sampler = RandomSampler(train_set)
    loader = DataLoader(train_set, batch_size=args.batch, sampler=sampler, num_workers=args.workers, drop_last=True,
                        pin_memory=ctx.device.type == "cuda", persistent_workers=args.workers > 0)
    return loader, sampler


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Run training as configured (options checked by :func:`vsslomo.train.checks.check_args`);
    returns the last checkpoint's metadata."""
    ctx = Dist(args.device)
    try:
        return _train(args, ctx)
    finally:
        ctx.close()


def _train(args: argparse.Namespace, ctx: Dist) -> dict[str, Any]:
    torch.manual_seed(args.seed + ctx.rank)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = ctx.device
    log = Progress(0, enabled=ctx.main, rich=False).log
    log(f"training {FAMILIES[args.model].description}")
    sources = load_all_sources(args, log)
    teacher = teacher_lookup(args, sources, log) if ctx.main else None
    ctx.barrier()
    if not ctx.main:
        teacher = teacher_lookup(args, sources, log, main=False)  # the cache rank 0 filled
    train_set = build_train_set(args, sources, log, teacher)
    val_set = build_val_set(args, sources)
    log(f"training samples per epoch: {len(train_set)}; validation windows: {len(val_set)}")
    loader, sampler = make_loader(train_set, args, ctx)
    steps_per_epoch = len(loader)
    run = setup_run(args, ctx, steps_per_epoch, log)

    if ctx.main and run.start_epoch == 0 and len(val_set):
        v0 = validate(run.eval_model, val_set, device)
        log(f"before training: val psnr {v0['psnr']:.2f} ssim {v0['ssim']:.4f} | "
            f"blend psnr {v0['blend_psnr']:.2f} ssim {v0['blend_ssim']:.4f}")
    progress = Progress(max(0, args.epochs - run.start_epoch) * steps_per_epoch, enabled=ctx.main,
                        rich=None if not args.plain else False, log_every=args.log_every)
    stop = {"flag": False}

    def on_signal(signum: int, frame: Any) -> None:
        stop["flag"] = True

    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    deadline = time.monotonic() + args.max_minutes * 60 if args.max_minutes else math.inf
    t_start, samples, meta = time.monotonic(), 0, {}
    try:
        for epoch in range(run.start_epoch, args.epochs):
            if isinstance(sampler, DistributedSampler):
                sampler.set_epoch(epoch)
            set_epoch(train_set, epoch)
            loss_sum, psnr_sum, n_steps = 0.0, 0.0, 0
            for i, batch in enumerate(loader):
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                loss, batch_psnr = train_step(run, batch, args.channels_last)
                run.schedule.step(epoch, i + 1)
                loss_sum, psnr_sum, n_steps = loss_sum + loss, psnr_sum + batch_psnr, n_steps + 1
                samples += args.batch * ctx.world
                progress.step(epoch, i + 1, args.batch * ctx.world, loss, batch_psnr, run.optimizer.param_groups[0]["lr"])
                if ctx.any(stop["flag"] or time.monotonic() > deadline):
                    stop["flag"] = True
                    break
            record = {"epoch": epoch, "steps": n_steps, "complete": n_steps == steps_per_epoch,
                      "train_loss": loss_sum / max(1, n_steps), "train_psnr": psnr_sum / max(1, n_steps)}
            if ctx.main:
                meta = end_epoch(run, args, record, val_set, device, time.monotonic() - t_start, samples, progress)
            ctx.barrier()
            if stop["flag"]:
                progress.log("stopping early (signal or --max-minutes); resume with --resume")
                break
    finally:
        progress.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
    return meta

"""Every input of ``vsslomo train`` checked before the first step, each failure one clear line.

Nothing here trains; it looks at the options, the output folder, the sources, the photo
folders and the weights files, so that a run never trains for an epoch and then fails to
save, or dies deep inside ffmpeg or a data loader.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

from ..render.errors import RenderError
from ..render.ffmpeg import find_ffmpeg
from .data import IMAGE_SUFFIXES, list_images
from .errors import TrainError
from .families import FAMILIES
from .options import build_parser

MAX_CROP = 4096


def check_args(args: argparse.Namespace, world: int = 1) -> None:
    """Raise :class:`TrainError` for the first problem found in the options and inputs."""
    family = FAMILIES[args.model]
    _check_numbers(args, family.pad_multiple, world)
    _check_family_options(args)
    if not args.sources and not args.synthetic:
        raise TrainError("nothing to train on: give video files / frame folders and/or --synthetic [PHOTO_DIR]")
    check_out_dir(args.out)
    for src in args.sources:
        check_source(Path(src))
    for folder in args.synthetic or []:
        check_photo_dir(Path(folder))
    for name in ("init", "vgg"):
        path = getattr(args, name, None)
        if path is not None:
            check_file(Path(path), f"--{name}")
    if args.init is not None:
        family.build(args, lambda message: None)  # an unusable --init is refused here, not after decoding
    check_resume(args)
    if args.teacher == "rife" and args.sources:
        from ..models.rife import default_checkpoint

        try:
            default_checkpoint()
        except FileNotFoundError as exc:
            raise TrainError(f"--teacher rife: {exc}") from None


def _check_numbers(args: argparse.Namespace, multiple: int, world: int) -> None:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise TrainError(message)

    need(args.out is not None, "--out DIR is required (the folder for last.pt / best.pt)")
    need(multiple <= args.crop <= MAX_CROP and args.crop % multiple == 0,
         f"--crop must be a multiple of {multiple} between {multiple} and {MAX_CROP} for {args.model}, got {args.crop}")
    need(args.batch >= 1, f"--batch must be at least 1, got {args.batch}")
    need(args.epochs >= 1, f"--epochs must be at least 1, got {args.epochs}")
    need(args.samples_per_epoch >= args.batch * world,
         f"--samples-per-epoch ({args.samples_per_epoch}) is smaller than the global batch ({args.batch * world})")
    need(args.window >= 3, f"--window must be at least 3 frames, got {args.window}")
    need(args.min_span is None or 2 <= args.min_span <= args.window - 1,
         f"--min-span must lie between 2 and --window - 1 ({args.window - 1}), got {args.min_span}")
    need(args.val_span >= 2, f"--val-span must be at least 2, got {args.val_span}")
    need(args.val_size is None or (args.val_size >= 32 and args.val_size % 32 == 0),
         f"--val-size must be 0 (whole frames) or a multiple of 32, got {args.val_size}")
    need(0.0 <= args.val_fraction < 0.5, f"--val-fraction must lie in [0, 0.5), got {args.val_fraction}")
    need(0.0 <= args.synthetic_fraction <= 1.0, f"--synthetic-fraction must lie in [0, 1], got {args.synthetic_fraction}")
    need(args.lr > 0 and args.lr_end > 0, f"learning rates must be positive, got --lr {args.lr} --lr-end {args.lr_end}")
    need(0.0 <= args.ema < 1.0, f"--ema must lie in [0, 1), got {args.ema}")
    need(args.flow_gain > 0, f"--flow-gain must be positive, got {args.flow_gain}")
    need(args.weight_decay >= 0, f"--weight-decay must not be negative, got {args.weight_decay}")
    need(args.threads >= 0, f"--threads must not be negative, got {args.threads}")
    need(args.workers >= 0, f"--workers must not be negative, got {args.workers}")
    need(args.max_motion >= 0, f"--max-motion must not be negative, got {args.max_motion}")
    need(0.0 <= args.zoom_change < 1.0, f"--zoom-change must lie in [0, 1), got {args.zoom_change}")
    need(0.0 <= args.still_fraction <= 1.0, f"--still-fraction must lie in [0, 1], got {args.still_fraction}")
    need(0.0 <= args.texture_fraction <= 1.0, f"--texture-fraction must lie in [0, 1], got {args.texture_fraction}")
    low, high = args.wavelength
    need(2.0 <= low <= high <= 1024.0, f"--wavelength needs 2 <= MIN <= MAX <= 1024 (photo pixels), got {low} {high}")
    need(0.0 <= args.sensor_noise <= 64.0, f"--sensor-noise must lie in [0, 64] (8-bit levels), got {args.sensor_noise}")
    low, high = args.sprites
    need(0 <= low <= high <= 64, f"--sprites needs 0 <= MIN <= MAX <= 64, got {low} {high}")
    low, high = args.sprite_size
    need(0.0 < low <= high <= 1.0, f"--sprite-size needs 0 < MIN <= MAX <= 1 (fractions of --crop), got {low} {high}")
    need(args.teacher_scale in (0.25, 0.5, 1.0), f"--teacher-scale must be 1, 0.5 or 0.25, got {args.teacher_scale}")
    need(args.photo_side >= 64, f"--photo-side must be at least 64, got {args.photo_side}")
    need(args.restart_epochs >= 1 and args.restart_mult >= 1, "--restart-epochs and --restart-mult must be at least 1")
    need(args.max_side is None or args.max_side >= args.crop,
         f"--max-side ({args.max_side}) is smaller than --crop ({args.crop})")
    for name in ("rec_weight", "perc_weight", "warp_weight", "smooth_weight", "census_weight", "geometry_weight",
                 "distill_weight", "distill_fine"):
        value = getattr(args, name)
        need(value is None or value >= 0, f"--{name.replace('_', '-')} must not be negative, got {value}")
    if args.device:
        _check_device(args.device)


def _check_family_options(args: argparse.Namespace) -> None:
    """An option that only other families read is refused when set, rather than silently ignored."""
    parser = build_parser()
    own = FAMILIES[args.model].options
    for dest in sorted(set().union(*(f.options for f in FAMILIES.values())) - own):
        if getattr(args, dest, None) != parser.get_default(dest):
            users = ", ".join(name for name, f in FAMILIES.items() if dest in f.options)
            raise TrainError(f"--{dest.replace('_', '-')} is an option of --model {users}; --model {args.model} "
                             "does not use it: remove it from the command line or the recipe")


def _check_device(device: str) -> None:
    import torch

    from ..device import cuda_missing_reason

    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError):
        kind = None
    if kind not in ("cpu", "cuda"):
        raise TrainError(f"--device {device!r} is not a device vsslomo trains on; use cpu, cuda or cuda:N")
    if kind == "cuda" and not torch.cuda.is_available():
        raise TrainError(f"--device {device}: no CUDA device is visible ({cuda_missing_reason()}); or use --device cpu")


def check_resume(args: argparse.Namespace) -> None:
    """With ``--resume``, an existing OUT/last.pt must be a readable checkpoint of the same family."""
    last = Path(args.out) / "last.pt"
    if not (args.resume and last.is_file()):
        return
    from .checkpoint import family_of, load_training_state

    found = family_of(load_training_state(last))
    if found != args.model:
        raise TrainError(f"--resume: {last} is a {found} checkpoint, not {args.model}; pass --model {found} "
                         "or another --out")


def check_out_dir(out: Path) -> None:
    """``out`` exists or can be made, is a folder, and a file can be written in it.

    Folders made for the test are removed again (the first checkpoint makes them for good),
    so a run refused by a later check leaves nothing behind.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TrainError(f"--out {out} is a file; pass a folder for the checkpoints")
    made = [p for p in (out, *out.parents) if not p.exists()]  # deepest first
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise TrainError(f"--out {out} is not writable ({exc.strerror or exc}); pick a folder you can write to") from None
    finally:
        for folder in made:
            try:
                folder.rmdir()
            except OSError:
                break


def check_file(path: Path, option: str) -> None:
    """``path`` is a readable file."""
    if path.is_dir():
        raise TrainError(f"{option} {path} is a directory; pass the weights file inside it")
    if not path.exists():
        raise TrainError(f"{option} {path} does not exist")
    if not os.access(path, os.R_OK):
        raise TrainError(f"{option} {path} is not readable")


def check_source(path: Path) -> None:
    """A frame folder with pictures, or a (possibly .gz) file ffmpeg decodes a video frame from."""
    if path.is_dir():
        if not list_images(path):
            raise TrainError(f"source {path} is a folder without pictures ({', '.join(IMAGE_SUFFIXES)}); "
                             "pass a video file or a folder of numbered frames")
        return
    if not path.exists():
        raise TrainError(f"source {path} does not exist")
    if path.suffix == ".gz":
        return  # decompressed when loaded; its decode errors are reported then
    try:
        ffmpeg = find_ffmpeg()
    except RenderError as exc:
        raise TrainError(str(exc)) from None
    cmd = [ffmpeg, "-v", "error", "-i", str(path), "-map", "0:v:0", "-frames:v", "1", "-f", "null", "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TrainError(f"cannot run ffmpeg on {path}: {exc}") from None
    err = proc.stderr.strip()
    if proc.returncode == 0:
        return
    if "matches no streams" in err:
        raise TrainError(f"source {path} has no video stream (an audio-only file?); pass videos or frame folders")
    last = err.splitlines()[-1] if err else f"exit code {proc.returncode}"
    raise TrainError(f"source {path} cannot be decoded by ffmpeg: {last}")


def check_photo_dir(folder: Path) -> None:
    """A folder holding at least one picture for synthetic scenes."""
    if not folder.is_dir():
        raise TrainError(f"photo folder {folder} not found; pass --synthetic PHOTO_DIR (any folder of jpg/png/webp "
                         "pictures) or install gnome-backgrounds")
    if not list_images(folder) and not list(folder.glob("*.svg")):
        raise TrainError(f"photo folder {folder} holds no pictures ({', '.join(IMAGE_SUFFIXES)}, .svg)")

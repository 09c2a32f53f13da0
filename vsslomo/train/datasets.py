"""The training and validation sets of a run, from its options: videos, synthetic scenes, teacher flows."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from torch.utils.data import ConcatDataset, Dataset

from ..render.errors import RenderError
from .data import Augment, FrameSource, TeacherLookup, ValidationWindows, VideoWindows, load_sources, split_segments
from .errors import TrainError
from .synthetic import SyntheticScenes, load_photos
from .teacher import FlowCache, RIFETeacher, half_spans_for

Log = Callable[[str], None]

type TrainSet = VideoWindows | SyntheticScenes | ConcatDataset
"""What :func:`build_train_set` returns: a map-style dataset with a length."""


def augment_of(args: argparse.Namespace) -> Augment:
    """The augmentations the options ask for."""
    return Augment(hflip=True, reverse=not args.no_reverse, vflip=args.vflip, channels=args.channel_swap)


def load_all_sources(args: argparse.Namespace, log: Log) -> list[FrameSource]:
    """Decode every source (a decode failure is a :class:`TrainError`)."""
    try:
        sources = load_sources(args.sources, args.max_side) if args.sources else []
    except (ValueError, FileNotFoundError, RenderError) as exc:
        raise TrainError(str(exc)) from None
    for s in sources:
        log(f"source {s.name}: {len(s.frames)} frames {s.frames.shape[2]}x{s.frames.shape[1]}")
    return sources


def teacher_lookup(args: argparse.Namespace, sources: list[FrameSource], log: Log,
                   main: bool = True) -> TeacherLookup | None:
    """Fill the teacher-flow cache for the training segments (rank 0 only) and return its lookup."""
    if args.teacher == "none" or not sources:
        return None
    if args.teacher == "exact":
        return lambda source, centre, d: None  # real windows carry no flows; synthetic ones their exact motion
    folder = Path(args.cache) if args.cache else Path(args.out).parent / "teacher-cache"
    spans = half_spans_for(args.window)
    caches = [FlowCache(folder, src, spans, args.teacher_scale) for src in sources]
    todo = sum(len(c.missing(split_segments(len(c.src.frames), args.window, args.val_fraction)[0])) for c in caches)
    if todo and main:
        log(f"teacher: RIFE HDv3 flows for {todo} (frame, half-span) entries into {folder} (once)")
        teacher = RIFETeacher(scale=args.teacher_scale)
        for cache in caches:
            train, _ = split_segments(len(cache.src.frames), args.window, args.val_fraction)
            cache.fill(teacher, train, log)
    return lambda source, centre, d: caches[source].lookup(centre, d)


def build_train_set(args: argparse.Namespace, sources: list[FrameSource], log: Log,
                    teacher: TeacherLookup | None) -> TrainSet:
    """Video windows and synthetic scenes mixed by ``--synthetic-fraction``."""
    parts: list[VideoWindows | SyntheticScenes] = []
    n = args.samples_per_epoch
    n_synth = 0
    if args.synthetic:
        n_synth = n if not sources else int(round(n * args.synthetic_fraction))
    augment = augment_of(args)
    with_flows = args.teacher != "none"
    if sources and n - n_synth > 0:
        try:
            parts.append(VideoWindows(sources, n - n_synth, args.crop, args.window, args.min_span, args.val_fraction,
                                      augment, args.seed, args.motion_crops, args.balance_sources, teacher))
        except ValueError as exc:
            sizes = ", ".join(f"{s.name} {s.frames.shape[2]}x{s.frames.shape[1]} ({len(s.frames)} frames)" for s in sources)
            raise TrainError(f"{exc} (sources: {sizes}); lower --crop or --window") from None
    if n_synth > 0:
        photos = []
        for folder in map(Path, args.synthetic):
            try:
                photos += load_photos(folder, max_side=args.photo_side, log=log)
            except ValueError as exc:
                raise TrainError(f"--synthetic {folder}: {exc}") from None
        log(f"synthetic scenes from {len(photos)} photos in {', '.join(map(str, args.synthetic))}")
        parts.append(SyntheticScenes(photos, n_synth, args.crop, args.max_motion, augment=augment, seed=args.seed,
                                     zoom_change=args.zoom_change, rotation=args.rotation, flows=with_flows,
                                     still_fraction=args.still_fraction, sprites=tuple(args.sprites),
                                     sprite_size=tuple(args.sprite_size), sensor_noise=args.sensor_noise,
                                     texture_fraction=args.texture_fraction, wavelength=tuple(args.wavelength)))
    if not parts:
        raise TrainError("nothing to train on: give video files / frame folders and/or --synthetic [PHOTO_DIR]")
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


def build_val_set(args: argparse.Namespace, sources: list[FrameSource]) -> ValidationWindows:
    """Fixed windows from the held-out end of every source."""
    return ValidationWindows(sources, args.val_windows, args.val_span, args.window, args.val_fraction, args.val_size)


def set_epoch(dataset: Dataset, epoch: int) -> None:
    """Tell every part of a (concatenated) dataset which epoch it serves."""
    for d in getattr(dataset, "datasets", [dataset]):
        d.set_epoch(epoch)

"""Training samples from real footage: windows of consecutive frames from videos or frame folders.

Frames are decoded with the ffmpeg binary (:func:`vsslomo.render.ffmpeg.find_ffmpeg`: ``$VSSLOMO_FFMPEG``,
then ``ffmpeg`` on PATH, then imageio-ffmpeg's), never with VapourSynth. Each source is split
by time: the last ``val_fraction`` of its frames is a held-out validation segment, separated
from the training part by a gap of one window.

A sample (:func:`make_sample`) is a dict of tensors: ``img0``, ``target``, ``img1`` ``(3, h, w)``
in [0, 1], the scalar ``t`` of the target, and, where a teacher or the exact motion is known,
``flow`` ``(4, h, w)`` (F_t->0 then F_t->1, pixels) with ``flow_valid`` ``(2,)`` (1 where each
half is known).
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from ..render.errors import RenderError
from ..render.ffmpeg import find_ffmpeg

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm")
Sample = dict[str, Tensor]


def make_sample(img0: Tensor, target: Tensor, img1: Tensor, t: float, flow: Tensor | None = None,
                flow_valid: Tensor | None = None) -> Sample:
    """A training sample; ``flow`` ``(4, h, w)`` holds F_t->0 and F_t->1 when known."""
    out: Sample = {"img0": img0, "target": target, "img1": img1, "t": torch.tensor(float(t), dtype=torch.float32)}
    if flow is not None:
        out["flow"] = flow
        out["flow_valid"] = flow_valid if flow_valid is not None else torch.ones(2)
    return out


def _decoded_size(path: Path, scale: list[str]) -> tuple[int, int]:
    """Width and height of the decoded (and scaled) first frame, read from a PPM header."""
    cmd = [find_ffmpeg(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-frames:v", "1", *scale]
    proc = subprocess.run(cmd + ["-f", "image2pipe", "-c:v", "ppm", "-"], capture_output=True, check=False)
    fields = proc.stdout[:64].split()
    if proc.returncode != 0 or len(fields) < 3 or fields[0] != b"P6":
        err = proc.stderr.decode(errors="replace")
        if "matches no streams" in err or (proc.returncode == 0 and not proc.stdout):
            raise ValueError(f"{path} has no video stream (an audio-only or empty file?); pass videos or frame folders")
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        raise ValueError(f"ffmpeg cannot decode {path}: {lines[-1].strip() if lines else 'no picture'}")
    return int(fields[1]), int(fields[2])


def _scale_filter(max_side: int | None) -> list[str]:
    if not max_side:
        return []
    # Shrink only, keep the aspect ratio, even sizes.
    expr = f"scale='2*trunc(min(1,{max_side}/max(iw,ih))*iw/2)':'2*trunc(min(1,{max_side}/max(iw,ih))*ih/2)':flags=area"
    return ["-vf", expr]


def read_video(path: Path, max_side: int | None = None, max_frames: int | None = None) -> np.ndarray:
    """Decode a video to ``(N, H, W, 3)`` uint8 RGB, optionally shrunk so its longer side <= max_side."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    cmd = [find_ffmpeg(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough"]
    cmd += _scale_filter(max_side)
    if max_frames:
        cmd += ["-frames:v", str(max_frames)]
    w, h = _decoded_size(path, _scale_filter(max_side))
    proc = subprocess.run(cmd + ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.decode(errors="replace").strip().splitlines() if ln.strip()]
        raise ValueError(f"ffmpeg failed on {path}: {lines[-1].strip() if lines else 'unknown error'}")
    n = len(proc.stdout) // (w * h * 3)
    return np.frombuffer(proc.stdout, dtype=np.uint8, count=n * w * h * 3).reshape(n, h, w, 3)


def read_image(path: Path, max_side: int | None = None) -> np.ndarray:
    """Decode one image file to ``(H, W, 3)`` uint8 RGB with ffmpeg."""
    frames = read_video(path, max_side=max_side, max_frames=1)
    if len(frames) != 1:
        raise ValueError(f"ffmpeg decoded no picture from {path}")
    return frames[0]


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def read_frame_folder(folder: Path, max_side: int | None = None) -> np.ndarray:
    """Decode a folder of numbered frames (sorted by file name) to ``(N, H, W, 3)`` uint8."""
    paths = list_images(folder)
    if not paths:
        raise ValueError(f"no image files in {folder}")
    frames = [read_image(p, max_side) for p in paths]
    if len({f.shape for f in frames}) != 1:
        raise ValueError(f"frames in {folder} differ in size")
    return np.stack(frames)


@dataclass
class FrameSource:
    """Decoded frames of one source."""

    name: str
    frames: np.ndarray


def load_sources(paths: Sequence[Path], max_side: int | None = None) -> list[FrameSource]:
    """Decode every video file / frame folder in ``paths``."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            frames = read_frame_folder(p, max_side)
        elif p.suffix == ".gz":
            frames = _read_gzipped_video(p, max_side)
        else:
            frames = read_video(p, max_side)
        out.append(FrameSource(p.name[: -len(".gz")] if p.suffix == ".gz" else p.name, frames))
    return out


def _read_gzipped_video(path: Path, max_side: int | None) -> np.ndarray:
    """Decode a gzip-compressed video (e.g. opencv-doc's ``box.mp4.gz``) through a temporary copy."""
    with tempfile.TemporaryDirectory(prefix="vsslomo-train-") as tmp:
        plain = Path(tmp) / path.name[: -len(".gz")]
        with gzip.open(path, "rb") as fin, open(plain, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        return read_video(plain, max_side)


def split_segments(n_frames: int, window: int, val_fraction: float) -> tuple[range, range]:
    """Frame index ranges (train, validation): validation is the last part, after a gap of ``window``."""
    n_val = int(round(n_frames * val_fraction)) if val_fraction > 0 else 0
    if n_val and n_val < window:
        n_val = window
    if n_val == 0:
        return range(0, n_frames), range(n_frames, n_frames)
    train_end = max(0, n_frames - n_val - window)
    return range(0, train_end), range(n_frames - n_val, n_frames)


def to_tensor(frame: np.ndarray) -> Tensor:
    """``(H, W, 3)`` uint8 -> ``(3, H, W)`` float32 in [0, 1]."""
    return torch.from_numpy(np.array(frame)).permute(2, 0, 1).float().div_(255.0)


class WindowSampler:
    """Chooses which frames of a window form a sample: span between the inputs and target index.

    With ``window`` = 9 and ``min_span`` = 8 (the paper), the inputs are the window's ends and
    the target one of the 7 inner frames (t = k/8). A smaller ``min_span`` also trains on
    shorter spans (smaller motion).
    """

    def __init__(self, window: int = 9, min_span: int | None = None) -> None:
        if window < 3:
            raise ValueError("window must be at least 3 frames")
        self.window = window
        self.min_span = window - 1 if min_span is None else max(2, min(min_span, window - 1))

    def draw(self, rng: np.random.Generator) -> tuple[int, int]:
        """(span, k): inputs at offsets 0 and span, target at offset k, t = k / span."""
        span = int(rng.integers(self.min_span, self.window))
        return span, int(rng.integers(1, span))


@dataclass(frozen=True)
class Augment:
    """Random flips, RGB channel permutations and time reversal, applied alike to every image
    of a sample; the flows are adjusted (mirrored and negated, or exchanged and t -> 1 - t).

    Draws happen only for enabled augmentations, in a fixed order (part of the recipes'
    reproducibility).
    """

    hflip: bool = True
    reverse: bool = True
    vflip: bool = False
    channels: bool = False

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        out = dict(sample)
        images = ("img0", "target", "img1")
        flow = out.get("flow")
        if self.hflip and rng.random() < 0.5:
            for k in images:
                out[k] = out[k].flip(-1)
            if flow is not None:
                flow = flow.flip(-1) * torch.tensor([-1.0, 1.0, -1.0, 1.0]).view(4, 1, 1)
        if self.reverse and rng.random() < 0.5:
            out["img0"], out["img1"] = out["img1"], out["img0"]
            out["t"] = 1.0 - out["t"]
            if flow is not None:
                flow = torch.cat((flow[2:4], flow[0:2]))
                out["flow_valid"] = out["flow_valid"].flip(0)
        if self.vflip and rng.random() < 0.5:
            for k in images:
                out[k] = out[k].flip(-2)
            if flow is not None:
                flow = flow.flip(-2) * torch.tensor([1.0, -1.0, 1.0, -1.0]).view(4, 1, 1)
        if self.channels:
            perm = torch.from_numpy(rng.permutation(3))
            for k in images:
                out[k] = out[k][perm]
        if flow is not None:
            out["flow"] = flow.contiguous()
        return out


TeacherLookup = Callable[[int, int, int], "np.ndarray | None"]
"""``lookup(source_index, centre, half_span)``: the teacher's ``(4, H/2, W/2)`` flows from frame
``centre`` to frames ``centre - half_span`` and ``centre + half_span`` (at half resolution, in
full-resolution pixels), or ``None`` where it has none."""


class VideoWindows(Dataset):
    """Random training windows from the training segments of decoded sources.

    ``balance`` draws every source equally often (short clips count as much as long ones);
    otherwise each training frame is equally likely. ``motion_crops`` > 1 draws that many
    crop positions and keeps the one whose inputs differ most, so static regions (nothing to
    learn about motion) are sampled less often. With a ``teacher`` every sample carries the
    teacher's flows for its target (:meth:`teacher_flows`), and crops start at even pixels.
    Map-style with a virtual length so :class:`DistributedSampler` can split it; sample ``i``
    of epoch ``e`` is a deterministic function of (seed, e, i).
    """

    def __init__(
        self,
        sources: Sequence[FrameSource],
        length: int,
        crop: int = 256,
        window: int = 9,
        min_span: int | None = None,
        val_fraction: float = 0.1,
        augment: Augment | None = None,
        seed: int = 0,
        motion_crops: int = 1,
        balance: bool = False,
        teacher: TeacherLookup | None = None,
    ) -> None:
        self.sampler = WindowSampler(window, min_span)
        self.motion_crops = max(1, motion_crops)
        self.crop = crop
        self.length = length
        self.augment = augment if augment is not None else Augment()
        self.seed = seed
        self.teacher = teacher
        self.epoch = 0
        self.items: list[tuple[int, np.ndarray, range]] = []
        for i, src in enumerate(sources):
            train, _ = split_segments(len(src.frames), window, val_fraction)
            h, w = src.frames.shape[1:3]
            if len(train) >= window and h >= crop and w >= crop:
                self.items.append((i, src.frames, train))
        if not self.items:
            raise ValueError(f"no source has {window} training frames of at least {crop}x{crop} pixels")
        # Sources are drawn in proportion to their number of training frames, or equally.
        sizes = np.array([1 if balance else len(r) for _, _, r in self.items], dtype=np.float64)
        self.weights = sizes / sizes.sum()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def _crop_position(self, first: np.ndarray, last: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
        """Top-left corner of the crop: the most changing of ``motion_crops`` random candidates."""
        h, w = first.shape[:2]
        best, best_pos = -1.0, (0, 0)
        for _ in range(self.motion_crops):
            y = int(rng.integers(0, h - self.crop + 1))
            x = int(rng.integers(0, w - self.crop + 1))
            if self.motion_crops == 1:
                return y, x
            # Subsampled mean absolute difference is enough to rank candidates.
            a = first[y : y + self.crop : 4, x : x + self.crop : 4].astype(np.int16)
            b = last[y : y + self.crop : 4, x : x + self.crop : 4].astype(np.int16)
            score = float(np.abs(a - b).mean())
            if score > best:
                best, best_pos = score, (y, x)
        return best_pos

    def teacher_flows(self, source: int, train: range, start: int, k: int, span: int,
                      box: tuple[int, int, int, int]) -> tuple[Tensor, Tensor]:
        """F_t->0 and F_t->1 for the target ``start + k`` of inputs ``start``, ``start + span``, cropped to ``box``.

        Each half comes from the teacher run on the pair centred on the target itself:
        F_t->0 from (start, start + 2k), F_t->1 from (start + 2k - span, start + span). Both
        flows then start at the target's own time, so no scaling in time is assumed (at
        t = 0.5 both are the run on the inputs). A half whose pair reaches outside the
        training segment is marked invalid.
        """
        assert self.teacher is not None
        y, x, h, w = box
        halves, valid = [], []
        for d, part, lo, hi in ((k, slice(0, 2), start, start + 2 * k), (span - k, slice(2, 4), start + 2 * k - span, start + span)):
            flow = self.teacher(source, start + k, d) if lo >= train.start and hi < train.stop else None
            if flow is None:
                halves.append(torch.zeros(2, h, w))
                valid.append(0.0)
                continue
            half = torch.from_numpy(np.asarray(flow[part, y // 2 : (y + h) // 2, x // 2 : (x + w) // 2], dtype=np.float32))
            halves.append(F.interpolate(half[None], size=(h, w), mode="bilinear", align_corners=False)[0])
            valid.append(1.0)
        return torch.cat(halves), torch.tensor(valid)

    def __getitem__(self, index: int) -> Sample:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        source, frames, train = self.items[int(rng.choice(len(self.items), p=self.weights))]
        span, k = self.sampler.draw(rng)
        start = train.start + int(rng.integers(0, len(train) - span))
        y, x = self._crop_position(frames[start], frames[start + span], rng)
        if self.teacher is not None:
            y, x = y - y % 2, x - x % 2
        crop = [to_tensor(frames[start + o, y : y + self.crop, x : x + self.crop]) for o in (0, k, span)]
        flow = valid = None
        if self.teacher is not None:
            flow, valid = self.teacher_flows(source, train, start, k, span, (y, x, self.crop, self.crop))
        return self.augment(make_sample(crop[0], crop[1], crop[2], k / span, flow, valid), rng)


class ValidationWindows(Dataset):
    """Fixed windows from the held-out segments: inputs ``span`` frames apart, target in the middle.

    ``size`` crops the centre to a multiple of 32 (``None``: the largest such crop).
    """

    def __init__(
        self,
        sources: Sequence[FrameSource],
        per_source: int = 8,
        span: int = 2,
        window: int = 9,
        val_fraction: float = 0.1,
        size: int | None = 256,
    ) -> None:
        self.items: list[tuple[np.ndarray, int, tuple[int, int, int, int]]] = []
        self.names: list[str] = []
        """The source of each window, for per-source scores."""
        self.span = span
        for src in sources:
            _, val = split_segments(len(src.frames), window, val_fraction)
            if len(val) <= span:
                continue
            h, w = src.frames.shape[1:3]
            ch = (min(h, size or h) // 32) * 32
            cw = (min(w, size or w) // 32) * 32
            if ch == 0 or cw == 0:
                continue
            box = ((h - ch) // 2, (w - cw) // 2, ch, cw)
            starts = np.linspace(val.start, val.stop - 1 - span, num=min(per_source, len(val) - span))
            for s in sorted({int(round(v)) for v in starts}):
                self.items.append((src.frames, s, box))
                self.names.append(src.name)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Sample:
        frames, s, (y, x, h, w) = self.items[index]
        k = self.span // 2
        pics = [to_tensor(frames[s + o, y : y + h, x : x + w]) for o in (0, k, self.span)]
        return make_sample(pics[0], pics[1], pics[2], k / self.span)

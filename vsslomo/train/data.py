"""Training samples from real footage: windows of consecutive frames from videos or frame folders.

Frames are decoded with the ffmpeg binary (``imageio-ffmpeg``'s, or the one on PATH), never
with VapourSynth. Each source is split by time: the last ``val_fraction`` of its frames is a
held-out validation segment, separated from the training part by a gap of one window.

A sample is ``(img0, target, img1, t)``: float tensors ``(3, h, w)`` in [0, 1] and a scalar t.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm")
Sample = tuple[Tensor, Tensor, Tensor, Tensor]


def ffmpeg_exe() -> str:
    """The ffmpeg binary: imageio-ffmpeg's bundled one if installed, else ``ffmpeg`` on PATH."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        found = shutil.which("ffmpeg")
        if found is None:
            raise FileNotFoundError("no ffmpeg binary: install imageio-ffmpeg or put ffmpeg on PATH") from None
        return found


def _decoded_size(path: Path, scale: list[str]) -> tuple[int, int]:
    """Width and height of the decoded (and scaled) first frame, read from a PPM header."""
    cmd = [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-frames:v", "1", *scale]
    proc = subprocess.run(cmd + ["-f", "image2pipe", "-c:v", "ppm", "-"], capture_output=True, check=False)
    fields = proc.stdout[:64].split()
    if proc.returncode != 0 or len(fields) < 3 or fields[0] != b"P6":
        raise ValueError(f"ffmpeg cannot decode {path}: {proc.stderr.decode(errors='replace')[-300:]}")
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
    cmd = [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough"]
    cmd += _scale_filter(max_side)
    if max_frames:
        cmd += ["-frames:v", str(max_frames)]
    w, h = _decoded_size(path, _scale_filter(max_side))
    proc = subprocess.run(cmd + ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=False)
    if proc.returncode != 0:
        raise ValueError(f"ffmpeg failed on {path}: {proc.stderr.decode(errors='replace')[-300:]}")
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
        frames = read_frame_folder(p, max_side) if p.is_dir() else read_video(p, max_side)
        out.append(FrameSource(p.name, frames))
    return out


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


def augment(img0: Tensor, target: Tensor, img1: Tensor, t: float, rng: np.random.Generator, reverse: bool) -> Sample:
    """Random horizontal flip, and frame-order reversal (t -> 1 - t) when ``reverse``."""
    if rng.random() < 0.5:
        img0, target, img1 = (x.flip(-1) for x in (img0, target, img1))
    if reverse and rng.random() < 0.5:
        img0, img1, t = img1, img0, 1.0 - t
    return img0, target, img1, torch.tensor(t, dtype=torch.float32)


class VideoWindows(Dataset):
    """Random training windows from the training segments of decoded sources.

    ``balance`` draws every source equally often (short clips count as much as long ones);
    otherwise each training frame is equally likely. ``motion_crops`` > 1 draws that many
    crop positions and keeps the one whose inputs differ most, so static regions (nothing to
    learn about motion) are sampled less often.
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
        reverse: bool = True,
        seed: int = 0,
        motion_crops: int = 1,
        balance: bool = False,
    ) -> None:
        self.sampler = WindowSampler(window, min_span)
        self.motion_crops = max(1, motion_crops)
        self.crop = crop
        self.length = length
        self.reverse = reverse
        self.seed = seed
        self.epoch = 0
        self.items: list[tuple[np.ndarray, range]] = []
        for src in sources:
            train, _ = split_segments(len(src.frames), window, val_fraction)
            h, w = src.frames.shape[1:3]
            if len(train) >= window and h >= crop and w >= crop:
                self.items.append((src.frames, train))
        if not self.items:
            raise ValueError(f"no source has {window} training frames of at least {crop}x{crop} pixels")
        # Sources are drawn in proportion to their number of training frames, or equally.
        sizes = np.array([1 if balance else len(r) for _, r in self.items], dtype=np.float64)
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

    def __getitem__(self, index: int) -> Sample:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        frames, train = self.items[int(rng.choice(len(self.items), p=self.weights))]
        span, k = self.sampler.draw(rng)
        start = train.start + int(rng.integers(0, len(train) - span))
        h, w = frames.shape[1:3]
        y, x = self._crop_position(frames[start], frames[start + span], rng)
        crop = [to_tensor(frames[start + o, y : y + self.crop, x : x + self.crop]) for o in (0, k, span)]
        return augment(crop[0], crop[1], crop[2], k / span, rng, self.reverse)


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
        return pics[0], pics[1], pics[2], torch.tensor(k / self.span, dtype=torch.float32)

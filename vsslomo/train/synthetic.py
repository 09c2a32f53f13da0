"""Synthetic training scenes with exact ground truth at any t.

A scene is a photo background that pans and zooms, plus a few sprites (ellipses or rectangles
cut from other photos) that translate, rotate and scale. Every pose is linear in time, and a
frame at time t is rendered directly from the poses at t, so the intermediate target is exact.
Photos come from a folder the user gives (default: Debian's ``gnome-backgrounds`` if present).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from .data import Sample, augment, list_images, read_image

DEFAULT_PHOTO_DIR = Path("/usr/share/backgrounds/gnome")


def load_photos(folder: Path, max_side: int = 1024, log: Callable[[str], None] | None = None) -> list[Tensor]:
    """Decode the photos in ``folder`` (shrunk to ``max_side``) as ``(3, H, W)`` uint8 tensors.

    Files ffmpeg cannot decode are skipped (and reported through ``log``).
    """
    photos = []
    for path in list_images(folder) + sorted(Path(folder).glob("*.svg")):
        try:
            img = read_image(path, max_side=max_side)
        except ValueError as exc:
            if log is not None:
                log(f"skipping photo {path.name}: {exc}")
            continue
        photos.append(torch.from_numpy(img.copy()).permute(2, 0, 1).contiguous())
    if not photos:
        raise ValueError(f"no decodable photos in {folder}")
    return photos


def _sample(photo: Tensor, xs: Tensor, ys: Tensor) -> Tensor:
    """Bilinearly sample a ``(3, H, W)`` photo at pixel coordinates ``xs``/``ys`` of shape (N, h, w)."""
    _, h, w = photo.shape
    grid = torch.stack((2 * xs / (w - 1) - 1, 2 * ys / (h - 1) - 1), dim=-1)
    src = photo.float().div(255.0).unsqueeze(0).expand(xs.shape[0], -1, -1, -1)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="reflection", align_corners=True)


class SyntheticScenes(Dataset):
    """Map-style dataset of synthetic (img0, target, img1, t) samples of size ``crop``.

    ``max_motion`` bounds the displacement (pixels) of sprite centres between t=0 and t=1;
    the background moves at most half of that.
    """

    def __init__(
        self,
        photos: Sequence[Tensor],
        length: int,
        crop: int = 256,
        max_motion: float = 24.0,
        sprites: tuple[int, int] = (1, 4),
        reverse: bool = True,
        seed: int = 0,
    ) -> None:
        if len(photos) < 1:
            raise ValueError("SyntheticScenes needs at least one photo")
        self.photos = list(photos)
        self.length = length
        self.crop = crop
        self.max_motion = max_motion
        self.sprites = sprites
        self.reverse = reverse
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def render(self, rng: np.random.Generator, times: Sequence[float]) -> Tensor:
        """Render one random scene at each of ``times``: ``(len(times), 3, crop, crop)`` in [0, 1]."""
        s = self.crop
        tau = torch.tensor(list(times), dtype=torch.float32).view(-1, 1, 1)
        c = torch.arange(s, dtype=torch.float32) - (s - 1) / 2
        py, px = torch.meshgrid(c, c, indexing="ij")

        def motion(limit: float) -> tuple[float, float]:
            # Magnitudes skewed towards small motion, like real footage.
            mag = limit * float(rng.random()) ** 1.5
            ang = float(rng.uniform(0, 2 * math.pi))
            return mag * math.cos(ang), mag * math.sin(ang)

        bg = self.photos[int(rng.integers(len(self.photos)))]
        _, bh, bw = bg.shape
        zoom0 = float(rng.uniform(0.5, 1.5))
        zoom1 = zoom0 * float(rng.uniform(0.95, 1.05))
        margin = s / min(zoom0, zoom1) / 2 + self.max_motion
        cx = float(rng.uniform(min(margin, bw / 2), max(bw - margin, bw / 2)))
        cy = float(rng.uniform(min(margin, bh / 2), max(bh - margin, bh / 2)))
        dx, dy = motion(self.max_motion / 2)
        zoom = zoom0 + tau * (zoom1 - zoom0)
        # Screen pixel p shows background pixel centre(t) + p / zoom(t); the content moves by -d * zoom.
        out = _sample(bg, cx + dx * tau / zoom0 + px / zoom, cy + dy * tau / zoom0 + py / zoom)

        for _ in range(int(rng.integers(self.sprites[0], self.sprites[1] + 1))):
            tex = self.photos[int(rng.integers(len(self.photos)))]
            _, th, tw = tex.shape
            rx = float(rng.uniform(0.08, 0.3)) * s
            ry = rx * float(rng.uniform(0.5, 1.5))
            tcx, tcy = float(rng.uniform(0, tw - 1)), float(rng.uniform(0, th - 1))
            x0, y0 = float(rng.uniform(-0.4, 0.4)) * s, float(rng.uniform(-0.4, 0.4)) * s
            mx, my = motion(self.max_motion)
            ang0 = float(rng.uniform(0, 2 * math.pi))
            dang = float(rng.normal(0, 0.08))
            sc0 = float(rng.uniform(0.8, 1.2))
            dsc = float(rng.uniform(-0.08, 0.08))
            ang = ang0 + tau * dang
            sc = sc0 * (1 + tau * dsc)
            # Sprite-local coordinates q = R(-angle) (p - position) / scale.
            ox, oy = px - (x0 + mx * tau), py - (y0 + my * tau)
            cos, sin = torch.cos(ang), torch.sin(ang)
            qx = (cos * ox + sin * oy) / sc
            qy = (-sin * ox + cos * oy) / sc
            if rng.random() < 0.5:
                dist = torch.sqrt((qx / rx) ** 2 + (qy / ry) ** 2)
                alpha = ((1 - dist) * min(rx, ry) + 0.5).clamp(0, 1)
            else:
                alpha = (torch.minimum(rx - qx.abs(), ry - qy.abs()) + 0.5).clamp(0, 1)
            colour = _sample(tex, tcx + qx, tcy + qy)
            a = alpha.unsqueeze(1)
            out = a * colour + (1 - a) * out
        return out.clamp(0, 1)

    def __getitem__(self, index: int) -> Sample:
        rng = np.random.default_rng((self.seed, self.epoch, index, 7))
        t = float(rng.integers(1, 8)) / 8
        frames = self.render(rng, (0.0, t, 1.0))
        return augment(frames[0], frames[1], frames[2], t, rng, self.reverse)

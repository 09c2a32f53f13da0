"""Synthetic training scenes with exact ground truth at any t, and their exact motion.

A scene is a photo (or a procedural wave texture) background seen by a camera that pans,
zooms and (optionally) rotates, plus a few sprites (ellipses or rectangles cut from other
photos) that translate, rotate and scale on their own. Every pose is linear in time and a
frame at time t is rendered directly from the poses at t, so the intermediate target is
exact; so is the motion: for every pixel of the frame at t the position of its content at
any other time is known, which gives the flows F_t->0 and F_t->1 a model's flow estimate can
be distilled from (:meth:`SyntheticScenes.render_with_flows`). Photos come from folders the
user gives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from .data import Augment, Sample, list_images, make_sample, read_image


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


def _rotate(x: Tensor, y: Tensor, angle: Tensor | float) -> tuple[Tensor, Tensor]:
    """Rotate the vectors ``(x, y)`` by ``angle`` (radians)."""
    c, s = (torch.cos(angle), torch.sin(angle)) if isinstance(angle, Tensor) else (math.cos(angle), math.sin(angle))
    return c * x - s * y, s * x + c * y


WAVELENGTH = (6.0, 24.0)
"""Default least and largest wavelength of the wave textures, photo pixels."""


@dataclass
class _Waves:
    """A periodic texture: ``base + sum_k amp_k cos(freq_k . p + phase_k)`` per channel, at any point p.

    Evaluated analytically at the sampled coordinates, so it is exact (no photo resampling) and
    its motion is as exact as the camera's.
    """

    freq: Tensor
    """(K, 2) angular frequencies, radians per photo pixel."""
    phase: Tensor
    """(K,)"""
    amp: Tensor
    """(K, 3) per-channel amplitudes."""
    base: Tensor
    """(3,) mean colour."""

    @classmethod
    def draw(cls, rng: np.random.Generator, wavelength: tuple[float, float] = WAVELENGTH) -> _Waves:
        k = int(rng.integers(3, 9))
        lam = rng.uniform(*wavelength, size=k)
        ang = rng.uniform(0, math.pi, size=k)
        freq = np.stack((np.cos(ang), np.sin(ang)), axis=1) * (2 * math.pi / lam)[:, None]
        phase = rng.uniform(0, 2 * math.pi, size=k)
        base = rng.uniform(0.3, 0.7, size=3)
        amp = rng.uniform(-1, 1, size=(k, 3))
        # Scale so the sum stays inside [0, 1] at a random contrast.
        headroom = np.minimum(base, 1 - base).min()
        amp *= float(rng.uniform(0.4, 1.0)) * headroom / np.abs(amp).sum(axis=0).max()
        return cls(*(torch.from_numpy(np.asarray(a, dtype=np.float32)) for a in (freq, phase, amp, base)))

    def sample(self, xs: Tensor, ys: Tensor) -> Tensor:
        """The texture at photo coordinates ``xs``/``ys`` of shape (N, h, w): ``(N, 3, h, w)``."""
        arg = xs.unsqueeze(-1) * self.freq[:, 0] + ys.unsqueeze(-1) * self.freq[:, 1] + self.phase  # (N, h, w, K)
        return (torch.cos(arg) @ self.amp + self.base).permute(0, 3, 1, 2).clamp(0, 1)


@dataclass
class _Camera:
    """Background pose: screen pixel p (centred) shows photo point centre(t) + R(angle(t)) p / zoom(t)."""

    photo: int
    cx: float
    cy: float
    dx: float
    dy: float
    zoom0: float
    zoom1: float
    angle: float
    """Rotation between t=0 and t=1 (radians); the camera starts upright."""
    waves: _Waves | None = None
    """Seen instead of the photo, when set."""

    def zoom(self, t: Tensor) -> Tensor:
        return self.zoom0 + t * (self.zoom1 - self.zoom0)

    def centre(self, t: Tensor) -> tuple[Tensor, Tensor]:
        return self.cx + self.dx * t / self.zoom0, self.cy + self.dy * t / self.zoom0

    def to_photo(self, px: Tensor, py: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        rx, ry = _rotate(px, py, self.angle * t)
        cx, cy = self.centre(t)
        z = self.zoom(t)
        return cx + rx / z, cy + ry / z

    def to_screen(self, bx: Tensor, by: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        cx, cy = self.centre(t)
        z = self.zoom(t)
        return _rotate((bx - cx) * z, (by - cy) * z, -self.angle * t)


@dataclass
class _Sprite:
    """A textured ellipse or rectangle: screen p shows local q = R(-angle(t)) (p - pos(t)) / scale(t)."""

    photo: int
    rx: float
    ry: float
    tcx: float
    tcy: float
    x0: float
    y0: float
    mx: float
    my: float
    ang0: float
    dang: float
    sc0: float
    dsc: float
    ellipse: bool

    def pose(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return self.x0 + self.mx * t, self.y0 + self.my * t, self.ang0 + t * self.dang, self.sc0 * (1 + t * self.dsc)

    def to_local(self, px: Tensor, py: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        x, y, ang, sc = self.pose(t)
        qx, qy = _rotate(px - x, py - y, -ang)
        return qx / sc, qy / sc

    def to_screen(self, qx: Tensor, qy: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        x, y, ang, sc = self.pose(t)
        ox, oy = _rotate(qx * sc, qy * sc, ang)
        return x + ox, y + oy

    def alpha(self, qx: Tensor, qy: Tensor) -> Tensor:
        if self.ellipse:
            dist = torch.sqrt((qx / self.rx) ** 2 + (qy / self.ry) ** 2)
            return ((1 - dist) * min(self.rx, self.ry) + 0.5).clamp(0, 1)
        return (torch.minimum(self.rx - qx.abs(), self.ry - qy.abs()) + 0.5).clamp(0, 1)


SPRITES = (1, 4)
"""Default least and most sprites per scene."""

SPRITE_SIZE = (0.08, 0.3)
"""Default least and largest sprite radius, a fraction of the crop."""


class SyntheticScenes(Dataset):
    """Map-style dataset of synthetic samples of size ``crop`` (see :func:`~vsslomo.train.data.make_sample`).

    ``max_motion`` bounds the displacement (pixels) of sprite centres between t=0 and t=1;
    the camera pans at most half of that. ``zoom_change`` is the largest relative zoom change
    of the camera and ``rotation`` its largest rotation (degrees) between t=0 and t=1.
    ``sprites`` bounds how many sprites a scene has, ``sprite_size`` their radius (a fraction
    of ``crop``). ``still_fraction`` of the scenes have a still camera (tripod and surveillance shots, anime
    backgrounds): the background is the same in every frame and only the sprites move.
    ``flows`` adds the exact F_t->0 / F_t->1 to every sample. ``sensor_noise`` (8-bit levels)
    adds independent Gaussian noise to every frame, its standard deviation drawn per sample
    from [0, ``sensor_noise``], as a camera has: a still background is then the same scene
    seen through different noise, whose best rebuild is the average of both inputs at zero
    flow (the flows stay the scene's exact motion). ``texture_fraction`` of the scenes show a
    procedural periodic texture (a sum of 3-8 plane waves, wavelengths ``wavelength`` photo
    pixels) instead of the photo behind the sprites: motion of about a wavelength, which only
    context tells from a small one. Sample ``i`` of epoch ``e`` is a
    deterministic function of (seed, e, i).
    """

    def __init__(
        self,
        photos: Sequence[Tensor],
        length: int,
        crop: int = 256,
        max_motion: float = 24.0,
        sprites: tuple[int, int] = SPRITES,
        augment: Augment | None = None,
        seed: int = 0,
        zoom_change: float = 0.05,
        rotation: float = 0.0,
        flows: bool = False,
        still_fraction: float = 0.0,
        sprite_size: tuple[float, float] = SPRITE_SIZE,
        sensor_noise: float = 0.0,
        texture_fraction: float = 0.0,
        wavelength: tuple[float, float] = WAVELENGTH,
    ) -> None:
        if len(photos) < 1:
            raise ValueError("SyntheticScenes needs at least one photo")
        self.photos = list(photos)
        self.length = length
        self.crop = crop
        self.max_motion = max_motion
        self.sprites = sprites
        self.augment = augment if augment is not None else Augment()
        self.seed = seed
        self.zoom_change = zoom_change
        self.rotation = math.radians(rotation)
        self.flows = flows
        self.still_fraction = still_fraction
        self.sprite_size = sprite_size
        self.sensor_noise = sensor_noise
        self.texture_fraction = texture_fraction
        self.wavelength = wavelength
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def _motion(self, rng: np.random.Generator, limit: float) -> tuple[float, float]:
        # Magnitudes skewed towards small motion, like real footage.
        mag = limit * float(rng.random()) ** 1.5
        ang = float(rng.uniform(0, 2 * math.pi))
        return mag * math.cos(ang), mag * math.sin(ang)

    def _scene(self, rng: np.random.Generator) -> tuple[_Camera, list[_Sprite]]:
        """Draw one random scene (the order of draws is part of the recipes' reproducibility)."""
        s = self.crop
        photo = int(rng.integers(len(self.photos)))
        _, bh, bw = self.photos[photo].shape
        zoom0 = float(rng.uniform(0.5, 1.5))
        zoom1 = zoom0 * float(rng.uniform(1 - self.zoom_change, 1 + self.zoom_change))
        margin = s / min(zoom0, zoom1) / 2 + self.max_motion
        cx = float(rng.uniform(min(margin, bw / 2), max(bw - margin, bw / 2)))
        cy = float(rng.uniform(min(margin, bh / 2), max(bh - margin, bh / 2)))
        dx, dy = self._motion(rng, self.max_motion / 2)
        angle = float(rng.uniform(-self.rotation, self.rotation)) if self.rotation > 0 else 0.0
        camera = _Camera(photo, cx, cy, dx, dy, zoom0, zoom1, angle)
        sprites = []
        for _ in range(int(rng.integers(self.sprites[0], self.sprites[1] + 1))):
            tex = int(rng.integers(len(self.photos)))
            _, th, tw = self.photos[tex].shape
            rx = float(rng.uniform(*self.sprite_size)) * s
            ry = rx * float(rng.uniform(0.5, 1.5))
            tcx, tcy = float(rng.uniform(0, tw - 1)), float(rng.uniform(0, th - 1))
            x0, y0 = float(rng.uniform(-0.4, 0.4)) * s, float(rng.uniform(-0.4, 0.4)) * s
            mx, my = self._motion(rng, self.max_motion)
            ang0 = float(rng.uniform(0, 2 * math.pi))
            dang = float(rng.normal(0, 0.08))
            sc0 = float(rng.uniform(0.8, 1.2))
            dsc = float(rng.uniform(-0.08, 0.08))
            sprites.append(_Sprite(tex, rx, ry, tcx, tcy, x0, y0, mx, my, ang0, dang, sc0, dsc, bool(rng.random() < 0.5)))
        # Drawn last and only when asked, so that recipes without still scenes draw as before.
        if self.still_fraction > 0 and rng.random() < self.still_fraction:
            camera = _Camera(photo, cx, cy, 0.0, 0.0, zoom0, zoom0, 0.0)
        if self.texture_fraction > 0 and rng.random() < self.texture_fraction:  # likewise
            camera.waves = _Waves.draw(rng, self.wavelength)
        return camera, sprites

    def _grid(self) -> tuple[Tensor, Tensor]:
        c = torch.arange(self.crop, dtype=torch.float32) - (self.crop - 1) / 2
        py, px = torch.meshgrid(c, c, indexing="ij")
        return px, py

    def _draw(self, scene: tuple[_Camera, list[_Sprite]], times: Sequence[float],
              flow_to: Sequence[float] = ()) -> tuple[Tensor, Tensor | None]:
        """Frames at ``times`` ``(T, 3, s, s)`` and, for the first time only, the flows to each of ``flow_to``."""
        camera, sprites = scene
        tau = torch.tensor(list(times), dtype=torch.float32).view(-1, 1, 1)
        px, py = self._grid()
        bx, by = camera.to_photo(px, py, tau)
        out = camera.waves.sample(bx, by) if camera.waves is not None else _sample(self.photos[camera.photo], bx, by)
        flows: list[Tensor] = []
        for sigma in flow_to:
            sx, sy = camera.to_screen(bx[:1], by[:1], torch.tensor(sigma))
            flows.append(torch.stack((sx - px, sy - py), dim=1))  # (1, 2, s, s)
        for sprite in sprites:
            qx, qy = sprite.to_local(px, py, tau)
            a = sprite.alpha(qx, qy).unsqueeze(1)
            out = a * _sample(self.photos[sprite.photo], sprite.tcx + qx, sprite.tcy + qy) + (1 - a) * out
            for i, sigma in enumerate(flow_to):
                sx, sy = sprite.to_screen(qx[:1], qy[:1], torch.tensor(sigma))
                flows[i] = a[:1] * torch.stack((sx - px, sy - py), dim=1) + (1 - a[:1]) * flows[i]
        flow = torch.cat(flows, dim=1)[0] if flows else None
        return out.clamp(0, 1), flow

    def render(self, rng: np.random.Generator, times: Sequence[float]) -> Tensor:
        """Render one random scene at each of ``times``: ``(len(times), 3, crop, crop)`` in [0, 1]."""
        return self._draw(self._scene(rng), times)[0]

    def render_with_flows(self, rng: np.random.Generator, t: float) -> tuple[Tensor, Tensor]:
        """Frames at (0, t, 1) of one random scene and the exact ``(4, s, s)`` flows F_t->0, F_t->1."""
        scene = self._scene(rng)
        middle, flow = self._draw(scene, (t,), flow_to=(0.0, 1.0))
        ends, _ = self._draw(scene, (0.0, 1.0))
        assert flow is not None
        return torch.stack((ends[0], middle[0], ends[1])), flow

    def _noisy(self, frames: Tensor, rng: np.random.Generator) -> Tensor:
        # Drawn last and only when asked, so that recipes without noise draw as before.
        if self.sensor_noise <= 0:
            return frames
        sigma = float(rng.uniform(0.0, self.sensor_noise)) / 255
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        return (frames + sigma * torch.randn(frames.shape, generator=gen)).clamp(0, 1)

    def __getitem__(self, index: int) -> Sample:
        rng = np.random.default_rng((self.seed, self.epoch, index, 7))
        t = float(rng.integers(1, 8)) / 8
        if self.flows:
            frames, flow = self.render_with_flows(rng, t)
            valid = torch.ones(2)
        else:
            frames, flow, valid = self.render(rng, (0.0, t, 1.0)), None, None
        frames = self._noisy(frames, rng)
        return self.augment(make_sample(frames[0], frames[1], frames[2], t, flow, valid), rng)

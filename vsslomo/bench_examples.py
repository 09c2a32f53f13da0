"""Pictures for ``vsslomo bench --save-examples``: frame strips, error maps and a PSNR plot.

Pure numpy and Pillow (no VapourSynth, no torch). The bench scores every method per frame;
:func:`pick_frames` chooses the frames where the methods disagree most (largest spread of
PSNR), and :func:`save` writes for each a strip -- the true frame and every method's
rebuilt frame on the top row, each method's error map below it -- plus one plot of PSNR
per frame, one line per method. Every PNG is written under a temporary name and renamed.

Pillow is an optional extra (``pip install 'vsslomo[examples]'``).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .evaluate import PSNR_CAP

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_COUNT = 3
"""How many example frames ``--save-examples`` writes unless told."""
ERROR_GAIN = 4
"""Absolute errors are multiplied by this before colour mapping: an error of 64 levels is full scale."""
MIN_TILE_WIDTH = 320
"""Frames narrower than this are enlarged by a whole factor (nearest neighbour) to stay legible."""
GAP = 4
"""Pixels between tiles."""
PLOT_SIZE = (960, 480)
INSTALL_HINT = "pip install 'vsslomo[examples]' (Pillow)"

# Colour map for the error maps: black (no error) through purple, red and orange to pale yellow.
_CMAP_STOPS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_CMAP_RGB = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float64)
# Line colours of the plot, one per method in order (blend first).
_PALETTE = [(110, 110, 110), (31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207)]
_BACKGROUND = (255, 255, 255)
_INK = (20, 20, 20)


class ExamplesError(Exception):
    """``--save-examples`` cannot be done (folder not writable, Pillow missing)."""


@dataclass(frozen=True)
class Example:
    """One example frame: the truth and every method's rebuilt frame, as (H, W, 3) uint8."""

    frame: int
    """Source frame number (as the user counts them in their clip)."""
    truth: np.ndarray
    rebuilt: Mapping[str, np.ndarray]
    """Method label -> its rebuilt frame, in table order."""
    psnr: Mapping[str, float]
    """Method label -> PSNR of this frame in dB."""


# --------------------------------------------------------------------------- choosing frames


def spreads(series: Mapping[str, Mapping[int, float]]) -> dict[int, float]:
    """Per frame, max minus min PSNR over the methods that scored it (infinite capped at :data:`PSNR_CAP`).

    Only frames every method scored are compared. With a single method the "spread" is how far
    the frame is below the best frame, so its hardest frames come first.
    """
    methods = [dict(s) for s in series.values() if s]
    if not methods:
        return {}
    frames = sorted(set.intersection(*(set(m) for m in methods)))
    capped = [{j: min(m[j], PSNR_CAP) for j in frames} for m in methods]
    if len(capped) == 1:
        best = max(capped[0].values(), default=0.0)
        return {j: best - capped[0][j] for j in frames}
    return {j: max(m[j] for m in capped) - min(m[j] for m in capped) for j in frames}


def pick_frames(series: Mapping[str, Mapping[int, float]], count: int = DEFAULT_COUNT) -> list[int]:
    """The ``count`` frames with the largest PSNR spread between methods, largest first (ties: earlier frame)."""
    ranked = sorted(spreads(series).items(), key=lambda item: (-item[1], item[0]))
    return [j for j, _ in ranked[:count]]


# --------------------------------------------------------------------------- folder and Pillow


def require_pillow() -> None:
    """Raise :class:`ExamplesError` with the install hint when Pillow is not importable."""
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        raise ExamplesError(f"--save-examples needs Pillow: {INSTALL_HINT}") from None


def check_folder(folder: Path) -> None:
    """Refuse a folder that cannot be written (checked by writing a probe file), without creating it.

    A missing folder is fine when its nearest existing parent is a writable folder.
    """
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise ExamplesError(f"--save-examples {folder}: {existing} is not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".vsslomo-probe-"):
            pass
    except OSError as exc:
        raise ExamplesError(f"--save-examples {folder}: cannot write in {existing} ({exc.strerror or exc})") from None


def write_png(image: Image.Image, path: Path) -> None:
    """Save ``image`` as PNG at ``path`` atomically: a temporary name in the same folder, then a rename."""
    tmp = path.with_name(f".{path.stem}-{os.getpid()}-{secrets.token_hex(4)}.png.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, unlike mkstemp's 0600
    try:
        with os.fdopen(fd, "wb") as f:
            image.save(f, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- drawing


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError):  # Pillow without FreeType: its fixed bitmap font
        return ImageFont.load_default()


def tile_scale(width: int) -> int:
    """Whole enlargement factor of a frame of ``width`` so that a tile is at least :data:`MIN_TILE_WIDTH` wide."""
    return max(1, -(-MIN_TILE_WIDTH // width))


def label_height(tile_width: int) -> int:
    """Height of the caption bar above a tile."""
    return _font_size(tile_width) + 8


def _font_size(tile_width: int) -> int:
    return max(12, tile_width // 40)


def error_map(truth: np.ndarray, rebuilt: np.ndarray) -> np.ndarray:
    """Colour-mapped absolute error (mean over RGB, times :data:`ERROR_GAIN`), (H, W, 3) uint8."""
    err = np.abs(truth.astype(np.int16) - rebuilt.astype(np.int16)).mean(axis=-1)
    return colour_map(np.clip(err * ERROR_GAIN / 255.0, 0.0, 1.0))


def colour_map(level: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to the error colours, (..., 3) uint8."""
    channels = [np.interp(level, _CMAP_STOPS, _CMAP_RGB[:, c]) for c in range(3)]
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)


def _legend(canvas: Image.Image, draw: Any, x: int, y: int, width: int, height: int, font: Any) -> None:
    """The colour bar explaining the error maps, drawn into the tile at ``(x, y)`` of ``canvas``."""
    from PIL import Image

    bar_h = max(8, height // 8)
    top = y + height // 2 - bar_h // 2
    ramp = colour_map(np.linspace(0.0, 1.0, max(1, width - 20)))
    canvas.paste(Image.fromarray(np.ascontiguousarray(np.repeat(ramp[None], bar_h, axis=0))), (x + 10, top))
    full = f"{255 // ERROR_GAIN}+"
    draw.text((x + 10, top + bar_h + 4), "0", fill=_INK, font=font)
    draw.text((x + width - 10 - draw.textlength(full, font=font), top + bar_h + 4), full, fill=_INK, font=font)


def strip(example: Example) -> Image.Image:
    """Top row: truth, then each method's frame; bottom row: a legend, then each method's error map."""
    from PIL import Image, ImageDraw

    h, w = example.truth.shape[:2]
    k = tile_scale(w)
    tw, th = w * k, h * k
    cap = label_height(tw)
    cols = 1 + len(example.rebuilt)
    canvas = Image.new("RGB", (cols * tw + (cols - 1) * GAP, 2 * (cap + th) + GAP), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = _font(_font_size(tw))

    def put(col: int, row: int, pixels: np.ndarray | None, caption: str) -> None:
        x, y = col * (tw + GAP), row * (cap + th + GAP)
        if pixels is not None:
            big = pixels.repeat(k, axis=0).repeat(k, axis=1) if k > 1 else pixels
            canvas.paste(Image.fromarray(np.ascontiguousarray(big)), (x, y + cap))
        draw.text((x + 4, y + 3), caption, fill=_INK, font=font)

    put(0, 0, example.truth, f"truth, frame {example.frame}")
    put(0, 1, None, f"|error| x{ERROR_GAIN}, in 8-bit levels")
    _legend(canvas, draw, 0, 2 * cap + th + GAP, tw, th, font)
    for col, (label, img) in enumerate(example.rebuilt.items(), start=1):
        put(col, 0, img, f"{label}  {_db(example.psnr.get(label))}")
        put(col, 1, error_map(example.truth, img), f"error: {label}")
    return canvas


def _db(value: float | None) -> str:
    if value is None:
        return ""
    return "identical" if value == float("inf") else f"{value:.2f} dB"


# --------------------------------------------------------------------------- plot


@dataclass(frozen=True)
class _Axes:
    left: int
    top: int
    right: int
    bottom: int
    x0: float
    x1: float
    y0: float
    y1: float

    def at(self, x: float, y: float) -> tuple[float, float]:
        fx = (x - self.x0) / (self.x1 - self.x0) if self.x1 > self.x0 else 0.5
        fy = (y - self.y0) / (self.y1 - self.y0) if self.y1 > self.y0 else 0.5
        return self.left + fx * (self.right - self.left), self.bottom - fy * (self.bottom - self.top)


def _ticks(lo: float, hi: float, want: int = 6) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten)."""
    span = max(hi - lo, 1e-9)
    raw = span / want
    power = 10 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = np.ceil(lo / step) * step
    return [float(v) for v in np.arange(first, hi + step * 1e-6, step)]


def _plot_axes(series: Mapping[str, Mapping[int, float]]) -> _Axes:
    xs = [j for s in series.values() for j in s]
    ys = [min(v, PSNR_CAP) for s in series.values() for v in s.values()]
    lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    pad = max(0.5, 0.05 * (hi - lo))
    width, height = PLOT_SIZE
    x0, x1 = min(xs, default=0), max(xs, default=1)
    margin = max(0.5, 0.02 * (x1 - x0))  # so that lines at the first and last frame stay visible
    return _Axes(70, 50, width - 190, height - 55, x0 - margin, x1 + margin, lo - pad, hi + pad)


def psnr_plot(series: Mapping[str, Mapping[int, float]], marked: Sequence[int] = (), title: str = "") -> Image.Image:
    """PSNR per frame, one line per method (table order); ``marked`` frames get a dotted vertical line."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGB", PLOT_SIZE, _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font, small = _font(15), _font(12)
    ax = _plot_axes(series)
    draw.text((ax.left, 15), title or "PSNR per frame", fill=_INK, font=font)
    for y in _ticks(ax.y0, ax.y1):
        _, py = ax.at(ax.x0, y)
        draw.line([(ax.left, py), (ax.right, py)], fill=(225, 225, 225))
        draw.text((ax.left - 8, py), f"{y:g}", fill=_INK, font=small, anchor="rm")
    for x in _ticks(ax.x0, ax.x1, want=10):
        if x == int(x):
            px, _ = ax.at(x, ax.y0)
            draw.text((px, ax.bottom + 6), f"{int(x)}", fill=_INK, font=small, anchor="mt")
    for j in marked:
        px, _ = ax.at(j, ax.y0)
        for y in range(ax.top, ax.bottom, 6):
            draw.line([(px, y), (px, min(y + 3, ax.bottom))], fill=(160, 160, 160))
    draw.rectangle([ax.left, ax.top, ax.right, ax.bottom], outline=_INK)
    draw.text(((ax.left + ax.right) / 2, PLOT_SIZE[1] - 18), "source frame (dotted: example strips)", fill=_INK, font=small, anchor="mm")
    draw.text((12, ax.top - 22), "PSNR dB", fill=_INK, font=small)
    for i, (label, values) in enumerate(series.items()):
        colour = _PALETTE[i % len(_PALETTE)]
        points = [ax.at(j, min(v, PSNR_CAP)) for j, v in sorted(values.items())]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for px, py in points:
            draw.ellipse([px - 2.5, py - 2.5, px + 2.5, py + 2.5], fill=colour)
        ly = ax.top + 4 + 22 * i
        draw.line([(ax.right + 14, ly + 7), (ax.right + 40, ly + 7)], fill=colour, width=3)
        draw.text((ax.right + 46, ly), label, fill=_INK, font=small)
    return canvas


# --------------------------------------------------------------------------- writing


def strip_name(frame: int) -> str:
    """File name of the strip of source frame ``frame``."""
    return f"frame-{frame:06d}.png"


PLOT_NAME = "psnr-per-frame.png"


def save(folder: Path, examples: Sequence[Example], series: Mapping[str, Mapping[int, float]], title: str = "") -> list[Path]:
    """Write one strip per example and the PSNR plot into ``folder`` (created if missing); returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for ex in examples:
        path = folder / strip_name(ex.frame)
        write_png(strip(ex), path)
        written.append(path)
    plot = folder / PLOT_NAME
    write_png(psnr_plot(series, [ex.frame for ex in examples], title), plot)
    written.append(plot)
    return written

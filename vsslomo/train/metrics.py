"""Image quality metrics in torch: PSNR and SSIM for RGB batches in [0, 1]."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def psnr(pred: Tensor, target: Tensor, eps: float = 1e-10) -> Tensor:
    """Per-image PSNR in dB for ``(B, C, H, W)`` tensors in [0, 1]."""
    mse = (pred.float() - target.float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(eps))


def _gaussian_window(size: int, sigma: float, channels: int, device: torch.device) -> Tensor:
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(pred: Tensor, target: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Per-image SSIM (Wang et al. 2004; Gaussian 11x11, sigma 1.5), averaged over channels.

    Computed on the valid region (no padding), images in [0, 1].
    """
    x, y = pred.float(), target.float()
    c = x.shape[1]
    win = _gaussian_window(window, sigma, c, x.device)

    def blur(z: Tensor) -> Tensor:
        return F.conv2d(z, win, groups=c)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1)

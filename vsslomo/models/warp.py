"""Backward warping shared by the interpolation models."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def backward_warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``img`` at ``p + flow(p)`` for every pixel ``p`` (bilinear, border padding).

    ``img`` is ``(N, C, H, W)``, ``flow`` is ``(N, 2, H, W)`` in pixels (x then y). The
    math matches RIFE's ``warplayer.warp``: an ``align_corners=True`` grid in [-1, 1] plus
    the flow scaled by ``(size - 1) / 2``. The result has ``img``'s dtype.

    Half-precision inputs are warped in float32: normalised fp16 coordinates are spaced
    about one pixel apart near the right edge of a 4K frame, which would misplace samples.
    """
    n, _, h, w = flow.shape
    work = torch.promote_types(img.dtype, torch.float32)
    xs = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=work).view(1, 1, 1, w).expand(n, 1, h, w)
    ys = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=work).view(1, 1, h, 1).expand(n, 1, h, w)
    flow = flow.to(work)
    offset = torch.cat(
        [flow[:, 0:1] / ((img.shape[3] - 1.0) / 2.0), flow[:, 1:2] / ((img.shape[2] - 1.0) / 2.0)], dim=1
    )
    grid = (torch.cat([xs, ys], dim=1) + offset).permute(0, 2, 3, 1)
    out = F.grid_sample(img.to(work), grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.to(img.dtype)

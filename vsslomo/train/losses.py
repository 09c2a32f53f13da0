"""Super SloMo training losses: reconstruction, perceptual, warping and smoothness (paper sec. 3.3).

Images are in [0, 1] (or the network's mean-shifted space; differences are the same). The
default weights are the paper's (0.8 rec, 0.005 perc, 0.4 warp, 1 smooth for 0-255 pixels)
rescaled for [0, 1] pixels: 204, 0.005, 102, 1.

The reconstruction term is L1 as in the paper, or, to fine-tune for PSNR, L2 or the PSNR
itself. Where the motion is ambiguous, L1 pulls the frame towards one of the possible
pictures, L2 towards their mean, which is what PSNR rewards. L2 weighs every pixel's
squared error alike, so samples that are already good (static, clean shots) barely count;
the per-sample PSNR loss (mean of -PSNR over the batch, the quantity benchmarks average)
weighs each sample's errors by the inverse of its MSE instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models.superslomo import Synthesis, intermediate_flows
from ..models.warp import backward_warp

# torchvision's vgg16 ``features`` up to and including conv4_3 (index 21); "M" = max pool.
_VGG16_CONV4_3 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class LossWeights:
    """Weights of the four loss terms."""

    rec: float = 204.0
    perc: float = 0.005
    warp: float = 102.0
    smooth: float = 1.0
    distill: float = 2.0
    """Per flow term of the robust distillation towards teacher flows (only where a sample has them)."""


L2_REC_WEIGHT = 5000.0
"""Default reconstruction weight for the L2 norm: its gradient equals L1's at 204 when a pixel
is off by about 5 of 255 levels (2 * 5000 * 0.0204 = 204)."""
PSNR_REC_WEIGHT = 0.5
"""Default weight of the PSNR loss (per dB): about L1's gradient for a 34 dB sample."""
PSNR_LOSS_FLOOR = 2e-5
"""Added to each sample's MSE in the PSNR loss: caps the weight of near-perfect samples (47 dB)."""
DEFAULT_REC_WEIGHTS = {"l1": LossWeights.rec, "l2": L2_REC_WEIGHT, "psnr": PSNR_REC_WEIGHT}


def psnr_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean over the batch of each sample's -PSNR in dB (pixels in [0, 1] or shifted alike)."""
    mse = (pred.float() - target.float()).pow(2).flatten(1).mean(1)  # float32 under autocast too
    return (10.0 * torch.log10(mse + PSNR_LOSS_FLOOR)).mean()


def mse_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared difference, in float32 under autocast too."""
    return F.mse_loss(pred.float(), target.float())


REC_LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"l1": F.l1_loss, "l2": mse_loss, "psnr": psnr_loss}
"""Super SloMo's reconstruction term for each ``--rec-loss``."""
REC_NORMS = tuple(REC_LOSSES)


class VGG16Conv43(nn.Module):
    """VGG16 feature extractor up to conv4_3 (no final ReLU), keys as torchvision's ``features.N``.

    Built here so training needs no torchvision; load torchvision's ``vgg16`` state dict with
    :meth:`from_torchvision_state`. Inputs are RGB in [0, 1] (ImageNet normalisation inside).
    """

    mean: Tensor
    std: Tensor

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for item in _VGG16_CONV4_3:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(item), 3, padding=1), nn.ReLU(inplace=True)]
                cin = int(item)
        self.features = nn.Sequential(*layers[:-1])  # drop relu4_3
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_torchvision_state(cls, path: Path) -> VGG16Conv43:
        """Load conv1_1..conv4_3 from a torchvision ``vgg16`` state dict file (extra keys ignored)."""
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        model = cls()
        wanted = model.features.state_dict()
        sub = {}
        for key in wanted:
            full = f"features.{key}"
            if full not in state:
                raise ValueError(f"{path} lacks '{full}': not a torchvision vgg16 state dict")
            sub[key] = state[full]
        model.features.load_state_dict(sub, strict=True)
        model.requires_grad_(False)
        return model.eval()

    def forward(self, img: Tensor) -> Tensor:
        return self.features((img - self.mean) / self.std)


def smoothness(flow: Tensor) -> Tensor:
    """Mean absolute difference of horizontally and vertically adjacent flow vectors."""
    dx = (flow[..., :, 1:] - flow[..., :, :-1]).abs().mean()
    dy = (flow[..., 1:, :] - flow[..., :-1, :]).abs().mean()
    return dx + dy


class SuperSloMoLoss(nn.Module):
    """Weighted sum of the paper's losses; ``forward`` returns (total, {name: value})."""

    def __init__(self, weights: LossWeights, vgg: VGG16Conv43 | None = None, rec_norm: str = "l1") -> None:
        super().__init__()
        if rec_norm not in REC_NORMS:
            raise ValueError(f"rec_norm must be one of {REC_NORMS}, got {rec_norm!r}")
        self.weights = weights
        self.vgg = vgg
        self.rec_loss = REC_LOSSES[rec_norm]

    def forward(self, out: Synthesis, x0: Tensor, target: Tensor, x1: Tensor, mean: Tensor,
                teacher: Tensor | None = None, valid: Tensor | None = None,
                t: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """``x0``/``target``/``x1`` are normalised like ``out.frame``; ``mean`` undoes that for VGG.

        ``teacher`` ``(B, 4, H, W)`` (F_t->0, F_t->1) with ``valid`` ``(B, 2)`` adds the robust
        distillation of both the refined flows and U-Net 1's linear estimate at ``t``
        (weighted by how well the refined flow agrees with the teacher).
        """
        w = self.weights
        rec = self.rec_loss(out.frame.float(), target)
        warp = (
            F.l1_loss(out.approx_warped0, target)
            + F.l1_loss(out.approx_warped1, target)
            + F.l1_loss(backward_warp(x0, out.flow10.float()), x1)
            + F.l1_loss(backward_warp(x1, out.flow01.float()), x0)
        )
        smooth = smoothness(out.flow01.float()) + smoothness(out.flow10.float())
        terms = {"rec": rec, "warp": warp, "smooth": smooth}
        total = w.rec * rec + w.warp * warp + w.smooth * smooth
        if teacher is not None and valid is not None and t is not None and w.distill > 0:
            approx0, approx1 = intermediate_flows(out.flow01.float(), out.flow10.float(), t.float().view(-1, 1, 1, 1))
            dist = out.frame.new_zeros(())
            for refined, approx, half, ok in ((out.flow_t0, approx0, teacher[:, 0:2], valid[:, 0]),
                                              (out.flow_t1, approx1, teacher[:, 2:4], valid[:, 1])):
                weight = robust_weight(refined, half)
                dist = dist + distillation(refined, half, weight, ok) + distillation(approx, half, weight, ok)
            terms["distill"] = dist
            total = total + w.distill * dist
        if self.vgg is not None and w.perc > 0:
            perc = F.mse_loss(self.vgg(out.frame + mean), self.vgg(target + mean))
            terms["perc"] = perc
            total = total + w.perc * perc
        return total, terms


# --------------------------------------------------------------------------- IFRNet's losses
# (Kong et al., CVPR 2022, sec. 3.3; written from the paper's description.)

CHARBONNIER_EPS = 1e-3
CENSUS_PATCH = 7
GEOMETRY_PATCH = 3
ROBUST_BETA = 0.3
"""Sharpness of the distillation weight exp(-beta * EPE(student, teacher))."""


def charbonnier(diff: Tensor, eps: float = CHARBONNIER_EPS) -> Tensor:
    """Mean of sqrt(diff^2 + eps^2): L1 with a smooth minimum."""
    return torch.sqrt(diff.float() ** 2 + eps * eps).mean()


def charbonnier_loss(pred: Tensor, target: Tensor) -> Tensor:
    """:func:`charbonnier` of the difference: IFRNet's reconstruction term."""
    return charbonnier(pred - target)


IFRNET_REC_LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {**REC_LOSSES, "l1": charbonnier_loss}
"""IFRNet's reconstruction term for each ``--rec-loss`` (``l1``: the paper's Charbonnier)."""


def _patch_offsets(x: Tensor, patch: int) -> Tensor:
    """For every pixel of each channel, the ``patch * patch`` neighbours minus the pixel itself,
    squashed to (-1, 1) by d / sqrt(0.81 + d^2): ``(B, C * patch^2, H, W)``.

    Neighbours come from ``unfold`` (zero padding): on CPU 2-3x faster than a convolution
    with an identity kernel, forward and backward.
    """
    b, c, h, w = x.shape
    near = F.unfold(x, patch, padding=patch // 2).view(b, c, patch * patch, h, w)
    diff = (near - x.unsqueeze(2)).reshape(b, c * patch * patch, h, w)
    return diff / torch.sqrt(0.81 + diff * diff)


def _inner_mean(dist: Tensor, border: int) -> Tensor:
    """Mean of ``dist`` ``(B, 1, H, W)`` with a ``border``-pixel frame counted as zero (it sees padding)."""
    mask = torch.zeros_like(dist)
    mask[..., border:-border, border:-border] = 1
    return (dist * mask).mean()


def census_loss(pred: Tensor, target: Tensor, patch: int = CENSUS_PATCH) -> Tensor:
    """Soft Hamming distance between the census (ternary) transforms of the grey images."""
    tp = _patch_offsets(pred.float().mean(1, keepdim=True), patch)
    tt = _patch_offsets(target.float().mean(1, keepdim=True), patch).detach()
    d = tp - tt
    return _inner_mean((d * d / (0.1 + d * d)).mean(1, keepdim=True), patch // 2)


def geometry_loss(pred_feat: Tensor, target_feat: Tensor, patch: int = GEOMETRY_PATCH) -> Tensor:
    """Census distance per channel between predicted features and the true frame's encoder features."""
    d = _patch_offsets(pred_feat.float(), patch) - _patch_offsets(target_feat.float(), patch)
    return _inner_mean((d * d / (0.1 + d * d)).mean(1, keepdim=True), patch // 2)


def robust_weight(student: Tensor, teacher: Tensor, beta: float = ROBUST_BETA) -> Tensor:
    """Per-pixel trust in the teacher, exp(-beta * EPE) against the student's final flow (no gradient)."""
    epe = (student.detach().float() - teacher.float()).pow(2).sum(1, keepdim=True).sqrt()
    return torch.exp(-beta * epe)


def robust_charbonnier(diff: Tensor, weight: Tensor) -> Tensor:
    """Per-pixel generalised Charbonnier (diff^2 + eps^2)^(w/2), eps = 10^-((10 w - 1) / 3).

    Where the teacher agrees with the student (w -> 1) this is the Charbonnier L1; where it
    disagrees (w -> 0) the penalty flattens to a constant, so a wrong teacher stops pulling.
    Returns the map ``(B, C, H, W)``.
    """
    eps = torch.pow(10.0, -(10.0 * weight - 1.0) / 3.0)
    return torch.pow(diff.float() ** 2 + eps * eps, weight / 2.0)


def masked_mean(loss_map: Tensor, valid: Tensor) -> Tensor:
    """Mean of a per-pixel loss over the batch, samples with ``valid`` 0 counting as zero."""
    return (loss_map.flatten(1).mean(1) * valid.to(loss_map.dtype)).mean()


def distillation(flow: Tensor, teacher: Tensor, weight: Tensor, valid: Tensor) -> Tensor:
    """Robust distillation of a 2-channel flow towards the teacher's."""
    return masked_mean(robust_charbonnier(flow - teacher, weight), valid)

"""Super SloMo (Jiang et al., CVPR 2018): one flow pass per frame pair, any number of timesteps.

U-Net 1 (the *flow net*) estimates the bidirectional flows F_0->1 and F_1->0 once per pair.
For every t, the flows to the intermediate frame are approximated linearly
(:func:`intermediate_flows`), U-Net 2 (the *refinement net*) predicts flow residuals and a
visibility map, and the two backward-warped inputs are fused (:func:`fuse`).

Checkpoints use the layout of the widely used public PyTorch implementation: a dict whose
``state_dictFC`` holds U-Net(6 in, 4 out) and ``state_dictAT`` holds U-Net(20 in, 5 out).
The channel widths are read from the tensor shapes, so full-size public checkpoints
(32-64-128-256-512-512) and our compact ones load through the same path.
"""

from __future__ import annotations

import datetime
import importlib.resources
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import checkpoint as checkpoint_io
from .checkpoint import CheckpointError
from .warp import backward_warp

_WHAT = "Super SloMo checkpoint"

FULL_WIDTHS: tuple[int, ...] = (32, 64, 128, 256, 512, 512)
"""Encoder widths of the published architecture (input conv, then five pooled levels)."""

COMPACT_WIDTHS: tuple[int, ...] = (16, 32, 48, 64, 96, 96)
"""Widths of the compact variant that vsslomo ships (trained on a CPU budget)."""

MEAN: tuple[float, float, float] = (0.429, 0.431, 0.397)
"""Per-channel mean subtracted from RGB inputs (std 1), as in the public checkpoints."""

FLOW_IN, FLOW_OUT = 6, 4
REFINE_IN, REFINE_OUT = 20, 5
_DOWN_KERNELS = (5, 3, 3, 3, 3)
_NEG_SLOPE = 0.1

DEFAULT_WEIGHTS = "superslomo_compact.pt"
"""File name of the shipped checkpoint inside ``vsslomo/weights``."""


def _act(x: Tensor) -> Tensor:
    return F.leaky_relu(x, negative_slope=_NEG_SLOPE)


class _Down(nn.Module):
    """2x average pool, then two same-size convolutions."""

    def __init__(self, cin: int, cout: int, kernel: int) -> None:
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Conv2d(cin, cout, kernel, padding=pad)
        self.conv2 = nn.Conv2d(cout, cout, kernel, padding=pad)

    def forward(self, x: Tensor) -> Tensor:
        x = F.avg_pool2d(x, 2)
        return _act(self.conv2(_act(self.conv1(x))))


class _Up(nn.Module):
    """2x bilinear upsample, a 3x3 convolution, then a 3x3 convolution over [x, skip]."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(2 * cout, cout, 3, padding=1)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)
        x = _act(self.conv1(x))
        return _act(self.conv2(torch.cat((x, skip), dim=1)))


class UNet(nn.Module):
    """The Super SloMo U-Net; parameter names match the public checkpoint layout.

    ``widths`` are the six encoder widths (input level, then five 2x-pooled levels). Input
    sizes must be multiples of 32. The published network applies LeakyReLU to its output
    as well; we keep that so public weights behave as trained.
    """

    def __init__(self, in_channels: int, out_channels: int, widths: Sequence[int] = FULL_WIDTHS) -> None:
        super().__init__()
        w = tuple(int(c) for c in widths)
        if len(w) != 6 or min(w) < 1:
            raise ValueError(f"UNet needs six positive widths, got {widths!r}")
        self.widths = w
        self.conv1 = nn.Conv2d(in_channels, w[0], 7, padding=3)
        self.conv2 = nn.Conv2d(w[0], w[0], 7, padding=3)
        self.down1 = _Down(w[0], w[1], _DOWN_KERNELS[0])
        self.down2 = _Down(w[1], w[2], _DOWN_KERNELS[1])
        self.down3 = _Down(w[2], w[3], _DOWN_KERNELS[2])
        self.down4 = _Down(w[3], w[4], _DOWN_KERNELS[3])
        self.down5 = _Down(w[4], w[5], _DOWN_KERNELS[4])
        self.up1 = _Up(w[5], w[4])
        self.up2 = _Up(w[4], w[3])
        self.up3 = _Up(w[3], w[2])
        self.up4 = _Up(w[2], w[1])
        self.up5 = _Up(w[1], w[0])
        self.conv3 = nn.Conv2d(w[0], out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        s1 = _act(self.conv2(_act(self.conv1(x))))
        s2 = self.down1(s1)
        s3 = self.down2(s2)
        s4 = self.down3(s3)
        s5 = self.down4(s4)
        x = self.down5(s5)
        x = self.up1(x, s5)
        x = self.up2(x, s4)
        x = self.up3(x, s3)
        x = self.up4(x, s2)
        x = self.up5(x, s1)
        return _act(self.conv3(x))


def intermediate_flows(f01: Tensor, f10: Tensor, t: Tensor | float) -> tuple[Tensor, Tensor]:
    """Approximate F_t->0 and F_t->1 from the pair's flows (paper eq. 4).

    F_t->0 = -(1-t) t F_0->1 + t^2 F_1->0 and F_t->1 = (1-t)^2 F_0->1 - t (1-t) F_1->0.
    ``t`` is a float or a tensor broadcastable to the flows, e.g. shape ``(B, 1, 1, 1)``.
    """
    ft0 = -(1 - t) * t * f01 + t * t * f10
    ft1 = (1 - t) * (1 - t) * f01 - t * (1 - t) * f10
    return ft0, ft1


def fuse(warped0: Tensor, warped1: Tensor, vis0: Tensor, t: Tensor | float) -> Tensor:
    """Visibility-weighted fusion of the two warped inputs (paper eq. 1 with V_t->1 = 1 - V_t->0).

    ((1-t) V0 g0 + t V1 g1) / ((1-t) V0 + t V1). The denominator is at least min(t, 1-t),
    so it never vanishes for t in (0, 1).
    """
    w0 = (1 - t) * vis0
    w1 = t * (1 - vis0)
    return (w0 * warped0 + w1 * warped1) / (w0 + w1)


@dataclass
class Synthesis:
    """Everything one synthesis step computes; the training losses need the intermediates.

    Images are in the network's normalised space (RGB minus :data:`MEAN`).
    """

    frame: Tensor
    """Fused intermediate frame, normalised, ``(B, 3, H, W)``."""
    flow01: Tensor
    flow10: Tensor
    approx_warped0: Tensor
    """I0 warped by the approximated F_t->0 (before refinement)."""
    approx_warped1: Tensor
    flow_t0: Tensor
    """Refined F_t->0."""
    flow_t1: Tensor
    vis0: Tensor
    """Visibility of I0 at t, in (0, 1); the visibility of I1 is ``1 - vis0``."""


class SuperSloMo(nn.Module):
    """Super SloMo interpolator with the registry's forward contract.

    ``flow_widths``/``refine_widths`` choose the U-Net widths (full size by default).
    """

    pad_multiple = 32
    ensemble_mode = "tta"
    independent_timesteps = True
    mean: Tensor
    """RGB mean of the network's input space (a buffer)."""

    def __init__(
        self,
        flow_widths: Sequence[int] = FULL_WIDTHS,
        refine_widths: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.flow_net = UNet(FLOW_IN, FLOW_OUT, flow_widths)
        self.refine_net = UNet(REFINE_IN, REFINE_OUT, flow_widths if refine_widths is None else refine_widths)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)

    @property
    def summary(self) -> str:
        """One line for ``vsslomo info``: the U-Net widths of the loaded weights."""
        kind = "full size" if self.flow_net.widths == FULL_WIDTHS else "-".join(map(str, self.flow_net.widths))
        return f"Super SloMo, U-Nets {kind} (flow) / {'-'.join(map(str, self.refine_net.widths))} (refinement)"

    def normalize(self, img: Tensor) -> Tensor:
        """RGB in [0, 1] -> network input space."""
        return img - self.mean.to(img.dtype)

    def denormalize(self, x: Tensor) -> Tensor:
        """Network space -> RGB in [0, 1] (not clamped)."""
        return x + self.mean.to(x.dtype)

    def flows(self, x0: Tensor, x1: Tensor, scale: float = 1.0) -> tuple[Tensor, Tensor]:
        """F_0->1 and F_1->0 in pixels for normalised inputs ``(B, 3, H, W)``.

        With ``scale < 1`` the flow net runs on inputs resized by ``scale`` (sizes must then
        be multiples of ``32 / scale``) and the flows are upsampled and rescaled to full size.
        """
        if scale == 1.0:
            out = self.flow_net(torch.cat((x0, x1), dim=1))
        else:
            h, w = x0.shape[-2:]
            small = F.interpolate(torch.cat((x0, x1), dim=1), scale_factor=scale, mode="bilinear", align_corners=False)
            out = self.flow_net(small)
            out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False) / scale
        return out[:, :2], out[:, 2:]

    def refine(self, x0: Tensor, x1: Tensor, flow01: Tensor, flow10: Tensor, t: Tensor) -> Synthesis:
        """Synthesise the frame at ``t`` (shape ``(B,)``) for a batch of normalised pairs, with
        every intermediate the training losses need."""
        tt = t.to(x0.dtype).view(-1, 1, 1, 1)
        ft0, ft1 = intermediate_flows(flow01, flow10, tt)
        g0 = backward_warp(x0, ft0)
        g1 = backward_warp(x1, ft1)
        refine = self.refine_net(torch.cat((x0, x1, flow01, flow10, ft1, ft0, g1, g0), dim=1))
        ft0 = ft0 + refine[:, 0:2]
        ft1 = ft1 + refine[:, 2:4]
        vis0 = torch.sigmoid(refine[:, 4:5])
        frame = fuse(backward_warp(x0, ft0), backward_warp(x1, ft1), vis0, tt)
        return Synthesis(frame, flow01, flow10, g0, g1, ft0, ft1, vis0)

    # The staged API of vsslomo.models.contract: the flow net runs once per pair (its state
    # serves every chunk of timesteps), the refinement net once per timestep, batched.

    def encode(self, img: Tensor, scale: float = 1.0) -> None:
        """No per-frame work: the flow net sees both frames at once."""
        return None

    def pair(self, img0: Tensor, img1: Tensor, feat0: Any, feat1: Any, scale: float = 1.0) -> tuple[Tensor, ...]:
        """Normalised inputs and the pair's flows F_0->1, F_1->0."""
        x0, x1 = self.normalize(img0), self.normalize(img1)
        return (x0, x1, *self.flows(x0, x1, scale))

    def synthesize(self, state: tuple[Tensor, ...], timesteps: Tensor) -> Tensor:
        """Frames ``(T, 3, H, W)`` at ``timesteps``: all T through the refinement net as one batch."""
        n = timesteps.numel()
        x0, x1, flow01, flow10 = (x.expand(n, -1, -1, -1) for x in state)
        out = self.refine(x0, x1, flow01, flow10, timesteps.to(x0.device).reshape(-1))
        return self.denormalize(out.frame).clamp(0.0, 1.0)

    def forward(self, img0: Tensor, img1: Tensor, timesteps: Tensor, scale: float = 1.0) -> Tensor:
        """Interpolate ``(T, 3, H, W)`` frames at ``timesteps`` between ``(1, 3, H, W)`` inputs."""
        return self.synthesize(self.pair(img0, img1, None, None, scale), timesteps)

    def checkpoint_dict(self) -> dict[str, Any]:
        """The two state dicts under the public checkpoint's key names."""
        return {"state_dictFC": self.flow_net.state_dict(), "state_dictAT": self.refine_net.state_dict()}


def infer_widths(state_dict: Mapping[str, Any], in_channels: int, name: str) -> tuple[int, ...]:
    """Read the six U-Net widths from a state dict's tensor shapes; ``ValueError`` if it is no U-Net."""
    keys = ["conv1.weight"] + [f"down{i}.conv1.weight" for i in range(1, 6)]
    widths = []
    for key in keys:
        tensor = state_dict.get(key)
        if not isinstance(tensor, Tensor) or tensor.dim() != 4:
            raise ValueError(f"{name} has no 4-D tensor '{key}'; not a Super SloMo U-Net")
        widths.append(int(tensor.shape[0]))
    got_in = int(state_dict["conv1.weight"].shape[1])
    if got_in != in_channels:
        raise ValueError(f"{name}.conv1 takes {got_in} input channels, expected {in_channels}")
    return tuple(widths)


def model_from_state_dicts(flow_state: Mapping[str, Any], refine_state: Mapping[str, Any]) -> SuperSloMo:
    """Build a :class:`SuperSloMo` sized by, and strictly loaded from, the two U-Net state dicts."""
    model = SuperSloMo(
        infer_widths(flow_state, FLOW_IN, "state_dictFC"),
        infer_widths(refine_state, REFINE_IN, "state_dictAT"),
    )
    for net, state, name in ((model.flow_net, flow_state, "state_dictFC"), (model.refine_net, refine_state, "state_dictAT")):
        checkpoint_io.load_strict(net, state, "Super SloMo", name)
    return model


def default_checkpoint() -> Path:
    """Path of the checkpoint shipped in the package (it may not exist in a source checkout)."""
    return Path(str(importlib.resources.files("vsslomo") / "weights" / DEFAULT_WEIGHTS))


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint dict safely (``weights_only``; only ``datetime`` is allow-listed).

    Raises :class:`~vsslomo.models.checkpoint.CheckpointError` (a ``ValueError``) for a
    missing or damaged file and for anything that is not a Super SloMo checkpoint dict.
    """
    # The public checkpoints store a datetime under 'timestamp'.
    data = checkpoint_io.read_checkpoint(path, _WHAT, allow=(datetime.datetime,))
    if not isinstance(data, dict):
        raise CheckpointError(
            f"{_WHAT} {path} holds a {type(data).__name__}, expected a dict with 'state_dictFC' and 'state_dictAT'"
        )
    missing = [k for k in ("state_dictFC", "state_dictAT") if not isinstance(data.get(k), Mapping)]
    if missing:
        raise CheckpointError(
            f"{_WHAT} {path} lacks {', '.join(missing)}; expected a Super SloMo checkpoint (state_dictFC + state_dictAT)"
        )
    return data


def load_superslomo(checkpoint: Path | None = None) -> SuperSloMo:
    """Registry loader: Super SloMo on the CPU, float32, eval mode, weights loaded strictly.

    ``checkpoint=None`` loads vsslomo's shipped compact checkpoint; any path may point to a
    public full-size checkpoint or one written by ``vsslomo train``.
    """
    if checkpoint is None:
        path = default_checkpoint()
        if not path.is_file():
            raise CheckpointError(
                f"the shipped Super SloMo weights ({path}) are not installed; pass checkpoint=PATH "
                "to a Super SloMo checkpoint (public .ckpt or one from 'vsslomo train')"
            )
    else:
        path = Path(checkpoint)
    data = read_checkpoint(path)
    try:
        model = model_from_state_dicts(
            checkpoint_io.tensor_dict(data, _WHAT, path, "state_dictFC"),
            checkpoint_io.tensor_dict(data, _WHAT, path, "state_dictAT"),
        )
    except CheckpointError:
        raise
    except ValueError as exc:
        raise CheckpointError(f"{_WHAT} {path}: {exc}") from None
    return model.float().eval()

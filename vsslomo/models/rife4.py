"""RIFE 4.x (Practical-RIFE's IFNet 4.0 ... 4.26, lite and heavy) as one parameterised network.

:class:`Rife4` is built from one row of :mod:`vsslomo.models.rife4_versions`; parameter names
follow the published ``flownet.pkl`` files, so users' checkpoints load strictly and our state
dict loads into the reference network as it is. On the same weights its frames are the
reference network's (the ``vsrife`` wheel's ``IFNet_HDv3_v4_*.py``), ``ensemble=True`` included
where the version has it: bit for bit at the same batch size in our CPU runs; a batch of
timesteps against one reference call per t differs only by the batch-size-dependent rounding
of the convolutions (``benchmarks/rife4_exactness.py``).

4.x takes the time as an input: all timesteps of a pair run as one batch. The work is staged
for the engine (:mod:`vsslomo.models.contract`): :meth:`Rife4.encode` runs the feature head
once per source frame, :meth:`Rife4.pair` bundles a pair (and resizes the first block's
image inputs once for every t), :meth:`Rife4.synthesize` runs the blocks for a batch of t.

Compared with the reference, the arithmetic is the same; work whose result is never used or
is an identity is skipped: resizes by a factor of 1, output maps of the last block that only
a next block would read (and the spare map of 4.6 to 4.20), and the second grid computation
of each warp (each frame and its features are warped in one call).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from . import contract, rife4_weights
from .checkpoint import CheckpointError, load_strict, read_checkpoint, shape_mismatches, tensor_dict
from .layers import PReLU
from .rife4_versions import (
    ARCHITECTURES,
    RESCUE_FLOW,
    Architecture,
    Head,
    label,
    model_name,
    versions,
)
from .rife4_weights import find_installed
from .warp import backward_warp

__all__ = ["Rife4", "Rife4Pair", "load_rife4", "find_installed", "matching_versions", "TRAINING_ONLY"]

TRAINING_ONLY = ("teacher.", "caltime.")
"""Prefixes of tensors that Practical-RIFE's files carry for training only (a distillation
teacher block and a time estimator); they are dropped on loading, everything else must fit."""


def _resize(x: Tensor, factor: float) -> Tensor:
    # As the reference: bilinear, align_corners=False, sampled with exactly `factor`.
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False, recompute_scale_factor=False)


def _peak(flow: Tensor) -> Tensor:
    """Largest absolute value of each sample of a batch."""
    return flow.abs().amax((1, 2, 3))


def _swap(flow: Tensor) -> Tensor:
    """Exchange the (to frame 0) and (to frame 1) halves of a 4-channel flow."""
    return torch.cat((flow[:, 2:4], flow[:, 0:2]), 1)


class FeatureHead(nn.Module):
    """The per-frame feature head: a stride-2 convolution, ``convs`` more, a transposed one."""

    def __init__(self, spec: Head):
        super().__init__()
        w = spec.width
        layers: list[nn.Module] = [nn.Conv2d(3, w, 3, 2, 1), *(nn.Conv2d(w, w, 3, 1, 1) for _ in range(spec.convs))]
        layers.append(nn.ConvTranspose2d(w, spec.channels, 4, 2, 1))
        # Sequential heads count their activation modules in the parameter names (0, 2, 4, 6).
        step = 2 if spec.activation else 1
        for i, layer in enumerate(layers):
            self.add_module(f"cnn{i}" if spec.named else str(i * step), layer)
        self.clamp = spec.named
        self.activation = spec.activation

    def forward(self, img: Tensor) -> Tensor:
        x = img.clamp(0.0, 1.0) if self.clamp else img
        *convs, last = self.children()
        for conv in convs:
            x = conv(x)
            if self.activation:
                x = F.leaky_relu(x, 0.2, inplace=True)
        return last(x)


class _ConvAct(nn.Sequential):
    """3x3 convolution and its activation (PReLU or LeakyReLU(0.2))."""

    def __init__(self, cin: int, cout: int, stride: int, prelu: bool):
        super().__init__(nn.Conv2d(cin, cout, 3, stride, 1), PReLU(cout) if prelu else nn.LeakyReLU(0.2, True))


class _ResConv(nn.Module):
    """``LeakyReLU(conv(x) * beta + x)``."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1, groups=groups)
        self.beta = nn.Parameter(torch.ones((1, channels, 1, 1)))

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(self.conv(x) * self.beta + x, 0.2, inplace=True)


_BODY = {
    "conv": lambda width, arch: _ConvAct(width, width, 1, arch.prelu),
    "resconv": lambda width, arch: _ResConv(width, arch.groups),
}


class Block(nn.Module):
    """One IFNet 4.x level: input at the block's resolution -> its raw output maps."""

    def __init__(self, inputs: int, width: int, arch: Architecture):
        super().__init__()
        half = width // 2
        self.conv0 = nn.Sequential(_ConvAct(inputs, half, 2, arch.prelu), _ConvAct(half, width, 2, arch.prelu))
        self.convblock = nn.Sequential(*(_BODY[arch.body](width, arch) for _ in range(8)))
        if arch.shuffle:
            deconv = nn.ConvTranspose2d(width, 4 * arch.outputs, 4, 2, 1)
            self.lastconv: nn.Module = nn.Sequential(deconv, nn.PixelShuffle(2))
        else:
            self.lastconv = nn.ConvTranspose2d(width, 5, 4, 2, 1)
        self.skip = arch.body_skip
        self.shuffle = arch.shuffle

    def forward(self, x: Tensor, maps: int) -> Tensor:
        """The first ``maps`` output maps (only those are computed), before upsampling."""
        feat = self.conv0(x)
        body = self.convblock(feat)
        if self.skip:
            body = body + feat
        if not self.shuffle:
            return self.lastconv(body)
        deconv = cast(nn.ConvTranspose2d, cast(nn.Sequential, self.lastconv)[0])  # shuffle: (deconv, PixelShuffle)
        n = 4 * maps  # PixelShuffle(2) turns channels 4k .. 4k+3 into map k
        if n == deconv.out_channels:
            return F.pixel_shuffle(deconv(body), 2)
        assert deconv.bias is not None  # built with one
        return F.pixel_shuffle(F.conv_transpose2d(body, deconv.weight[:, :n], deconv.bias[:n], stride=2, padding=1), 2)


@dataclass(frozen=True)
class Rife4Pair:
    """Per-pair state for :meth:`Rife4.synthesize`."""

    src0: Tensor
    """Frame 0 (clamped) and its head features, ``(1, 3 + e, H, W)``: warped together."""
    src1: Tensor
    scale: float
    first: Tensor
    """``img0, img1, f0, f1`` resized for the first block (the same for every t)."""


class Rife4(nn.Module):
    """RIFE 4.x: ``model(img0, img1, timesteps, scale, ensemble=False) -> (T, 3, H, W)``.

    Inputs are ``(1, 3, H, W)`` RGB in [0, 1] with H and W multiples of ``pad_multiple / scale``
    (at least ``pad_multiple``); ``timesteps`` are T values in [0, 1], run as one batch.
    """

    def __init__(self, version: str):
        super().__init__()
        if version not in ARCHITECTURES:
            raise ValueError(f"unknown RIFE version {version!r}; known: {', '.join(versions())}")
        arch = ARCHITECTURES[version]
        self.version = version
        self.arch = arch
        self.pad_multiple = arch.pad
        self.ensemble_mode = "internal" if arch.ensemble else "none"
        self.independent_timesteps = True
        self.summary = label(version)
        for i, width in enumerate(arch.widths):
            self.add_module(f"block{i}", Block(arch.refine_inputs if i else arch.first_inputs, width, arch))
        if arch.head is not None:
            # The checkpoints call the head "encode", which is also the staged API's method
            # name: the module is registered under that name and reached as `self.head`.
            self._modules["encode"] = FeatureHead(arch.head)

    @property
    def head(self) -> FeatureHead | None:
        """The feature head (None for 4.0 to 4.6)."""
        return self._modules.get("encode")  # type: ignore[return-value]

    @property
    def blocks(self) -> list[Block]:
        return [self._modules[f"block{i}"] for i in range(len(self.arch.widths))]  # type: ignore[misc]

    def level_scales(self, scale: float) -> tuple[float, ...]:
        """Each block's downscale at ``scale``, as the reference computes them."""
        return tuple(s / scale for s in self.arch.scales)

    # --- staged API -------------------------------------------------------------------

    def encode(self, img: Tensor, scale: float = 1.0) -> Tensor | None:
        """Head features of one frame ``(1, e, H, W)`` (None without a head); ``scale`` is unused."""
        head = self.head
        return head(img) if head is not None else None

    def pair(
        self, img0: Tensor, img1: Tensor, feat0: Tensor | None, feat1: Tensor | None, scale: float = 1.0
    ) -> Rife4Pair:
        """Bundle a pair with its frames' features; resizes the first block's inputs once."""
        contract.check_pair(img0, img1, scale, self.pad_multiple, "RIFE 4.x")
        img0, img1 = img0.clamp(0.0, 1.0), img1.clamp(0.0, 1.0)
        feats: tuple[Tensor, ...] = ()
        if self.head is not None:
            if feat0 is None or feat1 is None:
                raise ValueError(f"{self.summary} needs both frames' features from encode()")
            feats = (feat0, feat1)
        src0 = torch.cat((img0, feats[0]), 1) if feats else img0
        src1 = torch.cat((img1, feats[1]), 1) if feats else img1
        first = _resize(torch.cat((img0, img1, *feats), 1), 1.0 / self.level_scales(scale)[0])
        return Rife4Pair(src0, src1, float(scale), first)

    def synthesize(self, state: Rife4Pair, timesteps: Tensor | Sequence[float], ensemble: bool = False) -> Tensor:
        """Frames ``(T, 3, H, W)`` at ``timesteps``, clamped to [0, 1]."""
        if ensemble and not self.arch.ensemble:
            raise ValueError(f"{self.summary} has no ensemble mode (the reference supports it up to 4.20 and in 4.24)")
        t = _timesteps(timesteps, state.src0)
        if t.numel() == 0:
            return state.src0.new_empty((0, 3, *state.src0.shape[2:]))
        flow, mask = self._estimate(state, t, self.level_scales(state.scale), ensemble, self.arch.rescue)
        n = t.shape[0]
        warped0 = backward_warp(state.src0[:, :3].expand(n, -1, -1, -1), flow[:, :2])
        warped1 = backward_warp(state.src1[:, :3].expand(n, -1, -1, -1), flow[:, 2:4])
        mask = torch.sigmoid(mask)
        return (warped0 * mask + warped1 * (1 - mask)).clamp(0.0, 1.0)

    def forward(
        self,
        img0: Tensor,
        img1: Tensor,
        timesteps: Tensor | Sequence[float],
        scale: float = 1.0,
        ensemble: bool = False,
    ) -> Tensor:
        """Interpolate ``(T, 3, H, W)`` frames at ``timesteps`` between ``img0`` and ``img1``."""
        state = self.pair(img0, img1, self.encode(img0, scale), self.encode(img1, scale), scale)
        return self.synthesize(state, timesteps, ensemble=ensemble)

    # --- the blocks -------------------------------------------------------------------

    def _estimate(
        self,
        state: Rife4Pair,
        t: Tensor,
        scales: tuple[float, ...],
        ensemble: bool,
        rescue: bool,
        first_ensemble: bool = True,
    ) -> tuple[Tensor, Tensor]:
        """Flow ``(T, 4, H, W)`` and mask logits ``(T, 1, H, W)`` after the last block."""
        n = t.shape[0]
        plane = t.view(n, 1, 1, 1).expand(n, 1, *state.src0.shape[2:])
        flow, mask, carry = self._first(state, plane, scales[0], ensemble and first_ensemble)
        src0, src1 = state.src0.expand(n, -1, -1, -1), state.src1.expand(n, -1, -1, -1)
        last = len(scales) - 1
        for i in range(1, last + 1):
            warped0, warped1 = backward_warp(src0, flow[:, :2]), backward_warp(src1, flow[:, 2:4])
            d_flow, d_mask, next_carry = self._refine(
                i, warped0, warped1, plane, mask, carry, flow, scales[i], last=i == last
            )
            if rescue and i == 1:
                big = _peak(d_flow[:, :2]).minimum(_peak(d_flow[:, 2:4])) > RESCUE_FLOW
                if bool(big.any()):
                    return self._rescue(state, t, scales, ensemble, big)
            if ensemble:
                r_flow, r_mask, _ = self._refine(
                    i, warped1, warped0, 1 - plane, -mask, None, _swap(flow), scales[i], last=True
                )
                d_flow = (d_flow + _swap(r_flow)) / 2
                d_mask = (d_mask + (-r_mask)) / 2
            mask = mask + d_mask if self.arch.add_mask else d_mask
            flow = flow + d_flow
            carry = next_carry
        return flow, mask

    def _rescue(
        self, state: Rife4Pair, t: Tensor, scales: tuple[float, ...], ensemble: bool, big: Tensor
    ) -> tuple[Tensor, Tensor]:
        """4.0/4.1: the timesteps marked ``big`` start again at doubled downscales, without
        the first block's ensemble, as the reference does for each t on its own."""
        doubled = tuple(s * 2 for s in scales)
        if bool(big.all()):
            return self._estimate(state, t, doubled, ensemble, rescue=False, first_ensemble=False)
        # Mixed batch (rare): each group again on its own; the decision is already taken.
        flow_b, mask_b = self._estimate(state, t[big], doubled, ensemble, rescue=False, first_ensemble=False)
        flow_k, mask_k = self._estimate(state, t[~big], scales, ensemble, rescue=False)
        flow = flow_b.new_empty((t.shape[0], *flow_b.shape[1:]))
        mask = mask_b.new_empty((t.shape[0], *mask_b.shape[1:]))
        flow[big], flow[~big] = flow_b, flow_k
        mask[big], mask[~big] = mask_b, mask_k
        return flow, mask

    def _first(
        self, state: Rife4Pair, plane: Tensor, level: float, ensemble: bool
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """The first block on ``img0, img1, f0, f1, t`` (and on the swapped pair for ensemble)."""
        n = plane.shape[0]
        first = state.first
        if level != self.level_scales(state.scale)[0]:  # the rescue pass of 4.0/4.1
            src0, src1 = state.src0, state.src1
            first = _resize(torch.cat((src0[:, :3], src1[:, :3], src0[:, 3:], src1[:, 3:]), 1), 1.0 / level)
        x = torch.cat((first.expand(n, -1, -1, -1), _resize(plane, 1.0 / level)), 1)
        flow, mask, carry = self._outputs(self.blocks[0](x, self._maps(last=False)), level)
        if ensemble:
            e = self.arch.feature_channels
            swapped = torch.cat((first[:, 3:6], first[:, 0:3], first[:, 6 + e :], first[:, 6 : 6 + e]), 1)
            x = torch.cat((swapped.expand(n, -1, -1, -1), _resize(1 - plane, 1.0 / level)), 1)
            r_flow, r_mask, _ = self._outputs(self.blocks[0](x, 5), level)
            flow = (flow + _swap(r_flow)) / 2
            mask = (mask + (-r_mask)) / 2
        return flow, mask, carry

    def _refine(
        self,
        i: int,
        warped0: Tensor,
        warped1: Tensor,
        plane: Tensor,
        mask: Tensor,
        carry: Tensor | None,
        flow: Tensor,
        level: float,
        last: bool,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Block ``i`` on the warped frames (and features), t, mask, carry and flow."""
        parts = [warped0[:, :3], warped1[:, :3]]
        if self.arch.head is not None:
            parts += [warped0[:, 3:], warped1[:, 3:]]
        parts += [plane, mask] + ([carry] if carry is not None else [])
        x = torch.cat(parts, 1)
        if level != 1:
            x = _resize(x, 1.0 / level)
            flow = _resize(flow, 1.0 / level) / level
        return self._outputs(self.blocks[i](torch.cat((x, flow), 1), self._maps(last)), level)

    def _maps(self, last: bool) -> int:
        """Output maps a block must compute: flow and mask, and the carry unless it is the last."""
        return 5 if last else 5 + self.arch.carry

    def _outputs(self, raw: Tensor, level: float) -> tuple[Tensor, Tensor, Tensor | None]:
        """(flow, mask, carry) at full size from a block's raw maps."""
        up = level if self.arch.shuffle else level * 2
        if up != 1:
            raw = _resize(raw, up)
        carry = raw[:, 5 : 5 + self.arch.carry] if raw.shape[1] > 5 and self.arch.carry else None
        return raw[:, :4] * up, raw[:, 4:5], carry


def _timesteps(timesteps: Tensor | Sequence[float], like: Tensor) -> Tensor:
    t = timesteps if isinstance(timesteps, Tensor) else torch.tensor([float(v) for v in timesteps])
    t = t.reshape(-1).to(device=like.device, dtype=like.dtype)
    if t.numel() and not bool(((t >= 0) & (t <= 1)).all()):
        raise ValueError(f"timesteps must lie in [0, 1], got {t.tolist()}")
    return t


# --- loading ----------------------------------------------------------------------------


@functools.cache
def _shapes(arch: Architecture) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of the network of ``arch`` (built on the meta device)."""
    version = next(v for v in versions() if ARCHITECTURES[v] == arch)
    with torch.device("meta"):
        model = Rife4(version)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def matching_versions(state: Mapping[str, Tensor]) -> list[str]:
    """Every version whose network has exactly the names and shapes of ``state``."""
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    return [v for v in versions() if _shapes(ARCHITECTURES[v]) == shapes]


def inference_tensors(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``state`` without the training-only tensors (:data:`TRAINING_ONLY`)."""
    return {k: v for k, v in state.items() if not k.startswith(TRAINING_ONLY)}


def _named_version(path: Path) -> str | None:
    """The version a file's name states (``flownet_v4.18.pkl`` -> ``"4.18"``), if any."""
    match = re.fullmatch(r"flownet_v(.+)\.pkl", path.name)
    return match.group(1) if match and match.group(1) in ARCHITECTURES else None


def _choose(found: list[str], path: Path, what: str) -> str:
    """The version of a checkpoint loaded as ``model="rife4"`` from the versions its shapes fit."""
    named = _named_version(path)
    if named in found:
        return named
    if len(found) == 1:
        return found[0]
    raise CheckpointError(
        f"{what} {path} has the tensor shapes of RIFE {_listed(found)}, which share one network (only "
        f"their training differs); say which it is: {_models(found)} (or name the file flownet_v<version>.pkl)"
    )


def _listed(items: Sequence[str], last: str = "and") -> str:
    """``"a, b and c"``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


def _models(found: Sequence[str]) -> str:
    """``"model='rife4.25' or 'rife4.26'"``."""
    return "model=" + _listed([repr(model_name(v)) for v in found], "or")


def _not_known(state: Mapping[str, Tensor], path: Path, what: str) -> CheckpointError:
    """The error for weights that fit no version: what the nearest version's network lacks."""

    def network(version: str) -> Rife4:
        with torch.device("meta"):
            return Rife4(version)

    nearest = min(versions(), key=lambda v: sum(len(names) for names in shape_mismatches(network(v), state)))
    try:
        load_strict(network(nearest), state, f"{what} (nearest: {label(nearest)})", path)
    except CheckpointError as exc:
        return CheckpointError(f"{exc}; it is none of the RIFE 4.x networks vsslomo knows (4.0 to 4.26)")
    raise AssertionError("weights that match no version fit the nearest one")


def load_rife4(checkpoint: Path | None = None, version: str | None = None) -> Rife4:
    """Build RIFE 4.x from a ``flownet.pkl``: ``version`` (e.g. ``"4.22"``), or recognised.

    Without ``checkpoint`` the weights are looked for where users keep them
    (:func:`vsslomo.models.rife4_weights.find_weights`; never downloaded). With
    ``version=None`` the version is recognised from the tensor shapes (where several
    versions share them, the file name ``flownet_v4.X.pkl`` decides, else the error asks).
    Loading is safe and strict: training-only tensors (:data:`TRAINING_ONLY`) are dropped,
    anything else missing, extra or mis-shaped is a :class:`CheckpointError` that says which
    version the file looks like. Returns the model in float32 on the CPU, in eval mode.
    """
    if version is not None and version not in ARCHITECTURES:
        raise ValueError(f"unknown RIFE 4.x version {version!r}; known: {', '.join(versions())}")
    if checkpoint is None:
        version, path = rife4_weights.find_weights(version)
    else:
        path = Path(checkpoint)
    what = f"{label(version)} checkpoint" if version else "RIFE 4.x checkpoint"
    state = inference_tensors(tensor_dict(read_checkpoint(path, what), what, path))
    found = matching_versions(state)
    if version is None:
        if not found:
            raise _not_known(state, path, what)
        version = _choose(found, path, what)
    elif version not in found and found:
        raise CheckpointError(
            f"{what} {path} does not hold {label(version)} weights: its tensors are those of RIFE "
            f"{_listed(found, 'or')}; use {_models(found)}"
        )
    model = Rife4(version)
    load_strict(model, state, what, path)
    return model.float().eval()

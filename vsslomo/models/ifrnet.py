"""IFRNet (Kong et al., CVPR 2022): one shared encoder per frame, a decoder that takes t.

The network, at each of three sizes (:data:`VARIANTS`):

* a 4-level **encoder** (two 3x3 conv + PReLU per level, the first of stride 2; IFRNet-L's
  first convolution is 7x7) turns each frame into a feature pyramid at 1/2 .. 1/16 size;
* **decoder 4** takes both level-4 features and a constant plane holding t and predicts the
  flows from the intermediate frame to both inputs (at 1/8 size) plus an intermediate
  feature; **decoders 3..1** take that (upsampled) feature, both frames' features of their
  level backward-warped by the current flows, and the flows, and predict flow increments
  and the next feature. Decoder 1 gives, at full size, the two flows, an occlusion mask
  (sigmoid) and an RGB residual;
* the frame is ``mask * warp(I0, F_t->0) + (1 - mask) * warp(I1, F_t->1) + residual``,
  clamped to [0, 1].

Every decoder is a conv + PReLU, a residual block whose last ``side`` channels get two extra
convolutions, and a stride-2 transposed convolution. Parameter names follow the official
checkpoints (104 tensors, e.g. ``encoder.pyramid1.0.0.weight``, ``decoder4.convblock.0.0.weight``)
so they load with ``strict=True``; the size is recognised from the tensor shapes.

**Mean normalisation.** The reference subtracts one mean per sample, over both frames
(``mean_mode="pair"``). That makes a frame's encoder input depend on the pair it is in, so
the encoder would run once per pair. With ``mean_mode="frame"`` (the default) each frame
loses its own mean: the encoder pyramid depends on that frame alone and is computed once
per source frame (:meth:`IFRNet.encode`). The output formula is the same in both modes,
because warping a constant gives the constant (``warp(I - m) + m == warp(I)``); for the
official checkpoints the modes differ only in the encoder input's DC offset, ``(m0 - m1) / 2``
(:func:`mean_mode_psnr` measures what that changes). Our own weights are trained in
``"frame"`` mode, where it is exact.

**Timesteps.** Checkpoints trained at t = 0.5 only (the Vimeo90K ones) have all-zero weights
on the t plane (:func:`uses_t_plane`), so t is ignored; those serve other t by bisection and
flow scaling (:mod:`vsslomo.models.midpoint`). The GoPro checkpoints and ours take t directly
and decode all timesteps of a pair in one batch.

**Training** uses :meth:`IFRNet.forward_train` (batched, any t per sample): the frame plus a
:class:`Decoded` (flows of every level for flow distillation, the decoders' intermediate
features for geometry consistency, mask, residual) and the true frame's encoder pyramid.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .. import paths
from . import contract, midpoint
from .checkpoint import CheckpointError, load_strict, read_checkpoint, tensor_dict
from .layers import PReLU
from .midpoint import Interval
from .warp import backward_warp

FAMILY = "ifrnet"
"""Family name: the registry's and the sub-folder of :func:`vsslomo.paths.user_weights_dir`."""

SHIPPED_WEIGHTS = "ifrnet_s.pt"
"""File name of vsslomo's own IFRNet-S weights inside ``vsslomo/weights``."""

MEAN_MODES = ("frame", "pair")

_WHAT = "IFRNet checkpoint"


@dataclass(frozen=True)
class Variant:
    """One size of the architecture."""

    key: str
    """``size`` option value: ``"s"``, ``"base"`` or ``"l"``."""
    name: str
    """Display name, e.g. ``"IFRNet-S"``."""
    widths: tuple[int, int, int, int]
    """Encoder channels at levels 1..4."""
    side: int
    """Channels of the residual blocks' side branch."""
    first_kernel: int
    """Kernel size of the encoder's first convolution."""
    official_files: tuple[str, ...]
    """File names of the public checkpoints (Vimeo90K first, then GoPro)."""


VARIANTS: dict[str, Variant] = {
    v.key: v
    for v in (
        Variant("s", "IFRNet-S", (24, 36, 54, 72), 24, 3, ("IFRNet_S_Vimeo90K.pth", "IFRNet_S_GoPro.pth")),
        Variant("base", "IFRNet", (32, 48, 72, 96), 32, 3, ("IFRNet_Vimeo90K.pth", "IFRNet_GoPro.pth")),
        Variant("l", "IFRNet-L", (64, 96, 144, 192), 64, 7, ("IFRNet_L_Vimeo90K.pth", "IFRNet_L_GoPro.pth")),
    )
}
"""The three published sizes (2.8 M, 5.0 M and 19.7 M parameters)."""

Pyramid = tuple[Tensor, Tensor, Tensor, Tensor]
"""Encoder features at levels 1..4 (1/2 .. 1/16 of the network's input size)."""

Motion = tuple[Tensor, Tensor, Tensor, Tensor]
"""A midpoint run's full-size (F_t->0, F_t->1, mask, residual), as :meth:`IFRNet.motion` gives them."""


# --- layers -----------------------------------------------------------------------------


class _ConvPReLU(nn.Sequential):
    """Convolution (with bias, "same" padding) followed by a per-channel PReLU."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, kernel, stride, kernel // 2), PReLU(cout))


class _SideResidual(nn.Module):
    """Residual block whose last ``side`` channels get an extra conv after each main conv."""

    def __init__(self, channels: int, side: int) -> None:
        super().__init__()
        self.side = side
        self.conv1 = _ConvPReLU(channels, channels)
        self.conv2 = _ConvPReLU(side, side)
        self.conv3 = _ConvPReLU(channels, channels)
        self.conv4 = _ConvPReLU(side, side)
        self.conv5 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.prelu = PReLU(channels)

    def _side(self, x: Tensor, conv: nn.Module) -> Tensor:
        split = x.shape[1] - self.side
        side = x[:, split:]
        if x.is_contiguous(memory_format=torch.channels_last):
            # A channel slice of an NHWC tensor is strided; made dense, the conv and its PReLU
            # keep to their NHWC paths.
            side = side.contiguous(memory_format=torch.channels_last)
        if torch.is_grad_enabled():
            return torch.cat((x[:, :split], conv(side)), 1)
        # Without autograd, overwrite the side channels of the fresh conv output in place
        # (copies a third of the data instead of all of it).
        x[:, split:] = conv(side)
        return x

    def forward(self, x: Tensor) -> Tensor:
        y = self._side(self.conv1(x), self.conv2)
        y = self.conv5(self._side(self.conv3(y), self.conv4))
        # Without autograd the sum goes into the fresh conv output (same bits, one buffer fewer).
        return self.prelu(x + y if torch.is_grad_enabled() else y.add_(x))


class _Decoder(nn.Module):
    """conv + PReLU, a side residual block, and a 2x transposed convolution to ``cout`` maps."""

    def __init__(self, cin: int, width: int, side: int, cout: int) -> None:
        super().__init__()
        self.convblock = nn.Sequential(
            _ConvPReLU(cin, width), _SideResidual(width, side), nn.ConvTranspose2d(width, cout, 4, 2, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.convblock(x)


class Encoder(nn.Module):
    """The 4-level feature pyramid shared by both frames."""

    pyramid1: nn.Sequential
    pyramid2: nn.Sequential
    pyramid3: nn.Sequential
    pyramid4: nn.Sequential

    def __init__(self, widths: Sequence[int], first_kernel: int = 3) -> None:
        super().__init__()
        cin = 3
        for level, width in enumerate(widths, start=1):
            kernel = first_kernel if level == 1 else 3
            setattr(self, f"pyramid{level}", nn.Sequential(_ConvPReLU(cin, width, kernel, 2), _ConvPReLU(width, width)))
            cin = width

    def forward(self, x: Tensor) -> Pyramid:
        f1 = self.pyramid1(x)
        f2 = self.pyramid2(f1)
        f3 = self.pyramid3(f2)
        return f1, f2, f3, self.pyramid4(f3)


# --- what the stages compute ------------------------------------------------------------------


@dataclass
class Decoded:
    """The decoders' outputs at the network's resolution (what the training losses need).

    Levels run coarse to fine. Flows are in pixels of their level.
    """

    flows0: tuple[Tensor, Tensor, Tensor, Tensor]
    """F_t->0 after decoders 4, 3, 2, 1: at 1/8, 1/4, 1/2 and full size."""
    flows1: tuple[Tensor, Tensor, Tensor, Tensor]
    """F_t->1, likewise."""
    features: tuple[Tensor, Tensor, Tensor]
    """Predicted intermediate features after decoders 4, 3, 2 (comparable to encoder levels 3, 2, 1)."""
    mask: Tensor
    """Occlusion mask in (0, 1): the weight of the warped first frame, ``(N, 1, H, W)``."""
    residual: Tensor
    """RGB residual added to the merged frame, ``(N, 3, H, W)``."""


@dataclass
class TrainOutputs:
    """:meth:`IFRNet.forward_train`'s result: the frame and everything the losses look at."""

    frame: Tensor
    """Interpolated frames, clamped to [0, 1], ``(B, 3, H, W)``."""
    decoded: Decoded
    target_pyramid: Pyramid | None
    """Encoder pyramid of the true intermediate frame (normalised like the inputs), if given."""


@dataclass
class PairState:
    """What :meth:`IFRNet.synthesize` needs of one frame pair."""

    img0: Tensor
    img1: Tensor
    pyramid0: Pyramid
    pyramid1: Pyramid
    scale: float
    mean_mode: str


def frame_mean(img: Tensor) -> Tensor:
    """One mean per sample over all channels and pixels, ``(N, 1, 1, 1)``."""
    return img.mean(dim=(1, 2, 3), keepdim=True)


def pair_mean(img0: Tensor, img1: Tensor) -> Tensor:
    """The reference's normalisation: one mean per sample over both frames, ``(N, 1, 1, 1)``."""
    return torch.cat((img0, img1), 2).mean(dim=(1, 2, 3), keepdim=True)


def merge(img0: Tensor, img1: Tensor, flow0: Tensor, flow1: Tensor, mask: Tensor, residual: Tensor) -> Tensor:
    """``mask * warp(img0, flow0) + (1 - mask) * warp(img1, flow1) + residual`` (unclamped).

    Equal to the reference's ``mask * warp(I0 - m) + (1 - mask) * warp(I1 - m) + m + residual``
    for any per-sample constant ``m``, since bilinear warping reproduces constants.
    """
    warped0, warped1 = backward_warp(img0, flow0), backward_warp(img1, flow1)
    if torch.is_grad_enabled() or not (_holds(warped0, warped1, mask, residual) and _holds(warped1, mask)):
        return mask * warped0 + (1 - mask) * warped1 + residual
    # The same operations in the same order, into the warped frames' fresh buffers.
    return warped0.mul_(mask).add_(warped1.mul_(1 - mask)).add_(residual)


def _holds(out: Tensor, *others: Tensor) -> bool:
    """Whether ``out`` has the shape and dtype of an elementwise result of itself and ``others``."""
    dtype = functools.reduce(torch.promote_types, (o.dtype for o in others), out.dtype)
    return out.dtype == dtype and out.shape == torch.broadcast_shapes(out.shape, *(o.shape for o in others))


def _split(out: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """A decoder's output as (F_t->0, F_t->1, the rest).

    The flows are copied out dense (NCHW): as 2-channel slices of a channels-last tensor,
    resizing and adding them would run torch's channels-last CPU kernels two values wide,
    3-4x slower than on the dense copies (and warping would read them strided).
    """
    return out[:, 0:2].contiguous(), out[:, 2:4].contiguous(), out[:, 4:]


def _refine(
    decoder: nn.Module, feat: Tensor, f0: Tensor, f1: Tensor, flow0: Tensor, flow1: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """One of decoders 3..1: the next level's flows (increments on the doubled ones) and feature."""
    layout = torch.channels_last if feat.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    flows = (flow0.contiguous(memory_format=layout), flow1.contiguous(memory_format=layout))
    d0, d1, feat = _split(decoder(torch.cat((feat, backward_warp(f0, flow0), backward_warp(f1, flow1), *flows), 1)))
    return d0 + 2.0 * _resize(flow0, 2.0), d1 + 2.0 * _resize(flow1, 2.0), feat


def _resize(x: Tensor, factor: float) -> Tensor:
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


def _batch(pyramid: Pyramid, n: int) -> Pyramid:
    if pyramid[0].shape[0] == n:
        return pyramid
    return tuple(f.expand(n, -1, -1, -1) for f in pyramid)  # type: ignore[return-value]


# --- the network ----------------------------------------------------------------------------------


class IFRNet(nn.Module):
    """IFRNet interpolator with the model contract (:mod:`vsslomo.models.contract`).

    ``variant``: a key of :data:`VARIANTS`. ``takes_t``: whether the weights use the t plane
    (the loader sets it from the weights); when false, timesteps other than 0.5 are served
    by bisection (dyadic t up to ``max_depth``) and flow scaling (``arbitrary_t_depth``, as
    in :mod:`vsslomo.models.midpoint`). ``mean_mode``: ``"frame"`` or ``"pair"`` (module
    docstring). ``max_batch``: timesteps (or bisection pairs) per decoder batch, bounding memory.
    ``channels_last``: weights and features in NHWC layout (on CPU about 1.3x faster at 720p;
    the recommended layout for half precision on CUDA); results are the same either way.
    """

    pad_multiple = 16
    ensemble_mode = "tta"

    def __init__(
        self,
        variant: str = "s",
        *,
        takes_t: bool = True,
        mean_mode: str = "frame",
        max_depth: int = 4,
        arbitrary_t_depth: int = 1,
        max_batch: int = 8,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown IFRNet size {variant!r}; choose one of {', '.join(VARIANTS)}")
        if mean_mode not in MEAN_MODES:
            raise ValueError(f"mean_mode must be one of {MEAN_MODES}, got {mean_mode!r}")
        self.variant = VARIANTS[variant]
        c1, c2, c3, c4 = self.variant.widths
        side = self.variant.side
        self.encoder = Encoder(self.variant.widths, self.variant.first_kernel)
        self.decoder4 = _Decoder(2 * c4 + 1, 2 * c4, side, 4 + c3)
        self.decoder3 = _Decoder(3 * c3 + 4, 3 * c3, side, 4 + c2)
        self.decoder2 = _Decoder(3 * c2 + 4, 3 * c2, side, 4 + c1)
        self.decoder1 = _Decoder(3 * c1 + 4, 3 * c1, side, 2 + 2 + 1 + 3)
        self.takes_t = takes_t
        self.mean_mode = mean_mode
        self.max_depth = max_depth
        self.arbitrary_t_depth = arbitrary_t_depth
        self.max_batch = max_batch
        self.meta: dict[str, Any] = {}
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)

    @property
    def independent_timesteps(self) -> bool:
        """Timesteps share no work when they go through the decoders directly (not bisected)."""
        return self.takes_t

    @property
    def summary(self) -> str:
        """One line for ``vsslomo info``: the size and how timesteps are served."""
        if self.takes_t:
            return f"{self.variant.name}, takes t directly (GoPro-style)"
        return f"{self.variant.name}, trained at t=0.5 only (Vimeo90K-style): other t by bisection"

    # --- network pieces ---

    def pyramid(self, x: Tensor) -> Pyramid:
        """Encoder features of a normalised (mean-subtracted), already resized input."""
        return self.encoder(x.contiguous(memory_format=self.memory_format))

    def decode(self, pyramid0: Pyramid, pyramid1: Pyramid, t: Tensor) -> Decoded:
        """Run decoders 4..1 for timesteps ``t`` ``(N,)``; pyramids of batch N or 1 (shared)."""
        n = t.shape[0]
        p0, p1 = _batch(pyramid0, n), _batch(pyramid1, n)
        h4, w4 = p0[3].shape[-2:]
        plane = t.to(p0[3].dtype).view(n, 1, 1, 1).expand(n, 1, h4, w4)
        flow0, flow1, feat = _split(self.decoder4(torch.cat((p0[3], p1[3], plane), 1)))
        flows0, flows1, feats = [flow0], [flow1], [feat]
        for decoder, level in ((self.decoder3, 2), (self.decoder2, 1), (self.decoder1, 0)):
            flow0, flow1, feat = _refine(decoder, feat, p0[level], p1[level], flow0, flow1)
            flows0.append(flow0)
            flows1.append(flow1)
            feats.append(feat)
        mask, residual = torch.sigmoid(feat[:, 0:1]), feat[:, 1:4]
        return Decoded(
            (flows0[0], flows0[1], flows0[2], flows0[3]), (flows1[0], flows1[1], flows1[2], flows1[3]),
            (feats[0], feats[1], feats[2]), mask, residual,
        )

    def motion(self, decoded: Decoded, scale: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Full-size (F_t->0, F_t->1, mask, residual) of a decode run at ``scale``."""
        flow0, flow1, mask, residual = decoded.flows0[3], decoded.flows1[3], decoded.mask, decoded.residual
        if scale != 1.0:
            up = 1.0 / scale
            flow0, flow1 = _resize(flow0, up) * up, _resize(flow1, up) * up
            mask, residual = _resize(mask, up), _resize(residual, up)
        return flow0, flow1, mask, residual

    def _pyramid_of(self, normalised: Tensor, scale: float) -> Pyramid:
        return self.pyramid(normalised if scale == 1.0 else _resize(normalised, scale))

    def _frame_pyramid(self, img: Tensor, scale: float) -> Pyramid:
        return self._pyramid_of(img - frame_mean(img), scale)

    # --- the staged API (contract.Staged) ---

    def encode(self, img: Tensor, scale: float = 1.0) -> Pyramid | None:
        """Encoder pyramid of frames ``(N, 3, H, W)`` minus their own means (``"frame"`` mode).

        Depends on the frame alone, so it is computed once per source frame. In ``"pair"`` mode
        a frame's encoder input depends on its pair: there is nothing per frame, so ``None``.
        """
        if self.mean_mode == "pair":
            return None
        return self._frame_pyramid(img, scale)

    def pair(
        self,
        img0: Tensor,
        img1: Tensor,
        feat0: Pyramid | None,
        feat1: Pyramid | None,
        scale: float = 1.0,
        mean_mode: str | None = None,
    ) -> PairState:
        """The pair state: both frames and their pyramids (computed here in ``"pair"`` mode)."""
        mode = self.mean_mode if mean_mode is None else mean_mode
        if mode not in MEAN_MODES:
            raise ValueError(f"mean_mode must be one of {MEAN_MODES}, got {mean_mode!r}")
        if mode == "pair":
            mean = pair_mean(img0, img1)
            feat0, feat1 = self._pyramid_of(img0 - mean, scale), self._pyramid_of(img1 - mean, scale)
        else:
            feat0 = feat0 if feat0 is not None else self._frame_pyramid(img0, scale)
            feat1 = feat1 if feat1 is not None else self._frame_pyramid(img1, scale)
        return PairState(img0, img1, feat0, feat1, scale, mode)

    def synthesize(self, state: PairState, timesteps: Tensor | Sequence[float]) -> Tensor:
        """Frames ``(T, 3, H, W)`` at ``timesteps`` in [0, 1], clamped; t = 0 and 1 are the inputs."""
        ts = _timestep_list(timesteps)
        if not ts:
            return state.img0.new_empty((0, *state.img0.shape[1:]))
        if self.takes_t:
            out = self._direct(state, ts)
        else:
            out = self._bisect(state, ts)
        return out.clamp(0.0, 1.0).contiguous()

    def forward(
        self,
        img0: Tensor,
        img1: Tensor,
        timesteps: Tensor | Sequence[float],
        scale: float = 1.0,
        mean_mode: str | None = None,
    ) -> Tensor:
        """Interpolate ``(T, 3, H, W)`` frames at ``timesteps`` between ``(1, 3, H, W)`` inputs.

        ``mean_mode`` overrides the module's (``"pair"``: the reference's exact normalisation).
        """
        contract.check_pair(img0, img1, scale, self.pad_multiple, "IFRNet")
        # pair() computes what encode() would (each frame's pyramid, or the pair-normalised ones).
        return self.synthesize(self.pair(img0, img1, None, None, scale, mean_mode), timesteps)

    # --- training ---

    def forward_train(self, img0: Tensor, img1: Tensor, t: Tensor, imgt: Tensor | None = None) -> TrainOutputs:
        """Batched forward for training: ``(B, 3, H, W)`` pairs at ``t`` ``(B,)``, scale 1.

        Normalises like :attr:`mean_mode`; ``imgt`` (the true frames) also gets its pyramid
        for the geometry-consistency loss, normalised the same way (its own mean in ``"frame"``
        mode, the pair's in ``"pair"`` mode). The t plane is used whatever :attr:`takes_t` says.
        """
        mt: Tensor | None
        if self.mean_mode == "pair":
            mean = pair_mean(img0, img1)
            m0 = m1 = mt = mean
        else:
            m0, m1 = frame_mean(img0), frame_mean(img1)
            mt = frame_mean(imgt) if imgt is not None else None
        decoded = self.decode(self.pyramid(img0 - m0), self.pyramid(img1 - m1), t.reshape(-1))
        flow0, flow1, mask, residual = self.motion(decoded, 1.0)
        frame = merge(img0, img1, flow0, flow1, mask, residual).clamp(0.0, 1.0)
        target = self.pyramid(imgt - mt) if imgt is not None and mt is not None else None  # mt is set iff imgt is
        return TrainOutputs(frame, decoded, target)

    # --- serving timesteps ---

    def _render(self, img0: Tensor, img1: Tensor, pyramid0: Pyramid, pyramid1: Pyramid, t: Tensor, scale: float) -> Tensor:
        """Decode ``t`` ``(N,)`` and merge at full size (unclamped)."""
        n = t.shape[0]
        flow0, flow1, mask, residual = self.motion(self.decode(pyramid0, pyramid1, t), scale)
        return merge(img0.expand(n, -1, -1, -1), img1.expand(n, -1, -1, -1), flow0, flow1, mask, residual)

    def _direct(self, state: PairState, ts: list[float]) -> Tensor:
        """All inner timesteps through the decoders in batches of ``max_batch``."""
        inner = [i for i, t in enumerate(ts) if 0.0 < t < 1.0]
        ends = {0.0: state.img0, 1.0: state.img1}
        frames: dict[int, Tensor] = {i: ends[t] for i, t in enumerate(ts) if t in ends}
        step = max(1, self.max_batch)
        for start in range(0, len(inner), step):
            index = inner[start : start + step]
            t = torch.tensor([ts[i] for i in index], dtype=state.img0.dtype, device=state.img0.device)
            out = self._render(state.img0, state.img1, state.pyramid0, state.pyramid1, t, state.scale)
            frames.update({i: out[k : k + 1] for k, i in enumerate(index)})
        return torch.cat([frames[i] for i in range(len(ts))], 0)

    def _bisect(self, state: PairState, ts: list[float]) -> Tensor:
        """Timesteps from midpoints only (t-blind weights), planned by :mod:`midpoint`."""
        runner = _MidpointRuns(self, state)
        return midpoint.serve(
            ts,
            state.img0,
            state.img1,
            runner.run,
            runner.scaled,
            max_depth=self.max_depth,
            arbitrary_t_depth=self.arbitrary_t_depth,
            max_batch=self.max_batch,
        )


class _MidpointRuns:
    """:func:`midpoint.serve`'s callbacks for one pair: midpoint runs, each frame's pyramid once."""

    def __init__(self, model: IFRNet, state: PairState) -> None:
        self.model = model
        self.state = state
        self.pyramids: dict[Fraction, Pyramid] = {Fraction(0): state.pyramid0, Fraction(1): state.pyramid1}

    def pyramids_at(self, positions: list[Fraction], frames: dict[Fraction, Tensor]) -> Pyramid:
        """The batched pyramids of the frames at ``positions`` (bisected frames encoded on first use)."""
        missing = sorted({p for p in positions if p not in self.pyramids})
        if missing:
            encoded = self.model._frame_pyramid(torch.cat([frames[p] for p in missing], 0), self.state.scale)
            for k, p in enumerate(missing):
                self.pyramids[p] = tuple(f[k : k + 1] for f in encoded)  # type: ignore[assignment]
        return tuple(torch.cat([self.pyramids[p][level] for p in positions], 0) for level in range(4))  # type: ignore[return-value]

    def run(self, chunk: list[Interval], frames: dict[Fraction, Tensor]) -> tuple[Tensor, list[Motion]]:
        """Midpoints of ``chunk`` (clamped, as they become inputs) and each run's full-size motion."""
        model, scale = self.model, self.state.scale
        a = torch.cat([frames[lo] for lo, _ in chunk], 0)
        b = torch.cat([frames[hi] for _, hi in chunk], 0)
        if self.state.mean_mode == "pair":
            mean = pair_mean(a, b)
            p0, p1 = model._pyramid_of(a - mean, scale), model._pyramid_of(b - mean, scale)
        else:
            p0, p1 = self.pyramids_at([lo for lo, _ in chunk], frames), self.pyramids_at([hi for _, hi in chunk], frames)
        flow0, flow1, mask, residual = model.motion(model.decode(p0, p1, a.new_full((len(chunk),), 0.5)), scale)
        mids = merge(a, b, flow0, flow1, mask, residual).clamp(0.0, 1.0)
        return mids, [(flow0[i : i + 1], flow1[i : i + 1], mask[i : i + 1], residual[i : i + 1]) for i in range(len(chunk))]

    @staticmethod
    def scaled(interval: Interval, frames: dict[Fraction, Tensor], motion: Motion, t: float) -> Tensor:
        return scaled_midpoint(frames[interval[0]], frames[interval[1]], *motion, t)


def scaled_midpoint(
    img0: Tensor, img1: Tensor, flow0: Tensor, flow1: Tensor, mask: Tensor, residual: Tensor, t: float
) -> Tensor:
    """Frame at ``t`` from a midpoint run's full-size flows, mask and residual (unclamped).

    Flows and mask as for RIFE (``RIFEHDv3.synthesize``): under linear motion F_t->0 = 2t F_0.5->0
    and F_t->1 = 2(1-t) F_0.5->1, the warped frames fused with the mask re-weighted by
    temporal distance. The residual lives on the midpoint's pixel grid: it is moved to time t
    along the mean of the two flow estimates, F_t->0.5 = (1-2t)(F_0.5->1 - F_0.5->0)/2, and
    faded by 4t(1-t) (1 at the midpoint, 0 at the inputs, so the frame tends to the inputs).
    """
    warped0 = backward_warp(img0, flow0 * (2 * t))
    warped1 = backward_warp(img1, flow1 * (2 * (1 - t)))
    w0 = (1 - t) * mask
    w1 = t * (1 - mask)
    moved = backward_warp(residual, (flow1 - flow0) * ((1 - 2 * t) / 2))
    return (w0 * warped0 + w1 * warped1) / (w0 + w1) + (4 * t * (1 - t)) * moved


def _timestep_list(timesteps: Tensor | Sequence[float]) -> list[float]:
    ts = [float(t) for t in (timesteps.reshape(-1).tolist() if isinstance(timesteps, Tensor) else timesteps)]
    if any(not 0.0 <= t <= 1.0 for t in ts):
        raise ValueError(f"timesteps must lie in [0, 1], got {ts}")
    return ts


# --- weights --------------------------------------------------------------------------------------

T_PLANE_KEY = "decoder4.convblock.0.0.weight"
"""Decoder 4's first convolution; its last input channel is the t plane."""


def uses_t_plane(state: Mapping[str, Tensor] | nn.Module) -> bool:
    """Whether the weights on the t plane are non-zero (false for checkpoints trained at t=0.5 only)."""
    weights = state.state_dict() if isinstance(state, nn.Module) else state
    return bool(weights[T_PLANE_KEY][:, -1].abs().max() > 0)


def variant_of(state: Mapping[str, Tensor], path: Path | str) -> Variant:
    """The size whose encoder fits ``state`` (the rest is checked by strict loading)."""
    key = "encoder.pyramid1.0.0.weight"
    found = state.get(key)
    if found is None:
        raise CheckpointError(f"{_WHAT} {path} has no '{key}'; it is not an IFRNet state dict")
    for variant in VARIANTS.values():
        k = variant.first_kernel
        if tuple(found.shape) == (variant.widths[0], 3, k, k):
            return variant
    expected = ", ".join(f"{v.name} {(v.widths[0], 3, v.first_kernel, v.first_kernel)}" for v in VARIANTS.values())
    raise CheckpointError(f"{_WHAT} {path}: '{key}' has shape {tuple(found.shape)}, which fits no IFRNet size ({expected})")


def shipped_checkpoint() -> Path:
    """Path of vsslomo's own IFRNet-S weights in the package (it may not exist yet)."""
    return Path(str(importlib.resources.files("vsslomo") / "weights" / SHIPPED_WEIGHTS))


def default_checkpoint(size: str | None = None) -> Path:
    """The weights used without ``checkpoint=``: ours (IFRNet-S), else official files in the user folder.

    ``size=None`` looks for ours, then the official IFRNet, IFRNet-S and IFRNet-L files (Vimeo90K
    before GoPro) in ``vsslomo.paths.user_weights_dir("ifrnet")``; a size looks only for its own.
    """
    folder = paths.user_weights_dir(FAMILY)
    sizes = [size] if size is not None else ["base", "s", "l"]
    candidates = [shipped_checkpoint()] if size in (None, "s") else []
    candidates += [folder / name for key in sizes for name in VARIANTS[key].official_files]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    names = ", ".join(c.name for c in candidates if c.parent == folder)
    ours = f"vsslomo's own ({SHIPPED_WEIGHTS}) are not installed and " if size in (None, "s") else ""
    raise FileNotFoundError(
        f"no {VARIANTS[size].name if size else 'IFRNet'} weights found: {ours}{folder} has none of {names}; "
        "pass checkpoint=PATH to an IFRNet checkpoint or put the official file in that folder"
    )


def _state_and_meta(obj: Any, path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """A plain state dict, or ``{"state_dict": ..., "meta": {...}}`` (our own checkpoints)."""
    if isinstance(obj, Mapping) and "state_dict" in obj:
        meta = obj.get("meta", {})
        if not isinstance(meta, Mapping):
            raise CheckpointError(f"{_WHAT} {path} has a 'meta' entry that is a {type(meta).__name__}, expected a dict")
        extra = sorted(str(k) for k in obj if k not in ("state_dict", "meta"))
        if extra:
            raise CheckpointError(f"{_WHAT} {path} has unexpected entries {', '.join(extra)} next to 'state_dict'")
        return tensor_dict(obj, _WHAT, path, "state_dict"), dict(meta)
    return tensor_dict(obj, _WHAT, path), {}


def load_ifrnet(checkpoint: Path | None = None, size: str | None = None, mean_mode: str = "frame") -> IFRNet:
    """Registry loader: IFRNet on the CPU, float32, eval mode, weights loaded strictly.

    ``checkpoint``: an official ``.pth`` (any size, Vimeo90K or GoPro), or one of ours
    (``{"state_dict": ..., "meta": ...}``); ``None`` uses :func:`default_checkpoint`. ``size``
    (``"s"``, ``"base"``, ``"l"``) requires that size; the size is always read from the shapes.
    Whether t is used is read from the weights (:func:`uses_t_plane`).
    """
    if size is not None and size not in VARIANTS:
        raise ValueError(f"unknown IFRNet size {size!r}; choose one of {', '.join(VARIANTS)}")
    path = Path(checkpoint) if checkpoint is not None else default_checkpoint(size)
    state, meta = _state_and_meta(read_checkpoint(path, _WHAT), path)
    variant = variant_of(state, path)
    if size is not None and variant.key != size:
        names = "model='ifrnet'" + (f" or model='ifrnet-{variant.key}'" if variant.key != "base" else "")
        raise CheckpointError(
            f"{_WHAT} {path} holds {variant.name} weights, not {VARIANTS[size].name}; use {names} for this file"
        )
    model = IFRNet(variant.key, mean_mode=mean_mode)
    load_strict(model, state, _WHAT, path)
    model.takes_t = uses_t_plane(model)
    model.meta = meta
    return model.float().eval()


# --- the two mean modes on real frames -----------------------------------------------------------


def psnr(a: Tensor, b: Tensor) -> float:
    """PSNR in dB between two images in [0, 1] (inf when equal)."""
    mse = float(((a.float() - b.float()) ** 2).mean())
    return float("inf") if mse == 0 else -10.0 * float(torch.log10(torch.tensor(mse)))


def mean_mode_psnr(model: IFRNet, img0: Tensor, img1: Tensor, timesteps: Sequence[float], scale: float = 1.0) -> float:
    """PSNR between ``model``'s frames with ``mean_mode="frame"`` and with the reference's ``"pair"``.

    How far the cacheable normalisation moves the official checkpoints' output on this pair
    (inputs ``(1, 3, H, W)``, sizes multiples of the pad multiple).
    """
    with torch.inference_mode():
        frame = model(img0, img1, torch.tensor(list(timesteps)), scale=scale, mean_mode="frame")
        pair = model(img0, img1, torch.tensor(list(timesteps)), scale=scale, mean_mode="pair")
    return psnr(frame, pair)

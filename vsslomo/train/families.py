"""What differs between model families in training, as data: one :class:`Family` per ``--model``.

The training loop (:mod:`vsslomo.train.trainer`) is family-agnostic. A family says how to
build its network (fresh, from ``--init``, or from a training checkpoint), what one training
forward returns, its loss, its default optimiser and learning-rate schedule, and how its
weights are laid out in checkpoints: the public key layout its inference loader reads, with
the weight average (EMA) in the public keys and the raw weights, kept for ``--resume``,
beside them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor, nn

from .errors import TrainError

if TYPE_CHECKING:
    from ..models.ifrnet import IFRNet
    from ..models.superslomo import SuperSloMo

Log = Callable[[str], None]
Batch = dict[str, Tensor]


@dataclass(frozen=True)
class Family:
    """Everything the loop needs to know about one trainable model family."""

    name: str
    description: str
    pad_multiple: int
    """Training crops must be multiples of this."""
    build: Callable[[argparse.Namespace, Log], nn.Module]
    """A fresh model for the options, or ``--init``'s weights (grown where the family can)."""
    from_payload: Callable[[dict[str, Any]], nn.Module]
    """An (uninitialised) model shaped like a training checkpoint's weights."""
    train_forward: Callable[[nn.Module], nn.Module]
    """Wraps the model so that ``wrapper(batch)`` runs one training forward through ``__call__`` (DDP)."""
    criterion: Callable[[argparse.Namespace, torch.device, Log], nn.Module]
    """``criterion(outputs, batch) -> (total, {term: value})``; runs outside autocast, in float32."""
    frame: Callable[[Any, Batch], Tensor]
    """The predicted frames in [0, 1] from the training outputs (for the running PSNR)."""
    inference_state: Callable[[nn.Module], dict[str, Any]]
    """The weights in the public layout (tensors on the CPU)."""
    load_inference_state: Callable[[nn.Module, dict[str, Any]], None]
    pack: Callable[[dict[str, Any], dict[str, Any] | None, dict[str, Any]], dict[str, Any]]
    """``pack(average, raw, meta)``: the checkpoint file's payload (plain data only)."""
    unpack: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]]
    """The inverse of ``pack``: (average, raw or None, meta)."""
    defaults: dict[str, Any] = field(default_factory=dict)
    """Option defaults of this family (optimiser, schedule, learning rates, loss weights)."""
    tune_optimizer: Callable[[argparse.Namespace, nn.Module, torch.optim.Optimizer], None] | None = None
    """Adjusts the optimiser for the options once it is built (hooks on its steps), if the family has to."""
    options: frozenset[str] = frozenset()
    """Options (argparse dests) that only this family reads; the others refuse them (checks.py)."""


def cpu(state: dict[str, Any]) -> dict[str, Any]:
    """A (nested) state dict detached onto the CPU."""
    return {k: cpu(v) if isinstance(v, dict) else v.detach().cpu() for k, v in state.items()}


def half(state: dict[str, Any]) -> dict[str, Any]:
    """Floating-point tensors as contiguous float16 (inference exports; the loaders cast back)."""
    return {k: half(v) if isinstance(v, dict) else (v.half() if v.is_floating_point() else v).contiguous()
            for k, v in state.items()}


# --------------------------------------------------------------------------- Super SloMo


def _superslomo_build(args: argparse.Namespace, log: Log) -> nn.Module:
    from ..models.checkpoint import CheckpointError
    from ..models.superslomo import COMPACT_WIDTHS, SuperSloMo, load_superslomo
    from .widen import widen

    if not args.init:
        widths = args.widths or COMPACT_WIDTHS
        return SuperSloMo(widths, args.refine_widths or widths)
    try:
        model = load_superslomo(Path(args.init)).train()
    except CheckpointError as exc:
        raise TrainError(f"--init: {exc}") from None
    if args.widths is None and args.refine_widths is None:
        return model
    flow = args.widths or model.flow_net.widths
    refine = args.refine_widths or args.widths or model.refine_net.widths
    if (tuple(flow), tuple(refine)) == (model.flow_net.widths, model.refine_net.widths):
        return model
    try:
        grown = widen(model, flow, refine)
    except ValueError as exc:
        raise TrainError(f"--init {args.init}: {exc}") from None
    log(f"widened {args.init} from {model.flow_net.widths}/{model.refine_net.widths} to {tuple(flow)}/{tuple(refine)}")
    return grown


def _superslomo_from_payload(payload: dict[str, Any]) -> nn.Module:
    from ..models.superslomo import FLOW_IN, REFINE_IN, SuperSloMo, infer_widths

    return SuperSloMo(infer_widths(payload["state_dictFC"], FLOW_IN, "state_dictFC"),
                      infer_widths(payload["state_dictAT"], REFINE_IN, "state_dictAT"))


class _SuperSloMoForward(nn.Module):
    """Flow + synthesis of normalised inputs through ``__call__`` so DDP sees the forward."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = cast("SuperSloMo", net)  # the family's own model (built by this family)

    def forward(self, batch: Batch) -> tuple[Tensor, ...]:
        mean = self.net.mean
        x0, x1 = batch["img0"] - mean, batch["img1"] - mean
        f01, f10 = self.net.flows(x0, x1)
        out = self.net.refine(x0, x1, f01, f10, batch["t"])
        return tuple(getattr(out, f.name) for f in fields(out))


class _SuperSloMoCriterion(nn.Module):
    mean: Tensor

    def __init__(self, args: argparse.Namespace, device: torch.device, log: Log) -> None:
        super().__init__()
        from ..models.superslomo import MEAN
        from .losses import DEFAULT_REC_WEIGHTS, LossWeights, SuperSloMoLoss, VGG16Conv43

        vgg = None
        if args.vgg:
            try:
                vgg = VGG16Conv43.from_torchvision_state(Path(args.vgg)).to(device)
            except (OSError, ValueError, RuntimeError) as exc:
                raise TrainError(f"--vgg {args.vgg}: {exc}") from None
            log(f"perceptual loss on (VGG16 conv4_3 from {args.vgg})")
        else:
            log("perceptual loss off: no --vgg weights given (torchvision vgg16 state dict)")
        rec_weight = args.rec_weight if args.rec_weight is not None else DEFAULT_REC_WEIGHTS[args.rec_loss]
        weights = LossWeights(rec_weight, args.perc_weight, args.warp_weight, args.smooth_weight, args.distill_weight)
        self.loss = SuperSloMoLoss(weights, vgg, args.rec_loss)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1).to(device), persistent=False)

    def forward(self, out: tuple[Tensor, ...], batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        from ..models.superslomo import Synthesis

        syn = Synthesis(*(x.float() for x in out))
        m = self.mean
        return self.loss(syn, batch["img0"] - m, batch["target"] - m, batch["img1"] - m, m,
                         batch.get("flow"), batch.get("flow_valid"), batch["t"])


def _superslomo_frame(out: tuple[Tensor, ...], batch: Batch) -> Tensor:
    from ..models.superslomo import MEAN

    return (out[0].float() + torch.tensor(MEAN, device=out[0].device).view(1, 3, 1, 1)).clamp(0, 1)


def _superslomo_state(model: nn.Module) -> dict[str, Any]:
    return cpu(cast("SuperSloMo", model).checkpoint_dict())


def _superslomo_load(model: nn.Module, state: dict[str, Any]) -> None:
    net = cast("SuperSloMo", model)
    net.flow_net.load_state_dict(state["state_dictFC"])
    net.refine_net.load_state_dict(state["state_dictAT"])


def _superslomo_pack(average: dict[str, Any], raw: dict[str, Any] | None, meta: dict[str, Any]) -> dict[str, Any]:
    """The public ``state_dictFC``/``state_dictAT`` (the average) plus ``train_state_dict*`` and our metadata."""
    payload: dict[str, Any] = dict(average)
    payload["Detail"] = "Super SloMo trained by vsslomo"
    payload["widths"] = {"flow": [int(average["state_dictFC"][f"{k}.weight"].shape[0]) for k in _UNET_KEYS],
                         "refine": [int(average["state_dictAT"][f"{k}.weight"].shape[0]) for k in _UNET_KEYS]}
    if raw is not None:
        payload.update({f"train_{k}": v for k, v in raw.items()})
    payload.update(meta)
    return payload


_UNET_KEYS = ("conv1", "down1.conv1", "down2.conv1", "down3.conv1", "down4.conv1", "down5.conv1")
_SUPERSLOMO_KEYS = ("state_dictFC", "state_dictAT")


def _superslomo_unpack(payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
    average = {k: payload[k] for k in _SUPERSLOMO_KEYS}
    raw = {k: payload[f"train_{k}"] for k in _SUPERSLOMO_KEYS} if f"train_{_SUPERSLOMO_KEYS[0]}" in payload else None
    skip = set(_SUPERSLOMO_KEYS) | {f"train_{k}" for k in _SUPERSLOMO_KEYS}
    return average, raw, {k: v for k, v in payload.items() if k not in skip}


SUPERSLOMO = Family(
    name="superslomo",
    description="Super SloMo (CVPR 2018), our compact U-Nets by default",
    pad_multiple=32,
    build=_superslomo_build,
    from_payload=_superslomo_from_payload,
    train_forward=_SuperSloMoForward,
    criterion=_SuperSloMoCriterion,
    frame=_superslomo_frame,
    inference_state=_superslomo_state,
    load_inference_state=_superslomo_load,
    pack=_superslomo_pack,
    unpack=_superslomo_unpack,
    defaults={"optimizer": "adam", "schedule": "restarts", "lr": 1e-4, "weight_decay": 0.0, "teacher": "none",
              "distill_weight": 2.0},
    options=frozenset({"widths", "refine_widths", "rec_loss", "perc_weight", "warp_weight", "smooth_weight", "vgg"}),
)


# --------------------------------------------------------------------------- IFRNet


def _ifrnet_size(name: str) -> str:
    return {"ifrnet-s": "s", "ifrnet": "base", "ifrnet-l": "l"}[name]


def _ifrnet_build_for(size: str) -> Callable[[argparse.Namespace, Log], nn.Module]:
    def build(args: argparse.Namespace, log: Log) -> nn.Module:
        from ..models.checkpoint import CheckpointError
        from ..models.ifrnet import IFRNet, load_ifrnet

        if not args.init:
            return IFRNet(size, takes_t=True, mean_mode="frame")
        try:
            model = load_ifrnet(Path(args.init), size=size, mean_mode="frame")
        except (CheckpointError, FileNotFoundError) as exc:
            raise TrainError(f"--init: {exc}") from None
        model.takes_t = True  # trained here at every t, whatever the initial weights did
        return model.train()

    return build


def _ifrnet_from_payload_for(size: str) -> Callable[[dict[str, Any]], nn.Module]:
    def from_payload(payload: dict[str, Any]) -> nn.Module:
        from ..models.ifrnet import IFRNet

        return IFRNet(size, takes_t=True, mean_mode="frame")

    return from_payload


class _IFRNetForward(nn.Module):
    """``forward_train`` of the pair, t and the true frame, flattened to a tuple of tensors for DDP."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = cast("IFRNet", net)  # the family's own model (built by this family)

    def forward(self, batch: Batch) -> tuple[Tensor, ...]:
        out = self.net.forward_train(batch["img0"], batch["img1"], batch["t"], batch["target"])
        d = out.decoded
        assert out.target_pyramid is not None  # the true frame was given
        return (out.frame, *d.flows0, *d.flows1, *d.features, *out.target_pyramid)


class _IFRNetCriterion(nn.Module):
    """Charbonnier + census reconstruction, geometry consistency and robust flow distillation."""

    def __init__(self, args: argparse.Namespace, device: torch.device, log: Log) -> None:
        super().__init__()
        from .losses import DEFAULT_REC_WEIGHTS, IFRNET_REC_LOSSES, LossWeights

        # The paper's Charbonnier is ``l1``; the other norms keep Super SloMo's balance against it.
        default = DEFAULT_REC_WEIGHTS[args.rec_loss] / LossWeights.rec
        self.rec_weight = default if args.rec_weight is None else args.rec_weight
        self.rec_loss = IFRNET_REC_LOSSES[args.rec_loss]
        self.census_weight = args.census_weight
        self.geo_weight = args.geometry_weight
        self.distill_weight = args.distill_weight
        self.distill_beta = args.distill_beta
        self.distill_fine = args.distill_fine

    def forward(self, out: tuple[Tensor, ...], batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        import torch.nn.functional as F

        from .losses import census_loss, distillation, geometry_loss, robust_weight

        frame, flows0, flows1, feats, pyramid = out[0], out[1:5], out[5:9], out[9:12], out[12:16]
        target = batch["target"]
        rec = self.rec_loss(frame, target)
        census = census_loss(frame, target)
        # Features after decoders 4, 3, 2 against the true frame's encoder levels 3, 2, 1.
        geo = geometry_loss(feats[0], pyramid[2]) + geometry_loss(feats[1], pyramid[1]) + geometry_loss(feats[2], pyramid[0])
        terms = {"rec": rec, "census": census, "geometry": geo}
        total = self.rec_weight * rec + self.census_weight * census + self.geo_weight * geo
        teacher, valid = batch.get("flow"), batch.get("flow_valid")
        if teacher is not None and valid is not None and self.distill_weight > 0:
            dist = frame.new_zeros((), dtype=torch.float32)
            for flows, half, ok in ((flows0, teacher[:, 0:2], valid[:, 0]), (flows1, teacher[:, 2:4], valid[:, 1])):
                weight = robust_weight(flows[3], half, self.distill_beta)
                for level, factor in ((0, 8.0), (1, 4.0), (2, 2.0)):  # decoders 4, 3, 2
                    up = factor * F.interpolate(flows[level].float(), scale_factor=factor, mode="bilinear", align_corners=False)
                    dist = dist + distillation(up, half, weight, ok)
                if self.distill_fine > 0:  # decoder 1, the flow that warps (the paper leaves it free)
                    dist = dist + self.distill_fine * distillation(flows[3].float(), half, weight, ok)
            terms["distill"] = dist
            total = total + self.distill_weight * dist
        return total, terms


class FlowGain:
    """Scales what each optimiser step changes in the flow outputs of IFRNet's decoders by ``gain``.

    For Adam this is the same as predicting the flows ``gain`` times the layer's output (a
    reparametrisation: the same network, its flow rows learning ``gain`` times faster), but
    the weights keep the public layout. Flows from scratch need it: at the network's scale
    the coarse flows are fractions of a pixel, and with the paper's learning rate they stayed
    near zero for thousands of steps (README, fifth session). The rows are the first four
    output channels (F_t->0, F_t->1) of every decoder's last, transposed, convolution.
    """

    def __init__(self, model: nn.Module, gain: float) -> None:
        net = cast("IFRNet", model)
        self.gain = gain
        self.rows: list[tuple[Tensor, tuple[slice, ...]]] = []
        for decoder in (net.decoder4, net.decoder3, net.decoder2, net.decoder1):
            last = cast(nn.ConvTranspose2d, decoder.convblock[2])  # weight (in, out, k, k)
            assert last.bias is not None
            self.rows += [(last.weight, (slice(None), slice(0, 4))), (last.bias, (slice(0, 4),))]
        self.before: list[Tensor] = []

    def attach(self, optimizer: torch.optim.Optimizer) -> None:
        optimizer.register_step_pre_hook(lambda *_: self.save())
        optimizer.register_step_post_hook(lambda *_: self.scale())

    @torch.no_grad()
    def save(self) -> None:
        self.before = [param[index].clone() for param, index in self.rows]

    @torch.no_grad()
    def scale(self) -> None:
        for (param, index), old in zip(self.rows, self.before, strict=True):
            param[index] = old + self.gain * (param[index] - old)
        self.before = []


def _ifrnet_tune_optimizer(args: argparse.Namespace, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    if args.flow_gain != 1.0:  # a positive gain (checks.check_args)
        FlowGain(model, args.flow_gain).attach(optimizer)


def _ifrnet_frame(out: tuple[Tensor, ...], batch: Batch) -> Tensor:
    return out[0].float()


def _ifrnet_state(model: nn.Module) -> dict[str, Any]:
    return cpu(model.state_dict())


def _ifrnet_load(model: nn.Module, state: dict[str, Any]) -> None:
    model.load_state_dict(state)


def _ifrnet_pack(average: dict[str, Any], raw: dict[str, Any] | None, meta: dict[str, Any]) -> dict[str, Any]:
    """``{"state_dict": average, "meta": {...}}``, the layout the IFRNet loader reads; raw weights in the meta."""
    meta = dict(meta)
    if raw is not None:
        meta["train_state_dict"] = raw
    return {"state_dict": average, "meta": meta}


def _ifrnet_unpack(payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
    meta = dict(payload.get("meta", {}))
    raw = meta.pop("train_state_dict", None)
    return payload["state_dict"], raw, meta


def _ifrnet_family(name: str, description: str) -> Family:
    size = _ifrnet_size(name)
    return Family(
        name=name,
        description=description,
        pad_multiple=16,
        build=_ifrnet_build_for(size),
        from_payload=_ifrnet_from_payload_for(size),
        train_forward=_IFRNetForward,
        criterion=_IFRNetCriterion,
        frame=_ifrnet_frame,
        inference_state=_ifrnet_state,
        load_inference_state=_ifrnet_load,
        pack=_ifrnet_pack,
        unpack=_ifrnet_unpack,
        defaults={"optimizer": "adamw", "schedule": "cosine", "lr": 1e-4, "lr_end": 1e-5, "weight_decay": 1e-4,
                  "teacher": "rife", "distill_weight": 0.01},
        tune_optimizer=_ifrnet_tune_optimizer,
        options=frozenset({"rec_loss", "census_weight", "geometry_weight", "distill_beta", "distill_fine", "flow_gain"}),
    )


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        SUPERSLOMO,
        _ifrnet_family("ifrnet-s", "IFRNet-S (2.8 M parameters), trained in mean_mode='frame'"),
        _ifrnet_family("ifrnet", "IFRNet (5.0 M parameters), trained in mean_mode='frame'"),
        _ifrnet_family("ifrnet-l", "IFRNet-L (19.7 M parameters), trained in mean_mode='frame'"),
    )
}
"""Every trainable family by its ``--model`` name."""

"""Grow a trained Super SloMo into wider U-Nets without changing what it computes.

Fine-tuning a bigger network from a smaller trained one beats training it from scratch on a
small compute budget. Every old channel keeps its index and weights; a new channel gets the
fresh initialisation of its incoming weights, and the weights from new channels into old
ones are zero, so the widened network's output equals the old one's at the start and the
new channels are pulled into use by the gradients of their (zero) outgoing weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..models.superslomo import SuperSloMo, UNet


def _input_positions(name: str, old: nn.Conv2d, new: nn.Conv2d) -> torch.Tensor:
    """Where the old conv's input channels sit among the new conv's inputs.

    The second conv of each up block reads ``cat(upsampled, skip)``: two equal halves, each
    of which grows separately.
    """
    if name.startswith("up") and name.endswith(".conv2"):
        half_old, half_new = old.in_channels // 2, new.in_channels // 2
        first = torch.arange(half_old)
        return torch.cat((first, first + half_new))
    return torch.arange(old.in_channels)


@torch.no_grad()
def widen_unet(old: UNet, widths: Sequence[int]) -> UNet:
    """A copy of ``old`` with encoder ``widths`` (each at least the old width) and the same output."""
    widths = tuple(int(w) for w in widths)
    if len(widths) != len(old.widths) or any(n < o for n, o in zip(widths, old.widths)):
        raise ValueError(f"cannot widen a U-Net of widths {old.widths} to {widths}: every width must stay or grow")
    new = UNet(old.conv1.in_channels, old.conv3.out_channels, widths)
    old_convs = dict(old.named_modules())
    for name, conv in new.named_modules():
        if not isinstance(conv, nn.Conv2d):
            continue
        src = old_convs[name]
        rows = torch.arange(src.out_channels)
        cols = _input_positions(name, src, conv)
        conv.weight[: src.out_channels] = 0
        conv.weight[rows[:, None], cols[None, :]] = src.weight.to(conv.weight.dtype)
        assert conv.bias is not None  # every U-Net convolution has one
        conv.bias[: src.out_channels] = src.bias.to(conv.bias.dtype)
    return new


def widen(model: SuperSloMo, flow_widths: Sequence[int], refine_widths: Sequence[int]) -> SuperSloMo:
    """A :class:`SuperSloMo` with wider U-Nets that computes what ``model`` computes."""
    out = SuperSloMo(flow_widths, refine_widths)
    out.flow_net = widen_unet(model.flow_net, flow_widths)
    out.refine_net = widen_unet(model.refine_net, refine_widths)
    return out.train(model.training)

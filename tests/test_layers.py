"""Shared layers: the vectorised PReLU computes exactly what torch's does."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from vsslomo.models.layers import PReLU


@pytest.mark.parametrize("channels", [2, 24, 45, 72, 90])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_prelu_matches_torch_on_channels_last(channels: int, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(channels)
    ours, theirs = PReLU(channels), nn.PReLU(channels)
    with torch.no_grad():
        theirs.weight.copy_(torch.randn(channels, generator=g))
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours, theirs = ours.to(dtype), theirs.to(dtype)
    for height, width in ((16, 20), (7, 9)):  # 9 x 7 pixels do not fill whole rows: torch's own path
        x = (torch.randn(2, channels, height, width, generator=g) * 3).to(dtype)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            got, want = ours(x), theirs(x)
        assert torch.equal(got, want)
        assert got.is_contiguous(memory_format=torch.channels_last)


def test_prelu_under_autocast_and_in_nchw() -> None:
    g = torch.Generator().manual_seed(0)
    ours, theirs = PReLU(24), nn.PReLU(24)
    with torch.no_grad():
        theirs.weight.copy_(torch.randn(24, generator=g))
    ours.load_state_dict(theirs.state_dict())
    conv = nn.Conv2d(3, 24, 3, padding=1).to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 32, 32, generator=g).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x)
        assert y.dtype == torch.bfloat16 and torch.equal(ours(y), theirs(y))
        plain = y.contiguous()
        assert torch.equal(ours(plain), theirs(plain)) and ours(plain).is_contiguous()


def test_prelu_trains_like_torch() -> None:
    """Gradients flow through the view to the input and the weight, as through nn.PReLU."""
    g = torch.Generator().manual_seed(1)
    ours, theirs = PReLU(24), nn.PReLU(24)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 24, 8, 8, generator=g).contiguous(memory_format=torch.channels_last)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    (ours(a) ** 2).sum().backward()
    (theirs(b) ** 2).sum().backward()
    assert a.grad is not None and b.grad is not None and ours.weight.grad is not None and theirs.weight.grad is not None
    assert torch.allclose(a.grad, b.grad) and torch.allclose(ours.weight.grad, theirs.weight.grad, rtol=1e-5, atol=1e-5)

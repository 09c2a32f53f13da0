"""The symmetric test-time ensemble, checked by hand on toy interpolators."""

from __future__ import annotations

import torch

from vsslomo.models.ensemble import ensemble_forward


def first_input_shifted_right(img0, img1, timesteps, scale=1.0):
    """A deliberately asymmetric 'interpolator': img0 moved one pixel right, whatever t."""
    return torch.roll(img0, shifts=1, dims=-1).expand(len(timesteps), -1, -1, -1)


def time_weighted_blend(img0, img1, timesteps, scale=1.0):
    t = timesteps.view(-1, 1, 1, 1)
    return (1 - t) * img0 + t * img1


def test_mean_of_given_reversed_and_mirrored_passes_by_hand() -> None:
    a = torch.arange(12.0).view(1, 1, 2, 6).expand(1, 3, 2, 6).contiguous()
    b = 100 + a
    out = ensemble_forward(first_input_shifted_right, a, b, torch.tensor([0.25, 0.5]))
    # as given: a shifted right; reversed: b shifted right; mirrored: a and b shifted left
    expected = (a.roll(1, -1) + b.roll(1, -1) + a.roll(-1, -1) + b.roll(-1, -1)) / 4
    assert out.shape == (2, 3, 2, 6)
    assert torch.allclose(out, expected.expand(2, -1, -1, -1))


def test_a_symmetric_interpolator_is_unchanged() -> None:
    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 3, 8, 10, generator=gen), torch.rand(1, 3, 8, 10, generator=gen)
    ts = torch.tensor([0.125, 0.5, 0.75])
    assert torch.allclose(ensemble_forward(time_weighted_blend, a, b, ts), time_weighted_blend(a, b, ts), atol=1e-6)


def test_keeps_the_input_dtype() -> None:
    a = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    out = ensemble_forward(time_weighted_blend, a, a, torch.tensor([0.5], dtype=torch.float64))
    assert out.dtype == torch.float64

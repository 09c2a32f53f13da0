"""Symmetric test-time ensemble for any interpolator with the registry's forward contract.

An interpolation network is not exactly symmetric: asked for the frame at ``t`` between
(I0, I1) it answers slightly differently than when asked for ``1 - t`` between (I1, I0),
or for the mirrored frames. The errors of those four equivalent questions are partly
independent, so their mean is closer to the truth (fewer warping artefacts, less
over-confident motion on noise and fine texture) at four times the cost.
"""

from __future__ import annotations

from typing import Protocol

from torch import Tensor


class Interpolator(Protocol):
    def __call__(self, img0: Tensor, img1: Tensor, timesteps: Tensor, scale: float = 1.0) -> Tensor: ...


def ensemble_forward(model: Interpolator, img0: Tensor, img1: Tensor, timesteps: Tensor, scale: float = 1.0) -> Tensor:
    """Mean of ``model`` on the pair as given, time-reversed, and both mirrored left-right.

    Same shapes as the model's forward: ``(1, 3, H, W)`` inputs, ``(T,)`` timesteps,
    ``(T, 3, H, W)`` output. Time reversal swaps the inputs and asks for ``1 - t``.
    """
    mirrored0, mirrored1 = img0.flip(-1), img1.flip(-1)
    reverse_t = 1 - timesteps
    total = model(img0, img1, timesteps, scale=scale).float()
    total = total + model(img1, img0, reverse_t, scale=scale).float()
    total = total + model(mirrored0, mirrored1, timesteps, scale=scale).float().flip(-1)
    total = total + model(mirrored1, mirrored0, reverse_t, scale=scale).float().flip(-1)
    return (total / 4).to(img0.dtype)

"""Symmetric test-time ensemble for any interpolator with the registry's forward contract.

An interpolation network is not exactly symmetric: asked for the frame at ``t`` between
(I0, I1) it answers slightly differently than when asked for ``1 - t`` between (I1, I0),
or for the mirrored frames. The errors of those four equivalent questions are partly
independent, so their mean is closer to the truth (fewer warping artefacts, less
over-confident motion on noise and fine texture) at four times the cost.

:data:`VIEWS` lists the four questions and :func:`merge` averages their answers; the
engine (:mod:`vsslomo.engine`) and :func:`ensemble_forward` both use them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from torch import Tensor


class Interpolator(Protocol):
    def __call__(self, img0: Tensor, img1: Tensor, timesteps: Tensor, scale: float = 1.0) -> Tensor: ...


@dataclass(frozen=True)
class View:
    """One question of the ensemble: mirrored left-right, and/or time-reversed (inputs swapped, 1 - t)."""

    mirror: bool
    reverse: bool


VIEWS: tuple[View, ...] = (View(False, False), View(False, True), View(True, False), View(True, True))


def merge(outputs: Iterable[Tensor]) -> Tensor:
    """Mean of the answers to :data:`VIEWS` (in that order), mirrored ones flipped back, in float32."""
    total = None
    for view, out in zip(VIEWS, outputs, strict=True):
        out = out.float()
        if view.mirror:
            out = out.flip(-1)
        total = out if total is None else total + out
    assert total is not None
    return total / len(VIEWS)


def ensemble_forward(model: Interpolator, img0: Tensor, img1: Tensor, timesteps: Tensor, scale: float = 1.0) -> Tensor:
    """Mean of ``model`` on the pair as given, time-reversed, and both mirrored left-right.

    Same shapes as the model's forward: ``(1, 3, H, W)`` inputs, ``(T,)`` timesteps,
    ``(T, 3, H, W)`` output.
    """
    outputs = []
    for view in VIEWS:
        a, b = (img0.flip(-1), img1.flip(-1)) if view.mirror else (img0, img1)
        if view.reverse:
            a, b = b, a
        outputs.append(model(a, b, 1 - timesteps if view.reverse else timesteps, scale=scale))
    return merge(outputs).to(img0.dtype)

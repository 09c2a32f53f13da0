"""Exponential moving average of the weights: the model that is validated and saved.

With small batches the raw weights jitter from step to step; their average is a better
interpolator than any single step's weights. The effective decay ramps up from 0.1
(``(1 + n) / (10 + n)`` after n updates, capped at ``decay``) so the average follows the
model closely at the start instead of being anchored to the initial weights.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    """An EMA copy of ``model`` (same device, eval mode, no gradients)."""

    def __init__(self, model: nn.Module, decay: float, updates: int = 0) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay
        self.updates = updates

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s current weights."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for avg, cur in zip(self.model.state_dict().values(), model.state_dict().values()):
            if avg.is_floating_point():
                avg.lerp_(cur.detach().to(avg.dtype), 1.0 - d)
            else:
                avg.copy_(cur)

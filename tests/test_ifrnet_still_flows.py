"""benchmarks/ifrnet_still_flows.py: the model's parts at t = 1/2 on frames of any size."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from ifrnet_still_flows import midpoint_parts  # noqa: E402

from vsslomo.models.ifrnet import IFRNet, merge  # noqa: E402


def test_midpoint_parts_are_cropped_back_and_merge_to_the_model_output() -> None:
    torch.manual_seed(0)
    model = IFRNet("s").eval()
    img0, img1 = torch.rand(1, 3, 40, 56), torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        flow0, flow1, mask, residual = midpoint_parts(model, img0, img1)
        padded = [torch.nn.functional.pad(x, (0, 8, 0, 8), mode="replicate") for x in (img0, img1)]
        reference = model(*padded, [0.5])[..., :40, :56]
    assert flow0.shape == flow1.shape == (1, 2, 40, 56)
    assert mask.shape == (1, 1, 40, 56) and residual.shape == (1, 3, 40, 56)
    assert bool(((mask > 0) & (mask < 1)).all())
    # away from the padding the parts rebuild the model's own frame
    rebuilt = merge(img0, img1, flow0, flow1, mask, residual).clamp(0, 1)
    assert torch.allclose(rebuilt[..., :24, :40], reference[..., :24, :40], atol=1e-5)

"""benchmarks/merge_probe.py: IFRNet's merge taken apart term by term."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from merge_probe import VARIANTS, probe, psnr8  # noqa: E402

from vsslomo.models.ifrnet import IFRNet  # noqa: E402


def test_each_variant_replaces_one_term_of_the_model_frame() -> None:
    torch.manual_seed(0)
    model = IFRNet("s", mean_mode="frame").eval()
    a, truth, b = (torch.rand(1, 3, 32, 48) for _ in range(3))
    row = probe(model, a, truth, b)
    assert len(row) == len(VARIANTS) + 3
    scores = dict(zip(VARIANTS, row))
    with torch.inference_mode():
        frame = model(a, b, torch.tensor([0.5]))
    assert scores["model"] == pytest.approx(psnr8(frame, truth), abs=1e-3)
    assert scores["blend"] == pytest.approx(psnr8((a + b) / 2, truth), abs=1e-6)
    # Random weights: every replaced term changes the frame, so no variant repeats the model's figure.
    assert all(scores[v] != scores["model"] for v in ("mask 0.5", "no residual", "zero flows"))
    mask_dev, residual, flow = row[len(VARIANTS):]
    assert 0.0 < mask_dev <= 0.5 and residual > 0.0 and flow > 0.0


def test_psnr8_rounds_to_8_bits() -> None:
    x = torch.full((1, 3, 4, 4), 0.5)
    assert psnr8(x + 0.001, x) > 90.0  # the same 8-bit level
    assert psnr8(torch.zeros_like(x), torch.ones_like(x)) == pytest.approx(0.0, abs=1e-6)

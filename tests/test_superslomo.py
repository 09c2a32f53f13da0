"""Super SloMo model: public checkpoint format, strict loading, flow formulas, fusion, batching."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import torch

from vsslomo.models.superslomo import (
    FULL_WIDTHS,
    SuperSloMo,
    UNet,
    fuse,
    infer_widths,
    intermediate_flows,
    load_superslomo,
)

TINY = (4, 4, 6, 6, 8, 8)


def _public_checkpoint(path: Path, widths=FULL_WIDTHS) -> SuperSloMo:
    """Write a checkpoint laid out like the public implementation's training script."""
    torch.manual_seed(0)
    model = SuperSloMo(widths)
    torch.save(
        {
            "Detail": "End to end Super SloMo.",
            "epoch": 199,
            "timestamp": datetime.datetime(2018, 11, 3, 12, 30, 5),
            "trainBatchSz": 6,
            "validationBatchSz": 10,
            "learningRate": 1e-6,
            "loss": [[0.5, 0.4]],
            "valLoss": [[0.6]],
            "valPSNR": [[30.1]],
            "state_dictFC": model.flow_net.state_dict(),
            "state_dictAT": model.refine_net.state_dict(),
        },
        path,
    )
    return model


def test_unet_parameter_names_match_public_layout() -> None:
    names = set(UNet(6, 4).state_dict())
    expected = {"conv1.weight", "conv2.bias", "conv3.weight", "down1.conv1.weight", "down5.conv2.bias",
                "up1.conv1.weight", "up5.conv2.weight"}
    assert expected <= names
    assert len(names) == 2 * (2 + 5 * 2 + 5 * 2 + 1)
    sd = UNet(20, 5).state_dict()
    assert sd["conv1.weight"].shape == (32, 20, 7, 7)
    assert sd["down1.conv1.weight"].shape == (64, 32, 5, 5)
    assert sd["down5.conv2.weight"].shape == (512, 512, 3, 3)
    assert sd["up1.conv2.weight"].shape == (512, 1024, 3, 3)
    assert sd["up5.conv1.weight"].shape == (32, 64, 3, 3)
    assert sd["conv3.weight"].shape == (5, 32, 3, 3)


def test_loads_full_size_public_checkpoint_and_runs(tmp_path: Path) -> None:
    path = tmp_path / "SuperSloMo.ckpt"
    reference = _public_checkpoint(path)
    model = load_superslomo(path)
    assert not model.training
    assert model.flow_net.widths == FULL_WIDTHS and model.refine_net.widths == FULL_WIDTHS
    for a, b in zip(model.state_dict().values(), reference.state_dict().values()):
        assert torch.equal(a, b)
    img0, img1 = torch.rand(1, 3, 32, 64), torch.rand(1, 3, 32, 64)
    with torch.no_grad():
        out = model(img0, img1, torch.tensor([0.25, 0.5]))
    assert out.shape == (2, 3, 32, 64)
    assert out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1


def test_loads_compact_widths_from_shapes(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pt"
    _public_checkpoint(path, TINY)
    model = load_superslomo(path)
    assert model.flow_net.widths == TINY
    assert infer_widths(model.refine_net.state_dict(), 20, "AT") == TINY


def test_refuses_missing_and_misshaped_tensors(tmp_path: Path) -> None:
    model = SuperSloMo(TINY)
    fc, at = model.flow_net.state_dict(), model.refine_net.state_dict()

    missing = dict(fc)
    del missing["up3.conv2.bias"]
    torch.save({"state_dictFC": missing, "state_dictAT": at}, tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="up3.conv2.bias"):
        load_superslomo(tmp_path / "missing.pt")

    bad = dict(at)
    bad["up2.conv1.weight"] = torch.zeros(3, 3, 3, 3)
    torch.save({"state_dictFC": fc, "state_dictAT": bad}, tmp_path / "shape.pt")
    with pytest.raises(ValueError, match="state_dictAT"):
        load_superslomo(tmp_path / "shape.pt")

    swapped = {"state_dictFC": at, "state_dictAT": fc}  # wrong input channels
    torch.save(swapped, tmp_path / "swapped.pt")
    with pytest.raises(ValueError, match="input channels"):
        load_superslomo(tmp_path / "swapped.pt")

    torch.save({"model": fc}, tmp_path / "nokeys.pt")
    with pytest.raises(ValueError, match="state_dictFC"):
        load_superslomo(tmp_path / "nokeys.pt")

    with pytest.raises(ValueError, match="does not exist"):
        load_superslomo(tmp_path / "absent.pt")


def test_refuses_pickled_code(tmp_path: Path) -> None:
    # weights_only loading must not unpickle arbitrary objects.
    torch.save({"state_dictFC": {}, "state_dictAT": {}, "extra": Path("x")}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="other than tensors") as info:
        load_superslomo(tmp_path / "evil.pt")
    assert "weights_only" not in str(info.value)


def test_intermediate_flow_formulas_by_hand() -> None:
    f01 = torch.tensor([4.0, -2.0]).view(1, 2, 1, 1)
    f10 = torch.tensor([-3.0, 1.0]).view(1, 2, 1, 1)
    ft0, ft1 = intermediate_flows(f01, f10, 0.25)
    # F_t0 = -(0.75)(0.25) f01 + 0.0625 f10 ; F_t1 = 0.5625 f01 - 0.1875 f10
    assert torch.allclose(ft0.flatten(), torch.tensor([-0.75 - 0.1875, 0.375 + 0.0625]))
    assert torch.allclose(ft1.flatten(), torch.tensor([2.25 + 0.5625, -1.125 - 0.1875]))
    # Per-sample t broadcast over a batch.
    t = torch.tensor([0.5, 0.75]).view(2, 1, 1, 1)
    ft0, ft1 = intermediate_flows(f01.expand(2, -1, -1, -1), f10.expand(2, -1, -1, -1), t)
    assert torch.allclose(ft0[1].flatten(), torch.tensor([-0.1875 * 4 + 0.5625 * -3, 0.375 + 0.5625]))
    assert torch.allclose(ft1[0].flatten(), torch.tensor([0.25 * 4 - 0.25 * -3, 0.25 * -2 - 0.25 * 1]))


def test_visibility_weighted_fusion_by_hand() -> None:
    g0 = torch.tensor([0.2, 0.8]).view(1, 1, 1, 2)
    g1 = torch.tensor([0.6, 0.0]).view(1, 1, 1, 2)
    v0 = torch.tensor([0.5, 0.9]).view(1, 1, 1, 2)
    out = fuse(g0, g1, v0, 0.25).flatten()
    # pixel 0: w0 = 0.75*0.5 = 0.375, w1 = 0.25*0.5 = 0.125 -> (0.075 + 0.075) / 0.5 = 0.3
    # pixel 1: w0 = 0.75*0.9 = 0.675, w1 = 0.25*0.1 = 0.025 -> 0.54 / 0.7
    assert torch.allclose(out, torch.tensor([0.3, 0.54 / 0.7]))
    # Fully visible in one input only -> that input.
    assert torch.allclose(fuse(g0, g1, torch.ones_like(v0), 0.9), g0)
    assert torch.allclose(fuse(g0, g1, torch.zeros_like(v0), 0.1), g1)


def test_batched_timesteps_equal_separate_calls() -> None:
    torch.manual_seed(1)
    model = SuperSloMo(TINY).eval()
    img0, img1 = torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96)
    ts = torch.tensor([0.125, 0.5, 0.875])
    with torch.no_grad():
        batched = model(img0, img1, ts)
        single = torch.cat([model(img0, img1, ts[i : i + 1]) for i in range(3)])
    assert batched.shape == (3, 3, 64, 96)
    assert torch.allclose(batched, single, atol=1e-5)
    assert not torch.allclose(batched[0], batched[2])


def test_flow_net_runs_once_per_call() -> None:
    model = SuperSloMo(TINY).eval()
    calls = []
    model.flow_net.register_forward_hook(lambda *a: calls.append("fc"))
    model.refine_net.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    with torch.no_grad():
        model(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), torch.linspace(0.1, 0.9, 7))
    assert calls == ["fc", 7]


def test_identical_inputs_reproduce_the_frame() -> None:
    # Whatever the (random) flows, warping a constant picture yields it again.
    model = SuperSloMo(TINY).eval()
    img = torch.full((1, 3, 32, 32), 0.3)
    with torch.no_grad():
        out = model(img, img, torch.tensor([0.5]))
    assert torch.allclose(out, img.expand(1, -1, -1, -1), atol=1e-5)


def test_reduced_scale_keeps_shape() -> None:
    model = SuperSloMo(TINY).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 128), torch.rand(1, 3, 64, 128), torch.tensor([0.5]), scale=0.5)
    assert out.shape == (1, 3, 64, 128)


def test_default_checkpoint_missing_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import vsslomo.models.superslomo as ss

    monkeypatch.setattr(ss, "default_checkpoint", lambda: tmp_path / "nothing.pt")
    with pytest.raises(ValueError, match="checkpoint="):
        load_superslomo(None)


def test_shipped_checkpoint_loads_if_present() -> None:
    import vsslomo.models.superslomo as ss

    path = ss.default_checkpoint()
    if not path.is_file():
        pytest.skip("shipped weights not built yet")
    model = load_superslomo()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), torch.tensor([0.5]))
    assert out.shape == (1, 3, 32, 32)

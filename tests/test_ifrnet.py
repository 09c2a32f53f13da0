"""IFRNet: the public checkpoint format, strict loading, t-blind weights, staging, the merge."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsslomo import paths, registry
from vsslomo.evaluate import wave_pattern
from vsslomo.models import contract, ifrnet
from vsslomo.models.checkpoint import CheckpointError
from vsslomo.models.ensemble import ensemble_forward
from vsslomo.models.ifrnet import IFRNet, load_ifrnet
from vsslomo.models.warp import backward_warp

# Facts of the official checkpoints (ltkong218/IFRNet, models/IFRNet*.py): a few names and
# shapes per size, written out here so the test does not trust our own module's layout.
PUBLIC_SHAPES = {
    "s": {
        "encoder.pyramid1.0.0.weight": (24, 3, 3, 3),
        "encoder.pyramid4.1.1.weight": (72,),
        "decoder4.convblock.0.0.weight": (144, 145, 3, 3),
        "decoder4.convblock.1.conv2.0.weight": (24, 24, 3, 3),
        "decoder4.convblock.2.weight": (144, 58, 4, 4),
        "decoder3.convblock.0.0.weight": (162, 166, 3, 3),
        "decoder2.convblock.2.weight": (108, 28, 4, 4),
        "decoder1.convblock.0.0.weight": (72, 76, 3, 3),
        "decoder1.convblock.1.prelu.weight": (72,),
        "decoder1.convblock.2.weight": (72, 8, 4, 4),
    },
    "base": {
        "encoder.pyramid1.0.0.weight": (32, 3, 3, 3),
        "decoder4.convblock.0.0.weight": (192, 193, 3, 3),
        "decoder4.convblock.1.conv4.0.weight": (32, 32, 3, 3),
        "decoder3.convblock.2.weight": (216, 52, 4, 4),
        "decoder1.convblock.0.0.weight": (96, 100, 3, 3),
        "decoder1.convblock.2.weight": (96, 8, 4, 4),
    },
    "l": {
        "encoder.pyramid1.0.0.weight": (64, 3, 7, 7),
        "decoder4.convblock.0.0.weight": (384, 385, 3, 3),
        "decoder4.convblock.1.conv5.weight": (384, 384, 3, 3),
        "decoder2.convblock.0.0.weight": (288, 292, 3, 3),
        "decoder1.convblock.2.weight": (192, 8, 4, 4),
    },
}
PARAMS_M = {"s": 2.8, "base": 5.0, "l": 19.7}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny frames: one torch thread (tests/conftest.py)


def public_state(size: str, seed: int = 0, t_blind: bool = False, prefix: str = "") -> dict[str, torch.Tensor]:
    """A state dict in the public format: random weights, optionally zero on the t plane."""
    torch.manual_seed(seed)
    state = IFRNet(size).state_dict()
    if t_blind:
        state[ifrnet.T_PLANE_KEY][:, -1] = 0
    return {prefix + k: v.clone() for k, v in state.items()}


def save(tmp_path: Path, name: str, obj) -> Path:
    path = tmp_path / name
    torch.save(obj, path)
    return path


def smooth_pair(h: int, w: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 6, max(1, h // 8), max(1, w // 8), generator=g)
    x = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    return x[:, :3].contiguous(), x[:, 3:].contiguous()


def texture(shift: tuple[float, float], h: int = 64, w: int = 64) -> torch.Tensor:
    """:func:`vsslomo.evaluate.wave_pattern` translated by ``shift`` pixels (x, y), as ``(1, 3, h, w)``."""
    return torch.from_numpy(wave_pattern(shift, h, w)).float().unsqueeze(0)


def test_wave_pattern_moves_exactly() -> None:
    """Integer shifts move the pattern pixel for pixel; fractional ones land in between."""
    still, moved = wave_pattern((0.0, 0.0), 40, 48), wave_pattern((6.0, 4.0), 40, 48)
    np.testing.assert_allclose(moved[:, 4:, 6:], still[:, :-4, :-6], atol=1e-12)
    assert 0 <= still.min() and still.max() <= 1 and still.std() > 0.05
    half = wave_pattern((3.0, 2.0), 40, 48)
    assert np.abs(half - still).mean() > 0.02 and np.abs(half - moved).mean() > 0.02


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


def count_calls(model: IFRNet, name: str, monkeypatch: pytest.MonkeyPatch, arg: int = 0) -> list[int]:
    """Record the batch size of argument ``arg`` of every call of ``model.<name>``."""
    calls: list[int] = []
    original = getattr(model, name)

    def counting(*args, **kwargs):
        calls.append(args[arg].shape[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(model, name, counting)
    return calls


# --- the public format ---------------------------------------------------------------------


@pytest.mark.parametrize("size", ["s", "base", "l"])
def test_public_key_format_and_parameter_count(size):
    model = IFRNet(size)
    state = model.state_dict()
    assert len(state) == 104
    for key, shape in PUBLIC_SHAPES[size].items():
        assert tuple(state[key].shape) == shape, key
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == PARAMS_M[size]


@pytest.mark.parametrize("size", ["s", "base", "l"])
def test_each_size_loads_strictly_from_shapes_and_runs(tmp_path, size):
    state = public_state(size, seed=1, prefix="module." if size == "base" else "")
    model = load_ifrnet(save(tmp_path, f"{size}.pth", state))
    assert model.variant.key == size and not model.training
    assert model.takes_t and "takes t directly" in model.summary
    assert all(p.dtype == torch.float32 for p in model.parameters())
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[("module." if size == "base" else "") + key]), key
    img0, img1 = smooth_pair(32, 48, seed=2)
    with torch.inference_mode():
        out = model(img0, img1, torch.tensor([0.25, 0.5]))
    assert out.shape == (2, 3, 32, 48) and out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out[0], out[1])  # t is an input


def test_size_option_requires_that_size(tmp_path):
    path = save(tmp_path, "base.pth", public_state("base"))
    with pytest.raises(CheckpointError, match="holds IFRNet weights, not IFRNet-L; use model='ifrnet'"):
        load_ifrnet(path, size="l")
    assert load_ifrnet(path, size="base").variant.key == "base"
    s_path = save(tmp_path, "s.pth", public_state("s"))
    with pytest.raises(CheckpointError, match="model='ifrnet-s'"):
        registry.get_spec("ifrnet-l").load(s_path)
    assert registry.get_spec("ifrnet-s").load(s_path).variant.key == "s"
    assert registry.get_spec("ifrnet").load(s_path).variant.key == "s"


@pytest.mark.parametrize("defect", ["shape", "missing", "extra", "first-conv", "nan"])
def test_damaged_or_mismatched_checkpoints_are_refused(tmp_path, defect):
    state = public_state("s")
    if defect == "shape":
        state["decoder2.convblock.2.weight"] = torch.zeros(108, 30, 4, 4)
        message = "wrong shape: decoder2.convblock.2.weight"
    elif defect == "missing":
        del state["decoder1.convblock.1.conv4.0.bias"]
        message = "missing: decoder1.convblock.1.conv4.0.bias"
    elif defect == "extra":
        state["decoder0.convblock.0.0.weight"] = torch.zeros(3)
        message = "unexpected: decoder0"
    elif defect == "first-conv":
        state["encoder.pyramid1.0.0.weight"] = torch.zeros(40, 3, 3, 3)
        message = "fits no IFRNet size"
    else:
        state["decoder3.convblock.0.0.bias"][0] = float("nan")
        message = "non-finite"
    with pytest.raises(CheckpointError, match=message):
        load_ifrnet(save(tmp_path, "bad.pth", state))


def test_non_checkpoints_are_refused(tmp_path):
    good = save(tmp_path, "good.pth", public_state("s"))
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or damaged"):
        load_ifrnet(truncated)
    with pytest.raises(CheckpointError, match="not an IFRNet state dict"):
        load_ifrnet(save(tmp_path, "other.pth", {"conv.weight": torch.zeros(3)}))
    with pytest.raises(CheckpointError, match="does not exist"):
        load_ifrnet(tmp_path / "absent.pth")


def test_our_wrapped_format_keeps_meta(tmp_path):
    state = public_state("s", seed=3)
    meta = {"recipe": "recipes/ifrnet_s.toml", "iterations": 1200, "mean_mode": "frame"}
    model = load_ifrnet(save(tmp_path, "ours.pt", {"state_dict": state, "meta": meta}))
    assert model.meta == meta
    assert torch.equal(model.state_dict()["decoder1.convblock.2.bias"], state["decoder1.convblock.2.bias"])
    with pytest.raises(CheckpointError, match="unexpected entries optimizer"):
        load_ifrnet(save(tmp_path, "extra.pt", {"state_dict": state, "meta": meta, "optimizer": {}}))
    with pytest.raises(CheckpointError, match="'meta' entry that is a list"):
        load_ifrnet(save(tmp_path, "badmeta.pt", {"state_dict": state, "meta": [1]}))


def test_without_weights_the_error_names_checkpoint_and_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.WEIGHTS_ENV, str(tmp_path))
    monkeypatch.setattr(ifrnet, "shipped_checkpoint", lambda: tmp_path / "not-shipped" / ifrnet.SHIPPED_WEIGHTS)
    folder = paths.user_weights_dir("ifrnet")
    with pytest.raises(FileNotFoundError) as err:
        load_ifrnet(None)
    assert "checkpoint=" in str(err.value) and str(folder) in str(err.value)
    assert "IFRNet_S_Vimeo90K.pth" in str(err.value)
    with pytest.raises(FileNotFoundError, match="IFRNet_L_GoPro.pth"):
        registry.get_spec("ifrnet-l").load(None)
    # An official file in the user folder is found without checkpoint=.
    folder.mkdir(parents=True)
    torch.save(public_state("l", t_blind=True), folder / "IFRNet_L_Vimeo90K.pth")
    model = registry.get_spec("ifrnet-l").load(None)
    assert model.variant.key == "l" and not model.takes_t
    assert registry.get_spec("ifrnet").load(None).variant.key == "l"
    with pytest.raises(FileNotFoundError, match="IFRNet-S weights"):
        registry.get_spec("ifrnet-s").load(None)


# --- t-blind (Vimeo90K) weights -------------------------------------------------------------


def test_zero_t_weights_are_detected(tmp_path):
    gopro = load_ifrnet(save(tmp_path, "gopro.pth", public_state("s", seed=4)))
    vimeo = load_ifrnet(save(tmp_path, "vimeo.pth", public_state("s", seed=4, t_blind=True)))
    assert gopro.takes_t and ifrnet.uses_t_plane(gopro)
    assert not vimeo.takes_t and not ifrnet.uses_t_plane(vimeo)
    assert gopro.independent_timesteps and not vimeo.independent_timesteps  # bisection shares midpoints
    assert vimeo.summary == "IFRNet-S, trained at t=0.5 only (Vimeo90K-style): other t by bisection"
    assert gopro.summary == "IFRNet-S, takes t directly (GoPro-style)"
    # Zero weights on the t plane really make the decoders blind to t.
    img0, img1 = smooth_pair(32, 32, seed=5)
    state = vimeo.pair(img0, img1, vimeo.encode(img0), vimeo.encode(img1))
    with torch.inference_mode():
        a = vimeo.decode(state.pyramid0, state.pyramid1, torch.tensor([0.2]))
        b = vimeo.decode(state.pyramid0, state.pyramid1, torch.tensor([0.5]))
    assert torch.equal(a.flows0[3], b.flows0[3]) and torch.equal(a.residual, b.residual)


def test_t_blind_weights_bisect_dyadic_t(tmp_path, monkeypatch):
    model = load_ifrnet(save(tmp_path, "vimeo.pth", public_state("s", seed=6, t_blind=True)))
    img0, img1 = smooth_pair(32, 48, seed=7)
    with torch.inference_mode():
        half = model(img0, img1, [0.5])
        quarter = model(img0, half, [0.5])
        three_quarters = model(half, img1, [0.5])
        eighth = model(img0, quarter, [0.5])
        calls = count_calls(model, "decode", monkeypatch, arg=2)
        out = model(img0, img1, torch.tensor([0.125, 0.25, 0.5, 0.75]))
    torch.testing.assert_close(out, torch.cat([eighth, quarter, half, three_quarters]), rtol=0, atol=2e-5)
    assert calls == [1, 2, 1]  # every midpoint once, one depth per batch
    with torch.inference_mode():  # the reference's normalisation: each run with its own pair's mean
        half = model(img0, img1, [0.5], mean_mode="pair")
        quarter = model(img0, half, [0.5], mean_mode="pair")
        out = model(img0, img1, [0.25], mean_mode="pair")
    torch.testing.assert_close(out, quarter, rtol=0, atol=2e-5)


def test_t_blind_weights_scale_flows_for_other_t(tmp_path, monkeypatch):
    model = load_ifrnet(save(tmp_path, "vimeo.pth", public_state("s", seed=8, t_blind=True)))
    img0, img1 = smooth_pair(32, 32, seed=9)
    state = model.pair(img0, img1, model.encode(img0), model.encode(img1))
    with torch.inference_mode():
        calls = count_calls(model, "decode", monkeypatch, arg=2)
        out = model.synthesize(state, [0.3, 0.6, 0.5])
        decoded = model.decode(state.pyramid0, state.pyramid1, torch.tensor([0.5]))
    assert calls[:1] == [1]  # 0.3, 0.6 and 0.5 all come from the one run on the pair
    flow0, flow1, mask, residual = model.motion(decoded, 1.0)
    for k, t in enumerate((0.3, 0.6)):
        expected = ifrnet.scaled_midpoint(img0, img1, flow0, flow1, mask, residual, t).clamp(0, 1)
        torch.testing.assert_close(out[k : k + 1], expected, rtol=0, atol=1e-5)


def test_scaled_midpoint_formula():
    g = torch.Generator().manual_seed(10)
    img0, img1 = torch.rand(1, 3, 16, 16, generator=g), torch.rand(1, 3, 16, 16, generator=g)
    flow0, flow1 = torch.randn(1, 2, 16, 16, generator=g) * 2, torch.randn(1, 2, 16, 16, generator=g) * 2
    residual = torch.randn(1, 3, 16, 16, generator=g) * 0.1
    half = torch.full((1, 1, 16, 16), 0.5)
    zero = torch.zeros(1, 2, 16, 16)
    # At the midpoint it is the merge of the run itself.
    torch.testing.assert_close(
        ifrnet.scaled_midpoint(img0, img1, flow0, flow1, half, residual, 0.5),
        ifrnet.merge(img0, img1, flow0, flow1, half, residual),
    )
    for t in (0.3, 0.7):
        # Without motion: the time-weighted cross-fade plus the faded residual.
        still = ifrnet.scaled_midpoint(img0, img1, zero, zero, half, residual, t)
        torch.testing.assert_close(still, (1 - t) * img0 + t * img1 + 4 * t * (1 - t) * residual, rtol=0, atol=1e-5)
        # A saturated mask takes one side, warped with its flow scaled to time t.
        only0 = ifrnet.scaled_midpoint(img0, img1, flow0, flow1, half * 2, residual * 0, t)
        torch.testing.assert_close(only0, backward_warp(img0, flow0 * 2 * t), rtol=0, atol=1e-6)


# --- staging, the merge, the two mean modes -------------------------------------------------------------


@pytest.mark.parametrize("t_blind", [False, True])
def test_staged_equals_forward(tmp_path, t_blind):
    model = load_ifrnet(save(tmp_path, "m.pth", public_state("s", seed=11, t_blind=t_blind)))
    assert isinstance(contract.staged(model), contract.Staged) and contract.staged(model) is model
    assert contract.pad_multiple(model) == 16 and contract.pad_multiple(model, 0.5) == 32
    assert contract.ensemble_mode(model) == "tta"
    img0, img1 = smooth_pair(32, 48, seed=12)
    ts = torch.tensor([0.25, 0.4, 0.5, 0.75])
    with torch.inference_mode():
        for scale in (1.0, 0.5):
            a, b = (img0, img1) if scale == 1.0 else (F.interpolate(img0, size=(64, 64)), F.interpolate(img1, size=(64, 64)))
            state = model.pair(a, b, model.encode(a, scale), model.encode(b, scale), scale)
            assert torch.equal(model.synthesize(state, ts), model(a, b, ts, scale=scale))
            chunks = torch.cat([model.synthesize(state, ts[:2]), model.synthesize(state, ts[2:])])
            torch.testing.assert_close(chunks, model(a, b, ts, scale=scale), rtol=0, atol=1e-5)


def test_t_aware_weights_decode_every_t_in_one_batch_and_encode_each_frame_once(tmp_path, monkeypatch):
    model = load_ifrnet(save(tmp_path, "m.pth", public_state("s", seed=13)))
    img0, img1 = smooth_pair(32, 32, seed=14)
    encodes = count_calls(model, "pyramid", monkeypatch)
    decodes = count_calls(model, "decode", monkeypatch, arg=2)
    with torch.inference_mode():
        out = model(img0, img1, torch.tensor([0.0, 0.125, 0.5, 0.875, 1.0]))
    assert decodes == [3] and encodes == [1, 1]
    assert torch.equal(out[0:1], img0) and torch.equal(out[4:5], img1)  # the ends are the inputs
    singles = [model(img0, img1, [t]) for t in (0.125, 0.5, 0.875)]
    torch.testing.assert_close(out[1:4], torch.cat(singles), rtol=0, atol=1e-5)


def test_merge_is_the_reference_formula_for_any_mean():
    g = torch.Generator().manual_seed(15)
    img0, img1 = torch.rand(2, 3, 8, 12, generator=g), torch.rand(2, 3, 8, 12, generator=g)
    flow0, flow1 = torch.randn(2, 2, 8, 12, generator=g) * 3, torch.randn(2, 2, 8, 12, generator=g) * 3
    mask, residual = torch.rand(2, 1, 8, 12, generator=g), torch.randn(2, 3, 8, 12, generator=g) * 0.05
    mean = ifrnet.pair_mean(img0, img1)
    assert mean.shape == (2, 1, 1, 1)
    torch.testing.assert_close(mean.view(2), (img0.mean(dim=(1, 2, 3)) + img1.mean(dim=(1, 2, 3))) / 2)
    reference = mask * backward_warp(img0 - mean, flow0) + (1 - mask) * backward_warp(img1 - mean, flow1) + mean + residual
    torch.testing.assert_close(ifrnet.merge(img0, img1, flow0, flow1, mask, residual), reference, rtol=0, atol=1e-6)
    # Per-frame means: the same frame, because warping a constant gives the constant.
    m0, m1 = ifrnet.frame_mean(img0), ifrnet.frame_mean(img1)
    per_frame = mask * (backward_warp(img0 - m0, flow0) + m0) + (1 - mask) * (backward_warp(img1 - m1, flow1) + m1) + residual
    torch.testing.assert_close(ifrnet.merge(img0, img1, flow0, flow1, mask, residual), per_frame, rtol=0, atol=1e-6)


def test_inference_writes_into_fresh_buffers_with_the_same_bits():
    """Without autograd, merge and the residual blocks reuse their fresh outputs: same bits
    for every dtype mix autocast gives (bf16 mask and residual on fp32 frames)."""
    g = torch.Generator().manual_seed(16)
    img0, img1 = torch.rand(1, 3, 8, 12, generator=g), torch.rand(1, 3, 8, 12, generator=g)
    flow0, flow1 = torch.randn(3, 2, 8, 12, generator=g) * 3, torch.randn(3, 2, 8, 12, generator=g) * 3
    mask, residual = torch.rand(3, 1, 8, 12, generator=g), torch.randn(3, 3, 8, 12, generator=g) * 0.05
    for a, b in ((img0.expand(3, -1, -1, -1), img1.expand(3, -1, -1, -1)), (img0.repeat(3, 1, 1, 1), img1.repeat(3, 1, 1, 1))):
        for dtype in (torch.float32, torch.bfloat16):
            args = (a, b, flow0, flow1, mask.to(dtype), residual.to(dtype))
            with torch.inference_mode():
                fast = ifrnet.merge(*args)
            plain = ifrnet.merge(*args)  # autograd on: the out-of-place formula
            assert fast.dtype == plain.dtype == torch.float32 and torch.equal(fast, plain)
    block = ifrnet._SideResidual(16, 8)
    x = torch.randn(2, 16, 6, 10, generator=g)
    with torch.inference_mode():
        fast = block(x)
    assert torch.equal(fast, block(x).detach())


def reference_pair_mode(model: IFRNet, img0, img1, ts, scale):
    """The reference inference written out: one mean over both frames, the network at ``scale``."""
    mean = torch.cat((img0, img1), 2).mean(1, keepdim=True).mean(2, keepdim=True).mean(3, keepdim=True)
    x0, x1 = img0 - mean, img1 - mean
    small0, small1 = (F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False) for x in (x0, x1))
    n = len(ts)
    dec = model.decode(model.encoder(small0), model.encoder(small1), torch.tensor(ts))
    up = 1.0 / scale
    flow0 = F.interpolate(dec.flows0[3], scale_factor=up, mode="bilinear", align_corners=False) * up
    flow1 = F.interpolate(dec.flows1[3], scale_factor=up, mode="bilinear", align_corners=False) * up
    mask = F.interpolate(dec.mask, scale_factor=up, mode="bilinear", align_corners=False)
    res = F.interpolate(dec.residual, scale_factor=up, mode="bilinear", align_corners=False)
    merged = mask * backward_warp(x0.expand(n, -1, -1, -1), flow0) + (1 - mask) * backward_warp(x1.expand(n, -1, -1, -1), flow1)
    return (merged + mean + res).clamp(0, 1)


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_mean_modes_numerically(tmp_path, scale):
    model = load_ifrnet(save(tmp_path, "m.pth", public_state("s", seed=16)))
    assert model.mean_mode == "frame"
    img0, img1 = smooth_pair(64, 64, seed=17)
    img1 = (img1 * 0.5 + 0.4).clamp(0, 1)  # a clearly different mean
    ts = [0.3, 0.5]
    with torch.inference_mode():
        pair = model(img0, img1, torch.tensor(ts), scale=scale, mean_mode="pair")
        torch.testing.assert_close(pair, reference_pair_mode(model, img0, img1, ts, scale), rtol=0, atol=1e-5)
        # "frame": each encoder input is that frame minus its own mean, so it ignores the other frame
        # and any brightness offset of its own.
        own = model.encode(img0, scale)
        expected = model.encoder(F.interpolate(img0 - img0.mean(), scale_factor=scale, mode="bilinear") if scale != 1 else img0 - img0.mean())
        for a, b, c in zip(own, expected, model.encode(img0 + 0.05, scale)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
            torch.testing.assert_close(a, c, rtol=0, atol=1e-5)
        frame = model(img0, img1, torch.tensor(ts), scale=scale)
        assert torch.equal(frame, model(img0, img1, torch.tensor(ts), scale=scale, mean_mode="frame"))
        # The modes differ (random weights see the DC offset (m0 - m1) / 2), but not wildly.
        assert 15.0 < ifrnet.mean_mode_psnr(model, img0, img1, ts, scale) < math.inf
        # In "pair" mode there is nothing per frame to cache.
        model.mean_mode = "pair"
        assert model.encode(img0, scale) is None
        staged = model.synthesize(model.pair(img0, img1, None, None, scale), torch.tensor(ts))
        assert torch.equal(staged, pair)


def test_forward_train_exposes_what_the_losses_need(tmp_path):
    model = IFRNet("s")
    g = torch.Generator().manual_seed(18)
    img0, img1, imgt = (torch.rand(2, 3, 32, 48, generator=g) for _ in range(3))
    out = model.forward_train(img0, img1, torch.tensor([0.3, 0.7]), imgt)
    assert out.frame.shape == (2, 3, 32, 48) and out.frame.requires_grad
    assert [f.shape[-2:] for f in out.decoded.flows0] == [(4, 6), (8, 12), (16, 24), (32, 48)]
    assert [f.shape[1] for f in out.decoded.features] == [54, 36, 24]  # IFRNet-S widths at levels 3, 2, 1
    assert [f.shape[1:] for f in out.target_pyramid] == [f.shape[1:] for f in model.encode(imgt)]
    for a, b in zip(out.target_pyramid, model.encode(imgt)):
        torch.testing.assert_close(a, b)
    with torch.no_grad():
        for k in range(2):
            single = model(img0[k : k + 1], img1[k : k + 1], [[0.3, 0.7][k]])
            torch.testing.assert_close(out.frame[k : k + 1], single, rtol=0, atol=1e-5)
    out.frame.mean().backward()
    assert model.decoder4.convblock[0][0].weight.grad[:, -1].abs().sum() > 0  # the t plane learns


def test_memory_layout_does_not_change_the_result(tmp_path):
    state = public_state("s", seed=23)
    nhwc, nchw = IFRNet("s"), IFRNet("s", channels_last=False)
    nhwc.load_state_dict(state)
    nchw.load_state_dict(state)
    assert nhwc.decoder1.convblock[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    assert nchw.decoder1.convblock[0][0].weight.is_contiguous()
    img0, img1 = smooth_pair(32, 48, seed=24)
    with torch.inference_mode():
        a, b = nhwc.eval()(img0, img1, [0.3, 0.6]), nchw.eval()(img0, img1, [0.3, 0.6])
    assert a.is_contiguous()
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_bad_input():
    model = IFRNet("s").eval()
    img0, img1 = smooth_pair(32, 32, seed=19)
    with pytest.raises(ValueError, match="multiples of 16"):
        model(img0[..., :24], img1[..., :24], [0.5])
    with pytest.raises(ValueError, match="multiples of 32"):
        model(img0[..., :16], img1[..., :16], [0.5], scale=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model(img0, img1, [1.5])
    with pytest.raises(ValueError, match="mean_mode"):
        model(img0, img1, [0.5], mean_mode="global")


# --- real frames ---------------------------------------------------------------------------------


def translating_network(velocity: tuple[float, float]) -> IFRNet:
    """IFRNet-S with hand-set weights that predict the flows of a global translation at any t.

    Every weight is zero and every PReLU the identity, except: decoder 4's first conv copies the
    t plane (its last input channel) into channel 0, and its transposed conv (nearest-neighbour
    taps) turns that into F_t->0 = -t v / 8 and F_t->1 = (1 - t) v / 8 at 1/8 size. Decoders 3..1
    add nothing, so the flows double at each level to full size; the mask is 0.5, the residual 0.
    """
    model = IFRNet("s")
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.fill_(1.0 if name.endswith(".1.weight") or name.endswith("prelu.weight") else 0.0)
        model.decoder4.convblock[0][0].weight[0, -1, 1, 1] = 1.0
        up = model.decoder4.convblock[2]
        vx, vy = velocity[0] / 8, velocity[1] / 8
        for channel, value in enumerate((-vx, -vy, -vx, -vy)):
            up.weight[0, channel, 1:3, 1:3] = value
        up.bias[2], up.bias[3] = vx, vy
    return model.eval()


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_forward_on_a_moving_pattern_beats_blending(scale):
    velocity = (6.0, 4.0)
    # At scale 0.5 the network's pixels are two of ours: the same motion is half as many of them.
    model = translating_network((velocity[0] * scale, velocity[1] * scale))
    assert model.takes_t and ifrnet.uses_t_plane(model)
    img0, img1 = texture((0.0, 0.0)), texture(velocity)
    ts = [0.25, 0.5, 0.75]
    with torch.inference_mode():
        out = model(img0, img1, torch.tensor(ts), scale=scale)
    inner = (..., slice(8, -8), slice(8, -8))  # near the edges the warp samples outside the frame
    for t, frame in zip(ts, out):
        truth = texture((velocity[0] * t, velocity[1] * t))[inner]
        ours, blend = psnr(frame[None][inner], truth), psnr(((1 - t) * img0 + t * img1)[inner], truth)
        assert ours > blend + 15.0, f"t={t}: IFRNet {ours:.2f} dB vs blending {blend:.2f} dB"
        assert ours > 45.0


def test_shipped_weights_beat_blending():
    path = ifrnet.shipped_checkpoint()
    if not path.is_file():
        pytest.skip(f"vsslomo's own IFRNet-S weights are not shipped yet ({path})")
    model = load_ifrnet(None)
    assert model.variant.key == "s"
    img0, img1 = texture((0.0, 0.0)), texture((6.0, 4.0))
    with torch.inference_mode():
        out = model(img0, img1, torch.tensor([0.25, 0.5, 0.75]))
    for t, frame in zip((0.25, 0.5, 0.75), out):
        truth = texture((6.0 * t, 4.0 * t))
        assert psnr(frame[None], truth) > psnr((1 - t) * img0 + t * img1, truth) + 3.0


def test_ensemble_averages_the_four_passes(tmp_path):
    model = load_ifrnet(save(tmp_path, "m.pth", public_state("s", seed=20)))
    img0, img1 = smooth_pair(32, 32, seed=21)
    ts = torch.tensor([0.25, 0.5])
    with torch.inference_mode():
        out = ensemble_forward(model, img0, img1, ts)
        flipped = model(img1.flip(-1), img0.flip(-1), 1 - ts).flip(-1)
        parts = model(img0, img1, ts) + model(img1, img0, 1 - ts) + model(img0.flip(-1), img1.flip(-1), ts).flip(-1) + flipped
    torch.testing.assert_close(out, parts / 4, rtol=0, atol=1e-6)


# --- through the filter ------------------------------------------------------------------------------


def _rgbs_clip(frames: int = 3, width: int = 48, height: int = 32):
    import vapoursynth as vs

    from vsslomo.demo import demo_clip

    return vs.core.resize.Bicubic(demo_clip(width=width, height=height, frames=frames, fps=(24, 1)), format=vs.RGBS)


def _tensor(frame) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.asarray(frame[p]) for p in range(3)])).unsqueeze(0).float()


@pytest.mark.parametrize("ensemble", [False, True])
def test_filter_runs_ifrnet_from_a_checkpoint(tmp_path, ensemble):
    import vsslomo
    from vsslomo.backends import Eager

    path = save(tmp_path, f"IFRNet_S_GoPro_{ensemble}.pth", public_state("s", seed=22))
    clip = _rgbs_clip()
    out = vsslomo.interpolate(
        clip, factor=4, model="ifrnet", checkpoint=str(path), device="cpu", ensemble=ensemble,
        precision="fp32", backend=Eager(channels_last=False),  # the module's own arithmetic
    )
    assert out.num_frames == 12 and (out.width, out.height) == (48, 32)
    model = load_ifrnet(path)
    img0, img1 = _tensor(clip.get_frame(0)), _tensor(clip.get_frame(1))
    ts = torch.tensor([0.25, 0.5, 0.75])
    with torch.inference_mode():
        expected = ensemble_forward(model, img0, img1, ts) if ensemble else model(img0, img1, ts)
    assert np.array_equal(np.asarray(out.get_frame(0)[0]), np.asarray(clip.get_frame(0)[0]))
    for k in range(3):
        frame = out.get_frame(1 + k)
        assert frame.props["SlomoT"] == pytest.approx(float(ts[k]))
        torch.testing.assert_close(_tensor(frame), expected[k : k + 1], rtol=0, atol=1e-5)


def test_filter_reports_a_bad_ifrnet_checkpoint(tmp_path):
    import vapoursynth as vs

    import vsslomo

    state = public_state("s")
    state["decoder1.convblock.2.weight"] = torch.zeros(72, 9, 4, 4)
    path = save(tmp_path, "bad.pth", state)
    with pytest.raises(vs.Error, match=r"^slomo\.Interpolate: cannot load model 'ifrnet': IFRNet checkpoint .*wrong shape"):
        vsslomo.interpolate(_rgbs_clip(), model="ifrnet", checkpoint=str(path), device="cpu")


def test_native_plugin_takes_ifrnet(tmp_path):
    import vapoursynth as vs

    import vsslomo

    if not hasattr(vs.core, "slomo"):
        pytest.skip("native plugin libvsslomo.so is not installed")
    path = save(tmp_path, "IFRNet_S_GoPro.pth", public_state("s", seed=25))
    clip = _rgbs_clip(frames=2)
    native = vs.core.slomo.Interpolate(clip, factor=2, model="ifrnet-s", checkpoint=str(path), device="cpu")
    python = vsslomo.interpolate(clip, factor=2, model="ifrnet-s", checkpoint=str(path), device="cpu")
    assert native.num_frames == python.num_frames == 4
    assert np.array_equal(np.asarray(native.get_frame(1)[1]), np.asarray(python.get_frame(1)[1]))
    assert native.get_frame(1).props["SlomoT"] == 0.5

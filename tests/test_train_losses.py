"""IFRNet's training losses and the flow bookkeeping of the data, on tiny tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vsslomo.models.warp import backward_warp
from vsslomo.train.data import Augment, make_sample
from vsslomo.train.losses import (
    census_loss,
    charbonnier,
    distillation,
    geometry_loss,
    robust_charbonnier,
    robust_weight,
)
from vsslomo.train.synthetic import SyntheticScenes


def test_charbonnier_is_smooth_l1() -> None:
    diff = torch.tensor([0.0, 0.5, -2.0])
    assert float(charbonnier(diff)) == pytest.approx((1e-3 + math.sqrt(0.25 + 1e-6) + math.sqrt(4 + 1e-6)) / 3, rel=1e-6)


def test_census_ignores_brightness_and_sees_structure() -> None:
    torch.manual_seed(0)
    img = torch.rand(1, 3, 24, 24)
    assert float(census_loss(img, img)) == 0.0
    # A constant brightness offset keeps every pixel's order against its neighbours.
    assert float(census_loss(img + 0.2, img)) < 1e-6
    shifted = torch.roll(img, 3, dims=-1)
    loss = census_loss(shifted, img)
    assert float(loss) > 0.1
    pred = shifted.clone().requires_grad_(True)
    census_loss(pred, img).backward()
    assert pred.grad is not None and float(pred.grad.abs().sum()) > 0


def test_census_by_hand_on_one_pixel() -> None:
    # A single bright pixel: its 7x7 census differs from a flat image's in 48 neighbours.
    flat = torch.zeros(1, 1, 15, 15)
    spot = flat.clone()
    spot[..., 7, 7] = 1.0
    d = 1.0 / math.sqrt(0.81 + 1.0)  # the squashed difference of one neighbour
    per_term = d * d / (0.1 + d * d)
    # Pixels seeing the spot: the spot itself (48 offsets) and its 48 neighbours (1 offset each).
    total = (48 * per_term + 48 * per_term) / 49
    # The 3-pixel border counts as zero but stays in the mean.
    assert float(census_loss(spot, flat)) == pytest.approx(total / (15 * 15), rel=1e-5)


def test_geometry_compares_feature_layout_per_channel() -> None:
    torch.manual_seed(1)
    feat = torch.randn(2, 5, 12, 12)
    assert float(geometry_loss(feat, feat)) == 0.0
    assert float(geometry_loss(feat * 3 + 1, feat)) > 0  # squashing is not scale invariant, shifts are
    assert float(geometry_loss(feat + 1, feat)) < 1e-6
    assert float(geometry_loss(torch.roll(feat, 1, dims=1), feat)) > 0.05  # channels are compared one by one


def test_robust_weight_and_generalised_charbonnier() -> None:
    student = torch.zeros(1, 2, 1, 3)
    teacher = torch.tensor([0.0, 3.0, 40.0]).view(1, 1, 1, 3).expand(1, 2, 1, 3)
    w = robust_weight(student, teacher)
    epe = torch.tensor([0.0, 3.0 * math.sqrt(2), 40.0 * math.sqrt(2)])
    assert torch.allclose(w.flatten(), torch.exp(-0.3 * epe), atol=1e-6)
    # w = 1: the Charbonnier L1 with eps = 1e-3; w -> 0: flat (no pull towards a wrong teacher).
    one = robust_charbonnier(torch.tensor([2.0]), torch.tensor([1.0]))
    assert float(one) == pytest.approx(math.sqrt(4 + 1e-6), rel=1e-6)
    tiny = torch.tensor([1e-4])
    diff = torch.tensor([5.0], requires_grad=True)
    robust_charbonnier(diff, tiny).backward()
    assert abs(float(diff.grad)) < 1e-3
    # Samples without teacher flows count as zero.
    loss = distillation(torch.ones(2, 2, 4, 4), torch.zeros(2, 2, 4, 4), torch.ones(2, 1, 4, 4), torch.tensor([1.0, 0.0]))
    assert float(loss) == pytest.approx(math.sqrt(1 + 1e-6) / 2, rel=1e-5)



def _ifrnet_distill(options: list[str], teacher: float) -> tuple[list[torch.Tensor], torch.Tensor]:
    """IFRNet-S's distillation term for zero student flows (levels 4..1, 32x32 frames, grads kept) against a
    constant teacher flow; returns the student flows (after backward) and the term."""
    from vsslomo.train.families import _IFRNetCriterion
    from vsslomo.train.options import build_parser

    args = build_parser().parse_args(["--model", "ifrnet-s", "--distill-weight", "1", *options])
    criterion = _IFRNetCriterion(args, torch.device("cpu"), lambda _: None)
    flows = [torch.zeros(1, 2, 4 * 2**k, 4 * 2**k, requires_grad=True) for k in range(4)]
    out = (torch.zeros(1, 3, 32, 32), *flows, *[f.detach() for f in flows],
           *[torch.zeros(1, 4, n, n) for n in (4, 8, 16)], *[torch.zeros(1, 4, n, n) for n in (16, 8, 4, 2)])
    batch = {"target": torch.zeros(1, 3, 32, 32), "flow": torch.full((1, 4, 32, 32), teacher), "flow_valid": torch.ones(1, 2)}
    _, terms = criterion(out, batch)
    terms["distill"].backward()
    return flows, terms["distill"]


def test_distill_beta_zero_trusts_the_teacher_everywhere() -> None:
    """With beta 0 a student far from the teacher is still pulled towards it (the default barely pulls)."""

    def distill_grad(beta: float) -> float:
        flows, _ = _ifrnet_distill(["--distill-beta", str(beta)], 12.0)
        return float(flows[0].grad.abs().sum())

    assert distill_grad(0.0) > 100 * distill_grad(0.3)


def test_distill_fine_pulls_the_final_flows_only_when_asked() -> None:
    """--distill-fine W adds W times the distillation of decoder 1's full-size flows (0: left free)."""
    from vsslomo.train.losses import distillation

    def final_grad_and_loss(fine: str) -> tuple[float, float]:
        flows, distill = _ifrnet_distill(["--distill-beta", "0", "--distill-fine", fine], 3.0)
        grad = flows[3].grad  # None: not in the graph at all
        return (0.0 if grad is None else float(grad.abs().sum())), float(distill)

    grad0, loss0 = final_grad_and_loss("0")
    grad1, loss1 = final_grad_and_loss("0.5")
    assert grad0 == 0.0 and grad1 > 0.0
    one = distillation(torch.zeros(1, 2, 32, 32), torch.full((1, 2, 32, 32), 3.0), torch.ones(1, 1, 32, 32), torch.ones(1))
    assert loss1 - loss0 == pytest.approx(0.5 * 2 * float(one), rel=1e-5)  # both flows, F_t->0 and F_t->1


@pytest.mark.parametrize("norm", ["l1", "l2", "psnr"])
def test_ifrnet_rec_loss_norms(norm: str) -> None:
    """--rec-loss for IFRNet: l1 is the paper's Charbonnier; l2 and psnr come with Super SloMo's
    balance against it (their weights over its L1 weight), and the total adds them that way."""
    from vsslomo.train.families import _IFRNetCriterion
    from vsslomo.train.losses import DEFAULT_REC_WEIGHTS, LossWeights, charbonnier, psnr_loss
    from vsslomo.train.options import build_parser

    args = build_parser().parse_args(["--model", "ifrnet-s", "--rec-loss", norm, "--census-weight", "0",
                                      "--geometry-weight", "0", "--distill-weight", "0"])
    criterion = _IFRNetCriterion(args, torch.device("cpu"), lambda _: None)
    gen = torch.Generator().manual_seed(3)
    frame, target = torch.rand(2, 3, 32, 32, generator=gen), torch.rand(2, 3, 32, 32, generator=gen)
    feats = [torch.zeros(2, 4, n, n) for n in (4, 8, 16)] + [torch.zeros(2, 4, n, n) for n in (16, 8, 4, 2)]
    flows = [torch.zeros(2, 2, 4 * 2**k, 4 * 2**k) for k in range(4)]
    total, terms = criterion((frame, *flows, *flows, *feats), {"target": target})
    expected = {"l1": charbonnier(frame - target), "l2": ((frame - target) ** 2).mean(), "psnr": psnr_loss(frame, target)}
    assert float(terms["rec"]) == pytest.approx(float(expected[norm]), rel=1e-6)
    weight = DEFAULT_REC_WEIGHTS[norm] / LossWeights.rec
    assert float(total) == pytest.approx(weight * float(expected[norm]), rel=1e-5)
    assert (norm == "l1") == (weight == 1.0)


def test_flow_gain_scales_the_steps_of_the_flow_outputs_only() -> None:
    """--flow-gain 4: each optimiser step moves the decoders' flow rows 4x as far, nothing else changes."""
    from vsslomo.models.ifrnet import IFRNet
    from vsslomo.train.options import build_parser
    from vsslomo.train.trainer import make_optimizer

    def one_step(gain: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        torch.manual_seed(0)
        model = IFRNet("s", channels_last=False)
        args = build_parser().parse_args(["--model", "ifrnet-s", "--flow-gain", gain])
        args.optimizer, args.lr, args.weight_decay = "adamw", 1e-3, 0.0
        optimizer = make_optimizer(args, model)  # with the family's flow-gain hooks
        before = {k: v.clone() for k, v in model.state_dict().items()}
        img = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
        model.forward_train(img[:1], img[1:], torch.tensor([0.5]), img[:1]).frame.mean().backward()
        optimizer.step()
        return before, {k: v - before[k] for k, v in model.state_dict().items()}

    before1, step1 = one_step("1")
    before4, step4 = one_step("4")
    for key in before1:
        torch.testing.assert_close(before1[key], before4[key], rtol=0, atol=0)
        rows = (slice(None), slice(0, 4)) if key.endswith("convblock.2.weight") else slice(0, 4)
        if key.startswith("decoder") and ".convblock.2." in key:
            torch.testing.assert_close(step4[key][rows], 4 * step1[key][rows], rtol=1e-4, atol=1e-9)
            rest = (slice(None), slice(4, None)) if key.endswith("weight") else slice(4, None)
            torch.testing.assert_close(step4[key][rest], step1[key][rest], rtol=0, atol=0)
            assert step1[key][rows].abs().max() > 0
        else:
            torch.testing.assert_close(step4[key], step1[key], rtol=0, atol=0)


@pytest.fixture(scope="module")
def photos() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    # Smooth random textures: bilinear warping of them is accurate to well under a level.
    small = torch.rand(3, 3, 12, 12, generator=g)
    big = torch.nn.functional.interpolate(small, size=(160, 160), mode="bicubic", align_corners=False).clamp(0, 1)
    return [(b * 255).round().to(torch.uint8) for b in big]


def test_synthetic_flows_are_the_exact_motion(photos: list[torch.Tensor]) -> None:
    """Warping the input frames by the exact flows rebuilds the frame at t (camera pans, zooms, rotates)."""
    ds = SyntheticScenes(photos, length=4, crop=64, max_motion=10, sprites=(0, 0), zoom_change=0.1, rotation=8.0)
    frames, flow = ds.render_with_flows(np.random.default_rng(3), 0.375)
    img0, imgt, img1 = frames[0:1], frames[1:2], frames[2:3]
    assert flow.shape == (4, 64, 64) and float(flow.abs().max()) > 1.0
    inner = (slice(None), slice(None), slice(12, -12), slice(12, -12))
    err0 = (backward_warp(img0, flow[None, 0:2]) - imgt)[inner].abs().mean()
    err1 = (backward_warp(img1, flow[None, 2:4]) - imgt)[inner].abs().mean()
    blend = ((img0 + img1) / 2 - imgt)[inner].abs().mean()
    assert float(err0) < 0.15 * float(blend) and float(err1) < 0.15 * float(blend)


def test_still_camera_scenes_keep_the_background(photos: list[torch.Tensor]) -> None:
    """With ``still_fraction=1`` the background is the same in every frame and its flows are zero."""
    moving = SyntheticScenes(photos, length=4, crop=64, max_motion=10, sprites=(0, 0), zoom_change=0.1, rotation=8.0)
    still = SyntheticScenes(photos, length=4, crop=64, max_motion=10, sprites=(0, 0), zoom_change=0.1, rotation=8.0,
                            still_fraction=1.0)
    frames, flow = still.render_with_flows(np.random.default_rng(3), 0.375)
    assert torch.equal(frames[0], frames[1]) and torch.equal(frames[1], frames[2])
    assert float(flow.abs().max()) < 1e-4
    moved, _ = moving.render_with_flows(np.random.default_rng(3), 0.375)
    assert float((moved[0] - moved[2]).abs().mean()) > 0.01
    # Sprites still move over a still background.
    sprites = SyntheticScenes(photos, length=4, crop=64, max_motion=12, sprites=(3, 3), still_fraction=1.0)
    frames, flow = sprites.render_with_flows(np.random.default_rng(5), 0.5)
    assert float(flow.abs().max()) > 1.0 and not torch.equal(frames[0], frames[2])


def test_sensor_noise_is_independent_per_frame_and_keeps_the_exact_flows(photos: list[torch.Tensor]) -> None:
    """``sensor_noise`` adds fresh noise to each frame of a sample (the truth too), within its
    bound, and leaves the scene and its exact flows as they were; without it nothing changes."""
    off = Augment(hflip=False, reverse=False)
    kw = dict(length=4, crop=64, max_motion=10, sprites=(1, 2), augment=off, flows=True, still_fraction=1.0)
    clean = SyntheticScenes(photos, **kw)
    noisy = SyntheticScenes(photos, sensor_noise=6.0, **kw)
    rng = np.random.default_rng(1)
    before = rng.bit_generator.state
    frames = torch.rand(3, 3, 8, 8)
    assert clean._noisy(frames, rng) is frames and rng.bit_generator.state == before  # no noise: no draws
    sigmas = []
    for i in range(4):
        a, b = clean[i], noisy[i]
        assert torch.equal(a["flow"], b["flow"]) and a["t"] == b["t"]
        keys = ("img0", "target", "img1")
        inside = torch.stack([(a[k] > 0.05) & (a[k] < 0.95) for k in keys]).all(0)  # not clamped
        noise = torch.stack([(b[k] - a[k])[inside] for k in keys])
        sigma = float(noise.std()) * 255
        assert sigma <= 6.0 * 1.1
        sigmas.append(sigma)
        if sigma > 0.5:  # independent draws: the frames' noise is uncorrelated, pixel for pixel
            corr = torch.corrcoef(noise)
            assert float(corr.fill_diagonal_(0).abs().max()) < 0.1
    assert max(sigmas) > 1.0


def test_wave_texture_scenes_are_periodic_and_move_exactly(photos: list[torch.Tensor]) -> None:
    """``texture_fraction=1`` puts a sum of plane waves of the given wavelengths behind the
    sprites; its frames follow the exact flows, and without the option nothing is drawn."""
    kw = dict(length=4, crop=64, max_motion=16, sprites=(0, 0), zoom_change=0.0)
    waves = SyntheticScenes(photos, texture_fraction=1.0, wavelength=(8.0, 8.0), **kw)
    camera, _ = waves._scene(np.random.default_rng(2))
    assert camera.waves is not None
    lengths = 2 * math.pi / camera.waves.freq.norm(dim=1)
    assert torch.allclose(lengths, torch.full_like(lengths, 8.0))
    frames, flow = waves.render_with_flows(np.random.default_rng(2), 0.25)
    assert float(frames.min()) >= 0 and float(frames.max()) <= 1 and float(frames.std()) > 0.02
    # Warping by the exact flows rebuilds the middle frame, as for photo backgrounds.
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    err = (backward_warp(frames[0:1], flow[None, 0:2]) - frames[1:2])[inner].abs().mean()
    blend = ((frames[0:1] + frames[2:3]) / 2 - frames[1:2])[inner].abs().mean()
    assert float(blend) > 0.01 and float(err) < 0.1 * float(blend)
    plain, _ = SyntheticScenes(photos, **kw)._scene(np.random.default_rng(2))
    assert plain.waves is None
    # The draw comes last: without it the scene (camera and sprites) is the same as before.
    assert (plain.cx, plain.cy, plain.dx, plain.dy) == (camera.cx, camera.cy, camera.dx, camera.dy)


def test_sprite_count_and_size_are_options(photos: list[torch.Tensor]) -> None:
    ds = SyntheticScenes(photos, length=4, crop=64, sprites=(6, 6), sprite_size=(0.05, 0.05))
    for seed in range(3):
        _, sprites = ds._scene(np.random.default_rng(seed))
        assert len(sprites) == 6 and all(abs(s.rx - 0.05 * 64) < 1e-9 for s in sprites)
    # the defaults draw as before the options existed: 1-4 sprites of radius 8-30% of the crop
    _, sprites = SyntheticScenes(photos, length=4, crop=64)._scene(np.random.default_rng(0))
    assert 1 <= len(sprites) <= 4 and all(0.08 * 64 <= s.rx <= 0.3 * 64 for s in sprites)


def test_synthetic_sprite_flows_follow_the_sprites(photos: list[torch.Tensor]) -> None:
    ds = SyntheticScenes(photos, length=4, crop=64, max_motion=12, sprites=(3, 3))
    frames, flow = ds.render_with_flows(np.random.default_rng(5), 0.5)
    warped = backward_warp(frames[0:1], flow[None, 0:2])
    # Occlusions make a few pixels wrong; on most the exact motion rebuilds the frame.
    good = ((warped - frames[1:2]).abs().amax(1) < 0.04).float().mean()
    assert float(good) > 0.8


def test_augment_adjusts_flows(photos: list[torch.Tensor]) -> None:
    """After any flip / reversal the flows still warp the (new) inputs onto the (new) target."""
    ds = SyntheticScenes(photos, length=4, crop=64, max_motion=10, sprites=(0, 0), zoom_change=0.1, rotation=8.0)
    frames, flow = ds.render_with_flows(np.random.default_rng(3), 0.25)
    sample = make_sample(frames[0], frames[1], frames[2], 0.25, flow)
    aug = Augment(hflip=True, reverse=True, vflip=True, channels=True)
    inner = (slice(None), slice(None), slice(12, -12), slice(12, -12))
    seen = set()
    for seed in range(12):
        out = aug(sample, np.random.default_rng(seed))
        seen.add((bool(torch.equal(out["img0"], sample["img0"])), float(out["t"])))
        for img, half in (("img0", slice(0, 2)), ("img1", slice(2, 4))):
            warped = backward_warp(out[img][None], out["flow"][None, half])
            assert float((warped - out["target"][None])[inner].abs().mean()) < 0.01
    assert {t for _, t in seen} == {0.25, 0.75}


def test_teacher_flows_come_from_pairs_centred_on_the_target() -> None:
    """F_t->0 from (start, start + 2k), F_t->1 from (start + 2k - span, start + span); outside the segment: invalid."""
    from vsslomo.train.data import FrameSource, VideoWindows

    calls: list[tuple[int, int, int]] = []

    def lookup(source: int, centre: int, d: int) -> np.ndarray:
        calls.append((source, centre, d))
        return np.full((4, 16, 16), float(10 * d + (centre % 10)), dtype=np.float16)

    src = FrameSource("v", np.zeros((60, 32, 32, 3), np.uint8))
    ds = VideoWindows([src], length=4, crop=32, window=5, min_span=2, val_fraction=0.1, teacher=lookup)
    train = ds.items[0][2]
    flow, valid = ds.teacher_flows(0, train, start=10, k=1, span=4, box=(0, 0, 32, 32))
    assert calls == [(0, 11, 1), (0, 11, 3)]
    assert flow.shape == (4, 32, 32) and torch.equal(valid, torch.ones(2))
    assert float(flow[0, 5, 5]) == 11.0 and float(flow[2, 5, 5]) == 31.0  # first half of d=1, second of d=3
    calls.clear()
    # The pair for F_t->1 would start before the segment: that half is marked invalid.
    flow, valid = ds.teacher_flows(0, train, start=0, k=1, span=4, box=(0, 0, 32, 32))
    assert calls == [(0, 1, 1)] and valid.tolist() == [1.0, 0.0] and float(flow[2:].abs().max()) == 0.0

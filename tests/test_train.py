"""Training pipeline: ffmpeg data windows, synthetic scenes, Super SloMo losses, metrics, checkpoints, DDP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vsslomo.render.ffmpeg import find_ffmpeg
from vsslomo.models.superslomo import SuperSloMo, load_superslomo
from vsslomo.train import main as train_main
from vsslomo.train.checkpoint import load_training_state
from vsslomo.train.data import (
    FrameSource,
    ValidationWindows,
    VideoWindows,
    WindowSampler,
    load_sources,
    read_frame_folder,
    read_video,
    split_segments,
)
from vsslomo.train.losses import LossWeights, SuperSloMoLoss, VGG16Conv43, smoothness
from vsslomo.train.metrics import psnr, ssim
from vsslomo.train.synthetic import SyntheticScenes, load_photos

REPO = Path(__file__).resolve().parents[1]
TINY = "4,4,6,6,8,8"


def _ffmpeg(*args: str) -> None:
    subprocess.run([find_ffmpeg(), "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media")
    video = root / "clip.mkv"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=128x96:rate=25", "-frames:v", "40", "-c:v", "ffv1", str(video))
    frames = root / "frames"
    frames.mkdir()
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=25", "-frames:v", "12", str(frames / "f%03d.png"))
    photos = root / "photos"
    photos.mkdir()
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=200x150", "-frames:v", "1", str(photos / "a.png"))
    _ffmpeg("-f", "lavfi", "-i", "mandelbrot=size=160x160", "-frames:v", "1", str(photos / "b.jpg"))
    (photos / "notes.txt").write_text("not a picture")
    return {"video": video, "frames": frames, "photos": photos}


def test_read_video_and_frame_folder(media: dict[str, Path]) -> None:
    v = read_video(media["video"])
    assert v.shape == (40, 96, 128, 3) and v.dtype == np.uint8
    assert not np.array_equal(v[0], v[20])
    small = read_video(media["video"], max_side=64)
    assert small.shape == (40, 48, 64, 3)
    f = read_frame_folder(media["frames"])
    assert f.shape == (12, 64, 96, 3)
    with pytest.raises(FileNotFoundError):
        read_video(media["video"].with_name("absent.mkv"))


def test_split_holds_out_a_time_segment() -> None:
    train, val = split_segments(100, window=9, val_fraction=0.1)
    assert val == range(90, 100)
    assert train == range(0, 81)  # a gap of one window before the held-out part
    train, val = split_segments(50, window=5, val_fraction=0)
    assert train == range(0, 50) and len(val) == 0


def test_window_sampler_targets() -> None:
    rng = np.random.default_rng(0)
    draws = {WindowSampler(9).draw(rng) for _ in range(300)}
    assert {s for s, _ in draws} == {8} and {k for _, k in draws} == set(range(1, 8))
    draws = {WindowSampler(5, min_span=2).draw(rng) for _ in range(300)}
    assert {s for s, _ in draws} == {2, 3, 4}
    assert all(0 < k < s for s, k in draws)


def test_video_windows(media: dict[str, Path]) -> None:
    sources = load_sources([media["video"], media["frames"]])
    ds = VideoWindows(sources, length=20, crop=64, window=5, min_span=2, val_fraction=0.2, seed=3)
    s = ds[0]
    assert s["img0"].shape == s["target"].shape == s["img1"].shape == (3, 64, 64) and "flow" not in s
    t = float(s["t"])
    assert 0 < t < 1 and t * 12 == round(t * 12)  # k/2, k/3 or k/4
    assert torch.equal(ds[5]["img0"], ds[5]["img0"])  # deterministic per (seed, epoch, index)
    ds.set_epoch(1)
    assert not torch.equal(ds[5]["target"], VideoWindows(sources, 20, 64, 5, 2, 0.2, seed=3)[5]["target"])
    val = ValidationWindows(sources, per_source=3, span=2, window=5, val_fraction=0.2, size=64)
    assert len(val) == 6
    v = val[0]
    assert v["img0"].shape == (3, 64, 64) and float(v["t"]) == 0.5


def test_video_windows_balance_sources() -> None:
    long = FrameSource("long", np.zeros((90, 32, 32, 3), np.uint8))
    short = FrameSource("short", np.full((15, 32, 32, 3), 255, np.uint8))

    def share_of_short(balance: bool) -> float:
        ds = VideoWindows([long, short], length=400, crop=32, window=3, val_fraction=0, balance=balance)
        return float(np.mean([float(ds[i]["img0"].mean()) for i in range(len(ds))]))

    assert share_of_short(False) == pytest.approx(15 / 105, abs=0.05)
    assert share_of_short(True) == pytest.approx(0.5, abs=0.07)


def test_synthetic_scenes_exact_at_any_t(media: dict[str, Path]) -> None:
    messages: list[str] = []
    photos = load_photos(media["photos"], max_side=128, log=messages.append)
    assert len(photos) == 2
    ds = SyntheticScenes(photos, length=4, crop=64, max_motion=12)
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    three = ds.render(rng_a, (0.0, 0.375, 1.0))
    middle = ds.render(rng_b, (0.375,))
    assert three.shape == (3, 3, 64, 64)
    assert torch.allclose(three[1], middle[0], atol=1e-6)
    assert three.min() >= 0 and three.max() <= 1
    s = ds[1]
    assert s["img0"].shape == (3, 64, 64) and 0 < float(s["t"]) < 1
    moving = sum(not torch.allclose(ds[i]["img0"], ds[i]["img1"]) for i in range(4))
    assert moving >= 3


def test_metrics() -> None:
    a = torch.full((2, 3, 16, 16), 0.5)
    b = a + 0.1
    assert torch.allclose(psnr(a, b), torch.full((2,), 20.0), atol=1e-4)
    x = torch.rand(1, 3, 32, 32)
    assert torch.allclose(ssim(x, x), torch.ones(1))
    assert float(ssim(x, torch.rand(1, 3, 32, 32))) < 0.2


def test_losses_and_vgg_loader(tmp_path: Path) -> None:
    flow = torch.ones(1, 2, 8, 8) * 3
    assert float(smoothness(flow)) == 0
    ramp = torch.arange(8.0).expand(1, 2, 8, 8)
    assert float(smoothness(ramp)) == pytest.approx(1.0)

    vgg = VGG16Conv43()
    # A torchvision-style vgg16 state dict: features.N for conv layers plus a classifier.
    state = {f"features.{k}": v for k, v in vgg.features.state_dict().items()}
    state.update({f"features.{i}.weight": torch.randn(512, 512, 3, 3) for i in (24, 26, 28)})
    state["classifier.0.weight"] = torch.randn(4, 4)
    torch.save(state, tmp_path / "vgg16.pth")
    loaded = VGG16Conv43.from_torchvision_state(tmp_path / "vgg16.pth")
    assert len(loaded.features) == 22
    assert loaded(torch.rand(1, 3, 32, 32)).shape == (1, 512, 4, 4)
    del state["features.21.bias"]
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="features.21.bias"):
        VGG16Conv43.from_torchvision_state(tmp_path / "bad.pth")

    model = SuperSloMo((4, 4, 6, 6, 8, 8))
    x0, xt, x1 = (torch.rand(2, 3, 32, 32) - model.mean for _ in range(3))
    f01, f10 = model.flows(x0, x1)
    out = model.refine(x0, x1, f01, f10, torch.tensor([0.25, 0.5]))
    total, terms = SuperSloMoLoss(LossWeights(), loaded)(out, x0, xt, x1, model.mean)
    assert set(terms) == {"rec", "warp", "smooth", "perc"}
    total.backward()
    assert model.flow_net.conv1.weight.grad is not None

    l2 = SuperSloMoLoss(LossWeights(rec=2.0, perc=0, warp=0, smooth=0), rec_norm="l2")
    total, terms = l2(out, x0, xt, x1, model.mean)
    assert torch.allclose(terms["rec"], ((out.frame - xt) ** 2).mean())
    assert torch.allclose(total, 2 * terms["rec"])
    by_psnr = SuperSloMoLoss(LossWeights(rec=1.0, perc=0, warp=0, smooth=0), rec_norm="psnr")
    total, terms = by_psnr(out, x0, xt, x1, model.mean)
    from vsslomo.train.losses import PSNR_LOSS_FLOOR

    per_sample = ((out.frame - xt) ** 2).flatten(1).mean(1)
    assert torch.allclose(terms["rec"], -(10 * torch.log10(1 / (per_sample + PSNR_LOSS_FLOOR))).mean())
    with pytest.raises(ValueError, match="rec_norm"):
        SuperSloMoLoss(LossWeights(), rec_norm="huber")


def _common_args(media: dict[str, Path], out: Path) -> list[str]:
    return [str(media["video"]), "--synthetic", str(media["photos"]), "--photo-side", "128", "--out", str(out),
            "--widths", TINY, "--crop", "64", "--batch", "2", "--samples-per-epoch", "8", "--window", "5",
            "--min-span", "2", "--val-windows", "2", "--val-size", "64", "--threads", "1", "--plain"]


def test_train_save_load_resume(media: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    assert train_main(_common_args(media, out) + ["--epochs", "1"]) == 0
    log = capsys.readouterr().err
    assert "perceptual loss off" in log and "val psnr" in log and "val psnr per source: clip.mkv" in log
    state = load_training_state(out / "last.pt")
    assert state["epoch"] == 0 and state["widths"]["flow"] == [4, 4, 6, 6, 8, 8]
    assert {"optimizer", "scheduler", "val", "history"} <= set(state)
    assert set(state["val"]["source_psnr"]) == {"clip.mkv"}
    assert (out / "best.pt").is_file()
    model = load_superslomo(out / "last.pt")  # the inference loader reads training checkpoints
    assert model.flow_net.widths == (4, 4, 6, 6, 8, 8)
    assert not list(out.glob("*.tmp"))

    # The public keys hold the weight average (4 steps of batch 2); the raw weights are kept to resume.
    assert state["ema_updates"] == 4
    raw, avg = state["train_state_dictFC"]["conv1.weight"], state["state_dictFC"]["conv1.weight"]
    assert not torch.equal(raw, avg)

    assert train_main(_common_args(media, out) + ["--epochs", "2", "--resume"]) == 0
    state2 = load_training_state(out / "last.pt")
    assert state2["epoch"] == 1 and len(state2["history"]) == 2 and state2["ema_updates"] == 8
    assert not torch.equal(state2["state_dictFC"]["conv1.weight"], state["state_dictFC"]["conv1.weight"])

    plain = tmp_path / "no-ema"
    assert train_main(_common_args(media, plain) + ["--epochs", "1", "--ema", "0"]) == 0
    assert "train_state_dictFC" not in load_training_state(plain / "last.pt")


def test_weight_average_ramps_up_then_follows_slowly() -> None:
    from vsslomo.train.ema import WeightAverage

    net = torch.nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.zero_()
    ema = WeightAverage(net, decay=0.9)
    with torch.no_grad():
        net.weight.fill_(1.0)
    ema.update(net)  # decay min(0.9, 2/11): the average moves 9/11 of the way
    assert torch.allclose(ema.model.weight, torch.full((1, 2), 9 / 11))
    for _ in range(200):
        ema.update(net)
    assert torch.allclose(ema.model.weight, torch.ones(1, 2), atol=1e-6)
    assert not ema.model.weight.requires_grad
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(net, decay=1.0)


def test_ddp_gloo_two_processes(media: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    with socket.socket() as sock:  # a free port (torchrun's --master_port=0 is not passed on to workers)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}",
           "--master_addr=127.0.0.1",
           "-m", "vsslomo.train", *_common_args(media, out), "--epochs", "1", "--device", "cpu"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = load_training_state(out / "last.pt")
    assert state["epoch"] == 0
    # 8 samples, batch 2 per process, 2 processes -> 2 optimiser steps.
    assert state["history"][0]["steps"] == 2
    assert load_superslomo(out / "last.pt").refine_net.widths == (4, 4, 6, 6, 8, 8)


def test_export_for_inference(media: dict[str, Path], tmp_path: Path) -> None:
    from vsslomo.train.checkpoint import checkpoint_payload, export_checkpoint, save_atomic
    from vsslomo.train.families import FAMILIES

    model = SuperSloMo((4, 4, 6, 6, 8, 8)).eval()
    meta = {"epoch": 3, "optimizer": {"state": {}}, "val": {"psnr": 30.0}, "args": {"crop": 64, "recipe": "r.toml"}}
    save_atomic(checkpoint_payload(FAMILIES["superslomo"], model, None, meta), tmp_path / "full.pt")
    export_checkpoint(tmp_path / "full.pt", tmp_path / "small.pt")
    small = load_training_state(tmp_path / "small.pt")
    assert "optimizer" not in small and small["epoch"] == 3
    assert small["args"] == {"crop": 64, "recipe": "r.toml"}  # the recipe travels with the weights
    assert small["state_dictFC"]["conv1.weight"].dtype == torch.float16
    loaded = load_superslomo(tmp_path / "small.pt")
    assert loaded.flow_net.conv1.weight.dtype == torch.float32
    x0, x1 = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        ref, got = model(x0, x1, torch.tensor([0.5])), loaded(x0, x1, torch.tensor([0.5]))
    assert torch.allclose(ref, got, atol=2e-2)


def test_progress_plain_and_rich() -> None:
    import io

    from vsslomo.train.progress import Progress

    plain = io.StringIO()
    p = Progress(4, rich=False, log_every=2, stream=plain)
    for i in range(4):
        p.step(0, i + 1, 8, 1.5, 30.0, 1e-4)
    p.close()
    lines = plain.getvalue().splitlines()
    assert len(lines) == 2 and "samples/s" in lines[-1] and "eta" in lines[-1] and "psnr 30.00" in lines[-1]

    fancy = io.StringIO()
    p = Progress(3, rich=True, stream=fancy)
    p.log("hello")
    for i in range(3):
        p.step(1, i + 1, 4, 0.5, 31.0, 1e-4)
    p.close()
    assert "hello" in fancy.getvalue() and "loss 0.500" in fancy.getvalue()

    silent = io.StringIO()
    p = Progress(2, enabled=False, stream=silent)
    p.step(0, 1, 1, 0.0, 0.0, 0.0)
    p.log("x")
    assert silent.getvalue() == ""


def test_widen_preserves_the_function_and_trains_new_channels() -> None:
    from vsslomo.train.widen import widen

    torch.manual_seed(0)
    small = SuperSloMo((4, 4, 6, 6, 8, 8), (4, 6, 6, 8, 8, 8)).eval()
    big = widen(small, (4, 8, 8, 12, 16, 16), (6, 6, 8, 8, 12, 8)).eval()
    assert big.flow_net.widths == (4, 8, 8, 12, 16, 16) and big.refine_net.widths == (6, 6, 8, 8, 12, 8)
    x0, x1 = torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96)
    t = torch.tensor([0.25, 0.5])
    with torch.no_grad():
        assert torch.allclose(big(x0, x1, t), small(x0, x1, t), atol=1e-6)
        assert not torch.equal(big.flow_net.down2.conv1.weight[6:], torch.zeros_like(big.flow_net.down2.conv1.weight[6:]))
    # The zero weights out of the new channels get gradients, so training uses them.
    big.train()
    big(x0, x1, t).mean().backward()
    grad = big.flow_net.down3.conv1.weight.grad
    assert grad is not None and float(grad[:6, 6:].abs().sum()) > 0  # old outputs from new inputs
    with pytest.raises(ValueError, match="stay or grow"):
        widen(small, (2, 4, 6, 6, 8, 8), (4, 6, 6, 8, 8, 8))


def test_train_init_widens(media: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    first = tmp_path / "small"
    assert train_main(_common_args(media, first) + ["--epochs", "1"]) == 0
    grown = tmp_path / "grown"
    args = _common_args(media, grown)
    args[args.index("--widths") + 1] = "4,8,8,12,16,16"
    assert train_main(args + ["--epochs", "1", "--init", str(first / "last.pt")]) == 0
    assert "widened" in capsys.readouterr().err
    assert load_superslomo(grown / "last.pt").flow_net.widths == (4, 8, 8, 12, 16, 16)
    args[args.index("--widths") + 1] = "2,2,2,2,2,2"
    capsys.readouterr()
    assert train_main(args + ["--epochs", "1", "--init", str(first / "last.pt"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and err[-1].startswith("vsslomo train: error: --init") and "stay or grow" in err[-1]

"""Backends and precisions: the default choice, the errors, and outputs equal to eager fp32."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import vapoursynth as vs

import vsslomo
from vsslomo import backends, device, engine
from vsslomo.demo import demo_clip
from vsslomo.models.superslomo import SuperSloMo

from conftest import frame_planes

core = vs.core


# --- precision ----------------------------------------------------------------------------


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_default_precision_follows_the_cpu(monkeypatch, native, expected):
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: native)
    assert device.resolve("cpu").precision == expected
    assert device.resolve("cpu", fp16=False).precision == "fp32"  # users can force full precision
    assert device.resolve("cpu", precision="fp32").precision == "fp32"


def test_bf16_runs_under_autocast_with_float32_weights():
    placement = device.resolve("cpu", precision="bf16")
    assert (placement.dtype, placement.autocast) == ("float32", torch.bfloat16)
    assert device.resolve("cpu", precision="fp32").autocast is None


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"fp16": True}, "fp16 needs a CUDA device"),
        ({"precision": "half"}, "precision must be one of"),
        ({"fp16": True, "precision": "fp32"}, "contradicts"),
        ({"device": "tpu"}, "unknown device"),
        ({"device": "meta"}, "unsupported device"),
    ],
)
def test_precision_errors(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        device.resolve(kwargs.pop("device", "cpu"), **kwargs)


def test_cuda_message_says_what_is_missing(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    reason = device.cuda_missing_reason()
    if torch.version.cuda:
        assert "install a CUDA build" not in reason  # torch already is one
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
        assert "CUDA_VISIBLE_DEVICES" in device.cuda_missing_reason()
    else:
        assert "CPU-only build" in reason


# --- backend descriptions -----------------------------------------------------------------


def test_backends_by_name_and_instance():
    cpu = torch.device("cpu")
    assert backends.resolve(None, cpu) == backends.Eager()
    assert isinstance(backends.resolve("compile", cpu), backends.Compile)
    tuned = backends.resolve(backends.Compile(mode="max-autotune"), cpu)
    assert tuned.mode == "max-autotune"
    assert backends.with_options(backends.Eager(), streams=4).streams == 4
    with pytest.raises(backends.BackendError, match="no option"):
        backends.with_options(backends.Eager(), warp=1)
    with pytest.raises(backends.BackendError, match="streams"):
        backends.resolve(backends.Eager(streams=0), cpu)
    with pytest.raises(backends.BackendError, match="compile mode"):
        backends.resolve(backends.Compile(mode="fast"), cpu)
    with pytest.raises(backends.BackendError, match="NVIDIA GPU"):
        backends.resolve("tensorrt", cpu)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="TensorRT needs an NVIDIA GPU (none here)")
def test_tensorrt_matches_eager_on_cuda():
    pytest.importorskip("torch_tensorrt", reason="torch-tensorrt is not installed")
    clip = core.resize.Bicubic(demo_clip(256, 192, 3), format=vs.RGBS)
    eager = vsslomo.interpolate(clip, device="cuda", precision="fp32", sc=False).get_frame(1)
    trt = vsslomo.interpolate(clip, device="cuda", precision="fp32", backend="tensorrt", sc=False).get_frame(1)
    assert max(np.abs(a - b).max() for a, b in zip(frame_planes(eager), frame_planes(trt))) < 1e-3


# --- outputs against eager fp32 -------------------------------------------------------------


def _psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    mse = float(np.mean([np.mean((x.astype(np.float64) - y) ** 2) for x, y in zip(a, b)]))
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


@pytest.mark.parametrize("model", ["rife", "superslomo"])
def test_bf16_default_stays_within_50_db_of_fp32(model):
    clip = core.resize.Bicubic(demo_clip(256, 160, 2), format=vs.RGBS)
    full = frame_planes(vsslomo.interpolate(clip, model=model, device="cpu", precision="fp32", sc=False).get_frame(1))
    fast = frame_planes(vsslomo.interpolate(clip, model=model, device="cpu", precision="bf16", sc=False).get_frame(1))
    assert _psnr(full, fast) >= 50


def test_channels_last_eager_equals_contiguous():
    clip = core.resize.Bicubic(demo_clip(128, 96, 2), format=vs.RGBS)
    runs = [
        frame_planes(
            vsslomo.interpolate(
                clip, device="cpu", precision="fp32", backend=backends.Eager(channels_last=cl), sc=False
            ).get_frame(1)
        )
        for cl in (False, True)
    ]
    assert max(np.abs(a - b).max() for a, b in zip(*runs)) < 1e-4


def test_compile_backend_equals_eager_fp32():
    """torch.compile on the CPU (a small Super SloMo: compiling costs about a minute per graph)."""
    torch.manual_seed(0)
    model = SuperSloMo((8, 16, 16, 16, 16, 16)).eval()
    rng = np.random.default_rng(0)
    frames = [rng.random((3, 64, 96), dtype=np.float32) for _ in range(2)]
    outputs = []
    for backend in (backends.Eager(channels_last=False), backends.Compile()):
        eng = engine.Engine(model, device.Placement("cpu", "fp32"), backend, "tiny-superslomo")
        with eng.slot():
            a, b = (eng.upload(f, 32) for f in frames)
            state = eng.pair(a, b, eng.encode(a), eng.encode(b))
            outputs.append(eng.synthesize(state, torch.tensor([0.25, 0.5])))
    assert (outputs[0] - outputs[1]).abs().max().item() < 1e-4

"""The engine: compute-once caches, memory-bounded timestep chunks, sanitised inputs, staged models."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs
from conftest import frame_planes

import vsslomo
from vsslomo import engine, heap, timing
from vsslomo.backends import Eager
from vsslomo.demo import demo_clip
from vsslomo.device import Placement

core = vs.core


# --- OnceCache --------------------------------------------------------------------------


def test_once_cache_computes_once_across_threads_and_counts_uses():
    cache: engine.OnceCache[int, int] = engine.OnceCache(capacity=4)
    calls = []
    gate = threading.Event()

    def compute() -> int:
        calls.append(1)
        gate.wait(5)
        return 42

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(cache.get, 7, compute, 8) for _ in range(8)]
        time.sleep(0.1)
        gate.set()
        wait(futures)
    assert [f.result() for f in futures] == [42] * 8
    assert calls == [1]
    assert len(cache) == 0  # all eight uses served: dropped


def test_once_cache_is_bounded_and_forgets_failures():
    cache: engine.OnceCache[int, int] = engine.OnceCache(capacity=2)
    for k in range(5):
        cache.get(k, lambda k=k: k)
    assert len(cache) == 2

    def boom() -> int:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cache.get(99, boom)
    assert cache.get(99, lambda: 5) == 5  # a later request retries


# --- the run of a pair's synthesized frames ---------------------------------------------


@pytest.mark.parametrize(
    "plan",
    [
        timing.RatioTiming(7, Fraction(4)),
        timing.RatioTiming(9, Fraction(5, 2)),
        timing.RatioTiming(11, Fraction(60000, 24000)),
        timing.TimestampTiming([Fraction(1, 24)] * 3 + [Fraction(1, 12), Fraction(1, 30)] * 2, Fraction(60)),
    ],
    ids=["4x", "5/2", "24-60", "vfr"],
)
def test_interpolated_run_is_the_pairs_synthesized_frames(plan):
    for n in range(plan.num_frames):
        step = plan.step(n)
        if step.t == 0:
            continue
        expected = [m for m in range(plan.num_frames) if plan.step(m).left == step.left and plan.step(m).t != 0]
        assert list(engine.interpolated_run(plan, n)) == expected


def test_interpolated_run_costs_no_per_pair_work_at_an_absurd_factor():
    plan = timing.RatioTiming(3, Fraction(10**8))
    run = engine.interpolated_run(plan, 123_456_789)
    assert (run.start, run.stop) == (10**8 + 1, 2 * 10**8)


# --- chunks -----------------------------------------------------------------------------


def _clip(width=64, height=48, frames=3, fmt=vs.RGBS):
    return core.resize.Bicubic(demo_clip(width, height, frames), format=fmt)


def _record_synthesize(monkeypatch, model="superslomo") -> list[int]:
    """Sizes of the timestep batches the shared fp32 CPU engine of ``model`` synthesizes."""
    shared = engine.get_engine(model, None, 0, Placement("cpu", "fp32"), Eager())
    sizes: list[int] = []
    original = shared.synthesize

    def recording(state, timesteps, **kwargs):
        sizes.append(timesteps.numel())
        return original(state, timesteps, **kwargs)

    monkeypatch.setattr(shared, "synthesize", recording)
    return sizes


def test_timesteps_go_in_chunks_and_match_one_batch(monkeypatch):
    clip = _clip(frames=3)
    whole = vsslomo.interpolate(clip, factor=8, model="superslomo", device="cpu", precision="fp32", sc=False)
    expected = [frame_planes(f) for f in whole.frames(close=True)]

    sizes = _record_synthesize(monkeypatch)
    monkeypatch.setattr(engine.Engine, "batch_limit", lambda self, h, w: 3)
    chunked = vsslomo.interpolate(clip, factor=8, model="superslomo", device="cpu", precision="fp32", sc=False)
    got = [frame_planes(f) for f in chunked.frames(close=True)]
    assert sorted(sizes) == [1, 1, 3, 3, 3, 3]  # 7 in-betweens per pair: 3 + 3 + 1
    for a, b in zip(got, expected):
        for x, y in zip(a, b):
            assert np.abs(x - y).max() < 1e-5


def test_cpu_chunks_split_independent_timesteps_only_at_large_sizes():
    placement, backend = Placement("cpu", "fp32"), Eager()
    superslomo = engine.get_engine("superslomo", None, 0, placement, backend)
    rife = engine.get_engine("rife", None, 0, placement, backend)
    assert superslomo.independent_timesteps and not rife.independent_timesteps
    assert superslomo.batch_limit(736, 1280) == 1  # one timestep per call from 720p up
    assert superslomo.batch_limit(144, 176) > 1
    assert rife.batch_limit(736, 1280) > 1  # its timesteps share bisection midpoints


def test_absurd_factor_renders_one_chunk_only(monkeypatch):
    clip = _clip(frames=3)
    calls = _record_synthesize(monkeypatch)
    out = vsslomo.interpolate(clip, factor=10**8, model="superslomo", device="cpu", precision="fp32", sc=False)
    assert out.num_frames == 3 * 10**8
    frame = out.get_frame(10**8 + 12_345)
    assert frame.props["SlomoSourceFrame"] == 1
    assert len(calls) == 1 and calls[0] <= engine.MAX_BATCH


# --- sanitised inputs -------------------------------------------------------------------


@pytest.mark.parametrize("model", ["rife", "superslomo"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_samples_never_spread(model, bad):
    clip = _clip(64, 64, frames=2)

    def poison(n, f):
        out = f.copy()
        np.asarray(out[1])[10, 20] = bad
        return out

    poisoned = core.std.ModifyFrame(clip, clip, poison)
    frame = vsslomo.interpolate(poisoned, factor=2, model=model, device="cpu", sc=False).get_frame(1)
    planes = frame_planes(frame)
    assert all(np.isfinite(p).all() for p in planes)
    clean = frame_planes(vsslomo.interpolate(clip, factor=2, model=model, device="cpu", sc=False).get_frame(1))
    # away from the bad sample the picture is what the clean clip gives
    assert np.abs(planes[0][40:, 40:] - clean[0][40:, 40:]).max() < 0.05


def test_filter_computes_different_pairs_side_by_side(monkeypatch):
    # VapourSynth calls the Python callbacks of one filter instance one at a time; the filter
    # must still run as many pairs at once as the engine has slots.
    spans: list[tuple[float, float]] = []
    original = engine.Renderer._pair

    def slow_pair(self, *args, **kwargs):
        start = time.perf_counter()
        time.sleep(0.3)  # releases the GIL, so overlap shows whenever callbacks run concurrently
        result = original(self, *args, **kwargs)
        spans.append((start, time.perf_counter()))
        return result

    monkeypatch.setattr(engine.Renderer, "_pair", slow_pair)
    monkeypatch.setattr(core, "num_threads", 4)
    clip = core.resize.Bicubic(demo_clip(64, 48, 6), format=vs.YUV420P8, matrix_s="709")
    out = vsslomo.interpolate(clip, factor=2, device="cpu", sc=False, backend=Eager(cpu_forwards=2))
    futures = [out.get_frame_async(n) for n in (1, 3, 5, 7)]
    [f.result() for f in futures]
    spans.sort()
    assert len(spans) == 4
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])), spans


# --- the CPU heap policy ----------------------------------------------------------------

HEAP_PROBE = """
import resource, sys, threading, torch
from vsslomo import heap
from vsslomo.models.ifrnet import IFRNet

if sys.argv[1] == "apply":
    heap.apply_policy()
torch.set_num_threads(1)
model = IFRNet("s").eval()  # random weights: the buffers are what matters
a, b = (torch.rand(1, 3, 720, 1280).contiguous(memory_format=torch.channels_last) for _ in range(2))
faults = []

def forwards():  # 66 MB features at half size: over glibc's largest mmap threshold
    with torch.inference_mode():
        for _ in range(3):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            model(a, b, [0.5])
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)

if sys.argv[2] == "thread":
    worker = threading.Thread(target=forwards)
    worker.start()
    worker.join()
else:
    forwards()
print(faults[-1])
"""


@pytest.mark.skipif(not heap.available(), reason="the heap policy is glibc's")
def test_heap_policy_reuses_the_pages_of_large_activations():
    def faults(where: str, apply: bool = False, environment: bool = False) -> int:
        env = {k: v for k, v in os.environ.items() if k not in heap.ENVIRONMENT}  # glibc's defaults at start
        if environment:
            env.update(heap.ENVIRONMENT)
        done = subprocess.run([sys.executable, "-c", HEAP_PROBE, "apply" if apply else "-", where], env=env,
                              capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
        return int(done.stdout.split()[-1])

    system = faults("main")
    assert system > 50_000  # a 720p forward: every large activation's pages faulted in anew
    assert faults("main", apply=True) < system / 4  # set while running: the main thread reuses
    assert faults("thread", environment=True) < system / 4  # set at start: every thread does


def test_engine_applies_the_heap_policy_on_the_cpu_unless_told_not_to(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "apply_policy", lambda: calls.append(1) or True)
    placement = Placement("cpu", "fp32")
    engine.get_engine("rife", None, 0, placement, Eager(reuse_memory=False, cpu_forwards=3))
    assert calls == []
    engine.get_engine("rife", None, 0, placement, Eager(reuse_memory=True, cpu_forwards=3))
    assert calls and set(calls) == {1}  # before the model loads, and by the engine built directly


ARENA_PROBE = """
import ctypes, os, re, sys, tempfile
import vapoursynth as vs
import vsslomo
from vsslomo.backends import Eager
libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
clip = vs.core.std.BlankClip(width=64, height=48, format=vs.RGBS, length=6, color=[0.2, 0.4, 0.6])
out = vsslomo.interpolate(clip, factor=2, model="rife", device="cpu", sc=False,
                          backend=Eager(reuse_memory=sys.argv[1] == "reuse", cpu_forwards=2))
[f.result() for f in [out.get_frame_async(n) for n in range(out.num_frames)]]
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "malloc_info.xml")
    f = libc.fopen(path.encode(), b"w"); libc.malloc_info(0, f); libc.fclose(f)
    print(len(re.findall("<heap nr=", open(path).read())))
"""


@pytest.mark.skipif(not heap.available(), reason="the heap policy is glibc's")
def test_the_filter_claims_the_heap_before_vapoursynths_threads_allocate():
    """With ``reuse_memory`` every thread of a fresh process shares the one heap, VapourSynth's
    too: the policy is set before the filter asks for the clip's first frame (a thread that
    allocated before keeps a heap of its own, which maps its large blocks afresh)."""
    def heaps(setting: str) -> int:
        env = {k: v for k, v in os.environ.items() if k not in heap.ENVIRONMENT}
        done = subprocess.run([sys.executable, "-c", ARENA_PROBE, setting], env=env, capture_output=True, text=True,
                              check=True, cwd=Path(__file__).resolve().parents[1])
        return int(done.stdout.split()[-1])

    assert heaps("reuse") == 1
    assert heaps("system") > 1  # glibc's defaults: VapourSynth's threads make their own

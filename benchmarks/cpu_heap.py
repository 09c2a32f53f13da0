"""What ``Eager(reuse_memory=...)`` is worth: the default CPU filter with and without it.

glibc serves every block over 32 MiB with a fresh memory map and unmaps it on free, so
without reuse each large activation's pages are faulted in and zeroed again. The heap policy
is process-wide, so each measurement runs in its own process, for three settings: glibc's
defaults (``reuse_memory=False``), the engine's policy (``reuse_memory=True``, the default,
set when the engine is built), and the same policy set in the environment before the
process starts (it then covers the threads that allocated before the engine was built,
VapourSynth's among them). The processes alternate, in reverse order every other round, so
that load from other jobs hits all alike::

    .venv/bin/python benchmarks/cpu_heap.py --models rife,ifrnet-s --rounds 3
    .venv/bin/python benchmarks/cpu_heap.py --models rife --factor 4 --width 1920 --height 1080

Each child renders ``K`` pairs with the filter (``K`` = the engine's CPU forwards side by
side), every output frame asked at once, after one warm-up round, and prints its seconds and
minor page faults per synthesized frame. IFRNet sizes without shipped weights get random
weights (the cost does not depend on them).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHILD = "--child"

SETTINGS = (("glibc defaults", False, False), ("reuse_memory", True, False), ("+ environment", True, True))
"""(name, ``reuse_memory``, policy also in the environment)."""


def child(model: str, checkpoint: str | None, reuse: bool, width: int, height: int, factor: int, rounds: int) -> None:
    """One measurement of ``rounds`` rounds after a warm-up: prints ``{"seconds": s/frame, "faults": faults/frame}``."""
    import vsslomo
    from benchmarks.speed import source_clip
    from vsslomo import backends, engine

    pairs = engine.cpu_forwards(backends.Eager())
    clip = source_clip(width, height, (rounds + 1) * pairs + 2)
    out = vsslomo.interpolate(clip, factor=factor, model=model, checkpoint=checkpoint, device="cpu",
                              sc=False, backend=backends.Eager(reuse_memory=reuse))

    def render(first: int) -> None:
        frames = [n for k in range(first, first + pairs) for n in range(k * factor + 1, (k + 1) * factor)]
        [f.result() for f in [out.get_frame_async(n) for n in frames]]

    render(0)  # warm-up: model load, first calls
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    for r in range(1, rounds + 1):
        render(r * pairs)
    seconds = time.perf_counter() - start
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    synthesized = rounds * pairs * (factor - 1)
    print(json.dumps({"seconds": seconds / synthesized, "faults": faults / synthesized}))


def measure(model: str, checkpoint: str | None, reuse: bool, environment: bool, args: argparse.Namespace) -> dict[str, float]:
    cmd = [sys.executable, __file__, CHILD, model, checkpoint or "", "1" if reuse else "0",
           str(args.width), str(args.height), str(args.factor), str(args.pairs)]
    from vsslomo import heap

    clean = {k: v for k, v in os.environ.items() if k not in heap.ENVIRONMENT}
    env = {**clean, **heap.ENVIRONMENT} if environment else clean
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        sys.exit(f"cpu_heap: the measurement of {model} failed:\n{done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def checkpoints(models: list[str], work: Path) -> dict[str, str | None]:
    """Each model's checkpoint: the shipped weights, or random ones for IFRNet sizes without."""
    import torch

    from vsslomo import registry
    from vsslomo.models.ifrnet import IFRNet

    sizes = {"ifrnet-s": "s", "ifrnet": "base", "ifrnet-l": "l"}
    found: dict[str, str | None] = {}
    for model in models:
        try:
            registry.get_spec(model).load(None)
            found[model] = None
        except FileNotFoundError:
            if model not in sizes:
                raise
            torch.manual_seed(0)
            path = work / f"{model}_random.pth"
            torch.save(IFRNet(sizes[model]).state_dict(), path)
            found[model] = str(path)
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="rife,ifrnet-s,superslomo")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--factor", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="processes (measurements) of each setting per model")
    parser.add_argument("--pairs", type=int, default=2, help="timed rounds of K pairs in each process, after a warm-up")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    print(f"{args.width}x{args.height}, factor {args.factor}, {args.rounds} processes per setting, alternating")
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as work:
        found = checkpoints(models, Path(work))
        for r in range(args.rounds):
            for model in models:
                for name, reuse, environment in SETTINGS if r % 2 == 0 else SETTINGS[::-1]:
                    results.setdefault((model, name), []).append(measure(model, found[model], reuse, environment, args))
    print(f"{'model':<12}{'setting':<17}{'s/frame':>9}{'speed-up':>10}{'faults/frame':>14}")
    for model in models:
        base = statistics.median(m["seconds"] for m in results[(model, SETTINGS[0][0])])
        for name, _, _ in SETTINGS:
            seconds = statistics.median(m["seconds"] for m in results[(model, name)])
            faults = statistics.median(m["faults"] for m in results[(model, name)])
            print(f"{model:<12}{name:<17}{seconds:>9.3f}{base / seconds:>9.2f}x{faults:>14.0f}")
    if len(models) > 1:
        first = models[0]
        for name, _, _ in SETTINGS:
            base = statistics.median(m["seconds"] for m in results[(first, name)])
            ratios = ", ".join(f"{model} {base / statistics.median(m['seconds'] for m in results[(model, name)]):.2f}x"
                               for model in models[1:])
            print(f"{name}: speed against {first}: {ratios}")
    print("medians over the processes; faults: minor page faults (pages mapped and zeroed) per synthesized frame")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        model, checkpoint, reuse, width, height, factor, rounds = sys.argv[2:9]
        child(model, checkpoint or None, reuse == "1", int(width), int(height), int(factor), int(rounds))
    else:
        main()

